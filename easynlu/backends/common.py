"""What every backend shares, without torch: tokenizing, windows and batches, pooling indices, accumulators.

A backend subclasses :class:`WindowedBackend` and supplies ``_run_batch``: the forward pass of
one padded batch and its pooling, in its own engine (torch on a device, onnxruntime on the CPU).
Tokenizing with a ``tokenizers.Tokenizer``, the windows over long texts, the sorted token-budget
batches, which token goes to which output row, and the host-side sums are all here, once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import pooling
from ..encoded import Job, Result, Tokens
from ..errors import ModelUnavailableError, OptionError
from . import batching
from .batching import Windows
from .protocol import Progress

if TYPE_CHECKING:
    from tokenizers import Tokenizer


def tokenize(tokenizer: Tokenizer, texts: list[str]) -> Tokens:
    """The texts' tokens (ids, character offsets, word ids), flat, without special tokens.

    ``tokenizer`` must have padding and truncation turned off (``no_padding()``, ``no_truncation()``).
    """
    encodings = tokenizer.encode_batch(texts, add_special_tokens=False)
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


def special_tokens(encode: Callable[[str, bool], list[int]]) -> tuple[list[int], list[int]]:
    """The ids a tokenizer puts before and after one sequence ([CLS] ... [SEP] for BERT).

    ``encode(text, add_special_tokens)`` gives the ids of ``text``.
    """
    plain = encode("a", False)
    full = encode("a", True)
    for i in range(len(full) - len(plain) + 1):
        if full[i : i + len(plain)] == plain:
            return list(full[:i]), list(full[i + len(plain) :])
    return [], []


def check_layers(layers: tuple[int, ...], n_layers: int) -> None:
    """Raise OptionError for a layer index the model does not have (0 is the embeddings)."""
    for layer in layers:
        if not -(n_layers + 1) <= layer <= n_layers:
            raise OptionError(
                f"layers={layer} is out of range: this model has {n_layers} layers, so "
                f"use 0 (embeddings) to {n_layers}, or -1 (last) to {-(n_layers + 1)}."
            )


def no_pooler_error(path: str, has_pooler: bool) -> ModelUnavailableError:
    """The error for a BERT sentence vector asked of a model without a pooler."""
    what = "layer" if has_pooler else "weights (pooler.dense.* are not in its files)"
    return ModelUnavailableError(
        f"The model in {path} has no pooler {what}, so it has no BERT sentence vector.",
        fix="use it as a token model (an embed ref, not embed_sentence) with pooling='mean' or 'cls'")


class TokenIndex:
    """Where a batch's pooled tokens sit in its hidden states and which output row each joins.

    ``row``/``col`` index the batch's (window, position) hidden states; ``flat`` is each token's
    index in the flat token arrays; ``rows`` are the output rows reached (sorted) and ``inverse``
    each token's place in ``rows``.
    """

    def __init__(self, row: np.ndarray, col: np.ndarray, flat: np.ndarray, rows: np.ndarray, inverse: np.ndarray):
        self.row, self.col, self.flat, self.rows, self.inverse = row, col, flat, rows, inverse

    @classmethod
    def of(cls, wins: Windows, batch: np.ndarray, job: Job, n_prefix: int) -> TokenIndex | None:
        """The index for the tokens the batch's windows own, or None when none joins an output row."""
        assert job.group is not None  # tokens are pooled only for a job with groups
        own = (wins.own_end - wins.own_start)[batch]
        row = np.repeat(np.arange(len(batch)), own)
        flat = np.repeat(wins.own_start[batch] - np.cumsum(own) + own, own) + np.arange(int(own.sum()))
        col = n_prefix + flat - np.repeat(wins.start[batch], own)
        group = job.group[flat]
        keep = group >= 0
        if not keep.any():
            return None
        rows, inverse = np.unique(group[keep], return_inverse=True)
        return cls(row[keep], col[keep], flat[keep], rows, inverse.astype(np.int64))


def pool_tokens(hidden: np.ndarray, index: TokenIndex, job: Job) -> tuple[np.ndarray, np.ndarray]:
    """Sum (weighted) or max of a batch's hidden states ``(windows, positions, dim)`` into output rows, in numpy."""
    vectors = hidden[index.row, index.col].astype(np.float32, copy=False)
    order = np.argsort(index.inverse, kind="stable")
    starts = np.flatnonzero(np.r_[True, np.diff(index.inverse[order]) != 0])
    if job.op == "max":
        return index.rows, np.maximum.reduceat(vectors[order], starts, axis=0)
    if job.weight is not None:
        vectors = vectors * job.weight[index.flat].astype(np.float32)[:, None]
    return index.rows, np.add.reduceat(vectors[order], starts, axis=0)


def combine_layers(states: list[np.ndarray], layer_pooling: str) -> np.ndarray:
    """One hidden-state array from the chosen layers' (concatenated or averaged), in numpy."""
    if len(states) == 1:
        return states[0]
    if layer_pooling == "concat":
        return np.concatenate(states, axis=-1)
    return np.asarray(np.mean(np.stack(states), axis=0, dtype=np.float32))


class State:
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
        """Add one batch's pooled tokens (output rows, vectors) and its windows' segment vectors."""
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
        """The finished matrices: untouched token rows and segments without windows are NaN."""
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


class WindowedBackend:
    """A backend's shared run loop: windows, sorted token-budget batches, accumulators.

    Subclasses set the attributes below and implement ``_run_batch``; they may override
    ``_run_safely`` (e.g. to split a batch that does not fit in memory).
    """

    name: str
    path: str
    device: str
    dtype: str
    dim: int                # hidden size
    n_layers: int
    has_own_pooling: bool   # it defines its sentence vector (sentence-transformers pooling)
    own_dim: int            # size of that sentence vector
    own_normalize: bool     # whether that sentence vector is L2-normalised
    prefix: list[int]       # special token ids before and after a window
    suffix: list[int]
    pad_id: int
    window: int             # text tokens per window (the model's max length minus the specials)
    rust_tokenizer: Any     # the tokenizers.Tokenizer it runs, without padding and truncation

    def tokenize(self, texts: list[str]) -> Tokens:
        """The texts' tokens (ids, character offsets, word ids), flat, without special tokens."""
        return tokenize(self.rust_tokenizer, texts)

    def run(self, tokens: Tokens, job: Job, progress: Progress | None = None) -> Result:
        """Forward every window of ``tokens`` in token-budget batches and pool as ``job`` says.

        Raises OptionError for layers the model lacks.
        """
        check_layers(job.layers, self.n_layers)
        n_seg = len(tokens.offsets) - 1
        wins = batching.windows(tokens.offsets, self.window)
        dim = self.dim * (len(job.layers) if job.layer_pooling == "concat" else 1)
        state = State(job, len(wins), dim, self._segment_dim(job, dim), self._normalizes(job))
        if progress is not None:
            progress.total += len(wins)
        padded = wins.length + len(self.prefix) + len(self.suffix)  # the budget counts [CLS]/[SEP] too
        budget = job.token_budget or batching.TOKEN_BUDGET
        cost = batching.BATCH_COST if self.device == "cpu" else budget  # GPUs: full batches
        for batch in batching.batches(padded, budget, job.batch_size, cost, batching.BUCKET, self._longest()):
            self._run_safely(tokens, wins, batch, job, state)
            if progress is not None:
                progress.update(len(batch))
        return state.result(wins, n_seg)

    def _pad(self, tokens: Tokens, wins: Windows, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``input_ids`` and ``attention_mask`` (int64) of the batch's windows with their special tokens."""
        specials = len(self.prefix) + len(self.suffix)
        total = batching.bucketed(int(wins.length[batch].max()) + specials, batching.BUCKET, self._longest())
        return batching.pad(tokens.ids, wins.start[batch], wins.length[batch], self.prefix, self.suffix, self.pad_id,
                            total)

    def _longest(self) -> int:
        """The longest input the model takes, special tokens included: no bucket rounds past it."""
        return self.window + len(self.prefix) + len(self.suffix)

    def _run_safely(self, tokens: Tokens, wins: Windows, batch: np.ndarray, job: Job, state: State) -> None:
        self._run_batch(tokens, wins, batch, job, state)

    def _run_batch(self, tokens: Tokens, wins: Windows, batch: np.ndarray, job: Job, state: State) -> None:
        raise NotImplementedError

    def _segment_dim(self, job: Job, dim: int) -> int:
        if job.segment is None:
            return 0
        if job.segment == "cls":
            return dim
        return self.own_dim if self.has_own_pooling else self.dim

    def _normalizes(self, job: Job) -> bool:
        """Whether the job's segment vectors are the model's own, L2-normalised ones."""
        return job.segment == "sentence" and self.has_own_pooling and self.own_normalize
