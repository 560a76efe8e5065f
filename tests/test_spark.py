"""Spark DataFrames in and out: the same rows and vectors as the pandas path, on a local Spark session.

Every result is compared with ``pipe.predict(sdf.toPandas())`` computed in this process. Workers are
separate Python processes, so load counting and the crash use a Pipeline subclass (defined here,
shipped to the workers by value) that writes to files in tmp_path.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import easynlu
from easynlu import layout
from easynlu.options import Options
from easynlu.pipeline import Pipeline

if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
    pytest.skip("Spark needs Java (no `java` on PATH and no JAVA_HOME): install a JDK 17 to run these tests",
                allow_module_level=True)
pyspark = pytest.importorskip("pyspark", reason="the Spark tests need the spark extra: pip install -e '.[spark]'")

from easynlu import spark as easynlu_spark  # noqa: E402

pytestmark = [  # pyspark's own warnings about pandas 3
    pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas:FutureWarning"),
    pytest.mark.filterwarnings("ignore:The copy keyword is deprecated"),
]

TEXTS = ["I love NLP. It is fun.", "", None, "Spark runs this on two workers.", "One.", "   "]


@pytest.fixture(scope="module")
def spark():
    from pyspark import cloudpickle
    from pyspark.sql import SparkSession

    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable
    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers cannot import this test module
    builder = (SparkSession.builder.master("local[2,3]").appName("easynlu-tests")
               .config("spark.ui.enabled", "false")
               .config("spark.driver.host", "127.0.0.1").config("spark.driver.bindAddress", "127.0.0.1")
               .config("spark.sql.shuffle.partitions", "2")
               .config("spark.sql.execution.arrow.pyspark.enabled", "true"))
    for name in ("HF_HUB_OFFLINE", "HF_HUB_CACHE", "EASYNLU_CONFIG_DIR", "TOKENIZERS_PARALLELISM"):
        if name in os.environ:  # set by conftest; local workers inherit them, real executors need them said
            builder = builder.config(f"spark.executorEnv.{name}", os.environ[name])
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()
    cloudpickle.unregister_pickle_by_value(sys.modules[__name__])


def run(pipe, sdf, **options):
    """The user's call: Spark in, Spark out."""
    return pipe.predict(sdf, **options)


def cells(series: pd.Series) -> list:
    return [None if v is None or (not isinstance(v, np.ndarray) and pd.isna(v)) else v for v in series.tolist()]


def assert_same(got: pd.DataFrame, want: pd.DataFrame, vectors: list[str]) -> None:
    """Row for row: equal plain values, vectors within 1e-5, None where the pandas path has None."""
    want = want.reset_index(drop=True)
    assert list(got.columns) == list(want.columns)
    assert len(got) == len(want)
    for column in want.columns:
        g, w = cells(got[column]), cells(want[column])
        if column in vectors:
            assert [v is None for v in g] == [v is None for v in w], column
            for a, b in zip(g, w, strict=True):
                if b is not None:
                    assert a.shape == b.shape
                    np.testing.assert_allclose(np.asarray(a, dtype=np.float32), b, atol=1e-5, rtol=0)
        else:
            assert g == w, column


class ProbePipeline(Pipeline):
    """A Pipeline that, in whichever process runs it, logs model loads per PID and can crash once."""

    def __init__(self, *args, log_dir: str | None = None, crash_marker: str | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.log_dir, self.crash_marker = log_dir, crash_marker

    def __getstate__(self):
        return {**super().__getstate__(), "log_dir": self.log_dir, "crash_marker": self.crash_marker}

    def __setstate__(self, state):
        super().__setstate__(state)
        self.log_dir, self.crash_marker = state["log_dir"], state["crash_marker"]

    def predict(self, data, *args, **kwargs):
        if self.crash_marker is not None and isinstance(data, pd.DataFrame):
            try:
                os.close(os.open(self.crash_marker, os.O_CREAT | os.O_EXCL))
            except FileExistsError:
                pass
            else:  # the first batch anywhere: kill this Python worker mid-task
                os._exit(1)
        before = len(easynlu.loaded_models())
        frame = super().predict(data, *args, **kwargs)
        if self.log_dir is not None and isinstance(data, pd.DataFrame):
            after = len(easynlu.loaded_models())
            with open(Path(self.log_dir) / f"{os.getpid()}.log", "a") as log:
                log.write(f"{before} {after} {len(data)}\n")
        return frame


def probe(pipe: Pipeline, **hooks) -> ProbePipeline:
    return ProbePipeline(pipe.components, pipe.load_options, **hooks)


@pytest.fixture(scope="module")
def two_models(tiny_bert):
    return easynlu.load(f"en.embed.minilm {tiny_bert}", device="cpu", dtype="float32")


@pytest.fixture(scope="module")
def frame(spark):
    rows = [(i * 10, text, float(i), f"kept {i}") for i, text in enumerate(TEXTS)]
    return spark.createDataFrame(rows, "id long, text string, score double, document string").repartition(1)


def test_spark_predict_shows_no_pandas_3_warning_of_pyspark(spark, frame, tiny_bert):
    pipe = easynlu.load(str(tiny_bert), device="cpu", dtype="float32")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = pipe.predict(frame, output_level="document")
    assert [str(w.message) for w in caught if "pandas" in str(w.message)] == []
    assert out.columns[0] == "document"


def test_spark_is_spark_dataframe_without_importing_pyspark():
    code = ("import sys, easynlu, easynlu.spark\n"
            "print(easynlu.spark.is_spark_dataframe([]), 'pyspark' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_spark_is_spark_dataframe_tells_spark_from_pandas(spark, frame):
    assert easynlu_spark.is_spark_dataframe(frame)
    assert not easynlu_spark.is_spark_dataframe(frame.toPandas())
    assert not easynlu_spark.is_spark_dataframe("text")


@pytest.mark.parametrize("level", ["token", "sentence", "document"])
def test_spark_predict_equals_the_pandas_path_at_every_level(spark, frame, two_models, level):
    out = run(two_models, frame, output_level=level, positions=True)
    schema = {f.name: f.dataType.simpleString() for f in out.schema.fields}
    columns = [c.column for c in two_models.components]
    assert all(schema[c] == "array<float>" for c in columns)
    assert schema["start"] == schema["end"] == "bigint"
    want = two_models.predict(frame.toPandas(), output_level=level, positions=True, progress=False)
    got = out.toPandas()
    assert_same(got, want, columns)
    # the id column is carried; empty and None texts keep their row, without vectors
    assert set(got["id"]) == {0, 10, 20, 30, 40, 50}
    for missing in (10, 20):
        rows = got[got["id"] == missing]
        assert len(rows) == 1 and rows[columns[0]].iloc[0] is None
    assert ("document_input" in got.columns) == (level == "document")  # a clash is renamed as in pandas


def test_spark_predict_takes_the_options_of_the_pandas_path(spark, frame, tiny_bert):
    pipe = easynlu.load(str(tiny_bert), device="cpu", dtype="float32")
    options = dict(output_level="token", positions=True, metadata=True, layers=[-1, -2], layer_pooling="concat",
                   normalize=True, subword_pooling="mean", batch_size=2)
    want = pipe.predict(frame.toPandas(), progress=False, **options)
    assert_same(run(pipe, frame, **options).toPandas(), want, [pipe.components[0].column])
    nlu = pipe.predict(frame.toPandas(), progress=False, columns="nlu", **options)
    got = run(pipe, frame, columns="nlu", **options).toPandas()
    vectors = [c for c in nlu.columns if any(isinstance(v, np.ndarray) for v in nlu[c])]
    assert len(vectors) == 1
    assert_same(got, nlu, vectors)
    dropped = run(pipe, frame, keep_stranger_features=False, output_level="document")
    assert dropped.columns == ["document", pipe.components[0].column]
    nlu_style = run(pipe, frame, output_level="document", return_spark_df=True)  # NLU's keyword: Spark out
    assert nlu_style.count() == frame.count()  # ran on the workers, which take pandas
    assert_same(nlu_style.toPandas(), run(pipe, frame, output_level="document").toPandas(),
                [pipe.components[0].column])


LAYOUT_OPTIONS = [{}, {"positions": True, "metadata": True}, {"drop_irrelevant_cols": False},
                  {"metadata": True, "keep_stranger_features": False},
                  {"positions": True, "metadata": True, "columns": "nlu"}]
SPARK_TYPES = {"text": "string", "context": "string", "position": "bigint", "sentence_id": "bigint",
               "vector": "array<float>"}


@pytest.mark.parametrize("level", ["token", "sentence", "document"])
def test_spark_columns_are_the_pandas_columns_for_every_layout(spark, tiny_bert, level):
    """Schema only (no job runs): the same names, in the same order, as pandas, with easynlu.layout's kinds."""
    pipe = easynlu.load(str(tiny_bert), device="cpu", dtype="float32")
    clashing = ["token", "start", "sentence", "document", "sentence_id"]  # each one of easynlu's own names
    pdf = pd.DataFrame({"id": [1, 2, 3], "text": ["One. Two.", "", None], **{c: ["x", "y", "z"] for c in clashing}})
    sdf = spark.createDataFrame(pdf, "id long, text string, " + ", ".join(f"{c} string" for c in clashing))
    for options in LAYOUT_OPTIONS:
        want = pipe.predict(pdf, output_level=level, progress=False, **options)
        out = run(pipe, sdf, output_level=level, **options)
        assert out.columns == list(want.columns), options
        if options.get("columns") == "nlu":
            continue
        types = {f.name: f.dataType.simpleString() for f in out.schema.fields}
        carried = {f.name: f.dataType.simpleString() for f in sdf.schema.fields}
        for column in layout.columns(Options(**options), level, [pipe.components[0].column],
                                     [c for c in pdf.columns if c != "text"]):
            kind = carried[column.source] if column.kind == "carried" else SPARK_TYPES[column.kind]
            assert types[column.name] == kind, (options, column)


def test_spark_predict_picks_the_text_column_as_pandas_does(spark, tiny_bert):
    pipe = easynlu.load(str(tiny_bert), device="cpu", dtype="float32")
    sdf = spark.createDataFrame([(1, "a title", "a body")], "n long, title string, body string")
    with pytest.warns(easynlu.EasyNLUWarning, match="several string columns"):
        out = run(pipe, sdf, output_level="document")
    assert out.columns[0] == "document" and out.columns[-2:] == ["n", "body"]
    assert run(pipe, sdf, output_level="document", text_column="body").collect()[0]["document"] == "a body"
    with pytest.raises(easynlu.InputError, match="not a column"):
        run(pipe, sdf, text_column="missing")
    with pytest.raises(easynlu.InputError, match="not string"):
        run(pipe, sdf, text_column="n")
    with pytest.raises(easynlu.InputError, match="no string column"):
        run(pipe, spark.createDataFrame([(1,)], "n long"))


@pytest.mark.slow
def test_spark_predict_20000_texts_loads_the_model_once_per_worker(spark, tmp_path):
    from conftest import make_bert_dir

    model = make_bert_dir(tmp_path / "fresh-bert", layers=2, hidden=64, heads=2, seed=7)  # loaded nowhere yet
    logs = tmp_path / "logs"
    logs.mkdir()
    pipe = probe(easynlu.load(str(model), device="cpu", dtype="float32"), log_dir=str(logs))
    texts = [f"text number {i} is short." for i in range(20_000)]
    sdf = spark.createDataFrame(pd.DataFrame({"id": np.arange(20_000), "text": texts})).repartition(4)
    spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", "1000")
    try:
        got = run(pipe, sdf, output_level="document").toPandas()
    finally:
        spark.conf.unset("spark.sql.execution.arrow.maxRecordsPerBatch")
    assert sorted(got["id"].tolist()) == list(range(20_000))
    assert got[pipe.components[0].column].map(lambda v: v.shape == (64,)).all()
    lines = {log.stem: [tuple(map(int, line.split())) for line in log.read_text().splitlines()]
             for log in logs.glob("*.log")}
    assert sum(n for batches in lines.values() for _, _, n in batches) == 20_000
    assert sum(len(batches) for batches in lines.values()) >= 20  # many batches ...
    for batches in lines.values():  # ... but one load per worker process
        assert sum(after - before for before, after, _ in batches) == 1
    assert not pipe.loaded  # and none on the driver
    expected = easynlu.load(str(model), device="cpu", dtype="float32").embed(texts[:50], progress=False)
    first = got.sort_values("id")[pipe.components[0].column].iloc[:50]
    np.testing.assert_allclose(np.stack(first.tolist()), expected, atol=1e-5, rtol=0)


@pytest.mark.slow
def test_spark_predict_survives_a_crashed_worker(spark, frame, tiny_bert, tmp_path):
    marker = tmp_path / "crashed-once"
    pipe = probe(easynlu.load(str(tiny_bert), device="cpu", dtype="float32"), crash_marker=str(marker))
    sdf = frame.union(frame.withColumn("id", frame["id"] + 1)).repartition(2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = run(pipe, sdf, output_level="sentence", positions=True).toPandas()
    assert marker.exists()  # a worker did die (os._exit) and Spark ran the task again
    want = easynlu.load(str(tiny_bert)).predict(sdf.toPandas(), output_level="sentence", positions=True,
                                               progress=False)
    key = ["id", "start"]
    assert_same(got.sort_values(key, kind="stable").reset_index(drop=True),
                want.sort_values(key, kind="stable"), [pipe.components[0].column])


@pytest.mark.slow
def test_spark_predict_runs_on_a_stream_written_to_parquet(spark, tiny_bert, tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    texts = [f"Streaming line {i}. It has two sentences." for i in range(30)] + [""]
    for part in range(3):
        (inbox / f"part-{part}.txt").write_text("\n".join(texts[part::3]) + "\n")
    pipe = easynlu.load(str(tiny_bert), device="cpu", dtype="float32")
    stream = spark.readStream.text(str(inbox))
    out = run(pipe, stream, output_level="document", positions=True)
    assert out.isStreaming
    query = (out.writeStream.format("parquet").option("path", str(tmp_path / "out"))
             .option("checkpointLocation", str(tmp_path / "checkpoint")).trigger(availableNow=True).start())
    assert query.awaitTermination(120)
    got = spark.read.parquet(str(tmp_path / "out")).toPandas().sort_values("document", kind="stable")
    want = pipe.predict(pd.DataFrame({"value": texts}), output_level="document", positions=True, progress=False)
    assert_same(got.reset_index(drop=True), want.sort_values("document", kind="stable"), [pipe.components[0].column])


@pytest.mark.slow
def test_spark_local_workers_run_the_drivers_python_when_none_is_named(tmp_path):
    """A script run as .venv/bin/python with no PYSPARK_PYTHON: Spark would start `python3` from PATH."""
    import shutil
    import subprocess

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "python3"  # what PATH offers first: a Python without easynlu
    fake.write_text("#!/bin/sh\necho 'not the driver python' >&2\nexit 1\n")
    fake.chmod(0o755)
    script = tmp_path / "sp.py"
    script.write_text(
        "from pyspark.sql import SparkSession\n"
        "import easynlu\n"
        "spark = SparkSession.builder.master('local[1]').config('spark.ui.enabled', 'false').getOrCreate()\n"
        "sdf = spark.range(2).selectExpr('id', \"concat('I love NLP ', id) as text\")  # no Python worker yet\n"
        "print('rows', easynlu.load('embed', backend='torch').predict(sdf, output_level='document').count())\n"
        "spark.stop()\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PYSPARK_PYTHON", "PYSPARK_DRIVER_PYTHON")}
    env["PATH"] = f"{bin_dir}{os.pathsep}{os.path.dirname(shutil.which('java') or '/usr/bin/java')}{os.pathsep}" \
                  f"/usr/bin{os.pathsep}/bin"
    out = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=300)
    assert "rows 2" in out.stdout, out.stderr[-2000:]
