"""Distil and fine-tune: a faster student from a teacher's vectors, or a model tuned on scored pairs.

Both write a run directory (``output_dir``, else one named by the arguments in easynlu's cache, so a
rerun with the same arguments finds it): ``run.json`` (what the run is), ``checkpoints/`` (one per
epoch) and, once done, ``model/``: a sentence-transformers directory with its model card. Every
input is checked before any training. They take and return the plain things the edge rooms use:
:class:`easynlu.protocol.Embedder` pipelines in, the model directory out (``Pipeline.distill`` /
``fit`` and ``easynlu.distill`` make it a pipeline). torch, sentence-transformers, datasets and
accelerate are imported here, when a run starts.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable, Hashable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from .. import files
from ..errors import OptionError
from ..options import is_int
from . import card, data, run, students, teacher

if TYPE_CHECKING:
    import pandas as pd

    from ..protocol import Embedder

Load = Callable[[Path], "Embedder"]  # a model directory -> a pipeline over it (Pipeline passes its own)
FitLoss = Literal["cosine", "cosent"]
MODEL = "model"
RUN = "run.json"


def distill(teacher_pipe: Embedder, texts: Any, load: Load, *, student: Embedder | None = None,
            layers: Sequence[int] | None = None, output_dir: str | os.PathLike[str] | None = None, epochs: int = 1,
            batch_size: int = 64, learning_rate: float = 1e-4, seed: int = 42, text_column: Hashable | None = None,
            max_texts: int | None = None, progress: bool | None = None) -> Path:
    """Train ``student`` (or the teacher's ``layers``) to give the teacher's vectors of ``texts``; the model dir."""
    _check_numbers(epochs, batch_size, learning_rate, seed, max_texts)
    if (student is None) == (layers is None):
        raise OptionError("Pass a student pipeline or layers=[...] of the teacher (one of them), e.g. "
                          "easynlu.distill(teacher='en.embed_sentence.minilm', layers=[0, 3, 5], texts=...).")
    teacher_dir = teacher.model_dir(teacher_pipe)
    student_dir = teacher.model_dir(student) if student is not None else None
    target = _early_target(output_dir)
    texts_file = data.write_texts(texts, teacher.train_cache() / "texts", text_column, max_texts)
    identity = {"kind": "distill", "teacher": _who(teacher_pipe, teacher_dir), "texts": texts_file.sha256,
                "student": _who(student, student_dir) if student is not None else {"layers": list(layers or [])},
                "epochs": epochs, "batch_size": batch_size, "learning_rate": learning_rate, "seed": seed}
    run_dir = _run_dir(target, identity)
    if (done := _finished(run_dir)) is not None:
        return done
    if layers is not None:
        model = students.layer_subset(str(teacher_dir), layers)
        described = f"layers {list(layers)} of the teacher (of {_layer_count(teacher_dir)}), from its weights"
    else:
        base = students.load(str(teacher_dir))
        model = students.load(str(student_dir), base.max_seq_length, students.is_normalized(base))
        described = f"`{student.components[0].ref}`" if student is not None else ""
    sample = next(texts_file.chunks(2000))
    students.check_tokenizer(model, sample, str(teacher_dir))
    vectors, vectors_path, _ = teacher.vectors(teacher_pipe, texts_file, progress)
    width, teacher_width = students.width(model), vectors.shape[1]
    axes = None
    if width > teacher_width:
        raise OptionError(f"The student is wider ({width}) than the teacher ({teacher_width}): pick a student no "
                          f"wider than the teacher, or layers=[...] of the teacher.")
    if width < teacher_width:
        axes = students.pca_projection(vectors, width)
    normalize = students.is_normalized(model)
    held = _held_out(texts_file.count, seed, 1000, 20)
    dataset = _distill_dataset(texts_file, vectors_path, axes, normalize, held, run_dir)
    losses = students.st_module("losses")
    started = time.perf_counter()
    run.train(model, dataset, losses.MSELoss(model), run_dir, epochs=epochs, batch_size=batch_size,
              learning_rate=learning_rate, seed=seed, progress=progress)
    model_dir = run_dir / MODEL
    run.save(model, model_dir)
    info: dict[str, Any] = {
        "kind": "distill", "name": f"{teacher_pipe.components[0].ref} distilled", "path": str(model_dir),
        "call": "easynlu.distill" if layers is not None else "Pipeline.distill",
        "teacher": teacher_pipe.components[0].ref, "student": described, "texts": texts_file.count,
        "train_texts": texts_file.count - len(held), "held_out": len(held), "epochs": epochs,
        "batch_size": batch_size, "learning_rate": learning_rate, "seed": seed,
        "train_seconds": time.perf_counter() - started, "device": str(model.device),
        "projection": f"the teacher's vectors on their first {width} principal axes (PCA of the teacher's "
                      f"vectors), as sentence-transformers' distillation example does" if axes is not None else None,
    }
    info.update(_distill_scores(load(model_dir), teacher_pipe, texts_file, held, vectors, axes, normalize))
    card.write(model_dir, info)
    return model_dir


def fit(base_pipe: Embedder, pairs: pd.DataFrame, load: Load, *, loss: FitLoss = "cosine",
        output_dir: str | os.PathLike[str] | None = None, epochs: int = 1, batch_size: int = 16,
        learning_rate: float = 2e-5, seed: int = 42, progress: bool | None = None) -> Path:
    """Fine-tune ``base_pipe``'s model on scored ``pairs`` (text_a, text_b, score); the model directory."""
    _check_numbers(epochs, batch_size, learning_rate, seed, None)
    if loss not in ("cosent", "cosine"):
        raise OptionError(f"loss={loss!r}: pass 'cosine' (CosineSimilarityLoss, the default) or 'cosent' "
                          f"(CoSENTLoss).")
    base_dir = teacher.model_dir(base_pipe)
    target = _early_target(output_dir)
    frame, scale = data.read_pairs(pairs)
    identity = {"kind": "fit", "base": _who(base_pipe, base_dir), "pairs": data.pairs_sha256(frame), "loss": loss,
                "epochs": epochs, "batch_size": batch_size, "learning_rate": learning_rate, "seed": seed}
    run_dir = _run_dir(target, identity)
    if (done := _finished(run_dir)) is not None:
        return done
    held = _held_out(len(frame), seed, 1000, 10)
    keep = np.ones(len(frame), dtype=bool)
    keep[held] = False
    model = students.load(str(base_dir))
    from datasets import Dataset

    losses = students.st_module("losses")

    train_rows = frame[keep]
    dataset = Dataset.from_dict({"sentence1": train_rows["text_a"].tolist(), "sentence2": train_rows["text_b"].tolist(),
                                 "score": train_rows["score"].tolist()})
    objective = losses.CoSENTLoss(model) if loss == "cosent" else losses.CosineSimilarityLoss(model)
    started = time.perf_counter()
    run.train(model, dataset, objective, run_dir, epochs=epochs, batch_size=batch_size, learning_rate=learning_rate,
              seed=seed, progress=progress)
    model_dir = run_dir / MODEL
    run.save(model, model_dir)
    tuned, test = load(model_dir), frame.iloc[held]

    def score(pipe: Embedder) -> float | None:
        if not len(test):
            return None
        return card.pairs_score(pipe.embed(test["text_a"].tolist(), progress=False),
                                pipe.embed(test["text_b"].tolist(), progress=False), test["score"].to_numpy())

    card.write(model_dir, {
        "kind": "fit", "name": f"{base_pipe.components[0].ref} fine-tuned", "path": str(model_dir),
        "call": "Pipeline.fit", "base": base_pipe.components[0].ref,
        "loss": "CoSENTLoss" if loss == "cosent" else "CosineSimilarityLoss", "pairs": len(frame),
        "train_pairs": int(keep.sum()), "held_out": len(held), "scale": scale, "epochs": epochs,
        "batch_size": batch_size, "learning_rate": learning_rate, "seed": seed,
        "train_seconds": time.perf_counter() - started, "device": str(model.device),
        "score": score(tuned), "base_score": score(base_pipe)})
    return model_dir


# -- the run directory ------------------------------------------------------------------------------
def _early_target(output_dir: str | os.PathLike[str] | None) -> Path | None:
    """``output_dir`` as a Path; OptionError now if it is a file or a non-empty directory that is no run."""
    if output_dir is None:
        return None
    target = Path(output_dir).expanduser().absolute()
    if target.exists() and not target.is_dir():
        raise OptionError(f"output_dir={str(target)!r} is a file: pass a new or empty directory.")
    if target.is_dir() and any(target.iterdir()) and not (target / RUN).is_file():
        raise OptionError(f"output_dir={str(target)!r} is not empty and holds no easynlu training run, so easynlu "
                          f"will not write into it: pass a new or empty directory, or delete it first.")
    return target


def _run_dir(target: Path | None, identity: dict[str, Any]) -> Path:
    """The run's directory (``target``, else one in the cache named by ``identity``), holding its run.json.

    Raises OptionError when ``target`` holds a run with other arguments.
    """
    key = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()
    run_dir = target or teacher.train_cache() / "runs" / key[:24]
    recorded = run_dir / RUN
    if recorded.is_file():
        if json.loads(recorded.read_text(encoding="utf-8")) != identity:
            raise OptionError(f"output_dir={str(run_dir)!r} holds a training run with other arguments (teacher, "
                              f"student, texts or settings): pass a new or empty directory to start another, or "
                              f"delete it.")
    else:
        run_dir.mkdir(parents=True, exist_ok=True)
        files.write_json(recorded, identity, sort_keys=True)
    return run_dir


def _finished(run_dir: Path) -> Path | None:
    """The model of a finished run (its card written last), or None; a model left half-done is removed."""
    model_dir = run_dir / MODEL
    if card.read(model_dir) is not None:
        return model_dir
    if model_dir.exists():
        shutil.rmtree(model_dir)
    return None


def _who(pipe: Embedder | None, path: Path | None) -> dict[str, str]:
    if pipe is None or path is None:
        return {}
    return {"ref": pipe.components[0].ref, "files": teacher.identity(path)}


def _layer_count(path: Path) -> int:
    config = json.loads((path / "config.json").read_text(encoding="utf-8"))
    return int(config.get("num_hidden_layers", 0))


def _check_numbers(epochs: Any, batch_size: Any, learning_rate: Any, seed: Any, max_texts: Any) -> None:
    for name, value in (("epochs", epochs), ("batch_size", batch_size)) + ((("max_texts", max_texts),)
                                                                          if max_texts is not None else ()):
        if not is_int(value) or int(value) < 1:
            raise OptionError(f"{name}={value!r}: pass a positive int.")
    if not isinstance(learning_rate, (int, float)) or isinstance(learning_rate, bool) or not learning_rate > 0:
        raise OptionError(f"learning_rate={learning_rate!r}: pass a positive number, e.g. 1e-4.")
    if not is_int(seed):
        raise OptionError(f"seed={seed!r}: pass an int.")


def _held_out(n: int, seed: int, most: int, fewest: int) -> np.ndarray:
    """Positions held out of training for the card's score: a seeded tenth (at most ``most``), none below ``fewest``."""
    if n < fewest:
        return np.zeros(0, dtype=np.int64)
    count = min(most, max(2, n // 10))
    return np.sort(np.random.default_rng(seed).choice(n, count, replace=False))


# -- distillation's data and scores ----------------------------------------------------------------------
def _distill_dataset(texts: data.Texts, vectors_path: Path, axes: np.ndarray | None, normalize: bool,
                     held: np.ndarray, run_dir: Path) -> Any:
    """A datasets.Dataset of (sentence, label = target vector), built on disk from the texts and the memmap."""
    from datasets import Dataset, Features, Sequence, Value

    plan = run_dir / "targets.npz"  # the held-out positions and the projection, for the generator
    with files.writing_path(plan) as tmp, open(tmp, "wb") as f:
        np.savez(f, held=held, axes=np.zeros((0, 0), np.float32) if axes is None else axes)
    dim = int(np.load(vectors_path, mmap_mode="r").shape[1]) if axes is None else axes.shape[0]

    def rows(texts_path: str, vectors_path: str, plan_path: str, normalize: bool) -> Any:
        matrix, saved = np.load(vectors_path, mmap_mode="r"), np.load(plan_path)
        skipped, projection = set(saved["held"].tolist()), saved["axes"] if saved["axes"].size else None
        position = 0
        for chunk in data.Texts(Path(texts_path), 0, "").chunks(1024):
            targets = students.project(matrix[position:position + len(chunk)], projection, normalize)
            for offset, (text, target) in enumerate(zip(chunk, targets, strict=True)):
                if position + offset not in skipped and np.isfinite(target).all():
                    yield {"sentence": text, "label": target.tolist()}
            position += len(chunk)

    features = Features({"sentence": Value("string"), "label": Sequence(Value("float32"), length=dim)})
    import datasets

    shown = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()  # "Generating train split": the texts' own bar follows
    try:
        return Dataset.from_generator(rows, features=features, cache_dir=str(run_dir / "dataset"),
                                      gen_kwargs={"texts_path": str(texts.path), "vectors_path": str(vectors_path),
                                                  "plan_path": str(plan), "normalize": normalize})
    finally:
        if shown:
            datasets.enable_progress_bars()


def _distill_scores(student_pipe: Embedder, teacher_pipe: Embedder, texts: data.Texts, held: np.ndarray,
                    vectors: np.ndarray, axes: np.ndarray | None, normalize: bool) -> dict[str, Any]:
    """The card's figures: held-out agreement with the teacher, MSE to the targets, speed against the teacher."""
    wanted = set(held[:300].tolist())
    chosen: list[str] = []
    for number, chunk in enumerate(texts.chunks(4096)):
        chosen += [t for i, t in enumerate(chunk) if number * 4096 + i in wanted]
    student_vectors = student_pipe.embed(chosen, progress=False) if chosen else None
    teacher_vectors = np.asarray(vectors[np.sort(list(wanted))]) if chosen else None
    scores: dict[str, Any] = {"score": None, "mse": None}
    if student_vectors is not None and teacher_vectors is not None and len(chosen) > 2:
        scores["score"] = card.agreement(student_vectors, teacher_vectors)
        targets = students.project(teacher_vectors, axes, normalize)
        scores["mse"] = float(np.mean((student_vectors - targets) ** 2))
    speed_texts = chosen or next(texts.chunks(256))
    speed_texts = (speed_texts * (256 // len(speed_texts) + 1))[:256] if len(speed_texts) < 256 else speed_texts
    student_per_s, teacher_per_s = card.speed(student_pipe, speed_texts), card.speed(teacher_pipe, speed_texts)
    scores.update({"student_per_s": student_per_s, "teacher_per_s": teacher_per_s,
                   "speed_ratio": student_per_s / teacher_per_s, "speed_texts": len(speed_texts),
                   "backend": student_pipe.placement.backend})
    return scores
