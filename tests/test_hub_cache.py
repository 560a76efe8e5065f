"""Fetching weights ahead of time, listing and deleting the cache.

Downloads go over HTTP to the local Hub of tests/hubserver.py (127.0.0.1, one server per test,
an empty HF cache per test); the cache tests lay repos out in the session's HF cache by hand and
remove them at teardown. The failures of the network itself are tested in test_hub_local.py.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import httpx2
import huggingface_hub
import numpy as np
import pytest
from conftest import TOKENIZER_FILES, make_bert_dir, put_in_hf_cache
from hubserver import cache_fixture, local_hub_fixture, snapshot  # noqa: F401  (fixtures)
from huggingface_hub.errors import GatedRepoError, OfflineModeIsEnabled, RepositoryNotFoundError
from huggingface_hub.utils import filter_repo_objects

import easynlu
from easynlu import catalogue, cli
from easynlu import hub_cache as hub
from easynlu import hub_download as remote

MODEL = "google/bert_uncased_L-2_H-128_A-2"
REF = "en.embed.bert.small_L2_128"
MINILM = "sentence-transformers/all-MiniLM-L6-v2"
# Only fetched here, never loaded; distinct contents, as the Hub stores equal files once.
ST_FILES = {name: f'{{"file": "{name}"}}'.encode() for name in (
    "modules.json", "sentence_bert_config.json", "config_sentence_transformers.json", "1_Pooling/config.json")}
NOT_NEEDED = {"pytorch_model.bin": b"never fetched", "onnx/model.onnx": b"never fetched", "README.md": b"# card",
              "tf_model.h5": b"never fetched"}


def repo_dir(cache: Path, model: str) -> Path:
    return cache / ("models--" + model.replace("/", "--"))


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


class FakeHub:
    """In-process stand-in for the Hub, without HTTP, for tests/test_cli.py: ``HfApi.model_info`` and
    ``snapshot_download`` replaced; the allowed files are laid out in the HF cache at revision 0*40."""

    def __init__(self, cache: Path):
        self.cache = cache
        self.repos: dict[str, tuple[Path, list[str]]] = {}  # repo id -> (files dir, listing on the "Hub")
        self.calls: list[tuple[str, list[str]]] = []  # (repo id, allow_patterns) per download
        self.real_snapshot_download = huggingface_hub.snapshot_download

    def serve(self, repo_id: str, files: Path, extra: tuple[str, ...] = ()) -> None:
        """Serve the files of ``files`` as ``repo_id``; ``extra`` names listed but never fetched."""
        self.repos[repo_id] = (files, sorted(f.name for f in files.iterdir()) + list(extra))

    def model_info(self, repo_id: str, **kwargs: object) -> SimpleNamespace:
        return SimpleNamespace(siblings=[SimpleNamespace(rfilename=name) for name in self.repos[repo_id][1]])

    def snapshot_download(self, repo_id: str, *, cache_dir: str, allow_patterns: list[str],
                          local_files_only: bool = False, **kwargs: object) -> str:
        if local_files_only:  # a look in the cache, as sources.from_cache does: no Hub involved
            return self.real_snapshot_download(repo_id, cache_dir=cache_dir, local_files_only=True,
                                               allow_patterns=allow_patterns)
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


def start_fake_hub(monkeypatch: pytest.MonkeyPatch, cache: Path, small_bert: Path) -> FakeHub:
    """Online, with the Hub replaced by a FakeHub serving small_bert as MODEL."""
    fake = FakeHub(cache)
    fake.serve(MODEL, small_bert, extra=tuple(NOT_NEEDED))
    monkeypatch.setattr(huggingface_hub.HfApi, "model_info", lambda api, repo_id, **kw: fake.model_info(repo_id))
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
def served(local_hub, small_bert):
    """The local Hub serving small_bert as MODEL, with sentence-transformers files and files not needed."""
    local_hub.add(MODEL, small_bert, extra={**ST_FILES, **NOT_NEEDED})
    return local_hub


def test_hub_download_prefers_safetensors_and_gets_sentence_transformers_files(served, cache):
    paths = easynlu_download(REF)
    assert set(served.fetched(MODEL)) == {"config.json", "model.safetensors", *TOKENIZER_FILES, *ST_FILES}
    assert paths == [snapshot(cache, MODEL)]
    assert (paths[0] / "model.safetensors").is_file() and (paths[0] / "1_Pooling" / "config.json").is_file()


def test_hub_download_falls_back_to_bin_without_safetensors(local_hub, small_bert, tmp_path):
    files = tmp_path / "bin-only"
    shutil.copytree(small_bert, files)
    (files / "model.safetensors").rename(files / "pytorch_model.bin")  # never loaded here: only fetched
    local_hub.add(MODEL, files, extra={"onnx/model.onnx": b"never fetched"})
    with contextlib.suppress(easynlu.ModelUnavailableError):  # not a zip archive: refused after the download
        easynlu_download(f"hf:{MODEL}")
    assert set(local_hub.fetched(MODEL)) == {"config.json", "pytorch_model.bin", *TOKENIZER_FILES}


def test_hub_downloaded_model_loads_offline_like_its_directory(local_hub, small_bert, monkeypatch):
    local_hub.add(MODEL, small_bert, extra=NOT_NEEDED)  # README.md, .bin, ONNX: listed, never fetched
    easynlu_download(REF)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    texts = ["I love NLP", "Paris is nice."]
    got = easynlu.load(REF, offline=True).embed(texts)
    expected = easynlu.load(str(small_bert)).embed(texts)
    assert got.shape == (2, 128)
    np.testing.assert_array_equal(got, expected)


def test_hub_download_same_model_twice_once_and_directory_is_left_alone(served, small_bert):
    fetched = list(hub.fetch(f"{REF} en.embed_sentence.small_bert_L2_128 {small_bert}"))
    assert [(f.model, f.how) for f in fetched] == [(MODEL, "downloaded"), (str(small_bert), "directory")]
    assert fetched[1].path == small_bert
    assert served.fetched(MODEL).count("model.safetensors") == 1


def test_hub_download_packaged_model_needs_nothing_unless_forced(served, minilm_dir, small_bert, cache):
    assert easynlu_download("embed embed_sentence") == [minilm_dir]
    assert served.requests == []
    served.add(MINILM, small_bert)  # what the Hub serves does not matter here
    assert hub.download("embed", force=True) == [snapshot(cache, MINILM)]
    assert "model.safetensors" in served.fetched(MINILM)


def test_hub_download_offline_is_refused_before_the_hub(served, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(easynlu.ModelUnavailableError, match="needs the network") as info:
        easynlu_download(REF)
    assert "HF_HUB_OFFLINE" in str(info.value)
    assert served.requests == []


def _response(status: int) -> httpx2.Response:
    return httpx2.Response(status, request=httpx2.Request("GET", "https://huggingface.co/api/models/x"))


@pytest.mark.parametrize(("error", "says", "fix"), [
    (httpx2.ConnectError("connection refused"), "the Hub is unreachable (ConnectError)", "HF_HUB_OFFLINE=1"),
    (httpx2.ReadTimeout("timed out"), "no answer within 10 s", "easynlu download"),
    (httpx2.RemoteProtocolError("peer closed"), "the connection broke", "run it again"),
    (OfflineModeIsEnabled("offline"), "HF_HUB_OFFLINE was set", "unset HF_HUB_OFFLINE"),
    (RepositoryNotFoundError("404", response=_response(404)), "the Hub has no model", "easynlu models"),
    (GatedRepoError("401", response=_response(401)), "is gated (HTTP 401)", "HF_TOKEN"),
    (RuntimeError("boom"), "failed (RuntimeError: boom)", "check the model id"),
])
def test_hub_download_failure_says_what_and_how_to_fix(error, says, fix):
    err = remote.download_error(MODEL, error)
    assert err.summary == f"Cannot download {MODEL}."
    assert says in err.tried[0]
    assert fix in err.fix


def test_hub_timeout_follows_the_environment(monkeypatch):
    monkeypatch.delenv("EASYNLU_HUB_TIMEOUT", raising=False)
    monkeypatch.delenv("HF_HUB_ETAG_TIMEOUT", raising=False)
    assert remote.hub_timeout() == remote.DEFAULT_TIMEOUT <= 15
    monkeypatch.setenv("HF_HUB_ETAG_TIMEOUT", "7")
    assert remote.hub_timeout() == 7
    monkeypatch.setenv("EASYNLU_HUB_TIMEOUT", "2.5")
    assert remote.hub_timeout() == 2.5
    monkeypatch.setenv("EASYNLU_HUB_TIMEOUT", "soon")
    with pytest.raises(easynlu.OptionError, match="EASYNLU_HUB_TIMEOUT"):
        remote.hub_timeout()


def test_hub_fake_hub_for_the_cli_downloads_like_the_hub(monkeypatch, clean_cache, small_bert):
    fake = start_fake_hub(monkeypatch, clean_cache, small_bert)
    assert hub.download(REF) == [repo_dir(clean_cache, MODEL) / "snapshots" / ("0" * 40)]
    assert [call[0] for call in fake.calls] == [MODEL]
    assert "pytorch_model.bin" not in fake.calls[0][1]


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


# -- easynlu's own derived files: ONNX exports --------------------------------------------------------
def fake_export(directory: Path, source: Path, quantize: str | None = None) -> int:
    """An export directory as export.py leaves it (a meta listing its files); returns its size in bytes."""
    from easynlu.backends import exports

    directory.mkdir(parents=True)
    (directory / "model.onnx").write_bytes(b"x" * 1000)
    meta = {"format": exports.EXPORT_FORMAT, "source": os.path.realpath(source), "quantize": quantize,
            "files": {"model.onnx": 1000}}
    (directory / exports.META).write_text(json.dumps(meta))
    return sum(f.stat().st_size for f in directory.iterdir())


def test_hub_cache_lists_prunes_and_deletes_easynlu_exports_with_their_model(clean_cache, small_bert, monkeypatch,
                                                                               tmp_path, capsys):
    from easynlu.backends import exports

    monkeypatch.setenv("EASYNLU_CACHE_DIR", str(tmp_path / "easynlu-cache"))
    snap = put_in_hf_cache(clean_cache, MODEL, small_bert)
    current = fake_export(exports.final_dir(str(snap), None), snap)  # what loading the model uses now
    stale = fake_export(exports.cache_root() / ("0" * 24), snap)  # e.g. made by an older torch
    assert sorted((d.model, d.export.current) for d in hub.cached_exports()) == [(MODEL, False), (MODEL, True)]
    assert {m.model: m for m in hub.cached_models()}[MODEL].exports_bytes == current + stale

    assert cli.main(["cache"]) == 0
    out = capsys.readouterr().out
    assert "exports (MB)" in out and "easynlu's ONNX exports" in out
    assert f"{MODEL}  float32" in out and "in use" in out and "stale (easynlu cache --prune)" in out

    assert cli.main(["cache", "--prune"]) == 0  # only the stale one goes
    assert capsys.readouterr().out.startswith(f"{MODEL}: deleted its float32 ONNX export")
    assert [d.export.current for d in hub.cached_exports()] == [True]

    blobs = sum(f.stat().st_size for f in (repo_dir(clean_cache, MODEL) / "blobs").iterdir())
    assert hub.delete_cached(REF) == blobs + current  # the model and its export go together
    assert hub.cached_exports() == [] and not repo_dir(clean_cache, MODEL).exists()


def test_hub_cache_delete_exports_keeps_the_models(clean_cache, small_bert, monkeypatch, tmp_path):
    from easynlu.backends import exports

    monkeypatch.setenv("EASYNLU_CACHE_DIR", str(tmp_path / "easynlu-cache"))
    snap = put_in_hf_cache(clean_cache, MODEL, small_bert)
    fake_export(exports.final_dir(str(snap), "int8"), snap, "int8")
    assert [(d.model, d.export.quantize) for d in hub.delete_exports()] == [(MODEL, "int8")]
    assert hub.cached_exports() == [] and MODEL in {m.model for m in hub.cached_models()}
