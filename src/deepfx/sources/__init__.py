"""Where an installed model comes from: the hub, a local folder / .zip, or the built-ins.

Each source is one small object with the same interface (:class:`Source`): it knows the
model's store name and what its manifest records, and :meth:`Source.fetch` fills an empty
staging folder with the model's files. The store (:mod:`deepfx.store`) does everything
else (lock, check, manifest, atomic switch) the same way for all three, so a new source
is one new module here and one line in :func:`deepfx.store.Store.install`'s dispatch.

Sources never import the store; the store imports them::

    store.py ──> sources/{hub,local,builtin}.py ──> hub/, builtins/, folder.py
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, Protocol

__all__ = [
    "DownloadCallback",
    "Origin",
    "Source",
    "StepCallback",
    "human_size",
    "is_commit",
    "slug",
    "split_spec",
    "step",
]

#: What a manifest's ``source`` field says.
Origin = Literal["hub", "local", "builtin"]
#: Called with a one-line description of each install step ("downloading model.pt").
StepCallback = Callable[[str], None]
#: Called as ``on_download(bytes_done, bytes_total)`` over all files of a hub install.
DownloadCallback = Callable[[int, int], None]


class Source(Protocol):
    """One model to install, before anything is written.

    Attributes are known up front (a hub source has already asked the hub for the commit;
    ``commit`` is ``None`` for sources whose identity is the hash of their files).
    """

    name: str  # the store name: org/name, local/<name> or builtin/<name>
    origin: Origin
    repo_id: str | None
    commit: str | None
    revision: str | None
    pinned: bool

    def fetch(self, into: Path) -> list[dict[str, Any]] | None:
        """Fill the empty folder ``into`` with the model's files.

        Returns the file records (path, size, sha256, blob_id) when the source verified
        them itself (the hub), else ``None`` and the store hashes the folder.
        """
        ...


def step(cb: StepCallback | None, text: str) -> None:
    if cb is not None:
        cb(text)


def split_spec(text: str) -> tuple[str, str | None]:
    """``"user/model@rev"`` -> ``("user/model", "rev")``."""
    if "@" in text:
        repo, rev = text.rsplit("@", 1)
        return repo.strip(), rev.strip() or None
    return text.strip(), None


def is_commit(revision: str | None) -> bool:
    """A full commit sha pins a model; a branch or tag name is followed by updates."""
    return revision is not None and re.fullmatch(r"[0-9a-f]{40}", revision) is not None


def slug(text: str) -> str:
    out = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.")
    return out or "model"


def human_size(n: int | None) -> str:
    """``1234567`` -> ``"1.2 MB"`` (decimal units, as disks and the hub count); ``-`` if unknown."""
    if not n:
        return "-"
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{n} B"
