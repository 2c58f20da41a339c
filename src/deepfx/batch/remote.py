"""Batch outputs on object storage: ``-o`` as an fsspec URL (``s3://``, ``gs://``, ``file://``).

A plain path never comes here (it keeps the shared-folder publish of
:mod:`deepfx.batch.worker`). With a URL, each worker still writes through the atomic engine
into a *private local* staging folder and hashes the finished files there; then
:meth:`Target.upload` puts each one on the URL under a temp name beside its destination
and moves it into place with ``fs.mv``. On a POSIX-like filesystem (``file://``, most
mounts) that move is a rename; on object stores it is a server-side copy + delete, and an
object only ever appears whole (a PUT or copy is atomic there), so a reader or a retried
task never sees a partial output, and a retry replaces the same key with the same bytes.
Temp names left by a killed worker are removed by the driver at the start and end of a run.

fsspec is imported only when a URL is used; a protocol whose package is missing (``s3fs``,
``gcsfs``, ...) is a :class:`~deepfx.errors.UsageError` that names the package.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deepfx.errors import OutputError, UsageError

__all__ = ["TMP_MARK", "Target", "is_url", "open_target"]

#: Part of every temp name an upload uses (``.NAME.deepfx-tmp-HEX``).
TMP_MARK = ".deepfx-tmp-"

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def is_url(out: str | Path) -> bool:
    """True for ``PROTOCOL://...``; a ``Path`` or plain path string is never a URL."""
    return isinstance(out, str) and bool(_URL.match(out))


@dataclass
class Target:
    """An output root on an fsspec filesystem (picklable: it travels to the Ray actors)."""

    url: str
    fs: Any
    root: str  # the URL's path on ``fs``, without a trailing slash

    @property
    def local_root(self) -> Path | None:
        """The local folder behind a ``file://`` URL (None for remote filesystems)."""
        protocols = self.fs.protocol if isinstance(self.fs.protocol, tuple) else (self.fs.protocol,)
        return Path(self.root) if "file" in protocols or "local" in protocols else None

    def path(self, rel: str) -> str:
        return f"{self.root}/{rel}"

    def display(self, rel: str) -> str:
        return f"{self.url.rstrip('/')}/{rel}"

    def upload(self, local: Path, rel: str) -> None:
        """Put ``local`` at ``rel`` under the root: to a temp name, then moved into place,
        so the destination is either absent, the old file, or the whole new file."""
        dest = self.path(rel)
        parent, _, name = dest.rpartition("/")
        tmp = f"{parent}/.{name}{TMP_MARK}{uuid.uuid4().hex[:12]}"
        try:
            with contextlib.suppress(NotImplementedError):
                self.fs.makedirs(parent, exist_ok=True)
            self.fs.put_file(str(local), tmp)
            self.fs.mv(tmp, dest)
        except Exception:
            with contextlib.suppress(Exception):
                self.fs.rm(tmp)
            raise

    def size(self, rel: str) -> int:
        """Size of ``rel`` from ``fs.info``, or -1 when it is not there."""
        try:
            return int(self.fs.info(self.path(rel))["size"])
        except (OSError, KeyError, ValueError, TypeError):
            return -1

    def matches(self, rel: str, size: int, sha256: str) -> bool:
        """``rel`` is there with ``size`` bytes and, read back, this SHA-256."""
        if self.size(rel) != size:
            return False
        digest = hashlib.sha256()
        try:
            with self.fs.open(self.path(rel), "rb") as fh:
                for piece in iter(lambda: fh.read(1 << 20), b""):
                    digest.update(piece)
        except OSError:
            return False
        return digest.hexdigest() == sha256

    def read_text(self, rel: str) -> str | None:
        try:
            with self.fs.open(self.path(rel), "rb") as fh:
                data: bytes = fh.read()
        except FileNotFoundError:
            return None
        return data.decode("utf-8")

    def write_text(self, rel: str, text: str) -> None:
        """Write ``text`` to ``rel`` whole (write to a temp name, then move)."""
        dest = self.path(rel)
        parent, _, name = dest.rpartition("/")
        tmp = f"{parent}/.{name}{TMP_MARK}{uuid.uuid4().hex[:12]}"
        try:
            with self.fs.open(tmp, "wb") as fh:
                fh.write(text.encode("utf-8"))
            self.fs.mv(tmp, dest)
        except Exception:
            with contextlib.suppress(Exception):
                self.fs.rm(tmp)
            raise

    def remove_leftovers(self) -> None:
        """Delete temp names a killed upload left under the root (best effort)."""
        with contextlib.suppress(Exception):
            for path in self.fs.find(self.root):
                if TMP_MARK in path.rpartition("/")[2]:
                    with contextlib.suppress(Exception):
                        self.fs.rm(path)


def open_target(url: str) -> Target:
    """The :class:`Target` for ``url``, its root created; a clear error for an unknown
    protocol, a missing filesystem package, or a root that cannot be created."""
    try:
        import fsspec
    except ImportError:
        raise UsageError(
            f"-o {url} is a URL and needs fsspec: pip install 'deepfx[batch]' (or fsspec)"
        ) from None
    protocol = url.split("://", 1)[0]
    try:
        fs, root = fsspec.core.url_to_fs(url)
    except ImportError as exc:
        from fsspec.registry import known_implementations

        package = known_implementations.get(protocol, {}).get("class", "").split(".")[0]
        hint = f"pip install {package}" if package else str(exc).splitlines()[0]
        raise UsageError(
            f"-o {url}: the {protocol}:// filesystem is not installed; {hint}"
        ) from None
    except ValueError:
        raise UsageError(
            f"-o {url}: unknown protocol {protocol!r}; use a folder path or an fsspec URL "
            "(s3://, gs://, file://, ...)"
        ) from None
    root = str(root).rstrip("/")
    if not root:
        raise UsageError(f"-o {url}: give a bucket or folder to write into")
    target = Target(url=url, fs=fs, root=root)
    if target.local_root is not None:  # object stores need no folders (s3fs would make a bucket)
        try:
            fs.makedirs(root, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"cannot create output folder {url}: {exc}") from None
    return target
