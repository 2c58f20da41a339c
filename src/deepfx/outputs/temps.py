"""Temporary output files: made beside their destination, renamed into place when complete,
and known to the process so a signal handler can remove them.

Why a registry: a second Ctrl-C (or SIGTERM while a long forward call runs in C code)
exits the process at once with ``os._exit``, which runs no ``finally`` block. The signal
watcher (:mod:`deepfx.cli._signals`) then removes every path registered (the registry
lives in :mod:`deepfx._fs`, beside the other atomic writers, which register theirs too),
so nothing hidden is left behind even on a hard exit.

The temporary name is short and fixed in shape (``.deepfx-XXXXXXXX.part<.ext>``), not
derived from the destination's name, so a destination name of the file system's full
length (255 bytes) still has a temporary name that fits.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from deepfx._fs import _UMASK, _register, _unregister, live_temps, remove_live_temps
from deepfx.errors import OutputError

__all__ = [
    "TEMP_PREFIX",
    "atomic_output",
    "forget_made_folders",
    "live_temps",
    "made_folders",
    "remove_live_temps",
    "remove_made_folders",
]

#: Output folders a run created (deepest first), so a hard exit can remove them when they
#: are still empty (a run that wrote nothing leaves nothing, even when killed).
_made: list[str] = []


def made_folders(folders: list[Path]) -> None:
    """Record folders a run created (deepest first) until :func:`forget_made_folders`."""
    _made.extend(str(f) for f in folders)


def forget_made_folders(folders: list[Path]) -> None:
    for f in folders:
        with contextlib.suppress(ValueError):
            _made.remove(str(f))


def remove_made_folders() -> None:
    """Remove the recorded folders that are empty (signal-handler safe: no allocation-heavy
    work, errors ignored)."""
    for f in list(_made):
        try:
            os.rmdir(f)
        except OSError:
            return


#: Every temporary output file's name starts with this.
TEMP_PREFIX = ".deepfx-"


def os_error_message(exc: OSError, dest: Path) -> str:
    """A specific, one-line reason for an OS error met while writing ``dest``."""
    code = exc.errno
    folder = dest.parent
    if code in (errno.EACCES, errno.EPERM):
        return f"permission denied writing into {folder}; choose another -o folder"
    if code == errno.EROFS:
        return f"{folder} is on a read-only file system; choose another -o folder"
    if code == errno.ENOSPC:
        return f"no space left on the device holding {folder}; free some space"
    if code == errno.EDQUOT:
        return f"disk quota exceeded in {folder}; free some space"
    if code == errno.EMFILE or code == errno.ENFILE:
        return (
            "too many open files: raise the limit (`ulimit -n`) or keep fewer outputs with --stems"
        )
    if code == errno.ENAMETOOLONG:
        return f"the path of {dest.name[:40]!r}... is too long for the file system"
    if code == errno.EISDIR:
        return f"{dest} is a folder; remove it or choose another --name-template"
    if code == errno.ENOENT:
        return f"the output folder {folder} disappeared while writing"
    return f"cannot write {dest}: {exc.strerror or exc}"


@contextlib.contextmanager
def atomic_output(dest: Path | str) -> Iterator[Path]:
    """Yield a temporary path beside ``dest``; rename it over ``dest`` on success.

    On any exception (or a cancel) the temporary file is removed and ``dest`` is
    untouched: no file ever appears under the final name before its content is complete,
    not even an empty one. OS errors become :class:`OutputError` with a specific reason.
    """
    dest = Path(dest)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(
            prefix=TEMP_PREFIX, suffix=".part" + dest.suffix[:16], dir=dest.parent
        )
    except OSError as exc:
        raise OutputError(os_error_message(exc, dest)) from None
    _register(tmp)
    os.close(fd)
    try:
        yield Path(tmp)
        try:
            try:
                mode = dest.stat().st_mode & 0o777  # replacing a file: keep its mode
            except OSError:
                mode = 0o666 & ~_UMASK
            os.chmod(tmp, mode)
            os.replace(tmp, dest)
        except OSError as exc:
            raise OutputError(os_error_message(exc, dest)) from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        _unregister(tmp)
