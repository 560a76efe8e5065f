"""A transformers encoder: tokenize, batch by tokens, forward, pool on the device.

This is the only module (with sentence.py and device.py) that touches torch. It takes flat numpy
arrays in and gives flat float32 numpy arrays out; what to pool is decided by the caller (a Job).
The model directory has already been checked by ``sources`` (config, no custom code, weights).
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from .. import pooling
from ..encoded import Job, Result, Tokens
from ..errors import ModelUnavailableError, OptionError, OutOfMemoryError
from . import Progress, batching
from .sentence import SentencePooling, is_sentence_transformers_dir

if TYPE_CHECKING:
    from transformers import AutoModel, PretrainedConfig, PreTrainedTokenizerBase

    from .batching import Windows

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def load(path: str, device: str, dtype: str) -> TransformerBackend:
    """Load a model directory; a sentence-transformers directory keeps its own pooling."""
    from transformers.utils import logging as hf_logging

    sentence = SentencePooling(path) if is_sentence_transformers_dir(path) else None
    shown = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # transformers' per-tensor "Loading weights" bar is noise here
    try:
        return TransformerBackend(path, device, dtype, sentence=sentence)
    finally:
        if shown:
            hf_logging.enable_progress_bar()


class TransformerBackend:
    """A Hugging Face encoder loaded from a local directory."""

    def __init__(self, path: str, device: str, dtype: str, sentence: SentencePooling | None = None):
        from transformers import AutoModel, AutoTokenizer

        self.path, self.dtype = path, dtype
        self._device = torch.device(device)
        self.device = str(self._device)
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=False)
        except Exception as err:  # tokenizers raises plain Exception on a broken tokenizer.json
            raise ModelUnavailableError(
                f"Cannot load the tokenizer in {path} ({type(err).__name__}: {err}).",
                fix="save the tokenizer there again with tokenizer.save_pretrained(dir)") from err
        model, missing = _load_weights(AutoModel, path, dtype)
        self.model = model.to(self._device).eval()
        self.has_pooler = not any("pooler" in key.split(".") for key in missing)
        self.sentence = sentence.attach(self) if sentence is not None else None
        self.has_own_pooling = self.sentence is not None
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
        if self.window < 2:
            raise ModelUnavailableError(
                f"The model in {path} reads at most {max_len} tokens, which leaves no room for text "
                f"beside its special tokens.", fix="use a model with a larger max_position_embeddings")

    def memory_bytes(self) -> int:
        """Bytes held by the model's parameters and buffers (the tokenizer is not counted)."""
        tensors = [*self.model.parameters(), *self.model.buffers()]
        return sum(t.numel() * t.element_size() for t in tensors)

    # -- tokenize ---------------------------------------------------------------------------
    def tokenize(self, texts: list[str]) -> Tokens:
        """The texts' tokens (ids, character offsets, word ids), flat, without special tokens."""
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
    def run(self, tokens: Tokens, job: Job, progress: Progress | None = None) -> Result:
        """Forward every window of ``tokens`` in token-budget batches and pool as ``job`` says.

        Raises OptionError for layers the model lacks, OutOfMemoryError when one window does not
        fit on the device (a batch is halved and retried first).
        """
        self._check_layers(job.layers)
        n_seg = len(tokens.offsets) - 1
        wins = batching.windows(tokens.offsets, self.window)
        dim = self.dim * (len(job.layers) if job.layer_pooling == "concat" else 1)
        state = _State(job, len(wins), dim, self._segment_dim(job, dim), self._normalizes(job))
        if progress is not None:
            progress.total += len(wins)
        padded = wins.length + len(self.prefix) + len(self.suffix)  # the budget counts [CLS]/[SEP] too
        budget = job.token_budget or batching.TOKEN_BUDGET
        for batch in batching.batches(padded, budget, job.batch_size):
            self._run_safely(tokens, wins, batch, job, state)
            if progress is not None:
                progress.update(len(batch))
        return state.result(wins, n_seg)

    def _run_safely(self, tokens: Tokens, wins: Windows, batch: np.ndarray, job: Job, state: _State) -> None:
        """Run a batch; on CUDA out-of-memory, split it in half and retry, down to one window."""
        try:
            self._run_batch(tokens, wins, batch, job, state)
            return
        except torch.cuda.OutOfMemoryError as err:
            if len(batch) == 1:
                raise OutOfMemoryError(
                    f"{err}\neasynlu split the batch down to one window of {int(wins.length[batch[0]])} "
                    f"tokens and it still does not fit on {self.device}. Free memory on the device "
                    f"(other processes, other models), use a smaller model, or run on the CPU: "
                    f"easynlu.load(..., device='cpu')."
                ) from err
        # Retry outside the except block: the traceback holds the failed attempt's tensors.
        if self._device.type == "cuda":
            torch.cuda.empty_cache()
        half = len(batch) // 2
        self._run_safely(tokens, wins, batch[:half], job, state)
        self._run_safely(tokens, wins, batch[half:], job, state)

    def _run_batch(self, tokens: Tokens, wins: Windows, batch: np.ndarray, job: Job, state: _State) -> None:
        ids, mask = batching.pad(
            tokens.ids, wins.start[batch], wins.length[batch], self.prefix, self.suffix, self.pad_id
        )
        with torch.inference_mode():
            out = self.forward(ids, mask, hidden_states=job.layers != (-1,))
            hidden = _combine_layers(out, job.layers, job.layer_pooling)
            token_part = self._pool_tokens(hidden, tokens, wins, batch, job) if job.group is not None else None
            seg_part = self._pool_segments(out, hidden, job, mask) if job.segment else None
        state.add(batch, token_part, seg_part)  # only after the whole batch succeeded

    def forward(self, ids: np.ndarray, mask: np.ndarray, hidden_states: bool = False) -> Any:
        """The model's output for one padded batch (ids and mask as int64 numpy arrays)."""
        inputs = {"input_ids": self._to_device(ids), "attention_mask": self._to_device(mask)}
        if self.takes_types:
            inputs["token_type_ids"] = torch.zeros_like(inputs["input_ids"])
        return self.model(**inputs, output_hidden_states=hidden_states, return_dict=True)

    def _to_device(self, array: np.ndarray) -> torch.Tensor:
        tensor = torch.from_numpy(array)
        if self._device.type == "cuda":
            return tensor.pin_memory().to(self._device, non_blocking=True)
        return tensor.to(self._device)

    def _pool_tokens(self, hidden: torch.Tensor, tokens: Tokens, wins: Windows, batch: np.ndarray,
                     job: Job) -> tuple[np.ndarray, np.ndarray] | None:
        assert job.group is not None  # the caller pools tokens only for a job with groups
        own = (wins.own_end - wins.own_start)[batch]
        row = np.repeat(np.arange(len(batch)), own)
        flat = np.repeat(wins.own_start[batch] - np.cumsum(own) + own, own) + np.arange(int(own.sum()))
        col = len(self.prefix) + flat - np.repeat(wins.start[batch], own)
        group = job.group[flat]
        keep = group >= 0
        if not keep.any():
            return None
        rows, inverse = np.unique(group[keep], return_inverse=True)
        device = self._device
        vectors = hidden[torch.from_numpy(row[keep]).to(device), torch.from_numpy(col[keep]).to(device)]
        index = torch.from_numpy(inverse.astype(np.int64)).to(device)
        if job.op == "max":
            pooled = torch.full((len(rows), vectors.shape[1]), -torch.inf, device=device)
            pooled.scatter_reduce_(0, index[:, None].expand_as(vectors), vectors, "amax")
        else:
            if job.weight is not None:
                vectors = vectors * torch.from_numpy(job.weight[flat[keep]]).to(device)[:, None]
            pooled = torch.zeros((len(rows), vectors.shape[1]), device=device)
            pooled.index_add_(0, index, vectors)
        return rows, pooled.cpu().numpy()

    def _pool_segments(self, out: Any, hidden: torch.Tensor, job: Job, mask: np.ndarray) -> np.ndarray:
        if job.segment == "cls":
            vectors = hidden[:, 0]
        elif self.sentence is not None:  # the model's own sentence-transformers pooling
            vectors = self.sentence.pool(out, self._to_device(mask))
        else:  # BERT's sentence vector: [CLS] through the pooler dense layer and tanh
            if getattr(out, "pooler_output", None) is None or not self.has_pooler:
                what = "layer" if self.has_pooler else "weights (pooler.dense.* are not in its files)"
                raise ModelUnavailableError(
                    f"The model in {self.path} has no pooler {what}, so it has no BERT sentence vector.",
                    fix="use it as a token model (an embed ref, not embed_sentence) with pooling='mean' or 'cls'")
            vectors = out.pooler_output
        return vectors.float().cpu().numpy()

    def _segment_dim(self, job: Job, dim: int) -> int:
        if job.segment is None:
            return 0
        if job.segment == "cls":
            return dim
        return self.sentence.dim if self.sentence is not None else self.dim

    def _normalizes(self, job: Job) -> bool:
        """Whether the job's segment vectors are the model's own, L2-normalised ones."""
        return job.segment == "sentence" and self.sentence is not None and self.sentence.normalize

    def _check_layers(self, layers: tuple[int, ...]) -> None:
        for layer in layers:
            if not -(self.n_layers + 1) <= layer <= self.n_layers:
                raise OptionError(
                    f"layers={layer} is out of range: this model has {self.n_layers} layers, so "
                    f"use 0 (embeddings) to {self.n_layers}, or -1 (last) to {-(self.n_layers + 1)}."
                )


class _State:
    """Host-side accumulators, filled batch by batch."""

    def __init__(self, job: Job, n_win: int, token_dim: int, seg_dim: int, normalize: bool):
        self.job, self.normalize = job, normalize
        self.tokens: np.ndarray | None = None
        self.windows: np.ndarray | None = None
        if job.group is not None:
            fill = -np.inf if job.op == "max" else 0.0
            self.tokens = np.full((job.n_groups, token_dim), fill, dtype=np.float32)
            self.touched = np.zeros(job.n_groups, dtype=bool)
        if job.segment:
            self.windows = np.zeros((n_win, seg_dim), dtype=np.float32)

    def add(self, batch: np.ndarray, token_part: tuple[np.ndarray, np.ndarray] | None,
            seg_part: np.ndarray | None) -> None:
        if token_part is not None:
            assert self.tokens is not None  # token parts come only for a job with groups
            rows, pooled = token_part
            if self.job.op == "max":
                self.tokens[rows] = np.maximum(self.tokens[rows], pooled)
            else:
                self.tokens[rows] += pooled
            self.touched[rows] = True
        if seg_part is not None:
            assert self.windows is not None  # segment parts come only for a job with a segment
            self.windows[batch] = seg_part

    def result(self, wins: Windows, n_seg: int) -> Result:
        tokens: np.ndarray | None = None
        segments: np.ndarray | None = None
        if self.tokens is not None:
            tokens = self.tokens
            tokens[~self.touched] = np.nan
        if self.windows is not None:
            segments = np.zeros((n_seg, self.windows.shape[1]), dtype=np.float32)
            np.add.at(segments, wins.seg, self.windows * wins.weight[:, None].astype(np.float32))
            segments[np.bincount(wins.seg, minlength=n_seg) == 0] = np.nan
            if self.normalize:  # a mean over several windows is no longer unit length
                pooling.l2_normalize(segments)
        return Result(tokens, segments)


def _combine_layers(out: Any, layers: tuple[int, ...], layer_pooling: str) -> torch.Tensor:
    if layers == (-1,):
        return out.last_hidden_state.float()
    states = [out.hidden_states[i].float() for i in layers]
    if len(states) == 1:
        return states[0]
    return torch.cat(states, dim=-1) if layer_pooling == "concat" else torch.stack(states).mean(0)


def _special_tokens(tokenizer: PreTrainedTokenizerBase) -> tuple[list[int], list[int]]:
    """The ids the tokenizer puts before and after one sequence ([CLS] ... [SEP] for BERT)."""
    plain = tokenizer("a", add_special_tokens=False)["input_ids"]
    full = tokenizer("a", add_special_tokens=True)["input_ids"]
    for i in range(len(full) - len(plain) + 1):
        if full[i : i + len(plain)] == plain:
            return list(full[:i]), list(full[i + len(plain) :])
    return [], []


def _max_length(config: PretrainedConfig, tokenizer: PreTrainedTokenizerBase) -> int:
    limit = int(getattr(config, "max_position_embeddings", 512) or 512)
    told = getattr(tokenizer, "model_max_length", None)
    if isinstance(told, int) and 0 < told < 100_000:
        limit = min(limit, told)
    return limit


def _load_weights(auto_model: type[AutoModel], path: str, dtype: str) -> tuple[Any, list[str]]:
    """from_pretrained (the model, and the names of weights its files lack): safetensors
    preferred, a .bin only through torch's weights_only loader.

    ``sources.check_model_dir`` has already refused custom code and truncated or corrupted files;
    what can still go wrong here is reported as ModelUnavailableError naming the directory.
    transformers' load report (e.g. a MISSING pooler table) is not printed: a missing pooler is
    reported by easynlu when a sentence vector needs it, other problems in the error.
    """
    import pickle

    report = _CapturedLog()
    try:
        with report:
            model, info = auto_model.from_pretrained(
                path, dtype=DTYPES[dtype], attn_implementation="sdpa", trust_remote_code=False,
                weights_only=True, output_loading_info=True)
        return model, list(info.get("missing_keys", ()))
    except pickle.UnpicklingError as err:
        raise ModelUnavailableError(
            f"The weights in {path} (pytorch_model.bin) hold objects other than tensors. easynlu "
            f"only loads .bin files with torch.load(weights_only=True) and never unpickles "
            f"arbitrary objects.", fix="use a model saved as safetensors from a source you trust"
        ) from err
    except (OSError, RuntimeError) as err:
        files = sorted(os.listdir(path))
        details = "".join(f"\n{line}" for line in report.lines)
        raise ModelUnavailableError(
            f"Cannot load the weights in {path} ({type(err).__name__}: {err}); it holds {files}.{details}",
            fix="save the model there again with model.save_pretrained(dir), which writes "
                "model.safetensors beside config.json",
        ) from err


class _CapturedLog(logging.Handler):
    """Keeps transformers' model-loading log lines instead of printing them, while in a with block."""

    _LOGGER = "transformers.modeling_utils"

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())

    def __enter__(self) -> _CapturedLog:
        logger = logging.getLogger(self._LOGGER)
        self._propagate = logger.propagate
        logger.addHandler(self)
        logger.propagate = False
        return self

    def __exit__(self, *exc: object) -> None:
        logger = logging.getLogger(self._LOGGER)
        logger.removeHandler(self)
        logger.propagate = self._propagate
