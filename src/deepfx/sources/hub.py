"""A model repo on the Hugging Face hub (``user/model``, optionally ``@revision``).

Resolving asks the hub for the commit (one metadata request, the only network before a
download); fetching downloads every file of that commit, verified, into a folder named
after the commit under the store's work folder, kept when cancelled or cut off so the
next install of the same commit resumes from it.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from deepfx.errors import Cancelled, DiskFullError, ModelNotFoundError, NetworkError
from deepfx.folder import read_card_notes
from deepfx.sources import DownloadCallback, Origin, StepCallback, human_size, step

if TYPE_CHECKING:
    from deepfx.card import Kind
    from deepfx.engine.events import CancelToken

__all__ = ["HubSource", "NAME_RE", "partial_prefix"]

#: A store name: ``org/name`` with the hub's characters.
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")


def partial_prefix(repo_id: str) -> str:
    """Name start of a kept partial download in ``<root>/tmp`` (``.partial-org--name-``)."""
    return f".partial-{repo_id.replace('/', '--')}-"


@dataclass
class HubSource:
    """One commit of a hub repo; build it with :meth:`resolve`."""

    name: str
    remote: Any = field(repr=False)  # deepfx.hub.download.RemoteRevision
    commit: str | None
    revision: str | None
    pinned: bool
    work_root: Path  # the store's <root>/tmp: partial downloads live there
    kind: Kind | None = None
    on_step: StepCallback | None = field(default=None, repr=False)
    on_download: DownloadCallback | None = field(default=None, repr=False)
    cancel: CancelToken | None = field(default=None, repr=False)
    origin: Origin = "hub"
    repo_id: str | None = None

    def __post_init__(self) -> None:
        self.repo_id = self.name

    @classmethod
    def resolve(
        cls,
        repo_id: str,
        *,
        revision: str | None,
        pinned: bool,
        work_root: Path,
        kind: Kind | None = None,
        on_step: StepCallback | None = None,
        on_download: DownloadCallback | None = None,
        cancel: CancelToken | None = None,
        remote: Any = None,
    ) -> HubSource:
        """Check ``repo_id`` (no request for a malformed one) and ask the hub for the
        commit ``revision`` points at, unless ``remote`` already says."""
        from deepfx.hub._client import check_repo_id
        from deepfx.hub.download import check_commit, resolve_revision

        if repo_id.count("/") <= 1:  # more looks like a path: the message below says so
            check_repo_id(repo_id)  # the hub's own rules, before any request: UsageError
        if not NAME_RE.match(repo_id):
            raise ModelNotFoundError(
                f"{repo_id!r} is not a repo id (`user/model`), a built-in (`builtin/<x>`) "
                "or an existing folder / .zip"
            )
        if remote is None:
            step(on_step, f"looking up {repo_id}" + (f"@{revision}" if revision else ""))
            remote = resolve_revision(repo_id, revision=revision)
        commit = check_commit(remote.commit, repo_id)
        return cls(
            repo_id,
            remote,
            commit,
            revision or "main",
            pinned,
            work_root,
            kind,
            on_step,
            on_download,
            cancel,
        )

    def fetch(self, into: Path) -> list[dict[str, Any]] | None:
        from deepfx.hub.download import fetch_revision

        remote = self.remote
        free = shutil.disk_usage(into).free
        if free < remote.size:
            raise DiskFullError(
                f"{self.name} needs {human_size(remote.size)} but the disk holding "
                f"{self.work_root.parent} has {human_size(free)} free; free some space (or set "
                "DEEPFX_HOME to a bigger disk) and try again; nothing was installed"
            )
        sizes = {f.path: f.size for f in remote.files}
        finished: dict[str, int] = {}

        def on_file(path: str, i: int, n: int, done: int) -> None:
            total = human_size(sizes.get(path, 0))
            step(self.on_step, f"downloading {path} ({i + 1}/{n}): {human_size(done)} of {total}")
            if self.on_download is not None:
                for earlier in finished:  # files before this one are complete (a file
                    finished[earlier] = sizes.get(earlier, 0)  # kept from before: no bytes)
                finished[path] = done
                self.on_download(sum(finished.values()), remote.size)

        partial = self.work_root / f"{partial_prefix(self.name)}{remote.commit}"
        try:
            records = fetch_revision(
                remote,
                partial,
                first=lambda d: read_card_notes(d, kind=self.kind, name=self.name),
                on_file=on_file,
                cancel=self.cancel,
            )
        except (Cancelled, NetworkError):
            raise  # the partial folder is kept: the next install resumes from it
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise
        if self.on_download is not None:
            self.on_download(remote.size, remote.size)
        into.rmdir()
        os.replace(partial, into)
        return [r.to_dict() for r in records]
