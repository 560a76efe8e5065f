"""The plain onnxruntime loop, and the one ONNX export of MiniLM that the ONNX contenders share.

``OrtLoop`` is benchmarks/raw.py's loop with onnxruntime in place of torch: one ``tokenizers`` call
without padding, argsort by token length, batches filled up to a token budget, numpy padding to
each batch's longest member, then mean pooling over the mask and L2 normalisation in numpy (what
all-MiniLM-L6-v2's sentence-transformers modules do). No torch, transformers or easynlu import.

``export(model_dir, cache)`` gives a directory with ``model.onnx``: easynlu's own cached export
(``easynlu.backends.export.ensure``) when easynlu has it, else a ``torch.onnx.export(dynamo=True)``
of the model's last hidden state made once into ``cache``.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np

TOKEN_BUDGET = 2048  # padded tokens per batch; cpu.py passes easynlu's default
EXPORT_FORMAT = 1    # bump when the fallback export below changes


class OrtLoop:
    """Sentence vectors of a sentence-transformers mean-pooling model from an ONNX file."""

    def __init__(self, onnx_dir: str, model_dir: str, max_length: int = 256, token_budget: int = TOKEN_BUDGET,
                 threads: int | None = None):
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.tokenizer = Tokenizer.from_file(str(Path(model_dir) / "tokenizer.json"))
        self.tokenizer.no_padding()  # the packaged tokenizer.json fixes both at 128
        self.tokenizer.enable_truncation(max_length)
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        self.session = ort.InferenceSession(str(Path(onnx_dir) / "model.onnx"), options,
                                            providers=["CPUExecutionProvider"])
        self.inputs = [i.name for i in self.session.get_inputs()]
        names = [o.name for o in self.session.get_outputs()]
        self.output = "last_hidden_state" if "last_hidden_state" in names else names[0]
        self.token_budget = token_budget
        self.pad_id = self.tokenizer.token_to_id("[PAD]") or 0
        self.last_padding: tuple[int, int] | None = None

    def infer(self, feed: dict[str, np.ndarray]) -> np.ndarray:
        """The last hidden state of one padded batch."""
        return self.session.run([self.output], feed)[0]

    def encode(self, texts: list[str]) -> np.ndarray:
        """One L2-normalised mean-pooled float32 vector per text, in input order."""
        encodings = self.tokenizer.encode_batch(list(texts))
        lengths = np.fromiter((len(e.ids) for e in encodings), dtype=np.int64, count=len(encodings))
        order = np.argsort(-lengths, kind="stable")
        out: np.ndarray | None = None
        real = padded = 0
        i = 0
        while i < len(order):
            size = max(1, self.token_budget // int(lengths[order[i]]))
            batch = order[i:i + size]
            i += size
            width = int(lengths[batch].max())
            ids = np.full((len(batch), width), self.pad_id, dtype=np.int64)
            mask = np.zeros((len(batch), width), dtype=np.int64)
            for row, j in enumerate(batch):
                n = int(lengths[j])
                ids[row, :n] = encodings[j].ids
                mask[row, :n] = 1
            real, padded = real + int(mask.sum()), padded + mask.size
            feed = {"input_ids": ids, "attention_mask": mask}
            if "token_type_ids" in self.inputs:
                feed["token_type_ids"] = np.zeros_like(ids)
            hidden = self.infer({k: v for k, v in feed.items() if k in self.inputs})
            weights = mask[:, :, None].astype(np.float32)
            vectors = (hidden * weights).sum(1) / np.maximum(weights.sum(1), 1e-9)
            vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
            if out is None:
                out = np.empty((len(texts), vectors.shape[1]), dtype=np.float32)
            out[batch] = vectors
        self.last_padding = (real, padded)
        return out if out is not None else np.zeros((0, 0), dtype=np.float32)


def export(model_dir: str, cache: Path) -> tuple[Path, str]:
    """(directory holding model.onnx, who made it) for the model directory ``model_dir``."""
    try:
        from easynlu.backends import export as easynlu_export  # type: ignore[attr-defined]

        return Path(easynlu_export.ensure(str(model_dir))), "easynlu.backends.export.ensure"
    except ImportError:
        pass
    import torch

    target = cache / f"onnx_{Path(model_dir).name}_torch{torch.__version__}_f{EXPORT_FORMAT}"
    if (target / "model.onnx").is_file():
        return target, "torch.onnx.export(dynamo=True), cached"
    from transformers import AutoModel

    class LastHidden(torch.nn.Module):
        def __init__(self, model: torch.nn.Module):
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask):
            return self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    model = LastHidden(AutoModel.from_pretrained(model_dir, attn_implementation="eager").eval())
    ids = torch.ones((2, 8), dtype=torch.int64)
    mask = torch.ones((2, 8), dtype=torch.int64)
    batch, seq = torch.export.Dim("batch"), torch.export.Dim("sequence", max=512)
    tmp = target.with_name(target.name + f".tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    torch.onnx.export(model, (ids, mask), str(tmp / "model.onnx"), dynamo=True, external_data=False,
                      input_names=["input_ids", "attention_mask"], output_names=["last_hidden_state"],
                      dynamic_shapes={"input_ids": {0: batch, 1: seq}, "attention_mask": {0: batch, 1: seq}})
    (tmp / "export.json").write_text(json.dumps({"source": str(model_dir), "torch": torch.__version__}))
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)
    return target, "torch.onnx.export(dynamo=True)"
