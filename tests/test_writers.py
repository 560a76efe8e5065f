"""easynlu.writers: rows as JSON lines, CSV and Arrow, and the resumable outputs' files (no model needed)."""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest

import easynlu
from easynlu import writers


def frame() -> pd.DataFrame:
    vectors = [np.array([-0.194, -1.126], dtype=np.float32), None, np.array([0.5, 2.0], dtype=np.float32)]
    return pd.DataFrame({"sentence": ["a", None, "c, d"], "n": [1, 2, np.int64(3)], "vec": vectors}, index=[5, 6, 7])


def test_writers_vector_list():
    vector = np.array([-0.194, -1.126, 0.5, 2.0], dtype=np.float32)
    assert writers.vector_list(vector) == [-0.194, -1.126, 0.5, 2.0]  # shortest float32 spelling
    assert writers.vector_list(None) is None


def test_writers_json_value():
    assert writers.json_value(np.int64(3)) == 3 and isinstance(writers.json_value(np.int64(3)), int)
    assert writers.json_value(float("nan")) is None and writers.json_value(pd.NA) is None
    assert writers.json_value(np.array([1, 2])) == [1, 2]
    assert writers.json_value(pd.Timestamp("2024-01-02")) == "2024-01-02 00:00:00"


def test_writers_json_lines_and_csv():
    out = io.StringIO()
    writers.write_json_lines(frame(), ["vec"], out)
    rows = [json.loads(line) for line in out.getvalue().splitlines()]
    assert rows[0] == {"index": 5, "sentence": "a", "n": 1, "vec": [-0.194, -1.126]}
    assert rows[1] == {"index": 6, "sentence": None, "n": 2, "vec": None}
    out = io.StringIO()
    writers.write_csv(frame(), ["vec"], out)
    writers.write_csv(frame().iloc[:1], ["vec"], out, header=False)
    assert out.getvalue().splitlines() == ["index,sentence,n,vec", "5,a,1,\"[-0.194, -1.126]\"", "6,,2,",
                                           "7,\"c, d\",3,\"[0.5, 2.0]\"", "5,a,1,\"[-0.194, -1.126]\""]


def test_writers_to_arrow():
    table = writers.to_arrow(frame(), ["vec"], {"vec": 2})
    assert table.column_names == ["index", "sentence", "n", "vec"]
    vec = table.schema.field("vec").type
    assert (vec.list_size, str(vec.value_type)) == (2, "float")  # fixed-size float32 lists
    assert table.column("vec").to_pylist()[1] is None
    with pytest.raises(easynlu.OptionError, match="named 'index'"):
        writers.to_arrow(frame().assign(index=1), ["vec"], {"vec": 2})


def test_writers_parquet_parts_writer(tmp_path):
    probed = []
    writer = writers.ParquetPartsWriter(tmp_path / "out", ["vec"], lambda column: probed.append(column) or 2)
    writer.write(0, frame().iloc[1:2])  # no vector in the chunk: the length is probed
    writer.write(1, frame())
    assert probed == ["vec"]
    (writer.path / ".part-000002.parquet.tmp-1-abc").write_bytes(b"half")
    assert writer.chunks_done({}) == 2 and not list(writer.path.glob(".*"))
    back = pd.read_parquet(writer.path)
    assert back["index"].tolist() == [6, 5, 6, 7]
    with pytest.raises(easynlu.OptionError, match="not an easynlu output"):
        writers.ParquetPartsWriter(tmp_path, ["vec"], len)
    with pytest.raises(easynlu.OptionError, match="is a file"):
        writers.ParquetPartsWriter(writer.part(0), ["vec"], len)


def test_writers_text_file_writer_cuts_a_half_written_chunk(tmp_path):
    def rows(frame: pd.DataFrame, stream: io.TextIOBase, first: bool) -> None:
        writers.write_csv(frame, ["vec"], stream, header=first)

    writer = writers.TextFileWriter(tmp_path / "out.csv", rows)
    writers.files.write_json(writer.state_file, {"run": 1})
    writer.write(0, frame().iloc[:1])
    with open(writer.path, "a") as f:
        f.write("6,half a ro")
    again = writers.TextFileWriter(tmp_path / "out.csv", rows)
    assert again.chunks_done(json.loads(writer.state_file.read_text())) == 1
    again.write(1, frame().iloc[1:])
    whole = io.StringIO()
    writers.write_csv(frame(), ["vec"], whole)
    assert writer.path.read_text() == whole.getvalue()
    assert json.loads(writer.state_file.read_text()) == {"run": 1, "chunks_done": 2,
                                                          "bytes": len(writer.path.read_bytes())}
    with pytest.raises(easynlu.OptionError, match="already exists"):
        writers.TextFileWriter(tmp_path / "out.csv.progress.json", rows)
    again.close()  # complete: the progress file goes, and the finished file is not resumed
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv"]
    with pytest.raises(easynlu.OptionError, match="already exists.*finished output"):
        writers.TextFileWriter(tmp_path / "out.csv", rows)
