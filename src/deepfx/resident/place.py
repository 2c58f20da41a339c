"""Where the worker's socket lives, and who may use it.

The folder is private: ``DEEPFX_RESIDENT_DIR``, else ``$XDG_RUNTIME_DIR/deepfx``, else
``<tmp>/deepfx-<uid>``; created with mode 0700, and refused unless it is a real folder
(not a link) owned by this user that nobody else can open. The socket's name carries a
hash of what the worker inherits and uses (the Python, deepfx's own location, the store
and every ``DEEPFX_*`` / ``HF_*`` variable), so two stores or two checkouts never share
one worker: a worker always serves the environment of the client that started it.
"""

from __future__ import annotations

import hashlib
import os
import stat
import sys
import tempfile
from pathlib import Path

from deepfx import settings
from deepfx.errors import UsageError

__all__ = ["private_dir", "socket_path", "worker_key"]


def private_dir() -> Path:
    base = settings.resident_dir()
    if base is None:
        runtime = settings.runtime_dir()
        if runtime is not None:
            base = runtime / "deepfx"
        else:
            uid = os.getuid() if hasattr(os, "getuid") else 0
            base = Path(tempfile.gettempdir()) / f"deepfx-{uid}"
    try:
        base.mkdir(mode=0o700, parents=True, exist_ok=True)
        st = os.lstat(base)
    except OSError as exc:
        raise UsageError(f"cannot make the resident worker's folder {base}: {exc}") from None
    if not stat.S_ISDIR(st.st_mode):
        raise UsageError(f"{base} is not a folder: remove it, or set DEEPFX_RESIDENT_DIR")
    if hasattr(os, "getuid") and st.st_uid != os.getuid():
        raise UsageError(f"{base} belongs to another user: set DEEPFX_RESIDENT_DIR elsewhere")
    if st.st_mode & 0o077:
        raise UsageError(
            f"{base} can be opened by other users (mode {stat.S_IMODE(st.st_mode):o}): "
            f"run `chmod 700 {base}`, or set DEEPFX_RESIDENT_DIR elsewhere"
        )
    return base


def worker_key() -> str:
    import deepfx

    parts = [sys.executable, str(Path(deepfx.__file__).resolve().parent), str(settings.home())]
    env = settings.child_environment()
    parts += sorted(f"{k}={v}" for k, v in env.items() if k.startswith(("DEEPFX_", "HF_")))
    return hashlib.sha256("\0".join(parts).encode("utf-8", "surrogateescape")).hexdigest()[:16]


def socket_path() -> Path:
    """The socket of this environment's worker (Unix socket paths hold ~100 bytes)."""
    path = private_dir() / f"worker-{worker_key()}.sock"
    if len(os.fsencode(path)) > 100:
        raise UsageError(
            f"the resident worker's socket path {path} is too long; set DEEPFX_RESIDENT_DIR "
            "to a shorter folder"
        )
    return path
