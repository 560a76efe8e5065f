"""Every contender behind one small interface: ``run(texts)``, ``vectors(output)``, ``padding()``.

Imports are lazy, so a subprocess that measures one contender's peak memory imports only what
that contender needs (the raw loop never imports easynlu or pandas for sentence vectors).
"""

from __future__ import annotations

import time
from collections import defaultdict

import numpy as np

# key -> (level, corpus, the raw-loop key its vectors are checked against)
KINDS = {
    "easynlu.sentence": ("sentence", "sentences", "raw.sentence"),
    "easynlu.token": ("token", "sentences", "raw.token"),
    "easynlu.document": ("document", "documents", "raw.document"),
    "easynlu.embed": ("embed() (document)", "sentences", "raw.sentence"),
    "raw.sentence": ("sentence", "sentences", None),
    "raw.sentence_df": ("sentence", "sentences", None),
    "raw.token": ("token", "sentences", None),
    "raw.document": ("document", "documents", None),
    "st.default": ("sentence", "sentences", "raw.sentence"),
    "st.bs128": ("sentence", "sentences", "raw.sentence"),
    "pipeline": ("sentence", "pipeline", "raw.sentence"),
    # cpu.py's contenders (MiniLM sentence vectors on CPU); the ST/fastembed ones run in their own venvs
    "st.onnx": ("sentence", "sentences", "raw.sentence"),
    "st.openvino": ("sentence", "sentences", "raw.sentence"),
    "fastembed.onnx": ("sentence", "sentences", "raw.sentence"),
    "ort.loop": ("sentence", "sentences", "raw.sentence"),
    "ov.direct": ("sentence", "sentences", "raw.sentence"),
    "ov.direct_bf16": ("sentence", "sentences", "raw.sentence"),
    "ov.direct_f32": ("sentence", "sentences", "raw.sentence"),
    "easynlu.default": ("embed() (document)", "sentences", "raw.sentence"),
    "easynlu.torch": ("embed() (document)", "sentences", "raw.sentence"),
    "easynlu.torch_bf16": ("embed() (document)", "sentences", "raw.sentence"),
    "easynlu.onnx": ("embed() (document)", "sentences", "raw.sentence"),
    "easynlu.onnx_int8": ("embed() (document)", "sentences", "raw.sentence"),
}

LABELS = {
    "easynlu.sentence": "easynlu predict(sentence)",
    "easynlu.token": "easynlu predict(token)",
    "easynlu.document": "easynlu predict(document)",
    "easynlu.embed": "easynlu embed()",
    "raw.sentence": "raw loop (sentence)",
    "raw.sentence_df": "raw loop (sentence + DataFrame)",
    "raw.token": "raw loop (token + DataFrame)",
    "raw.document": "raw loop (document)",
    "st.default": "SentenceTransformer.encode (defaults)",
    "st.bs128": "SentenceTransformer.encode (batch_size=128)",
    "pipeline": "pipeline('feature-extraction')",
    "st.onnx": "SentenceTransformer(backend='onnx').encode (defaults)",
    "st.openvino": "SentenceTransformer(backend='openvino').encode (defaults)",
    "fastembed.onnx": "fastembed TextEmbedding.embed (local ONNX export)",
    "ort.loop": "onnxruntime loop (sorted token batches)",
    "ov.direct": "OpenVINO runtime direct, sorted token batches (its default precision)",
    "ov.direct_bf16": "OpenVINO runtime direct, sorted token batches, bf16",
    "ov.direct_f32": "OpenVINO runtime direct, sorted token batches, f32",
    "easynlu.default": "easynlu embed(), load() defaults",
    "easynlu.torch": "easynlu embed(), backend='torch' float32",
    "easynlu.torch_bf16": "easynlu embed(), backend='torch' bfloat16",
    "easynlu.onnx": "easynlu embed(), backend='onnx' float32",
    "easynlu.onnx_int8": "easynlu embed(), backend='onnx' quantize='int8'",
}

# easynlu.load() keywords of cpu.py's easynlu rows (loaded from the model directory)
EASYNLU_LOAD = {
    "easynlu.default": {},
    "easynlu.torch": {"backend": "torch", "dtype": "float32"},
    "easynlu.torch_bf16": {"backend": "torch", "dtype": "bfloat16"},
    "easynlu.onnx": {"backend": "onnx", "dtype": "float32"},
    "easynlu.onnx_int8": {"backend": "onnx", "quantize": "int8"},
}


def easynlu_token_budget() -> int:
    """easynlu's default token budget per batch, for the raw loop to use the same one, so that
    the comparison measures the engine and not the budget."""
    from easynlu.backends.batching import TOKEN_BUDGET

    return TOKEN_BUDGET


def sync(device: str) -> None:
    if str(device).startswith("cuda"):
        import torch

        torch.cuda.synchronize()


# -- easynlu instrumentation (monkeypatching in this process only; the library is untouched) --
STAGES: dict[str, float] = defaultdict(float)
PADDING = [0, 0]  # real tokens, padded tokens of the batches easynlu built
_INSTRUMENTED = {"done": False, "device": "cpu"}


def _timed(stage, fn, before=None):
    def wrapper(*args, **kwargs):
        if before:
            before()
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            if before:
                before()
            STAGES[stage] += time.perf_counter() - start

    wrapper.__wrapped__ = fn
    return wrapper


def instrument_easynlu(device: str) -> None:
    """Time easynlu's stages by wrapping its functions, and count its batches' padding."""
    _INSTRUMENTED["device"] = device
    if _INSTRUMENTED["done"]:
        return
    import easynlu.frames
    import easynlu.segment
    from easynlu.backends import batching, transformer

    cuda_sync = (lambda: sync(_INSTRUMENTED["device"])) if str(device).startswith("cuda") else None
    easynlu.segment.sentences = _timed("segment", easynlu.segment.sentences)
    easynlu.segment.documents = _timed("segment", easynlu.segment.documents)
    easynlu.frames.build = _timed("frames", easynlu.frames.build)
    backend = transformer.TransformerBackend
    backend.tokenize = _timed("tokenize", backend.tokenize)
    backend.forward = _timed("forward", backend.forward, cuda_sync)
    backend.run = _timed("run", backend.run, cuda_sync)
    pad = batching.pad

    def counting_pad(*args, **kwargs):
        ids, mask = pad(*args, **kwargs)
        PADDING[0] += int(mask.sum())
        PADDING[1] += mask.size
        return ids, mask

    batching.pad = counting_pad
    _INSTRUMENTED["done"] = True


def _pad_hook(counter, pad_id: int):
    """A forward pre-hook on a BERT's embeddings layer that counts real and padded tokens.

    sentence-transformers calls the model's ``forward`` directly (no module hooks fire there), so
    the count is taken where every contender's ids go in: the embeddings layer, where padding
    is the pad id (0 for BERT; no real token has it).
    """
    def hook(module, args, kwargs):
        ids = kwargs.get("input_ids", args[0] if args else None)
        if ids is not None:
            counter[0] += int((ids != pad_id).sum())
            counter[1] += ids.numel()
    return hook


class Contender:
    def __init__(self, key: str, model, path: str, device: str, dtype: str | None, instrument: bool = True,
                 token_budget: int | None = None, onnx_dir: str | None = None):
        self.key, self.model, self.path, self.device, self.dtype = key, model, str(path), device, dtype
        self.token_budget = token_budget
        self.onnx_dir = onnx_dir  # a directory with model.onnx, for the ONNX contenders that take one
        self.level, self.corpus, self.reference = KINDS[key]
        self.label = LABELS[key]
        self.stages: dict | None = None
        self.note = ""  # what the contender chose by itself (OpenVINO's precision), for the table
        self._pad = [0, 0]
        family = key.split(".")[0]
        getattr(self, f"_setup_{family}")(instrument)

    # -- setup ------------------------------------------------------------------------------
    def _setup_easynlu(self, instrument):
        import easynlu

        if self.key in EASYNLU_LOAD:  # cpu.py's rows: the model directory, the row's load() keywords
            self.instrumented = False
            self.pipe = easynlu.load(self.path, device=self.device, **EASYNLU_LOAD[self.key])
            self.pipe.embed(["Loaded."], progress=False)  # loads now: an unknown keyword raises here
            self.column = self.pipe.components[0].column
            self.out_level = None
            return
        if instrument:
            instrument_easynlu(self.device)
        self.instrumented = instrument
        kind = self.key.split(".")[1]
        if self.model.real:
            ref = "en.embed.minilm" if kind == "token" else "en.embed_sentence.minilm"
        else:
            ref = self.path if kind == "token" else f"embed_sentence:{self.path}"
        self.pipe = easynlu.load(ref, device=self.device, dtype=self.dtype)
        self.column = self.pipe.components[0].column
        self.out_level = {"sentence": "sentence", "token": "token", "document": "document"}.get(kind)

    def _setup_raw(self, instrument):
        import torch
        from raw import RawLoop

        dtype = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}.get(self.dtype)
        pooling = "mean_norm" if self.model.real else "pooler"
        budget = {} if self.token_budget is None else {"token_budget": self.token_budget}
        self.raw = RawLoop(self.path, self.device, dtype=dtype, pooling=pooling, max_length=self.model.max_length,
                           **budget)

    def _setup_st(self, instrument):
        from sentence_transformers import SentenceTransformer

        if self.key in ("st.onnx", "st.openvino"):  # its defaults: it exports the model itself on load
            self.st = SentenceTransformer(self.path, device=self.device, backend=self.key.split(".")[1])
            self.batch_size = None
            return
        self.st = SentenceTransformer(self.path, device=self.device)
        if self.dtype == "float16":
            self.st.half()
        elif self.dtype == "bfloat16":
            self.st.bfloat16()
        self.batch_size = 128 if self.key == "st.bs128" else None
        model = self.st[0].auto_model
        model.embeddings.register_forward_pre_hook(_pad_hook(self._pad, model.config.pad_token_id or 0),
                                                   with_kwargs=True)

    def _setup_fastembed(self, instrument):
        from fastembed import TextEmbedding
        from fastembed.common.model_description import ModelSource, PoolingType

        name = "easynlu-bench/all-MiniLM-L6-v2"
        if name not in {m["model"] for m in TextEmbedding.list_supported_models()}:
            TextEmbedding.add_custom_model(model=name, pooling=PoolingType.MEAN, normalization=True,
                                           sources=ModelSource(hf="sentence-transformers/all-MiniLM-L6-v2"),
                                           dim=384, model_file="model.onnx")
        self.fe = TextEmbedding(model_name=name, specific_model_path=self.onnx_dir)

    def _setup_ort(self, instrument):
        from ortloop import OrtLoop

        budget = {} if self.token_budget is None else {"token_budget": self.token_budget}
        self.raw = OrtLoop(str(self.onnx_dir), self.path, max_length=self.model.max_length, **budget)

    def _setup_ov(self, instrument):
        from ovloop import OvLoop

        budget = {} if self.token_budget is None else {"token_budget": self.token_budget}
        precision = {"ov.direct_bf16": "bf16", "ov.direct_f32": "f32"}.get(self.key)
        self.raw = OvLoop(str(self.onnx_dir), self.path, max_length=self.model.max_length, precision=precision,
                          **budget)
        self.note = f"precision {self.raw.precision_used}"

    def _setup_pipeline(self, instrument):
        import torch
        from transformers import pipeline

        dtype = {"float16": torch.float16, "bfloat16": torch.bfloat16}.get(self.dtype, torch.float32)
        self.pipe = pipeline("feature-extraction", model=self.path, device=self.device, dtype=dtype)
        model = self.pipe.model
        model.embeddings.register_forward_pre_hook(_pad_hook(self._pad, model.config.pad_token_id or 0),
                                                   with_kwargs=True)

    # -- run --------------------------------------------------------------------------------
    def run(self, texts: list[str]):
        """One timed call; returns its output (left on the host, synchronised)."""
        family = self.key.split(".")[0]
        self._pad[:] = [0, 0]
        if family == "easynlu":
            STAGES.clear()
            PADDING[:] = [0, 0]
            start = time.perf_counter()
            if self.level.startswith("embed"):
                out = self.pipe.embed(texts, progress=False)
            else:
                out = self.pipe.predict(texts, output_level=self.out_level, progress=False)
            sync(self.device)
            total = time.perf_counter() - start
            if getattr(self, "instrumented", False):
                self.stages = _stage_split(dict(STAGES), total)
                self._pad[:] = PADDING
            return out
        if family == "raw":
            if self.key == "raw.token":
                out = self.raw.tokens(texts)
            elif self.key == "raw.sentence_df":
                out = self.raw.sentence_frame(texts)
            else:
                out = self.raw.encode(texts)
            sync(self.device)
            self._pad[:] = self.raw.last_padding
            return out
        if family in ("ort", "ov"):
            out = self.raw.encode(texts)
            self._pad[:] = self.raw.last_padding
            return out
        if family == "fastembed":
            return np.stack(list(self.fe.embed(texts)))
        if family == "st":
            kwargs = {} if self.batch_size is None else {"batch_size": self.batch_size}
            out = self.st.encode(texts, show_progress_bar=False, **kwargs)
            sync(self.device)
            return out
        out = self.pipe(texts)
        sync(self.device)
        return out

    def vectors(self, out) -> np.ndarray:
        """The output as one float32 (rows, dim) matrix, for the correctness check."""
        if self.key in ("raw.token", "raw.sentence_df"):
            return np.stack(out["embeddings"].to_numpy()).astype(np.float32)
        if self.key.startswith("easynlu."):
            if isinstance(out, np.ndarray):
                return out.astype(np.float32)
            return np.stack(out[self.column].to_numpy()).astype(np.float32)
        if self.key == "pipeline":  # token vectors -> mean over all tokens + L2 norm (MiniLM's pooling)
            rows = [np.asarray(o[0], dtype=np.float32).mean(0) for o in out]
            matrix = np.stack(rows)
            return matrix / np.linalg.norm(matrix, axis=1, keepdims=True)
        return np.asarray(out, dtype=np.float32)

    def words(self, out):
        """The token column of a token-level output (to check rows line up)."""
        if self.level == "token":
            return out["token"].tolist()
        return None

    def padding(self) -> tuple[int, int] | None:
        real, padded = self._pad
        return (real, padded) if padded else None


def _stage_split(stages: dict, total: float) -> dict:
    forward = stages.get("forward", 0.0)
    run = stages.get("run", 0.0)
    split = {
        "segment": stages.get("segment", 0.0),
        "tokenize": stages.get("tokenize", 0.0),
        "forward": forward,
        "pool": max(run - forward, 0.0),
        "frames": stages.get("frames", 0.0),
    }
    split["other"] = max(total - sum(split.values()), 0.0)
    split["total"] = total
    return split
