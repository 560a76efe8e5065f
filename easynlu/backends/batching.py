"""Windows, token-budget batches and numpy padding. No torch here.

Texts longer than the model's window are cut into overlapping windows. Every token is *owned*
by exactly one window, the one in which it sits farthest from an edge, so every token gets one
vector with context on both sides.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Padded tokens per batch, [CLS]/[SEP] included. On 2 CPU cores (MiniLM, 2,048 sentences) 2,048
# (with a plain cut at the budget) was 8% faster than a plain 4,096 and 29% faster than 8,192: less
# padding, and activations that stay in cache, at a quarter of 8,192's activation memory.
TOKEN_BUDGET = 2048

# What one more batch costs, in padded tokens: onnxruntime's and torch's per-call overhead on the CPU was
# 1-16 tokens' worth on MiniLM (benchmarks), bfloat16's ~90. GPUs pad for free: they pass the budget.
BATCH_COST = 32

# Padded lengths ([CLS]/[SEP] included) may be rounded up to a multiple of this, so that a call over
# thousands of texts meets fewer batch widths: a new shape costs oneDNN kernel set-up (torch) on its
# first call. Off (1) by default, by measurement (benchmarks/buckets.py, 2,000 MiniLM sentences, median
# 18 tokens): 8 pads 17% more tokens and 16 pads 33% more, and since the token-budget batches vary in rows
# too, 16 met 28 shapes where 1 met 27; onnxruntime's first pass is as fast as its warm ones anyway.
BUCKET = 1


def bucketed(length: int, bucket: int, limit: int | None = None) -> int:
    """``length`` rounded up to a multiple of ``bucket``, but not past ``limit`` (the model's longest input)."""
    width = -(-length // max(bucket, 1)) * max(bucket, 1)
    return width if limit is None else max(length, min(width, limit))


@dataclass(frozen=True)
class Windows:
    """Windows over segments' tokens, and which tokens each window owns."""

    seg: np.ndarray        # segment of each window
    start: np.ndarray      # first token (index into the flat token arrays)
    length: np.ndarray     # tokens in the window (without special tokens)
    own_start: np.ndarray  # the tokens this window owns: [own_start, own_end), flat indices
    own_end: np.ndarray
    weight: np.ndarray     # float64, share of its segment's tokens the window owns (sums to 1)

    def __len__(self) -> int:
        return len(self.seg)


def windows(seg_off: np.ndarray, size: int, stride: int | None = None) -> Windows:
    """Cover each segment's tokens ``[seg_off[i], seg_off[i+1])`` with windows of ``size``.

    Consecutive windows start ``stride`` tokens apart (default: half a window) and the last one
    is aligned to the segment's end. Segments with no tokens get no window.
    """
    if size < 2:
        raise ValueError(f"window size must be at least 2 tokens, got {size}")
    stride = max(1, size // 2) if stride is None else stride
    lengths = np.diff(seg_off)
    n_win = np.where(lengths > size, -(-(lengths - size) // stride) + 1, (lengths > 0).astype(np.int64))
    seg = np.repeat(np.arange(len(lengths)), n_win)
    first = np.cumsum(n_win) - n_win
    k = np.arange(len(seg)) - np.repeat(first, n_win)          # window number inside its segment
    seg_len = lengths[seg]
    rel = np.minimum(k * stride, np.maximum(seg_len - size, 0))  # last window flush with the end
    length = np.minimum(seg_len, size)
    # Ownership boundaries: midpoint of each overlap between neighbouring windows.
    is_last = k == n_win[seg] - 1
    nxt = np.where(is_last, 0, np.roll(rel, -1))
    own_end = np.where(is_last, seg_len, (nxt + rel + length) // 2)
    own_start = np.where(k == 0, 0, np.roll(own_end, 1))
    base = seg_off[seg]
    weight = (own_end - own_start) / np.maximum(seg_len, 1)
    return Windows(seg, base + rel, length, base + own_start, base + own_end, weight.astype(np.float64))


def batches(lengths: np.ndarray, token_budget: int, max_size: int | None = None,
            batch_cost: int = BATCH_COST, bucket: int = 1, limit: int | None = None) -> list[np.ndarray]:
    """Group window indices into batches, longest first, each padded to its own longest member
    rounded up to a multiple of ``bucket`` (at most ``limit``).

    A batch holds at most as many windows as fit in ``token_budget`` padded tokens (at least
    one), and at most ``max_size`` windows. Within that, each batch ends where it does the most
    real tokens per unit of work, the work being its padded tokens plus ``batch_cost``: a batch
    stops before a run of much shorter windows that would be padded up to its longest. On a
    small call (a few hundred sentences) this cut padding from 29% to 4% of the tokens; on 2,048
    sentences it stays ~2%. A ``batch_cost`` at least the budget fills every batch to the budget.
    """
    order = np.argsort(-lengths, kind="stable")
    sorted_lengths = lengths[order]
    out, i, n = [], 0, len(order)
    while i < n:
        longest = bucketed(max(int(sorted_lengths[i]), 1), bucket, limit)
        size = max(1, token_budget // longest)
        if max_size:
            size = min(size, max_size)
        end = min(i + size, n)
        real = np.cumsum(sorted_lengths[i:end])
        work = np.arange(1, end - i + 1) * longest + batch_cost
        value = (real / work)[::-1]
        end = end - int(np.argmax(value))  # the largest of equally good batches
        out.append(order[i:end])
        i = end
    return out


def pad(
    ids: np.ndarray,
    starts: np.ndarray,
    lengths: np.ndarray,
    prefix: list[int],
    suffix: list[int],
    pad_id: int,
    total: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Padded ``input_ids`` and ``attention_mask`` (int64) for windows of the flat ``ids``, at
    least ``total`` columns wide (the extra columns are padding, masked out)."""
    n_pre, n_suf = len(prefix), len(suffix)
    width = int(lengths.max()) if len(lengths) else 0
    width = max(width, total - n_pre - n_suf)
    cols = np.arange(width)
    body_mask = cols[None, :] < lengths[:, None]
    src = np.minimum(starts[:, None] + cols[None, :], max(len(ids) - 1, 0))
    out = np.full((len(lengths), n_pre + width + n_suf), pad_id, dtype=np.int64)
    out[:, n_pre : n_pre + width] = np.where(body_mask, ids[src], pad_id)
    out[:, :n_pre] = prefix
    rows = np.arange(len(lengths))
    for j, token in enumerate(suffix):
        out[rows, n_pre + lengths + j] = token
    mask = (np.arange(out.shape[1])[None, :] < (n_pre + lengths + n_suf)[:, None]).astype(np.int64)
    return out, mask
