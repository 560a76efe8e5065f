"""easynlu.readers: inputs cut into labelled chunks, lazily (no model needed)."""

from __future__ import annotations

import pandas as pd
import pytest

import easynlu
from easynlu import readers


def test_readers_iterable_chunks_are_positional_and_lazy():
    seen = []

    def texts():
        for i in range(5):
            seen.append(i)
            yield f"t{i}"

    src = readers.source(texts(), 2)
    assert (src.total, src.identity, seen) == (None, None, [])  # nothing read yet
    chunks = list(src.chunks)
    assert [c.index.tolist() for c in chunks] == [[0, 1], [2, 3], [4]]
    assert pd.concat(chunks).tolist() == [f"t{i}" for i in range(5)]


def test_readers_frames_keep_their_labels():
    frame = pd.DataFrame({"text": ["a", "b", "c"]}, index=["x", "y", "z"])
    src = readers.source(frame, 2)
    assert src.total == 3 and src.text_column == "text"
    assert [c.index.tolist() for c in src.chunks] == [["x", "y"], ["z"]]


def test_readers_txt_file(tmp_path):
    path = tmp_path / "in.txt"
    path.write_text("one\ntwo\r\nthree", encoding="utf-8")  # no final newline
    src = readers.source(path, 2)
    assert src.total == 3 and src.identity["path"] == str(path.resolve())
    assert pd.concat(list(src.chunks)).tolist() == ["one", "two", "three"]


def test_readers_jsonl_file_skips_blank_lines_and_refuses_non_objects(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text('{"text": "a"}\n\n{"text": "b"}\n', encoding="utf-8")
    src = readers.source(path, 1)
    assert src.total == 2
    assert [c.index.tolist() for c in src.chunks] == [[0], [1]]
    path.write_text('{"text": "a"}\n[1]\n', encoding="utf-8")
    with pytest.raises(easynlu.InputError, match="line 2: expected a JSON object"):
        list(readers.source(path, 1).chunks)


def test_readers_fingerprint_tells_inputs_apart():
    a, b = pd.Series(["x", "y"]), pd.Series(["x", "z"])
    assert readers.fingerprint(a) == readers.fingerprint(a.copy()) != readers.fingerprint(b)


def test_readers_refuse_bad_inputs(tmp_path):
    with pytest.raises(easynlu.OptionError, match="chunk_size"):
        readers.source(["a"], 0)
    with pytest.raises(easynlu.InputError, match="must end in"):
        readers.source(tmp_path / "in.xlsx", 1)
    with pytest.raises(easynlu.InputError, match="does not apply to a .txt"):
        (tmp_path / "in.txt").write_text("a\n")
        readers.source(tmp_path / "in.txt", 1, text_column="body")
    with pytest.raises(easynlu.InputError, match="only applies to a DataFrame"):
        readers.source(["a"], 1, text_column="body")
