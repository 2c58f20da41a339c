"""Small filesystem helpers shared by every writer: nothing half-written ever lands.

Every temporary file made here (and by :func:`deepfx.outputs.temps.atomic_output`) is
known to the process until it is renamed or removed: the signal watcher
(:mod:`deepfx.cli._signals`) calls :func:`remove_live_temps` before a hard exit, which
runs no ``finally`` block.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

__all__ = [
    "atomic_path",
    "atomic_write_bytes",
    "atomic_write_text",
    "live_temps",
    "remove_live_temps",
    "temp_dir_beside",
]


_lock = threading.Lock()
_live: set[str] = set()


def _register(path: str) -> None:
    with _lock:
        _live.add(path)


def _unregister(path: str) -> None:
    with _lock:
        _live.discard(path)


def live_temps() -> list[str]:
    """Temporary files this process has made and not yet renamed or removed."""
    with _lock:
        return sorted(_live)


def remove_live_temps() -> None:
    """Remove every live temporary file (safe to call from a signal watcher thread: it
    takes the lock only briefly and never raises)."""
    got = _lock.acquire(timeout=1.0)
    try:
        paths = list(_live)
        _live.clear()
    finally:
        if got:
            _lock.release()
    for p in paths:
        with contextlib.suppress(OSError):
            os.unlink(p)


@contextlib.contextmanager
def atomic_path(dest: Path | str, *, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``dest``; on success rename it over ``dest``.

    On any exception the temporary file is removed and ``dest`` is untouched. The temp
    name keeps ``dest``'s suffix (or ``suffix``) so libraries that pick a format from the
    extension (soundfile) still do the right thing.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{dest.stem}.part-",
        suffix=suffix if suffix is not None else dest.suffix,
        dir=dest.parent,
    )
    _register(tmp)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        _set_mode(tmp_path, dest)
        os.replace(tmp_path, dest)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        _unregister(tmp)


def _read_umask() -> int:
    # os.umask can only be read by setting it; do it once, at import, not from writer threads
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _read_umask()


def _set_mode(tmp: Path, dest: Path) -> None:
    """Give the finished file normal permissions (mkstemp makes it 0600): the existing
    file's mode when replacing one, else 0666 minus the umask."""
    try:
        mode = dest.stat().st_mode & 0o7777
    except FileNotFoundError:
        mode = 0o666 & ~_UMASK
    with contextlib.suppress(OSError):
        os.chmod(tmp, mode)


def atomic_write_bytes(dest: Path | str, data: bytes) -> None:
    with atomic_path(dest) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(dest: Path | str, text: str) -> None:
    atomic_write_bytes(dest, text.encode("utf-8"))


@contextlib.contextmanager
def temp_dir_beside(dest: Path | str, *, prefix: str = ".tmp-") -> Iterator[Path]:
    """A temporary directory on the same filesystem as ``dest`` (so a rename is atomic),
    removed on exit whatever happens."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f"{prefix}{dest.name}.", dir=dest.parent))
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
