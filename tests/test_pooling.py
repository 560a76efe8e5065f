"""Tests for easynlu.pooling: words from tokens, token -> row assignment, and the pooling plans."""

import numpy as np
import pytest

from easynlu import pooling
from easynlu.encoded import Tokens, Words
from easynlu.options import SUBWORD_POOLINGS


def a(*values):
    return np.array(values, dtype=np.int64)


# Segment 0: "I love unbelievable NLP"   (BERT-like wordpieces)
# Segment 1: ""                          (no tokens)
# Segment 2: "Hi!"
SEG_TEXTS = ["I love unbelievable NLP", "", "Hi!"]
TOKENS = Tokens(
    ids=a(10, 11, 12, 13, 14, 15, 16, 17, 18),
    start=a(0, 2, 7, 9, 15, 20, 22, 0, 2),
    end=a(1, 6, 9, 15, 19, 22, 23, 2, 3),
    word=a(0, 1, 2, 2, 2, 3, 3, 0, 1),
    offsets=a(0, 7, 7, 9),
)
WORD_OF_TOKEN = [0, 1, 2, 2, 2, 3, 3, 4, 5]
WORD_SEG = a(0, 0, 0, 0, 2, 2)


def apply(plan, hidden, n_rows):
    """Apply a (group, weight, op) plan to token vectors the way a backend does (NaN for empty rows)."""
    group, weight, op = plan
    out = np.full((n_rows, hidden.shape[1]), np.nan)
    for row in range(n_rows):
        sel = group == row
        if not sel.any():
            continue
        if op == "max":
            out[row] = hidden[sel].max(axis=0)
        else:
            w = np.ones(len(group)) if weight is None else weight.astype(np.float64)
            out[row] = (hidden[sel] * w[sel, None]).sum(axis=0)
    return out


HIDDEN = np.random.default_rng(0).normal(size=(9, 4))


def test_pooling_tokens_segment_property():
    assert TOKENS.segment.tolist() == [0, 0, 0, 0, 0, 0, 0, 2, 2]


def test_pooling_words_spans_segments_and_word_of_token():
    words, word_of_token = pooling.words(TOKENS)
    assert isinstance(words, Words)
    assert len(words) == 6
    assert words.seg.tolist() == [0, 0, 0, 0, 2, 2]
    assert words.start.tolist() == [0, 2, 7, 20, 0, 2]
    assert words.end.tolist() == [1, 6, 19, 23, 2, 3]
    assert word_of_token.tolist() == WORD_OF_TOKEN
    surface = [SEG_TEXTS[s][b:e] for s, b, e in zip(words.seg, words.start, words.end, strict=True)]
    assert surface == ["I", "love", "unbelievable", "NLP", "Hi", "!"]


def test_pooling_words_same_word_id_in_next_segment_is_a_new_word():
    tokens = Tokens(ids=a(1, 2, 3), start=a(0, 0, 3), end=a(2, 2, 5), word=a(0, 0, 0), offsets=a(0, 1, 3))
    words, word_of_token = pooling.words(tokens)
    assert words.seg.tolist() == [0, 1]
    assert words.start.tolist() == [0, 0]
    assert words.end.tolist() == [2, 5]  # end is the last token's end
    assert word_of_token.tolist() == [0, 1, 1]


def test_pooling_words_no_tokens():
    tokens = Tokens(ids=a(), start=a(), end=a(), word=a(), offsets=a(0, 0, 0))
    words, word_of_token = pooling.words(tokens)
    assert len(words) == 0 and len(word_of_token) == 0


def test_pooling_assign_maps_other_tokenization_by_character_offsets():
    words, _ = pooling.words(TOKENS)
    # a SentencePiece-like tokenization of the same segments, with different cuts
    other = Tokens(
        ids=a(1, 2, 3, 4, 5, 6, 7),
        start=a(0, 2, 7, 13, 20, 0, 2),
        end=a(1, 6, 13, 19, 23, 2, 3),
        word=a(0, 1, 2, 3, 4, 0, 1),
        offsets=a(0, 5, 5, 7),
    )
    assert pooling.assign(other, words).tolist() == [0, 1, 2, 2, 3, 4, 5]


def test_pooling_assign_token_outside_every_row_is_minus_one():
    words, _ = pooling.words(TOKENS)
    other = Tokens(
        # seg 0: a token on the space at 6 (between "love" and "un...") and one past the text;
        # seg 1 has no words at all
        ids=a(1, 2, 3, 4, 5),
        start=a(0, 6, 30, 0, 1),
        end=a(1, 7, 31, 1, 2),
        word=a(0, 1, 2, 0, 0),
        offsets=a(0, 3, 5, 5),
    )
    assert pooling.assign(other, words).tolist() == [0, -1, -1, -1, -1]


def test_pooling_assign_token_before_first_row_of_its_segment_is_minus_one():
    rows = Words(seg=a(0, 1), start=a(0, 3), end=a(2, 6))
    tokens = Tokens(ids=a(1, 2, 3), start=a(0, 0, 3), end=a(2, 2, 6), word=a(0, 0, 1), offsets=a(0, 1, 3))
    # the token at 0 in segment 1 comes before the row at 3 and must not fall back to segment 0's row
    assert pooling.assign(tokens, rows).tolist() == [0, -1, 1]


def test_pooling_subword_first():
    group, weight, op = pooling.subword(np.array(WORD_OF_TOKEN), 6, "first")
    assert group.tolist() == [0, 1, 2, -1, -1, 3, -1, 4, 5]
    assert weight is None and op == "sum"


def test_pooling_subword_last():
    group, weight, op = pooling.subword(np.array(WORD_OF_TOKEN), 6, "last")
    assert group.tolist() == [0, 1, -1, -1, 2, -1, 3, 4, 5]
    assert weight is None and op == "sum"


def test_pooling_subword_mean():
    group, weight, op = pooling.subword(np.array(WORD_OF_TOKEN), 6, "mean")
    assert group.tolist() == WORD_OF_TOKEN
    assert op == "sum" and weight.dtype == np.float32
    np.testing.assert_allclose(weight, [1, 1, 1 / 3, 1 / 3, 1 / 3, 1 / 2, 1 / 2, 1, 1], rtol=1e-6)


def test_pooling_subword_max():
    group, weight, op = pooling.subword(np.array(WORD_OF_TOKEN), 6, "max")
    assert group.tolist() == WORD_OF_TOKEN
    assert weight is None and op == "max"


def test_pooling_subword_skips_unassigned_tokens():
    g = np.array([0, -1, 1, 1, -1])
    group, weight, _ = pooling.subword(g, 2, "mean")
    assert group.tolist() == [0, -1, 1, 1, -1]
    np.testing.assert_allclose(weight, [1, 0, 0.5, 0.5, 0])
    assert pooling.subword(g, 2, "first")[0].tolist() == [0, -1, 1, -1, -1]
    assert pooling.subword(g, 2, "last")[0].tolist() == [0, -1, -1, 1, -1]


@pytest.mark.parametrize("how", SUBWORD_POOLINGS)
def test_pooling_subword_applied_matches_hand_computation(how):
    plan = pooling.subword(np.array(WORD_OF_TOKEN), 6, how)
    got = apply(plan, HIDDEN, 6)
    wot = np.array(WORD_OF_TOKEN)
    for word in range(6):
        vecs = HIDDEN[wot == word]
        expected = {"first": vecs[0], "last": vecs[-1], "mean": vecs.mean(0), "max": vecs.max(0)}[how]
        np.testing.assert_allclose(got[word], expected, rtol=1e-6)


def word_vectors(how):
    wot = np.array(WORD_OF_TOKEN)
    rows = []
    for word in range(6):
        vecs = HIDDEN[wot == word]
        rows.append({"first": vecs[0], "last": vecs[-1], "mean": vecs.mean(0), "max": vecs.max(0)}[how])
    return np.array(rows)


@pytest.mark.parametrize("subword_pooling", SUBWORD_POOLINGS)
@pytest.mark.parametrize("how", ["mean", "max"])
def test_pooling_over_words_matches_two_step_pooling(subword_pooling, how):
    plan = pooling.over_words(np.array(WORD_OF_TOKEN), WORD_SEG, 3, subword_pooling, how)
    words = word_vectors(subword_pooling)
    expected = np.full((3, 4), np.nan)
    for seg in (0, 2):
        rows = words[WORD_SEG == seg]
        expected[seg] = rows.mean(0) if how == "mean" else rows.max(0)
    if (how, subword_pooling) in (("mean", "max"), ("max", "mean")):
        assert plan is None  # needs the word vectors first
        got = pooling.reduce_words(words.astype(np.float32), WORD_SEG, 3, how)
        np.testing.assert_allclose(got, expected, rtol=1e-5)
        return
    assert plan is not None
    group, weight, op = plan
    assert op == ("max" if how == "max" else "sum")
    got = apply(plan, HIDDEN, 3)
    np.testing.assert_allclose(got, expected, rtol=1e-5)  # segment 1 has no tokens: NaN both sides


def test_pooling_over_words_mean_first_weights():
    group, weight, op = pooling.over_words(np.array(WORD_OF_TOKEN), WORD_SEG, 3, "first", "mean")
    assert group.tolist() == [0, 0, 0, -1, -1, 0, -1, 2, 2]
    # one vote per word: 4 words in segment 0, 2 in segment 2
    np.testing.assert_allclose(weight[group >= 0], [0.25, 0.25, 0.25, 0.25, 0.5, 0.5])


def test_pooling_over_words_mean_ignores_words_without_tokens():
    # three rows (words) in segment 0, but the middle one got no token (assigned from another tokenizer)
    word_of_token = np.array([0, 0, 2, -1])
    word_seg = a(0, 0, 0)
    group, weight, op = pooling.over_words(word_of_token, word_seg, 1, "mean", "mean")
    assert group.tolist() == [0, 0, 0, -1]
    np.testing.assert_allclose(weight[:3], [0.25, 0.25, 0.5])  # two words, each half


@pytest.mark.parametrize("subword_pooling, how", [("max", "mean"), ("mean", "max")])
def test_pooling_over_words_none_cases(subword_pooling, how):
    assert pooling.over_words(np.array(WORD_OF_TOKEN), WORD_SEG, 3, subword_pooling, how) is None


def test_pooling_reduce_words_mean_and_max_skip_nan_rows():
    vectors = np.array(
        [[1, 2], [3, 6], [np.nan, np.nan], [5, -1], [np.nan, np.nan], [0, 0]], dtype=np.float32
    )
    word_seg = a(0, 0, 0, 1, 2, 3)
    mean = pooling.reduce_words(vectors, word_seg, 5, "mean")
    assert mean.dtype == np.float32 and mean.shape == (5, 2)
    np.testing.assert_allclose(mean[0], [2, 4])
    np.testing.assert_allclose(mean[1], [5, -1])
    assert np.isnan(mean[2]).all()  # only a NaN word
    np.testing.assert_allclose(mean[3], [0, 0])
    assert np.isnan(mean[4]).all()  # no words at all
    mx = pooling.reduce_words(vectors, word_seg, 5, "max")
    np.testing.assert_allclose(mx[0], [3, 6])
    np.testing.assert_allclose(mx[1], [5, -1])
    assert np.isnan(mx[2]).all() and np.isnan(mx[4]).all()


def test_pooling_reduce_words_all_nan():
    out = pooling.reduce_words(np.full((2, 3), np.nan, dtype=np.float32), a(0, 1), 2, "mean")
    assert np.isnan(out).all() and out.shape == (2, 3)


def test_pooling_l2_normalize_in_place_and_zero_rows_kept():
    vectors = np.array([[3, 4], [0, 0], [-1, 0]], dtype=np.float32)
    out = pooling.l2_normalize(vectors)
    assert out is vectors
    np.testing.assert_allclose(out, [[0.6, 0.8], [0, 0], [-1, 0]], rtol=1e-6)
    assert out.dtype == np.float32
