"""Small filesystem helpers shared by every writer: nothing half-written ever lands."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

__all__ = ["atomic_write_bytes", "atomic_write_text", "atomic_path", "temp_dir_beside"]


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
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        _set_mode(tmp_path, dest)
        os.replace(tmp_path, dest)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()


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
