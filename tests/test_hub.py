"""Fetching weights ahead of time, listing and deleting the cache: offline, on a fake Hub.

``FakeHub`` stands in for huggingface_hub's ``list_repo_files`` and ``snapshot_download``: it
records the allow patterns and lays the allowed files out in the session's temporary HF cache
as the Hub would. Every repo a test puts in that shared cache is removed at teardown.
"""

from __future__ import annotations

import contextlib
import hashlib
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx2
import huggingface_hub
import numpy as np
import pytest
from conftest import make_bert_dir, put_in_hf_cache
from huggingface_hub.errors import OfflineModeIsEnabled, RepositoryNotFoundError
from huggingface_hub.utils import filter_repo_objects

import easynlu
from easynlu import catalogue, hub

MODEL = "google/bert_uncased_L-2_H-128_A-2"
REF = "en.embed.bert.small_L2_128"
MINILM = "sentence-transformers/all-MiniLM-L6-v2"
ST_FILES = ["modules.json", "sentence_bert_config.json", "config_sentence_transformers.json",
            "1_Pooling/config.json"]


def repo_dir(cache: Path, model: str) -> Path:
    return cache / ("models--" + model.replace("/", "--"))


class FakeHub:
    """``list_repo_files`` and ``snapshot_download`` for repos served from local directories."""

    def __init__(self, cache: Path):
        self.cache = cache
        self.repos: dict[str, tuple[Path, list[str]]] = {}  # repo id -> (files dir, listing on the "Hub")
        self.calls: list[tuple[str, list[str]]] = []  # (repo id, allow_patterns) per snapshot_download
        self.error: Exception | None = None
        self.real_snapshot_download = huggingface_hub.snapshot_download

    def serve(self, repo_id: str, files: Path, extra: tuple[str, ...] = ()) -> None:
        """Serve the files of ``files`` as ``repo_id``; ``extra`` names listed but never fetched."""
        self.repos[repo_id] = (files, sorted(f.name for f in files.iterdir()) + list(extra))

    def list_repo_files(self, repo_id: str, **kwargs: object) -> list[str]:
        if self.error is not None:
            raise self.error
        return list(self.repos[repo_id][1])

    def snapshot_download(self, repo_id: str, *, cache_dir: str, allow_patterns: list[str] | None = None,
                          local_files_only: bool = False, **kwargs: object) -> str:
        if local_files_only:  # a look in the cache, as sources.from_cache does: no Hub involved
            return self.real_snapshot_download(repo_id, cache_dir=cache_dir, local_files_only=True)
        assert allow_patterns is not None
        self.calls.append((repo_id, list(allow_patterns)))
        files, listing = self.repos[repo_id]
        staged = self.cache.parent / f"staged-{repo_id.replace('/', '--')}"
        staged.mkdir(exist_ok=True)
        for name in filter_repo_objects(listing, allow_patterns=allow_patterns):
            if (files / name).is_file():
                shutil.copy(files / name, staged / name)
        snapshot = put_in_hf_cache(Path(cache_dir), repo_id, staged)
        shutil.rmtree(staged)
        return str(snapshot)

    def fetched(self, listing: list[str], patterns: list[str]) -> set[str]:
        return set(filter_repo_objects(listing, allow_patterns=patterns))


@contextlib.contextmanager
def added_repos(cache: Path) -> Iterator[Path]:
    """Removes, on leaving, the repos these tests add to the shared cache, and unloads their models."""
    models = [MODEL, MINILM, "someone/not-in-catalogue"]
    before = {m: repo_dir(cache, m).exists() for m in models}
    try:
        yield cache
    finally:
        for model in models:
            if not before[model]:
                shutil.rmtree(repo_dir(cache, model), ignore_errors=True)
        easynlu.unload(REF)


def start_fake_hub(monkeypatch: pytest.MonkeyPatch, cache: Path, small_bert: Path) -> FakeHub:
    """Online, with the Hub replaced by a FakeHub serving small_bert as MODEL."""
    fake = FakeHub(cache)
    fake.serve(MODEL, small_bert, extra=("pytorch_model.bin", "onnx/model.onnx", "README.md", *ST_FILES))
    monkeypatch.setattr(huggingface_hub, "list_repo_files", fake.list_repo_files)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake.snapshot_download)
    monkeypatch.delenv("HF_HUB_OFFLINE")
    return fake


@pytest.fixture(scope="module")
def small_bert(tmp_path_factory) -> Path:
    """A random BERT with the shape of the catalogue's small_L2_128 (2 layers, hidden 128)."""
    return make_bert_dir(tmp_path_factory.mktemp("small-bert"), layers=2, hidden=128, heads=2, seed=3)


@pytest.fixture
def clean_cache(hf_cache):
    with added_repos(hf_cache) as cache:
        yield cache


@pytest.fixture
def fake_hub(monkeypatch, clean_cache, small_bert) -> FakeHub:
    return start_fake_hub(monkeypatch, clean_cache, small_bert)


def test_hub_download_prefers_safetensors_and_gets_sentence_transformers_files(fake_hub, hf_cache):
    paths = easynlu_download(REF)
    assert [call[0] for call in fake_hub.calls] == [MODEL]
    listing = fake_hub.repos[MODEL][1]
    fetched = fake_hub.fetched(listing, fake_hub.calls[0][1])
    assert fetched == {"config.json", "model.safetensors", "vocab.txt", "tokenizer.json", "tokenizer_config.json",
                       "special_tokens_map.json", *ST_FILES}
    assert "pytorch_model.bin" not in fetched and "onnx/model.onnx" not in fetched
    assert paths == [repo_dir(hf_cache, MODEL) / "snapshots" / ("0" * 40)]
    assert (paths[0] / "model.safetensors").is_file()


def test_hub_download_falls_back_to_bin_without_safetensors(fake_hub):
    files, listing = fake_hub.repos[MODEL]
    fake_hub.repos[MODEL] = (files, [f for f in listing if not f.endswith(".safetensors")])
    easynlu_download(f"hf:{MODEL}")
    patterns = fake_hub.calls[0][1]
    assert "pytorch_model.bin" in fake_hub.fetched(fake_hub.repos[MODEL][1], patterns)
    assert not any("safetensors" in p for p in patterns)


def test_hub_downloaded_model_loads_offline_like_its_directory(fake_hub, small_bert, monkeypatch):
    easynlu_download(REF)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    texts = ["I love NLP", "Paris is nice."]
    got = easynlu.load(REF, offline=True).embed(texts)
    expected = easynlu.load(str(small_bert)).embed(texts)
    assert got.shape == (2, 128)
    np.testing.assert_array_equal(got, expected)


def test_hub_download_same_model_twice_once_and_directory_is_left_alone(fake_hub, small_bert):
    fetched = list(hub.fetch(f"{REF} en.embed_sentence.small_bert_L2_128 {small_bert}"))
    assert [(f.model, f.how) for f in fetched] == [(MODEL, "downloaded"), (str(small_bert), "directory")]
    assert fetched[1].path == small_bert
    assert len(fake_hub.calls) == 1


def test_hub_download_packaged_model_needs_nothing_unless_forced(fake_hub, minilm_dir, small_bert, hf_cache):
    assert easynlu_download("embed embed_sentence") == [minilm_dir]
    assert fake_hub.calls == []
    fake_hub.serve(MINILM, small_bert)  # what the Hub serves does not matter here
    paths = hub.download("embed", force=True)
    assert [c[0] for c in fake_hub.calls] == [MINILM]
    assert paths == [repo_dir(hf_cache, MINILM) / "snapshots" / ("0" * 40)]


def test_hub_download_offline_is_refused_before_the_hub(fake_hub, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(easynlu.ModelUnavailableError, match="needs the network") as info:
        easynlu_download(REF)
    assert "HF_HUB_OFFLINE" in str(info.value)
    assert fake_hub.calls == []


@pytest.mark.parametrize(("error", "says"), [
    (httpx2.ConnectError("connection refused"), "the Hub is unreachable"),
    (OfflineModeIsEnabled("offline"), "HF_HUB_OFFLINE was set"),
    (RepositoryNotFoundError("404", response=httpx2.Response(
        404, request=httpx2.Request("GET", "https://huggingface.co/api/models/x"))), "does not exist there"),
    (RuntimeError("boom"), "failed (RuntimeError: boom)"),
])
def test_hub_download_failure_says_what_and_how_to_fix(fake_hub, error, says):
    fake_hub.error = error
    with pytest.raises(easynlu.ModelUnavailableError) as info:
        easynlu_download(REF)
    err = info.value
    assert err.summary == f"Cannot download {MODEL}."
    assert says in err.tried[0]
    assert err.fix


def test_hub_download_unknown_ref():
    with pytest.raises(easynlu.UnknownReferenceError, match="small_L2_128"):
        hub.download("en.embed.bert.small_L2_12")


def test_hub_cached_models_lists_catalogue_models_with_size_and_refs(clean_cache, small_bert):
    put_in_hf_cache(clean_cache, MODEL, small_bert)
    put_in_hf_cache(clean_cache, "someone/not-in-catalogue", small_bert)
    found = {m.model: m for m in hub.cached_models()}
    assert "someone/not-in-catalogue" not in found
    model = found[MODEL]
    distinct = {hashlib.sha256(f.read_bytes()).hexdigest(): f.stat().st_size for f in small_bert.iterdir()}
    assert model.size_bytes == sum(distinct.values())
    assert model.refs == tuple(ref for ref, e in catalogue.entries().items() if e.model == MODEL)
    assert {REF, "en.embed_sentence.small_bert_L2_128"} <= set(model.refs)
    assert model.revisions == 1
    assert model.path == repo_dir(clean_cache, MODEL).resolve()

    put_in_hf_cache(clean_cache, MODEL, small_bert, revision="1" * 40)
    assert {m.model: m for m in hub.cached_models()}[MODEL].revisions == 2
    every = {m.model: m for m in hub.cached_models(all=True)}
    assert every["someone/not-in-catalogue"].refs == ()


def test_hub_delete_cached_frees_the_blobs(clean_cache, small_bert):
    put_in_hf_cache(clean_cache, MODEL, small_bert)
    put_in_hf_cache(clean_cache, MODEL, small_bert, revision="1" * 40)
    blobs = sum(f.stat().st_size for f in (repo_dir(clean_cache, MODEL) / "blobs").iterdir())
    assert hub.delete_cached("en.embed.bert.tiny") == blobs  # an alias of small_L2_128
    assert not repo_dir(clean_cache, MODEL).exists()
    assert MODEL not in {m.model for m in hub.cached_models()}
    assert hub.delete_cached(REF) == 0
    assert list(hub.delete_each(f"hf:{MODEL}")) == [(MODEL, None)]


def test_hub_delete_refuses_directories_and_unknown_refs(small_bert):
    with pytest.raises(easynlu.OptionError, match="not a model in the Hugging Face cache"):
        hub.delete_cached(str(small_bert))
    with pytest.raises(easynlu.UnknownReferenceError):
        hub.delete_cached("no-such-model")


def test_hub_cache_dir_follows_the_environment_and_may_be_absent(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "absent"))
    assert hub.cache_dir() == tmp_path / "absent"
    assert hub.cached_models() == []
    assert hub.delete_cached(REF) == 0
    monkeypatch.delenv("HF_HUB_CACHE")
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    assert hub.cache_dir() == tmp_path / "hub"


def easynlu_download(request: str) -> list[Path]:
    """``easynlu.download`` once it is exported, else ``hub.download`` (the same function)."""
    return getattr(easynlu, "download", hub.download)(request)
