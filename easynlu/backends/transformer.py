"""A transformers encoder: tokenize, batch by tokens, forward, pool on the device.

This is the only module (with sentence.py) that touches torch. It takes flat numpy arrays in
and gives flat float32 numpy arrays out; what to pool is decided by the caller (a Job).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

import numpy as np
import torch

from ..encoded import Tokens
from ..errors import ModelUnavailableError
from . import batching

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


@dataclass(frozen=True)
class Job:
    """What to compute for one run over tokenized segments.

    Token pooling: every token with ``group >= 0`` adds ``weight * vector`` ("sum") or takes
    part in an elementwise max ("max") into row ``group`` of an ``(n_groups, dim)`` matrix.
    Segment pooling (``segment`` = "cls", "pooler" or "sentence") gives one vector per segment,
    averaged over its windows by the share of tokens each window owns.
    """

    group: np.ndarray | None = None
    weight: np.ndarray | None = None
    n_groups: int = 0
    op: str = "sum"
    segment: str | None = None
    layers: tuple[int, ...] = (-1,)
    layer_pooling: str = "mean"
    token_budget: int = batching.TOKEN_BUDGET
    batch_size: int | None = None


@dataclass
class Result:
    tokens: np.ndarray | None    # (n_groups, dim) float32; rows no token reached are NaN
    segments: np.ndarray | None  # (n_segments, dim) float32; segments without tokens are NaN


class TransformerBackend:
    """A Hugging Face encoder loaded from a local directory."""

    def __init__(self, path: str, device: str, dtype: str, sentence=None):
        from transformers import AutoModel, AutoTokenizer

        self.path, self.device, self.dtype = path, torch.device(device), dtype
        _refuse_remote_code(path)
        self.tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=False)
        self.model = _load_weights(AutoModel, path, dtype).to(self.device).eval()
        self.sentence = sentence.attach(self) if sentence is not None else None
        config = self.model.config
        self.dim = int(config.hidden_size)
        self.n_layers = int(config.num_hidden_layers)
        self.prefix, self.suffix = _special_tokens(self.tokenizer)
        # This backend owns its tokenizer, so the Rust tokenizer is reconfigured in place rather
        # than copied (a copy costs ~8 MB): tokenizer.json often carries truncation/padding.
        self._backend = self.tokenizer.backend_tokenizer
        self._backend.no_truncation()
        self._backend.no_padding()
        self.pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        self.takes_types = "token_type_ids" in self.tokenizer.model_input_names
        max_len = _max_length(config, self.tokenizer)
        if self.sentence is not None and self.sentence.max_length:
            max_len = min(max_len, self.sentence.max_length)
        self.window = max_len - len(self.prefix) - len(self.suffix)

    # -- tokenize ---------------------------------------------------------------------------
    def tokenize(self, texts: list[str]) -> Tokens:
        encodings = self._backend.encode_batch(texts, add_special_tokens=False)
        counts = np.fromiter((len(e.ids) for e in encodings), dtype=np.int64, count=len(encodings))
        offsets = np.zeros(len(encodings) + 1, dtype=np.int64)
        np.cumsum(counts, out=offsets[1:])
        total = int(offsets[-1])
        ids = np.fromiter((i for e in encodings for i in e.ids), dtype=np.int64, count=total)
        spans = np.fromiter(
            (x for e in encodings for span in e.offsets for x in span), dtype=np.int64, count=2 * total
        ).reshape(-1, 2)
        words = np.fromiter(
            (-1 if w is None else w for e in encodings for w in e.word_ids), dtype=np.int64, count=total
        )
        return Tokens(ids, spans[:, 0].copy(), spans[:, 1].copy(), words, offsets)

    # -- run --------------------------------------------------------------------------------
    def run(self, tokens: Tokens, job: Job, progress=None) -> Result:
        self._check_layers(job.layers)
        n_seg = len(tokens.offsets) - 1
        wins = batching.windows(tokens.offsets, self.window)
        dim = self.dim * (len(job.layers) if job.layer_pooling == "concat" else 1)
        state = _State(job, len(wins), dim, self._segment_dim(job, dim))
        if progress is not None:
            progress.total += len(wins)
        padded = wins.length + len(self.prefix) + len(self.suffix)  # the budget counts [CLS]/[SEP] too
        for batch in batching.batches(padded, job.token_budget, job.batch_size):
            self._run_safely(tokens, wins, batch, job, state)
            if progress is not None:
                progress.update(len(batch))
        return state.result(wins, n_seg)

    def _run_safely(self, tokens, wins, batch, job, state):
        """Run a batch; on CUDA out-of-memory, split it in half and retry, down to one window."""
        try:
            self._run_batch(tokens, wins, batch, job, state)
            return
        except torch.cuda.OutOfMemoryError as err:
            if len(batch) == 1:
                raise torch.cuda.OutOfMemoryError(
                    f"{err}\neasynlu split the batch down to one window of {int(wins.length[batch[0]])} "
                    f"tokens and it still does not fit on {self.device}. Free memory on the device "
                    f"(other processes, other models), use a smaller model, or run on the CPU: "
                    f"easynlu.load(..., device='cpu')."
                ) from err
        # Retry outside the except block: the traceback holds the failed attempt's tensors.
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
        half = len(batch) // 2
        self._run_safely(tokens, wins, batch[:half], job, state)
        self._run_safely(tokens, wins, batch[half:], job, state)

    def _run_batch(self, tokens, wins, batch, job, state):
        ids, mask = batching.pad(
            tokens.ids, wins.start[batch], wins.length[batch], self.prefix, self.suffix, self.pad_id
        )
        with torch.inference_mode():
            out = self.forward(ids, mask, hidden_states=job.layers != (-1,))
            hidden = _combine_layers(out, job.layers, job.layer_pooling)
            token_part = self._pool_tokens(hidden, tokens, wins, batch, job) if job.group is not None else None
            seg_part = self._pool_segments(out, hidden, job, mask) if job.segment else None
        state.add(batch, token_part, seg_part)  # only after the whole batch succeeded

    def forward(self, ids: np.ndarray, mask: np.ndarray, hidden_states: bool = False):
        inputs = {"input_ids": self._to_device(ids), "attention_mask": self._to_device(mask)}
        if self.takes_types:
            inputs["token_type_ids"] = torch.zeros_like(inputs["input_ids"])
        return self.model(**inputs, output_hidden_states=hidden_states, return_dict=True)

    def _to_device(self, array: np.ndarray) -> torch.Tensor:
        tensor = torch.from_numpy(array)
        if self.device.type == "cuda":
            return tensor.pin_memory().to(self.device, non_blocking=True)
        return tensor.to(self.device)

    def _pool_tokens(self, hidden, tokens, wins, batch, job):
        own = (wins.own_end - wins.own_start)[batch]
        row = np.repeat(np.arange(len(batch)), own)
        flat = np.repeat(wins.own_start[batch] - np.cumsum(own) + own, own) + np.arange(int(own.sum()))
        col = len(self.prefix) + flat - np.repeat(wins.start[batch], own)
        group = job.group[flat]
        keep = group >= 0
        if not keep.any():
            return None
        rows, inverse = np.unique(group[keep], return_inverse=True)
        vectors = hidden[torch.from_numpy(row[keep]).to(self.device), torch.from_numpy(col[keep]).to(self.device)]
        index = torch.from_numpy(inverse.astype(np.int64)).to(self.device)
        if job.op == "max":
            pooled = torch.full((len(rows), vectors.shape[1]), -torch.inf, device=self.device)
            pooled.scatter_reduce_(0, index[:, None].expand_as(vectors), vectors, "amax")
        else:
            if job.weight is not None:
                vectors = vectors * torch.from_numpy(job.weight[flat[keep]]).to(self.device)[:, None]
            pooled = torch.zeros((len(rows), vectors.shape[1]), device=self.device)
            pooled.index_add_(0, index, vectors)
        return rows, pooled.cpu().numpy()

    def _pool_segments(self, out, hidden, job, mask):
        if job.segment == "cls":
            vectors = hidden[:, 0]
        elif job.segment == "pooler":
            if getattr(out, "pooler_output", None) is None:
                raise ModelUnavailableError(
                    f"The model in {self.path} has no pooler layer, so it has no BERT sentence "
                    f"vector. Use it as a token model (embed) with pooling='mean' or 'cls'."
                )
            vectors = out.pooler_output
        else:
            vectors = self.sentence.pool(out, mask, self._to_device(mask))
        return vectors.float().cpu().numpy()

    def _segment_dim(self, job, dim):
        if job.segment is None:
            return 0
        if job.segment == "sentence":
            return self.sentence.dim
        return dim if job.segment == "cls" else self.dim

    def _check_layers(self, layers):
        for layer in layers:
            if not -(self.n_layers + 1) <= layer <= self.n_layers:
                raise ValueError(
                    f"layers={layer} is out of range: this model has {self.n_layers} layers, so "
                    f"use 0 (embeddings) to {self.n_layers}, or -1 (last) to {-(self.n_layers + 1)}."
                )


class _State:
    """Host-side accumulators, filled batch by batch."""

    def __init__(self, job: Job, n_win: int, token_dim: int, seg_dim: int):
        self.job = job
        self.tokens = self.windows = None
        if job.group is not None:
            fill = -np.inf if job.op == "max" else 0.0
            self.tokens = np.full((job.n_groups, token_dim), fill, dtype=np.float32)
            self.touched = np.zeros(job.n_groups, dtype=bool)
        if job.segment:
            self.windows = np.zeros((n_win, seg_dim), dtype=np.float32)

    def add(self, batch, token_part, seg_part):
        if token_part is not None:
            rows, pooled = token_part
            if self.job.op == "max":
                self.tokens[rows] = np.maximum(self.tokens[rows], pooled)
            else:
                self.tokens[rows] += pooled
            self.touched[rows] = True
        if seg_part is not None:
            self.windows[batch] = seg_part

    def result(self, wins, n_seg) -> Result:
        tokens = segments = None
        if self.tokens is not None:
            tokens = self.tokens
            tokens[~self.touched] = np.nan
        if self.windows is not None:
            segments = np.zeros((n_seg, self.windows.shape[1]), dtype=np.float32)
            np.add.at(segments, wins.seg, self.windows * wins.weight[:, None].astype(np.float32))
            segments[np.bincount(wins.seg, minlength=n_seg) == 0] = np.nan
        return Result(tokens, segments)


def _combine_layers(out, layers, layer_pooling):
    if layers == (-1,):
        return out.last_hidden_state.float()
    states = [out.hidden_states[i].float() for i in layers]
    if len(states) == 1:
        return states[0]
    return torch.cat(states, dim=-1) if layer_pooling == "concat" else torch.stack(states).mean(0)


def _special_tokens(tokenizer) -> tuple[list[int], list[int]]:
    """The ids the tokenizer puts before and after one sequence ([CLS] ... [SEP] for BERT)."""
    plain = tokenizer("a", add_special_tokens=False)["input_ids"]
    full = tokenizer("a", add_special_tokens=True)["input_ids"]
    for i in range(len(full) - len(plain) + 1):
        if full[i : i + len(plain)] == plain:
            return list(full[:i]), list(full[i + len(plain) :])
    return [], []


def _max_length(config, tokenizer) -> int:
    limit = int(getattr(config, "max_position_embeddings", 512) or 512)
    told = getattr(tokenizer, "model_max_length", None)
    if isinstance(told, int) and 0 < told < 100_000:
        limit = min(limit, told)
    return limit


def _load_weights(auto_model, path: str, dtype: str):
    """from_pretrained (safetensors preferred; .bin only through torch's weights_only loader),
    with errors that name the bad file and say what to do."""
    import pickle

    from safetensors import SafetensorError, safe_open

    files = sorted(f for f in os.listdir(path) if f.endswith(".safetensors"))
    for name in files:
        try:
            with safe_open(os.path.join(path, name), "pt") as f:
                f.keys()
        except (SafetensorError, OSError) as err:
            raise ModelUnavailableError(
                f"{os.path.join(path, name)} is truncated or corrupted ({err}). Delete it and "
                f"download or save the model again (for a Hub model, delete its folder in the "
                f"Hugging Face cache)."
            ) from err
    try:
        return auto_model.from_pretrained(path, dtype=DTYPES[dtype], attn_implementation="sdpa",
                                          trust_remote_code=False, weights_only=True)
    except pickle.UnpicklingError as err:
        raise ModelUnavailableError(
            f"The weights in {path} (pytorch_model.bin) hold objects other than tensors. easynlu "
            f"only loads .bin files with torch.load(weights_only=True) and never unpickles "
            f"arbitrary objects. Use a model saved as safetensors from a source you trust."
        ) from err
    except RuntimeError as err:  # torch's reader on a truncated or corrupted .bin archive
        bins = [f for f in os.listdir(path) if f.endswith(".bin")]
        if files or not bins:
            raise
        raise ModelUnavailableError(
            f"{os.path.join(path, bins[0])} is truncated or corrupted ({err}). Delete it and "
            f"download or save the model again, preferably as safetensors "
            f"(model.save_pretrained(dir) writes model.safetensors)."
        ) from err
    except OSError as err:
        raise ModelUnavailableError(
            f"Cannot load the weights in {path}: {err}. The directory needs model.safetensors "
            f"(or pytorch_model.bin) beside config.json; save it with model.save_pretrained(dir)."
        ) from err


def _refuse_remote_code(path: str) -> None:
    config_file = os.path.join(path, "config.json")
    try:
        with open(config_file, encoding="utf-8") as f:
            config = json.load(f)
    except (OSError, ValueError) as err:
        raise ModelUnavailableError(
            f"{config_file} is missing or not valid JSON ({err}). A model directory needs a "
            f"config.json: save it with model.save_pretrained(dir)."
        ) from err
    if "auto_map" in config:
        raise ModelUnavailableError(
            f"{config_file} asks for custom code (auto_map), and easynlu never runs a model's own "
            f"code (no trust_remote_code). Use a model with a standard transformers architecture."
        )
