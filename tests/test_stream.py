"""Streaming: predict_batches and predict_to_parquet against predict over the whole input, offline."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import easynlu
from easynlu import stream

TEXTS = ["I love NLP. It is great.", None, "", "Paris is nice.", "one", "Two sentences here. And here!",
         "   ", "Ünïcode wörds, and more words to make several tokens."] * 3
LEVELS = ("token", "sentence", "document")


@pytest.fixture(scope="module")
def pipe(tiny_bert):
    return easynlu.load(str(tiny_bert))


@pytest.fixture(scope="module")
def minilm():
    return easynlu.load("embed")


def same(got: pd.DataFrame, expected: pd.DataFrame, atol: float = 1e-6) -> None:
    """Same index, columns and cells; vectors within atol."""
    assert got.index.tolist() == expected.index.tolist()
    assert list(got.columns) == list(expected.columns)
    for column in expected.columns:
        a, b = got[column].tolist(), expected[column].tolist()
        if any(isinstance(v, np.ndarray) for v in b):
            assert [v is None for v in a] == [v is None for v in b]
            for x, y in zip(a, b, strict=True):
                if y is not None:
                    np.testing.assert_allclose(np.asarray(x, dtype=np.float32), y, atol=atol, rtol=0)
        else:
            assert [None if pd.isna(v) else v for v in a] == [None if pd.isna(v) else v for v in b], column


def batches(p, data, **options) -> pd.DataFrame:
    return pd.concat(list(stream.predict_batches(p, data, progress=False, **options)))


def texts_file(tmp_path: Path, kind: str) -> tuple[Path, pd.DataFrame]:
    """TEXTS (None as empty) in a file of ``kind``, with an id column, and the frame it holds."""
    frame = pd.DataFrame({"id": range(len(TEXTS)), "text": [t or "" for t in TEXTS]})
    path = tmp_path / f"in.{kind}"
    if kind == "txt":
        path.write_text("".join(t + "\n" for t in frame["text"]), encoding="utf-8")
    elif kind == "jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in frame.to_dict(orient="records")), encoding="utf-8")
    elif kind == "parquet":
        frame.to_parquet(path)
    else:
        frame.to_csv(path, sep="\t" if kind == "tsv" else ",", index=False)
    return path, frame


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("chunk_size", [1, 3, 1000])
def test_stream_iterables_and_frames_equal_predict(pipe, level, chunk_size):
    expected = pipe.predict(TEXTS, output_level=level, positions=True, progress=False)
    same(batches(pipe, TEXTS, chunk_size=chunk_size, output_level=level, positions=True), expected)
    same(batches(pipe, iter(TEXTS), chunk_size=chunk_size, output_level=level, positions=True), expected)
    frame = pd.DataFrame({"body": TEXTS, "id": [f"d{i}" for i in range(len(TEXTS))]},
                         index=[f"r{i}" for i in range(len(TEXTS))])
    expected = pipe.predict(frame, output_level=level, text_column="body", progress=False)
    same(batches(pipe, frame, chunk_size=chunk_size, output_level=level, text_column="body"), expected)
    series = frame["body"].set_axis(range(100, 100 + len(TEXTS)))
    same(batches(pipe, series, chunk_size=chunk_size, output_level=level),
         pipe.predict(series, output_level=level, progress=False))


@pytest.mark.parametrize("kind", ["txt", "csv", "tsv", "parquet", "jsonl"])
@pytest.mark.parametrize("level", LEVELS)
def test_stream_files_equal_predict(pipe, tmp_path, kind, level):
    path, frame = texts_file(tmp_path, kind)
    data = frame["text"].tolist() if kind == "txt" else frame.set_axis(pd.RangeIndex(len(frame)))
    if kind in ("csv", "tsv"):  # csv reads an empty field as missing
        data = data.assign(text=[t or None for t in data["text"]])
    expected = pipe.predict(data, output_level=level, progress=False)
    same(batches(pipe, path, chunk_size=5, output_level=level), expected)
    same(batches(pipe, str(path), chunk_size=1000, output_level=level), expected)


def test_stream_file_text_column_and_bad_inputs(pipe, tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text('{"a": 1, "body": "hello there"}\n\n{"a": 2, "body": null}\n', encoding="utf-8")
    got = batches(pipe, path, chunk_size=1, output_level="document", text_column="body")
    assert got["document"].iloc[0] == "hello there" and pd.isna(got["document"].iloc[1]) and got["a"].tolist() == [1, 2]
    with pytest.raises(easynlu.InputError, match="must end in"):
        list(stream.predict_batches(pipe, tmp_path / "in.xlsx"))
    with pytest.raises(easynlu.InputError, match="No such file"):
        list(stream.predict_batches(pipe, tmp_path / "missing.txt"))
    with pytest.raises(easynlu.OptionError, match="chunk_size"):
        stream.predict_batches(pipe, ["a"], chunk_size=0)  # at the call, before any chunk is read
    with pytest.raises(easynlu.InputError, match="set"):
        list(stream.predict_batches(pipe, {"a", "b"}))


def test_stream_text_column_warning_points_at_the_users_line(pipe, tmp_path):
    # a file with two string columns and no 'text': the warning names the line that streams it
    path = tmp_path / "in.csv"
    path.write_text("a,b\nhello there,x\nmore,y\n", encoding="utf-8")
    with pytest.warns(easynlu.EasyNLUWarning, match="several string columns") as caught:
        list(pipe.predict_batches(path, chunk_size=1))
    with pytest.warns(easynlu.EasyNLUWarning, match="several string columns") as caught_parquet:
        pipe.predict_to_parquet(path, tmp_path / "out.parquet", chunk_size=1)
    assert {w.filename for w in [*caught, *caught_parquet]} == {__file__}


def test_stream_minilm_vectors_equal_predict(minilm):
    expected = minilm.predict(TEXTS, output_level="sentence", normalize=True, progress=False)
    same(batches(minilm, TEXTS, chunk_size=4, output_level="sentence", normalize=True), expected)


def test_stream_parquet_round_trip(pipe, tmp_path):
    out = stream.predict_to_parquet(pipe, TEXTS, tmp_path / "out", chunk_size=5, output_level="token",
                                    positions=True, progress=False)
    assert sorted(p.name for p in out.glob("part-*")) == [f"part-{i:06d}.parquet" for i in range(5)]
    back = pd.read_parquet(out)
    expected = pipe.predict(TEXTS, output_level="token", positions=True, progress=False)
    same(back.set_index("index").rename_axis(None), expected)
    import pyarrow.parquet as pq

    field = pq.read_schema(out / "part-000001.parquet").field(expected.columns[-1])
    assert str(field.type) == "fixed_size_list<element: float>[64]"


class Boom(Exception):
    pass


def failing(texts, after):
    for i, text in enumerate(texts):
        if i == after:
            raise Boom
        yield text


def test_stream_parquet_resumes_after_a_crash(pipe, tmp_path):
    out = tmp_path / "out"
    with pytest.raises(Boom):
        stream.predict_to_parquet(pipe, failing(TEXTS, 13), out, chunk_size=4, output_level="sentence", progress=False)
    assert len(list(out.glob("part-*"))) == 3
    (out / ".part-000003.parquet.tmp").write_bytes(b"half a part")  # left by a kill mid-write
    (out / ".part-000003.parquet.tmp-999-0badf00d").write_bytes(b"half a part")  # as files.writing names it
    stream.predict_to_parquet(pipe, iter(TEXTS), out, chunk_size=4, output_level="sentence", progress=False)
    expected = pipe.predict(TEXTS, output_level="sentence", progress=False)
    same(pd.read_parquet(out).set_index("index").rename_axis(None), expected)
    assert not list(out.glob(".*tmp*"))
    # a different input or different options refuse to resume
    with pytest.raises(easynlu.OptionError, match="new output path"):
        stream.predict_to_parquet(pipe, TEXTS[::-1], out, chunk_size=4, output_level="sentence", progress=False)
    with pytest.raises(easynlu.OptionError, match="delete the old output"):
        stream.predict_to_parquet(pipe, TEXTS, out, chunk_size=4, output_level="token", progress=False)


@pytest.mark.parametrize("umask", [0o022, 0o077], ids=["022", "077"])
def test_stream_outputs_get_the_umask_permissions(pipe, tmp_path, umask):
    old = os.umask(umask)
    try:
        out = stream.predict_to_parquet(pipe, TEXTS, tmp_path / "out", chunk_size=10, progress=False)
        lines = stream.predict_to_file(pipe, TEXTS, tmp_path / "out.jsonl", lambda frame, f, first: f.write("x\n"),
                                       chunk_size=10, progress=False)
    finally:
        os.umask(old)
    made = [out, *out.iterdir(), lines]
    assert sorted(p.name for p in out.iterdir()) == ["_progress.json", *(f"part-{i:06d}.parquet" for i in range(3))]
    for path in made:
        want = 0o777 & ~umask if path.is_dir() else 0o666 & ~umask
        assert stat.S_IMODE(path.stat().st_mode) == want, path
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "out.jsonl"]  # a finished file keeps no progress


def _script(model: Path, data: Path, out: Path, chunk_size: int) -> str:
    return textwrap.dedent(f"""
        import easynlu
        from easynlu import stream
        pipe = easynlu.load({str(model)!r})
        stream.predict_to_parquet(pipe, {str(data)!r}, {str(out)!r}, chunk_size={chunk_size},
                                  output_level="document", progress=False)
    """)


def _run(code: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)


@pytest.mark.slow
def test_stream_parquet_resumes_after_sigkill(tiny_bert, tmp_path):
    data = tmp_path / "in.txt"
    data.write_text("".join(f"Sentence number {i} is here, with some words.\n" for i in range(3000)))
    out = tmp_path / "out"
    code = _script(tiny_bert, data, out, 50)
    proc = subprocess.Popen([sys.executable, "-c", code], env=dict(os.environ, OMP_NUM_THREADS="1"))
    deadline = time.monotonic() + 120
    while not (out / "part-000001.parquet").exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    written = len(list(out.glob("part-*")))
    assert 1 <= written < 60, "the kill came too late to test a resume"
    assert _run(code).returncode == 0
    reference = tmp_path / "ref"
    assert _run(_script(tiny_bert, data, reference, 50)).returncode == 0
    got, expected = pd.read_parquet(out), pd.read_parquet(reference)
    assert got["index"].tolist() == list(range(3000))
    assert got["document"].tolist() == expected["document"].tolist()
    np.testing.assert_array_equal(np.stack(got.iloc[:, -1]), np.stack(expected.iloc[:, -1]))


@pytest.mark.slow
def test_stream_parquet_peak_memory_is_flat(tiny_bert, tmp_path):
    def peak(n: int) -> int:
        data = tmp_path / f"in{n}.txt"
        data.write_text("".join(f"Text {i} ok.\n" for i in range(n)))
        code = _script(tiny_bert, data, tmp_path / f"out{n}", 2000) + textwrap.dedent("""
            import resource
            print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
        """)
        proc = _run(code)
        assert proc.returncode == 0, proc.stderr
        return int(proc.stdout.split()[-1])

    small, large = peak(10_000), peak(100_000)
    assert large <= small * 1.15, (small, large)
