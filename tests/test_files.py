"""easynlu.files: atomic writes that honour the umask."""

from __future__ import annotations

import os
import stat

import pytest

from easynlu import files


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_files_write_text_replaces_and_leaves_no_temp(tmp_path):
    target = tmp_path / "sub" / "a.json"
    files.write_json(target, {"a": 1})
    files.write_text(target, "new\n")
    assert target.read_text() == "new\n"
    assert sorted(p.name for p in target.parent.iterdir()) == ["a.json"]


def test_files_failed_write_keeps_the_old_content(tmp_path):
    target = tmp_path / "a.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), files.writing(target) as f:
        f.write("half")
        raise RuntimeError("crash")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077])
def test_files_permissions_follow_the_umask(tmp_path, umask):
    old = os.umask(umask)
    try:
        files.write_text(tmp_path / "f.txt", "x")
        with files.writing_path(tmp_path / "g.bin") as tmp:
            with open(tmp, "wb") as f:  # as a library writing to a path would
                f.write(b"x")
        with files.writing_dir(tmp_path / "d") as tmp:
            (tmp / "inner.txt").write_text("x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "f.txt").stat().st_mode) == 0o666 & ~umask
    assert stat.S_IMODE((tmp_path / "g.bin").stat().st_mode) == 0o666 & ~umask
    assert stat.S_IMODE((tmp_path / "d").stat().st_mode) == 0o777 & ~umask
    assert (tmp_path / "d" / "inner.txt").read_text() == "x"


def test_files_writing_dir_replaces_only_when_asked(tmp_path, umask_022):
    target = tmp_path / "out"
    target.mkdir()  # an empty directory is replaced
    with files.writing_dir(target) as tmp:
        (tmp / "one").write_text("1")
    with pytest.raises(FileExistsError), files.writing_dir(target) as tmp:
        (tmp / "two").write_text("2")
    assert sorted(p.name for p in target.iterdir()) == ["one"]
    with files.writing_dir(target, replace=True) as tmp:
        (tmp / "two").write_text("2")
    assert sorted(p.name for p in target.iterdir()) == ["two"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no temporary or old directory left


def test_files_failed_dir_write_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError), files.writing_dir(tmp_path / "out") as tmp:
        (tmp / "x").write_text("x")
        raise RuntimeError("crash")
    assert list(tmp_path.iterdir()) == []
