"""Tests for easynlu.segment: sentences and whole documents as character-offset segments."""

import numpy as np
import pytest

from easynlu.segment import Segments, documents, sentences


def spans(segs: Segments, texts: list[str]) -> list[tuple[int, str]]:
    bounds = zip(segs.doc.tolist(), segs.start.tolist(), segs.end.tolist(), strict=True)
    return [(d, texts[d][s:e]) for d, s, e in bounds]


def assert_well_formed(segs: Segments, texts: list[str]):
    """int64 arrays, docs non-decreasing, spans trimmed, ordered and non-overlapping."""
    for array in (segs.doc, segs.start, segs.end):
        assert array.dtype == np.int64
        assert len(array) == len(segs)
    assert (np.diff(segs.doc) >= 0).all()
    for d, s, e in zip(segs.doc.tolist(), segs.start.tolist(), segs.end.tolist(), strict=True):
        piece = texts[d][s:e]
        assert 0 <= s < e <= len(texts[d])
        assert piece == piece.strip() and piece
    same_doc = segs.doc[1:] == segs.doc[:-1]
    assert (segs.start[1:][same_doc] >= segs.end[:-1][same_doc]).all()


def test_segment_sentences_offsets_are_trimmed_sentences():
    texts = ["I love NLP. It is fun!  Is it hard?"]
    segs = sentences(texts)
    assert_well_formed(segs, texts)
    assert spans(segs, texts) == [(0, "I love NLP."), (0, "It is fun!"), (0, "Is it hard?")]
    assert segs.start.tolist() == [0, 12, 24]
    assert segs.end.tolist() == [11, 22, 35]
    assert segs.texts(texts) == ["I love NLP.", "It is fun!", "Is it hard?"]


def test_segment_sentences_abbreviations_do_not_split():
    texts = [
        "Dr. Smith saw the patient at 5 p.m. yesterday. She was fine.",
        "Mr. Brown met Mrs. Green at 10 a.m. on Jan. 5. They talked.",
        "e.g. this works. U.S.A. is big.",
    ]
    segs = sentences(texts)
    assert_well_formed(segs, texts)
    assert spans(segs, texts) == [
        (0, "Dr. Smith saw the patient at 5 p.m. yesterday."),
        (0, "She was fine."),
        (1, "Mr. Brown met Mrs. Green at 10 a.m. on Jan. 5."),
        (1, "They talked."),
        (2, "e.g. this works."),
        (2, "U.S.A. is big."),
    ]


@pytest.mark.parametrize("blank", ["", " ", "   \n\t ", "\u00a0\u3000"])
def test_segment_blank_documents_give_no_segments(blank):
    texts = ["One.", blank, "Two."]
    segs = sentences(texts)
    assert spans(segs, texts) == [(0, "One."), (2, "Two.")]
    docs = documents(texts)
    assert spans(docs, texts) == [(0, "One."), (2, "Two.")]


def test_segment_all_blank_gives_empty_int64_arrays():
    for segs in (sentences(["", "  "]), documents(["", "  "]), sentences([]), documents([])):
        assert len(segs) == 0
        assert segs.doc.dtype == segs.start.dtype == segs.end.dtype == np.int64


def test_segment_paragraph_break_splits_without_punctuation():
    texts = ["First paragraph without a period\n\nSecond paragraph"]
    segs = sentences(texts)
    assert_well_formed(segs, texts)
    assert spans(segs, texts) == [(0, "First paragraph without a period"), (0, "Second paragraph")]
    assert segs.start.tolist() == [0, 34]


def test_segment_leading_and_trailing_whitespace_trimmed():
    texts = ["  lead space. trail  "]
    segs = sentences(texts)
    assert segs.start.tolist() == [2, 14]
    assert segs.end.tolist() == [13, 19]
    assert spans(segs, texts) == [(0, "lead space."), (0, "trail")]


def test_segment_non_ascii_offsets_are_character_offsets():
    texts = ["Café déjà vu. 😀 Emoji here! 你好。世界很大。"]
    segs = sentences(texts)
    assert_well_formed(segs, texts)
    assert spans(segs, texts) == [
        (0, "Café déjà vu."),
        (0, "😀 Emoji here!"),
        (0, "你好。"),
        (0, "世界很大。"),
    ]
    # character (code point) offsets, not UTF-8 byte offsets
    assert segs.start.tolist() == [0, 14, 28, 31]
    assert segs.end.tolist() == [13, 27, 31, 36]


def test_segment_many_documents_keep_their_doc_ids():
    texts = ["Cats purr. Dogs bark.", "", "Birds sing.", "   ", "One here. Two here. Three here."]
    segs = sentences(texts)
    assert_well_formed(segs, texts)
    assert segs.doc.tolist() == [0, 0, 2, 4, 4, 4]
    assert segs.texts(texts) == [
        "Cats purr.", "Dogs bark.", "Birds sing.", "One here.", "Two here.", "Three here."
    ]


def test_segment_unknown_language_code_xx_uses_english_rules():
    texts = ["Dr. Smith left. He came back."]
    assert spans(sentences(texts, language="xx"), texts) == spans(sentences(texts, language="en"), texts)


def test_segment_documents_cover_whole_text():
    texts = ["  Hello there.  Bye. ", "x", "", "Café 😀"]
    segs = documents(texts)
    assert segs.doc.tolist() == [0, 1, 3]
    assert segs.start.tolist() == [0, 0, 0]
    assert segs.end.tolist() == [21, 1, 6]
    assert segs.texts(texts) == ["  Hello there.  Bye. ", "x", "Café 😀"]
    assert segs.doc.dtype == np.int64
