"""deepfx.folder: one writer for every model folder (atomic, ordinary modes)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from deepfx.folder import write_folder


def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def test_a_new_folder_appears_whole_with_ordinary_modes(tmp_path: Path) -> None:
    dest = tmp_path / "m"
    with write_folder(dest) as staged:
        (staged / "metadata.json").write_text("{}")
        (staged / "sub").mkdir()
        (staged / "sub" / "x.bin").write_bytes(b"1")
        assert not dest.exists()  # nothing under the final name before the end
    umask = os.umask(0)
    os.umask(umask)
    assert _mode(dest) == 0o777 & ~umask
    assert _mode(dest / "metadata.json") == 0o666 & ~umask
    assert _mode(dest / "sub" / "x.bin") == 0o666 & ~umask
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]  # no staging folder left


def test_a_failure_keeps_the_old_folder(tmp_path: Path) -> None:
    dest = tmp_path / "m"
    dest.mkdir()
    (dest / "old.txt").write_text("old")
    with pytest.raises(RuntimeError), write_folder(dest, replace=True) as staged:
        (staged / "new.txt").write_text("new")
        raise RuntimeError("export failed")
    assert [p.name for p in dest.iterdir()] == ["old.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]


def test_replace_swaps_in_one_rename(tmp_path: Path) -> None:
    dest = tmp_path / "m"
    dest.mkdir()
    (dest / "old.txt").write_text("old")
    with write_folder(dest, replace=True) as staged:
        (staged / "new.txt").write_text("new")
    assert [p.name for p in dest.iterdir()] == ["new.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]


def test_without_replace_only_an_empty_folder_is_taken(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with write_folder(empty) as staged:
        (staged / "a").write_text("a")
    assert (empty / "a").is_file()
    with pytest.raises(FileExistsError), write_folder(empty) as staged:
        (staged / "b").write_text("b")
    assert [p.name for p in empty.iterdir()] == ["a"]
