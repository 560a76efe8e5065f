"""Tests for easynlu.backends.batching: windows over long segments, token-budget batches, padding.

The module is numpy-only; importing it goes through easynlu/backends/__init__.py, which imports torch.
"""

import numpy as np
import pytest

from easynlu.backends.batching import Windows, batches, pad, windows


def offsets(lengths):
    return np.r_[0, np.cumsum(lengths)].astype(np.int64)


def check_windows(lengths, size, stride=None) -> Windows:
    """Every invariant of windows(); returns them for further checks."""
    off = offsets(lengths)
    w = windows(off, size, stride)
    n_tokens = int(off[-1])
    owner = np.full(n_tokens, -1)
    for i in range(len(w)):
        seg = int(w.seg[i])
        start, stop = int(w.start[i]), int(w.start[i] + w.length[i])
        assert 1 <= w.length[i] <= size
        assert off[seg] <= start and stop <= off[seg + 1]  # inside its segment
        assert start <= w.own_start[i] <= w.own_end[i] <= stop  # owned range inside the window
        assert (owner[w.own_start[i]:w.own_end[i]] == -1).all(), "token owned twice"
        owner[w.own_start[i]:w.own_end[i]] = i
    assert (owner >= 0).all(), "token owned by no window"
    assert (np.diff(w.seg) >= 0).all()
    for seg, n in enumerate(lengths):
        mine = np.flatnonzero(w.seg == seg)
        if n == 0:
            assert len(mine) == 0
            continue
        assert w.start[mine[0]] == off[seg]
        assert w.start[mine[-1]] + w.length[mine[-1]] == off[seg + 1]  # last window flush with the end
        assert w.weight[mine].sum() == pytest.approx(1.0, abs=1e-12)
        owned = w.own_end[mine] - w.own_start[mine]
        np.testing.assert_allclose(w.weight[mine], owned / n)
    # ownership rule: no window holding a token has it farther from its nearest edge than the owner
    starts, stops = w.start, w.start + w.length
    for t in range(n_tokens):
        o = owner[t]
        holds = (starts <= t) & (t < stops)
        depth = np.minimum(t - starts, stops - 1 - t)
        assert depth[holds].max() == depth[o], f"token {t} owned by {o} at depth {depth[o]}"
    return w


def test_batching_windows_short_segment_gets_one_window():
    w = check_windows([5], size=8)
    assert len(w) == 1
    assert (w.seg.tolist(), w.start.tolist(), w.length.tolist()) == ([0], [0], [5])
    assert (w.own_start.tolist(), w.own_end.tolist(), w.weight.tolist()) == ([0], [5], [1.0])


def test_batching_windows_exact_size_gets_one_window():
    w = check_windows([8], size=8)
    assert w.length.tolist() == [8]


def test_batching_windows_empty_segments_get_no_windows():
    w = check_windows([0, 3, 0, 0, 2, 0], size=4)
    assert w.seg.tolist() == [1, 4]
    assert w.start.tolist() == [0, 3]
    assert w.length.tolist() == [3, 2]


def test_batching_windows_hand_example():
    # segment 1 has 10 tokens at flat [3, 13); windows of 4 every 2, the last flush with the end
    w = check_windows([0, 3, 10], size=4)
    assert w.seg.tolist() == [1, 2, 2, 2, 2]
    assert w.start.tolist() == [0, 3, 5, 7, 9]
    assert w.length.tolist() == [3, 4, 4, 4, 4]
    assert w.own_start.tolist() == [0, 3, 6, 8, 10]
    assert w.own_end.tolist() == [3, 6, 8, 10, 13]
    np.testing.assert_allclose(w.weight, [1.0, 0.3, 0.2, 0.2, 0.3])
    assert w.weight.dtype == np.float64


def test_batching_windows_long_segment_middle_token_owned_where_most_central():
    w = check_windows([100], size=16)
    t = 50
    owner = int(np.flatnonzero((w.own_start <= t) & (t < w.own_end))[0])
    depth = min(t - w.start[owner], w.start[owner] + w.length[owner] - 1 - t)
    assert depth >= 16 // 4 - 1  # with half-window strides a token is never near its owner's edge
    # first and last tokens are owned by the first and last windows
    assert w.own_start[0] == 0 and w.own_end[-1] == 100


@pytest.mark.parametrize("size", [2, 3, 4, 5, 8, 13])
@pytest.mark.parametrize("stride", [None, 1, "size-1", "size"])
def test_batching_windows_invariants_many_lengths(size, stride):
    stride = size - 1 if stride == "size-1" else size if stride == "size" else stride
    if stride == 0:
        stride = 1
    check_windows([0, 1, 2, size - 1, size, size + 1, 2 * size + 3, 0, 5 * size - 1, 37], size, stride)


def test_batching_windows_size_below_two_raises():
    with pytest.raises(ValueError, match="at least 2"):
        windows(offsets([3]), 1)


def test_batching_windows_no_segments():
    w = windows(np.array([0], dtype=np.int64), 4)
    assert len(w) == 0


# --- batches -------------------------------------------------------------------------------------


def check_batches(lengths, budget, max_size=None, batch_cost=32):
    lengths = np.asarray(lengths, dtype=np.int64)
    out = batches(lengths, budget, max_size, batch_cost)
    flat = np.concatenate(out) if out else np.zeros(0, dtype=np.int64)
    assert sorted(flat.tolist()) == list(range(len(lengths)))  # every index exactly once
    assert (np.diff(lengths[flat]) <= 0).all()  # longest first, across batches too
    for b in out:
        assert len(b) >= 1
        if len(b) > 1:
            assert len(b) * lengths[b].max() <= budget
        if max_size:
            assert len(b) <= max_size
    return out


def test_batching_batches_hand_example():
    out = check_batches([3, 10, 5, 10, 1], budget=20)
    assert [b.tolist() for b in out] == [[1, 3], [2, 0, 4]]


def test_batching_batches_max_size():
    out = check_batches([3, 10, 5, 10, 1], budget=20, max_size=1)
    assert [b.tolist() for b in out] == [[1], [3], [2], [0], [4]]
    out = check_batches([2] * 7, budget=1000, max_size=3)
    assert [len(b) for b in out] == [3, 3, 1]


def test_batching_batches_end_before_a_run_of_much_shorter_windows():
    lengths = np.array([10] * 20 + [40], dtype=np.int64)  # one long sentence among short ones
    out = check_batches(lengths, budget=2048)
    assert [b.tolist() for b in out] == [[20], list(range(20))]  # not 21 rows padded to 40 tokens
    padded = sum(len(b) * int(lengths[b].max()) for b in out)
    assert padded == 240 and len(check_batches(lengths, budget=2048, batch_cost=2048)) == 1  # GPUs fill


def test_batching_batches_pad_little_on_a_small_call_of_sentence_lengths():
    rng = np.random.default_rng(1)
    lengths = np.clip(rng.lognormal(3.0, 0.4, size=256), 7, 80).astype(np.int64)  # ~20 tokens, a long tail
    out = check_batches(lengths, budget=2048)
    padded = sum(len(b) * int(lengths[b].max()) for b in out)
    assert padded <= 1.08 * lengths.sum() and len(out) <= 20


def test_batching_batches_item_longer_than_budget_is_alone():
    out = check_batches([50, 4, 4], budget=10)
    assert [b.tolist() for b in out] == [[0], [1, 2]]


def test_batching_batches_random_invariants():
    rng = np.random.default_rng(0)
    for _ in range(50):
        lengths = rng.integers(0, 60, size=rng.integers(0, 40))
        check_batches(lengths, budget=int(rng.integers(1, 200)), max_size=int(rng.integers(0, 6)) or None)


def test_batching_batches_empty():
    assert batches(np.zeros(0, dtype=np.int64), 100) == []


# --- pad -----------------------------------------------------------------------------------------


def test_batching_pad_hand_example():
    ids = np.array([5, 6, 7, 8, 9, 10, 11], dtype=np.int64)
    input_ids, mask = pad(ids, np.array([0, 4, 6]), np.array([3, 2, 1]), [101], [102], pad_id=0)
    np.testing.assert_array_equal(
        input_ids,
        [[101, 5, 6, 7, 102],
         [101, 9, 10, 102, 0],
         [101, 11, 102, 0, 0]],
    )
    np.testing.assert_array_equal(mask, [[1, 1, 1, 1, 1], [1, 1, 1, 1, 0], [1, 1, 1, 0, 0]])
    assert input_ids.dtype == np.int64 and mask.dtype == np.int64


def test_batching_pad_uses_pad_id_and_no_specials():
    ids = np.array([5, 6, 7, 8, 9], dtype=np.int64)
    input_ids, mask = pad(ids, np.array([0, 3]), np.array([3, 2]), [], [], pad_id=-7)
    np.testing.assert_array_equal(input_ids, [[5, 6, 7], [8, 9, -7]])
    np.testing.assert_array_equal(mask, [[1, 1, 1], [1, 1, 0]])


def test_batching_pad_two_token_prefix_and_suffix():
    ids = np.array([5, 6, 7], dtype=np.int64)
    input_ids, mask = pad(ids, np.array([1, 0]), np.array([1, 3]), [0, 1], [2, 3], pad_id=9)
    np.testing.assert_array_equal(input_ids, [[0, 1, 6, 2, 3, 9, 9], [0, 1, 5, 6, 7, 2, 3]])
    np.testing.assert_array_equal(mask, [[1, 1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1, 1]])


def test_batching_pad_windows_roundtrip():
    # pad the windows of a long segment and read each window's tokens back from the padded rows
    ids = np.arange(1000, 1023, dtype=np.int64)
    w = windows(offsets([23]), size=6)
    input_ids, mask = pad(ids, w.start, w.length, [101], [102], pad_id=0)
    for i in range(len(w)):
        n = int(w.length[i])
        assert input_ids[i, 0] == 101 and input_ids[i, n + 1] == 102
        np.testing.assert_array_equal(input_ids[i, 1:n + 1], ids[w.start[i]:w.start[i] + n])
        assert mask[i].sum() == n + 2


def test_batching_batches_weigh_padding_against_the_cost_of_another_batch():
    # budget 40 fits 4 of length 10 and the 4th is shorter: one padded token costs less than a batch
    out = check_batches([10, 10, 10, 9, 9, 9, 9, 9], budget=40)
    assert [b.tolist() for b in out] == [[0, 1, 2, 3], [4, 5, 6, 7]]
    # when batches cost nothing, any padding is a reason to stop
    out = check_batches([10, 10, 10, 9, 9, 9, 9, 9], budget=40, batch_cost=0)
    assert [b.tolist() for b in out] == [[0, 1, 2], [3, 4, 5, 6], [7]]
    out = check_batches([10, 9, 9, 9, 9], budget=40)
    assert [b.tolist() for b in out] == [[0, 1, 2, 3], [4]]


def test_batching_batches_cut_reduces_padding_on_sorted_sentences():
    rng = np.random.default_rng(0)
    lengths = rng.integers(7, 60, size=2000)
    padded = sum(len(b) * lengths[b].max() for b in check_batches(lengths, budget=2048))
    assert padded / lengths.sum() < 1.03  # under 3% padding
