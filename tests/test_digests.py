"""File digests: read once per process, remembered across processes by real path, size and mtime."""

import hashlib
import json
import os
import stat

import pytest

from easynlu import digests


@pytest.fixture()
def fresh(tmp_path, monkeypatch):
    """A new process's view: an empty cache directory, no digests in memory."""
    monkeypatch.setenv("EASYNLU_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(digests, "_index", None)
    monkeypatch.setattr(digests, "_DIGESTS", {})
    return tmp_path


def test_known_sha256_is_remembered_across_processes_until_the_file_changes(fresh, monkeypatch):
    weights = fresh / "model.safetensors"
    weights.write_bytes(b"weights" * 1000)
    link = fresh / "link.safetensors"
    link.symlink_to(weights)
    want = hashlib.sha256(weights.read_bytes()).hexdigest()
    assert digests.known_sha256(weights) == want
    index = json.loads((fresh / "cache" / digests.INDEX).read_text())
    assert index[os.path.realpath(weights)][2] == want

    monkeypatch.setattr(digests, "_index", None)  # the next process: it does not read the file again
    monkeypatch.setattr(digests, "_DIGESTS", {})
    monkeypatch.setattr(digests, "_hash_into", lambda file, future: future.set_exception(AssertionError(file)))
    assert digests.known_sha256(weights) == want and digests.known_sha256(link) == want

    weights.write_bytes(b"changed" * 1000)  # same size, new content and mtime: hashed again
    os.utime(weights, ns=(1, 1))
    with pytest.raises(AssertionError):
        digests.known_sha256(weights)

    monkeypatch.undo()  # hashing works again; a deleted file's entry goes when the index is next written
    monkeypatch.setenv("EASYNLU_CACHE_DIR", str(fresh / "cache"))
    monkeypatch.setattr(digests, "_index", None)
    monkeypatch.setattr(digests, "_DIGESTS", {})
    other = fresh / "other.bin"
    other.write_bytes(b"other")
    link.unlink()
    weights.unlink()
    digests.known_sha256(other)
    assert list(json.loads((fresh / "cache" / digests.INDEX).read_text())) == [os.path.realpath(other)]


def test_an_unwritable_cache_only_costs_rehashing(fresh):
    data = fresh / "data.bin"
    data.write_bytes(b"x" * 5000)
    (fresh / "cache").write_text("a file where the cache directory should be")
    want = hashlib.sha256(b"x" * 5000).hexdigest()
    assert digests.known_sha256(data) == want == digests.file_sha256(data)
    assert (fresh / "cache").is_file()  # left alone


def test_the_index_gets_the_umask_permissions(fresh):
    data = fresh / "data.bin"
    data.write_bytes(b"y" * 100)
    old = os.umask(0o022)
    try:
        digests.known_sha256(data)
    finally:
        os.umask(old)
    assert stat.S_IMODE((fresh / "cache" / digests.INDEX).stat().st_mode) == 0o644
    assert sorted(p.name for p in (fresh / "cache").iterdir()) == [digests.INDEX]  # no temporary file left
