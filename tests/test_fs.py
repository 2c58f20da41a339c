"""deepfx._fs: atomic writes, and one registry of live temporary files."""

from __future__ import annotations

from pathlib import Path

import pytest

from deepfx import _fs
from deepfx.outputs import temps


def test_atomic_path_registers_its_temp_until_renamed(tmp_path: Path) -> None:
    dest = tmp_path / "a.json"
    with _fs.atomic_path(dest) as tmp:
        assert str(tmp) in _fs.live_temps()
        assert temps.live_temps() == _fs.live_temps()  # one registry, two doors
        tmp.write_text("{}")
    assert dest.read_text() == "{}"
    assert str(tmp) not in _fs.live_temps()


def test_a_hard_exit_removes_what_atomic_path_left(tmp_path: Path) -> None:
    with pytest.raises(KeyboardInterrupt), _fs.atomic_path(tmp_path / "b.bin") as tmp:
        tmp.write_bytes(b"half")
        _fs.remove_live_temps()  # what the signal watcher does before os._exit
        assert not tmp.exists()
        raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


def test_a_failed_write_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), _fs.atomic_path(tmp_path / "c.txt") as tmp:
        tmp.write_text("x")
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []
    assert _fs.live_temps() == []
