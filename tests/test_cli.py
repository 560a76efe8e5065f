"""The command line, run as a user runs it: ``python -m easynlu ...`` in a subprocess, offline.

The predict tests use the packaged all-MiniLM-L6-v2, so they need no network. Each subprocess
imports torch and loads the model (seconds of CPU), so there are few predict subprocesses, each
checking a lot; the other options run in process through ``cli.main`` on the already loaded model.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest
import test_hub_cache as test_hub

import easynlu
import easynlu.catalogue
import easynlu.pipeline
from easynlu import cli

# Each predict subprocess costs ~6 s of CPU (torch, transformers, sentence-transformers imports):
# the module takes 20-40 s on a 2-core machine, so it is marked slow (still run by default and in CI).
pytestmark = pytest.mark.slow

DIM = 384
COLUMN = "en_embed_minilm_embeddings"


def _env() -> dict:
    return dict(os.environ, HF_HUB_OFFLINE="1", PYTHONIOENCODING="utf-8", OMP_NUM_THREADS="1")


def run_cli(*args: str, stdin: str | None = None, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "easynlu", *args], input=stdin, capture_output=True,
                          text=True, env=_env(), timeout=timeout)


def check(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 0, f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    assert "Traceback" not in proc.stderr
    return proc.stdout


def ok(*args: str, stdin: str | None = None) -> str:
    return check(run_cli(*args, stdin=stdin))


# The predict runs each import torch and load the model (seconds of CPU), so they start together,
# once per module, and each test reads its own run's output.
PREDICT_RUNS = {
    "token_table": (["predict", "I love NLP", "--positions"], None),
    "document_table": (["predict", "I love NLP. It is great.", "--level", "document"], None),
    "token_json": (["predict", "I love NLP", "Paris is nice.", "--format", "json", "--positions"], None),
}


class _Runs:
    def __init__(self):
        self._procs = {}
        for name, (args, stdin) in PREDICT_RUNS.items():
            proc = subprocess.Popen([sys.executable, "-m", "easynlu", *args], stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env())
            self._procs[name] = (proc, stdin)
        self._done = {}

    def __getitem__(self, name: str) -> str:
        if name not in self._done:
            proc, stdin = self._procs[name]
            out, err = proc.communicate(stdin, timeout=300)
            self._done[name] = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
        return check(self._done[name])

    def close(self):
        for proc, _ in self._procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.communicate()


@pytest.fixture(scope="module")
def runs():
    started = _Runs()
    yield started
    started.close()


@pytest.fixture(scope="module")
def minilm():
    return easynlu.load("en.embed.minilm")


def table_rows(out: str) -> list[list[str]]:
    lines = [line for line in out.splitlines() if line.strip()]
    return [line.split() for line in lines[1:]]  # first line is the header


def test_cli_predict_token_table_default_model_offline(runs):
    out = runs["token_table"]
    header = out.splitlines()[0].split()
    assert header == ["token", "start", "end", COLUMN]
    rows = table_rows(out)
    assert [r[:4] for r in rows] == [["0", "I", "0", "1"], ["0", "love", "2", "6"], ["0", "NLP", "7", "10"]]
    for row in rows:  # vectors shown short: three values and an ellipsis
        shown = " ".join(row[4:])
        assert shown.startswith("[") and shown.endswith(", ...]") and shown.count(",") == 3


def test_cli_predict_document_level_gives_one_row_per_text(runs):
    out = runs["document_table"]
    rows = table_rows(out)
    assert len(rows) == 1
    assert rows[0][:6] == ["0", "I", "love", "NLP.", "It", "is"]


def test_cli_predict_json_matches_in_process_vectors(runs, minilm):
    out = runs["token_json"]
    records = [json.loads(line) for line in out.splitlines()]
    expected = minilm.predict(["I love NLP", "Paris is nice."], output_level="token", positions=True)
    assert len(records) == len(expected) == 7
    assert [r["index"] for r in records] == expected.index.tolist() == [0, 0, 0, 1, 1, 1, 1]
    assert [r["token"] for r in records] == ["I", "love", "NLP", "Paris", "is", "nice", "."]
    assert [(r["start"], r["end"]) for r in records] == list(zip(expected["start"], expected["end"], strict=True))
    for record, vector in zip(records, expected[COLUMN], strict=True):
        got = np.asarray(record[COLUMN], dtype=np.float32)
        assert got.shape == (DIM,)
        np.testing.assert_allclose(got, vector, atol=1e-5, rtol=0)


def test_cli_predict_stdin_lines_csv_document_level(minilm, monkeypatch, capsys):
    # in process (the model is already loaded here): main() reading standard input
    monkeypatch.setattr(sys, "stdin", io.StringIO("I love NLP\n\nA second line.\n"))
    assert cli.main(["predict", "-", "--level", "document", "--format", "csv", "--normalize"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["index"] for r in rows] == ["0", "1", "2"]  # one row per line, the blank one included
    assert [r["document"] for r in rows] == ["I love NLP", "", "A second line."]
    assert rows[1][COLUMN] == ""  # a text with no tokens has a missing vector
    expected = minilm.predict(["I love NLP", "", "A second line."], output_level="document", normalize=True)
    for i in (0, 2):
        got = np.asarray(json.loads(rows[i][COLUMN]), dtype=np.float32)
        assert got.shape == (DIM,)
        assert abs(np.linalg.norm(got) - 1) < 1e-5
        np.testing.assert_allclose(got, expected[COLUMN].iloc[i], atol=1e-5, rtol=0)


def test_cli_predict_stdin_whole_and_several_models(monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", io.StringIO("First line.\nSecond line.\n"))
    argv = ["predict", "-", "extra text", "--stdin", "whole", "--model", "embed embed_sentence",
            "--format", "json", "--level", "sentence"]
    assert cli.main(argv) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["index"], r["sentence"]) for r in records] == [(0, "First line."), (0, "Second line."),
                                                              (1, "extra text")]
    for record in records:
        assert len(record[COLUMN]) == len(record["en_embed_sentence_minilm_embeddings"]) == DIM


def test_cli_predict_layers_takes_one_comma_separated_value(minilm, capsys):
    # --layers N before the text leaves the text a TEXT; -1,-2 is one value, not an unknown option
    for layers, argv in ((2, ["--layers", "2", "I love NLP"]), (-1, ["--layers", "-1", "I love NLP"]),
                         ([-1, -2], ["--layers", "-1,-2", "I love NLP", "--layer-pooling", "concat"])):
        assert cli.main(["predict", *argv, "--level", "document", "--format", "json"]) == 0
        (record,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        pooling = "concat" if isinstance(layers, list) else "mean"
        expected = minilm.predict(["I love NLP"], output_level="document", layers=layers, layer_pooling=pooling)
        assert record["document"] == "I love NLP"
        np.testing.assert_allclose(np.asarray(record[COLUMN], dtype=np.float32), expected[COLUMN].iloc[0],
                                   atol=1e-5, rtol=0)
    assert len(record[COLUMN]) == 2 * DIM
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["predict", "x", "--layers", "-1,last"])
    assert exit_info.value.code == 2 and "comma-separated" in capsys.readouterr().err


def test_cli_predict_empty_stdin_prints_no_table(minilm, monkeypatch, capsys):
    outputs = {}
    for fmt in ("table", "json", "csv"):
        monkeypatch.setattr(sys, "stdin", io.StringIO(""))
        assert cli.main(["predict", "-", "--format", fmt]) == 0
        captured = capsys.readouterr()
        assert captured.err == ""
        outputs[fmt] = captured.out
    assert outputs["table"] == outputs["json"] == ""
    assert outputs["csv"].splitlines() == [f"index,token,{COLUMN}"]  # the header only


STREAM_TEXTS = ["I love NLP. It is great.", "", "Paris is nice.", "One more text.", "And the last one."]


def _stream_input(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text("".join(json.dumps({"id": i, "body": t}) + "\n" for i, t in enumerate(STREAM_TEXTS)))
    return path


def test_cli_predict_input_to_jsonl_csv_and_parquet(minilm, tmp_path, capsys):
    import pandas as pd

    path = _stream_input(tmp_path)
    expected = minilm.predict(pd.read_json(path, lines=True), text_column="body", output_level="sentence")
    for kind in ("jsonl", "csv", "parquet"):
        out = tmp_path / f"out.{kind}"
        argv = ["predict", "--input", str(path), "--text-column", "body", "--level", "sentence",
                "--chunk-size", "2", "--output", str(out)]
        assert cli.main(argv) == 0
        assert capsys.readouterr().out == ""
        if kind == "jsonl":
            got = pd.DataFrame([json.loads(line) for line in out.read_text().splitlines()])
        elif kind == "csv":
            got = pd.read_csv(out, keep_default_na=False)
            got[COLUMN] = [json.loads(v) if v else None for v in got[COLUMN]]
        else:
            got = pd.read_parquet(out)
        assert got["index"].tolist() == expected.index.tolist() == [0, 0, 1, 2, 3, 4]
        assert got["sentence"].fillna("").tolist() == expected["sentence"].fillna("").tolist()
        assert got["id"].tolist() == expected["id"].tolist()
        for v, e in zip(got[COLUMN], expected[COLUMN], strict=True):
            assert (v is None) == (e is None)
            if e is not None:
                np.testing.assert_allclose(np.asarray(v, dtype=np.float32), e, atol=1e-5, rtol=0)


def test_cli_predict_input_resumes_a_half_written_chunk(minilm, tmp_path, monkeypatch, capsys):
    path = _stream_input(tmp_path)
    argv = ["predict", "--input", str(path), "--text-column", "body", "--level", "document", "--chunk-size", "2"]
    reference = tmp_path / "ref.csv"
    assert cli.main([*argv, "--output", str(reference)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl", "ref.csv"]  # finished: no progress file
    out, state_file = tmp_path / "out.csv", tmp_path / "out.csv.progress.json"
    write_csv, calls = cli.writers.write_csv, []

    def killed_in_the_third_chunk(frame, columns, stream, header=True):
        calls.append(1)
        if len(calls) < 3:
            return write_csv(frame, columns, stream, header=header)
        text = io.StringIO()
        write_csv(frame, columns, text, header=header)
        stream.write(text.getvalue()[:12])  # half a chunk on disk, then Ctrl-C
        raise KeyboardInterrupt

    with monkeypatch.context() as patched:
        patched.setattr(cli.writers, "write_csv", killed_in_the_third_chunk)
        assert cli.main([*argv, "--output", str(out)]) == 130
    assert json.loads(state_file.read_text())["chunks_done"] == 2
    assert cli.main([*argv, "--level", "token", "--output", str(out)]) == 2  # other options: no resume
    assert "pass a new output path" in capsys.readouterr().err
    assert cli.main([*argv, "--output", str(out)]) == 0  # the same options: resumed
    assert out.read_bytes() == reference.read_bytes() and not state_file.exists()
    assert cli.main([*argv, "--output", str(out)]) == 2  # finished: refused, nothing appended twice
    assert "already exists" in capsys.readouterr().err
    assert out.read_bytes() == reference.read_bytes()


def test_cli_predict_input_usage_errors(tmp_path):
    for argv in (["predict"], ["predict", "x", "--input", "f.txt"], ["predict", "x", "--output", "o.csv"],
                 ["predict", "--input", "f.txt", "--output", "o.xlsx"]):
        with pytest.raises(SystemExit) as exit_info:
            cli.main(argv)
        assert exit_info.value.code == 2


def test_cli_models_pattern_lists_both_minilm_refs():
    out = ok("models", "*minilm*")
    refs = [row[0] for row in table_rows(out)]
    assert refs == ["en.embed.minilm", "en.embed_sentence.minilm"]
    assert "sentence-transformers/all-MiniLM-L6-v2" in out


def test_cli_unknown_reference_exits_2_with_suggestions():
    proc = run_cli("predict", "I love NLP", "--model", "en.embed.bert.small_L12_12")
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert "did you mean" in lines[0].lower() and "en.embed.bert.small_L12_128" in lines[0]


def test_cli_version():
    assert ok("--version").strip() == f"easynlu {easynlu.__version__}"


# -- in process: cheap checks of the pieces ---------------------------------------------------
def test_cli_import_is_light():
    code = ("import sys, easynlu.cli, easynlu.hub_cache; heavy = [m for m in ('torch', 'transformers', 'pandas', "
            "'huggingface_hub') "
            "if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_cli_models_json_and_no_match(capsys):
    assert cli.main(["models", "en.embed_sentence.bert.*", "--format", "json"]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {r["ref"] for r in records} >= {"en.embed_sentence.bert.base_uncased", "en.embed_sentence.bert.large_cased"}
    assert all(r["action"] == "embed_sentence" for r in records)
    assert cli.main(["models", "no-such-model*"]) == 0
    captured = capsys.readouterr()
    assert captured.out == "" and "no catalogue refs match" in captured.err


def test_cli_model_unavailable_is_one_line_exit_2(capsys):
    # a catalogue model that is not cached: offline, so it fails before any download
    assert cli.main(["predict", "x", "--model", "en.embed.bert.tiny", "--offline"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("error: Cannot find the weights of google/bert_uncased_L-2_H-128_A-2. Tried: ")


def test_cli_bad_usage_exits_2(capsys):
    assert cli.main(["predict", "x", "--model", "embed_sentence:hf:a/b hf:a/b"]) == 2  # two models, one column
    assert capsys.readouterr().err.startswith("error: ")
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["predict", "-", "-"])
    assert exit_info.value.code == 2
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["predict", "x", "--level", "word"])
    assert exit_info.value.code == 2


def test_cli_warnings_are_one_line_each_on_stderr(minilm, tmp_path, monkeypatch, capsys):
    from easynlu.backends import device

    path = tmp_path / "in.csv"  # two string columns, no 'text': easynlu warns which one it uses
    path.write_text("a,b\nI love NLP,x\n", encoding="utf-8")
    monkeypatch.setattr(device, "cpu_flags", lambda: frozenset({"avx2"}))  # no bf16 instructions
    monkeypatch.setattr(device, "_warned_slow_bf16", False)
    shown_before = warnings.showwarning
    argv = ["predict", "--input", str(path), "--format", "json", "--dtype", "bfloat16", "--backend", "torch"]
    assert cli.main(argv) == 0
    assert warnings.showwarning is shown_before  # put back when the command ends
    err = capsys.readouterr().err  # the warnings, and a progress bar if the chunk took long
    lines = [line for line in err.splitlines() if line.strip() and not line.startswith("easynlu: ")]
    assert len(lines) == 2 and all(line.startswith("warning: ") for line in lines), err
    assert "several string columns ['a', 'b']" in lines[0] or "several string columns ['a', 'b']" in lines[1]
    assert any("dtype='bfloat16' on the CPU" in line for line in lines)
    assert not any(".py" in line or "Warning:" in line for line in lines)


def test_cli_unknown_reference_suggests_the_models_command(capsys):
    assert cli.main(["predict", "x", "--model", "en.embed.bert.small_L12_12"]) == 2
    err = capsys.readouterr().err
    assert "easynlu models '*bert*'" in err and "easynlu.models(" not in err
    with pytest.raises(easynlu.UnknownReferenceError, match=r"easynlu\.models\('\*bert\*'\)"):
        easynlu.load("en.embed.bert.small_L12_12")  # in Python, the Python call


def test_cli_one_line_error_message():
    err = easynlu.ModelUnavailableError("Cannot find X.", ["the cache: not there", "the Hub: offline"], "go online")
    assert cli._one_line(err) == "Cannot find X. Tried: the cache: not there; the Hub: offline. To fix: go online."
    assert cli._one_line(easynlu.OptionError("two\n  lines")) == "two lines"


def test_cli_short_vector():
    vector = np.array([-0.194, -1.126, 0.5, 2.0], dtype=np.float32)
    assert cli._short_vector(vector, 2) == "[-0.19, -1.13, ...]"
    assert cli._short_vector(vector, 4) == "[-0.19, -1.13, 0.50, 2.00]"
    assert cli._short_vector(None, 3) == "None"


# -- download, cache, save (in process, offline; the Hub is a fake) ---------------------------
@pytest.fixture(scope="module")
def small_bert(tmp_path_factory):
    return test_hub.make_bert_dir(tmp_path_factory.mktemp("small-bert"), layers=2, hidden=128, heads=2, seed=3)


@pytest.fixture
def hub_cache(hf_cache):
    with test_hub.added_repos(hf_cache) as cache:
        yield cache


def test_cli_download_packaged_needs_nothing_and_offline_refuses(capsys, minilm_dir):
    assert cli.main(["download", "embed"]) == 0
    out = capsys.readouterr().out
    assert out == (f"en.embed.minilm (sentence-transformers/all-MiniLM-L6-v2): shipped in an installed package, "
                   f"available offline: {minilm_dir}\n")
    assert cli.main(["download", test_hub.REF]) == 2  # HF_HUB_OFFLINE=1 in the tests
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1
    assert captured.err.startswith(f"error: Cannot download {test_hub.MODEL}: downloading needs the network")
    assert "HF_HUB_OFFLINE" in captured.err


def test_cli_download_puts_the_model_in_the_cache(capsys, monkeypatch, hub_cache, small_bert):
    fake = test_hub.start_fake_hub(monkeypatch, hub_cache, small_bert)
    assert cli.main(["download", test_hub.REF, "en.embed.bert.tiny"]) == 0  # the same model twice: once
    snapshot = test_hub.repo_dir(hub_cache, test_hub.MODEL) / "snapshots" / ("0" * 40)
    assert capsys.readouterr().out == f"{test_hub.REF} ({test_hub.MODEL}): in the Hugging Face cache: {snapshot}\n"
    assert [call[0] for call in fake.calls] == [test_hub.MODEL]
    assert (snapshot / "model.safetensors").is_file()


def test_cli_cache_lists_and_deletes(capsys, hub_cache, small_bert, monkeypatch, tmp_path):
    monkeypatch.setenv("EASYNLU_CACHE_DIR", str(tmp_path / "easynlu"))  # no ONNX exports
    test_hub.put_in_hf_cache(hub_cache, test_hub.MODEL, small_bert)
    size = sum(f.stat().st_size for f in (test_hub.repo_dir(hub_cache, test_hub.MODEL) / "blobs").iterdir())
    refs = [ref for ref, e in easynlu.catalogue.entries().items() if e.model == test_hub.MODEL]

    assert cli.main(["cache"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["model", "refs", "size", "(MB)", "revisions", "exports", "(MB)"]
    row = next(line for line in lines if line.startswith(test_hub.MODEL + " "))
    assert row.split()[-3:] == [f"{size / 1e6:.1f}", "1", "0.0"]  # no ONNX export of it yet
    assert ", ".join(refs) in row

    assert cli.main(["cache", "--format", "json"]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    record = next(r for r in records if r["model"] == test_hub.MODEL)
    assert (record["refs"], record["size_bytes"], record["revisions"]) == (refs, size, 1)

    assert cli.main(["cache", "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert next(r for r in rows if r["model"] == test_hub.MODEL)["size_bytes"] == str(size)

    assert cli.main(["cache", "--delete", "en.embed.bert.tiny"]) == 0
    assert capsys.readouterr().out == f"{test_hub.MODEL}: deleted, freed {size / 1e6:.1f} MB\n"
    assert not test_hub.repo_dir(hub_cache, test_hub.MODEL).exists()
    assert cli.main(["cache", "--delete", test_hub.REF]) == 0
    assert capsys.readouterr().out.startswith(f"{test_hub.MODEL}: not cached")
    assert cli.main(["cache", "--delete", "no-such-model"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.startswith("error: Unknown model reference 'no-such-model'")


def test_cli_cache_empty(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setenv("EASYNLU_CACHE_DIR", str(tmp_path / "easynlu"))  # no ONNX exports either
    assert cli.main(["cache"]) == 0
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.startswith("no cached catalogue models")
    assert str(tmp_path) in captured.err
    assert cli.main(["cache", "--all", "--format", "json"]) == 0
    assert capsys.readouterr().out == ""


def test_cli_save_saves_the_pipeline_of_the_refs(capsys, monkeypatch, tmp_path):
    # Pipeline.save is stubbed: this checks the wiring only (the saving has its own tests)
    saved = []

    def fake_save(pipe, directory):
        saved.append(([c.ref for c in pipe.components], pipe.offline, directory))
        return tmp_path / "out"

    monkeypatch.setattr(easynlu.pipeline.Pipeline, "save", fake_save, raising=False)
    assert cli.main(["save", "embed", "embed_sentence", str(tmp_path / "mine"), "--offline"]) == 0
    assert [s[0] for s in saved] == [["en.embed.minilm", "en.embed_sentence.minilm"]]
    assert saved[0][1:] == (True, str(tmp_path / "mine"))
    assert capsys.readouterr().out == f"saved embed embed_sentence to {tmp_path / 'out'}\n"
