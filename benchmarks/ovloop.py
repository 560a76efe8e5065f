"""OpenVINO runtime direct: the plain onnxruntime loop (ortloop.py) with OpenVINO's CPU plugin in its place.

Same tokenizer call, token-sorted budget batches, numpy padding and mean pooling as ``OrtLoop``;
the model is the same ONNX file (easynlu's cached export), read by ``openvino.Core.read_model`` with
only its last hidden state kept as an output, compiled for "CPU". ``precision`` None keeps
OpenVINO's default inference precision (bf16 where the CPU has AMX; see ``precision_used``),
"bf16" or "f32" sets ``INFERENCE_PRECISION_HINT``. Runs in its own venv (benchmarks/venvs.sh
openvino): openvino, tokenizers and numpy, no torch.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from ortloop import TOKEN_BUDGET, OrtLoop


class OvLoop(OrtLoop):
    """Sentence vectors of a mean-pooling model from an ONNX file, run by OpenVINO on the CPU."""

    def __init__(self, onnx_dir: str, model_dir: str, max_length: int = 256, token_budget: int = TOKEN_BUDGET,
                 precision: str | None = None):
        import openvino as ov
        from tokenizers import Tokenizer

        self.tokenizer = Tokenizer.from_file(str(Path(model_dir) / "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(max_length)
        core = ov.Core()
        model = core.read_model(str(Path(onnx_dir) / "model.onnx"))
        names = [name for out in model.outputs for name in out.get_names()]
        self.output = "last_hidden_state" if "last_hidden_state" in names else next(iter(model.outputs[0].get_names()))
        model = ov.Model([model.output(self.output)], model.get_parameters(), "encoder")  # drop unused outputs
        config = {} if precision is None else {"INFERENCE_PRECISION_HINT": precision}
        self.compiled = core.compile_model(model, "CPU", config)
        self.request = self.compiled.create_infer_request()
        self.inputs = [i.get_any_name() for i in self.compiled.inputs]
        self.precision_used = str(self.compiled.get_property("INFERENCE_PRECISION_HINT"))
        self.token_budget = token_budget
        self.pad_id = self.tokenizer.token_to_id("[PAD]") or 0
        self.last_padding: tuple[int, int] | None = None

    def infer(self, feed: dict[str, np.ndarray]) -> np.ndarray:
        """The last hidden state of one padded batch (copied out of the request's buffer)."""
        self.request.infer(feed)
        return np.array(self.request.get_output_tensor(0).data, dtype=np.float32)
