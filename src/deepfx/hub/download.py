"""Download one revision of a hub repo into a folder, verifying every file.

huggingface_hub does the transfers (resume after a dropped connection, size checks);
deepfx then checks every byte against the hash the hub publishes for the file: the
sha256 of an LFS object, or the git blob sha1 (the ``blobId``) of a regular file. A
mismatch raises :class:`~deepfx.errors.ChecksumMismatchError` naming the file.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deepfx.card import CARD_FILENAME
from deepfx.errors import ChecksumMismatchError, ModelNotFoundError
from deepfx.hub._client import api, check_online, endpoint, hub_errors, timeout_s

__all__ = ["FileRecord", "RemoteRevision", "fetch_revision", "file_hashes", "resolve_revision"]

#: Files of a repo that are never part of a model folder.
SKIP_FILES = frozenset({".gitattributes", ".gitignore"})

#: Called as ``on_file(path_in_repo, index, count, bytes_done)`` as each file downloads.
FileProgress = Callable[[str, int, int, int], None]


@dataclass(frozen=True)
class FileRecord:
    """One file of a model folder as the hub describes it (and as the manifest records it)."""

    path: str
    size: int
    sha256: str | None = None  # LFS files: the hub's sha256 of the content
    blob_id: str | None = None  # regular files: git blob sha1

    def to_dict(self) -> dict[str, object]:
        return {
            "path": self.path,
            "size": self.size,
            "sha256": self.sha256,
            "blob_id": self.blob_id,
        }


@dataclass(frozen=True)
class RemoteRevision:
    """A repo at one commit: what :func:`resolve_revision` learns before downloading."""

    repo_id: str
    commit: str
    files: list[FileRecord] = field(default_factory=list)

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)

    @property
    def has_card(self) -> bool:
        return any(f.path == CARD_FILENAME for f in self.files)


def resolve_revision(repo_id: str, *, revision: str | None = None) -> RemoteRevision:
    """Ask the hub which commit ``revision`` (default: the main branch) is, and its files."""
    from huggingface_hub import errors as hf

    check_online()
    with hub_errors("reading the repo's file list", repo_id=repo_id, revision=revision):
        try:
            info = api().model_info(
                repo_id, revision=revision, files_metadata=True, timeout=timeout_s()
            )
        except hf.RepositoryNotFoundError as exc:
            status = exc.response.status_code if exc.response is not None else None
            if revision is not None or status != 401 or not _is_mirror():
                raise
            # A mirror (olah) may answer 401 "RepoNotFound" for a repo it cannot resolve
            # without a revision (offline, or its upstream unreachable) though it serves
            # the repo: try the main branch by name, then say what happened - not "private".
            try:
                info = api().model_info(
                    repo_id, revision="main", files_metadata=True, timeout=timeout_s()
                )
            except hf.RepositoryNotFoundError:
                raise ModelNotFoundError(
                    f"the mirror at {endpoint()} answered HTTP {status} (repo not found) for "
                    f"{repo_id!r} without a revision: an offline mirror such as olah serves "
                    "only commits it has cached. Install a cached commit with "
                    f"`deepfx models install {repo_id}@<commit>`, or bring the mirror online"
                ) from None
    if not info.sha:
        raise ModelNotFoundError(f"the hub at {endpoint()} gave no commit for {repo_id!r}")
    files = []
    for sib in info.siblings or []:
        if sib.rfilename in SKIP_FILES:
            continue
        lfs = sib.lfs
        files.append(
            FileRecord(
                path=sib.rfilename,
                size=int(lfs.size if lfs is not None else (sib.size or 0)),
                sha256=lfs.sha256 if lfs is not None else None,
                blob_id=sib.blob_id,
            )
        )
    return RemoteRevision(repo_id=repo_id, commit=info.sha, files=files)


def _is_mirror() -> bool:
    """Whether HF_ENDPOINT points somewhere other than huggingface.co (a mirror)."""
    from urllib.parse import urlsplit

    host = urlsplit(endpoint()).hostname or ""
    return host not in ("huggingface.co", "hf.co")


def download_file(
    remote: RemoteRevision,
    record: FileRecord,
    dest: Path,
    *,
    on_bytes: Callable[[int], None] | None = None,
) -> Path:
    """Download one file of ``remote`` into folder ``dest`` and verify it; return its path.

    ``on_bytes(done)`` is called as bytes arrive (instead of huggingface_hub's own bar).
    """
    from huggingface_hub import hf_hub_download

    check_online()
    with hub_errors(f"downloading {record.path}", repo_id=remote.repo_id):
        got = hf_hub_download(
            remote.repo_id,
            record.path,
            revision=remote.commit,
            local_dir=dest,
            endpoint=endpoint(),
            etag_timeout=timeout_s(),
            tqdm_class=_reporting_tqdm(on_bytes) if on_bytes is not None else None,
        )
    path = Path(str(got))
    verify_file(path, record)
    return path


def fetch_revision(
    remote: RemoteRevision,
    dest: Path,
    *,
    first: Callable[[Path], object] | None = None,
    on_file: FileProgress | None = None,
) -> list[FileRecord]:
    """Download every file of ``remote`` into ``dest`` (an empty folder), verified.

    ``metadata.json`` comes first and ``first(dest)`` is called right after it, so a wrong
    or invalid card fails before the (large) network is downloaded. The bookkeeping folder
    huggingface_hub writes into ``dest`` (``.cache``) is removed at the end.
    """
    if not remote.has_card:
        raise ModelNotFoundError(
            f"repo {remote.repo_id!r} has no {CARD_FILENAME}, so it is not an Audacity/deepfx "
            "model; check the repo name, or ask its author to add a model card"
        )
    ordered = sorted(remote.files, key=lambda f: (f.path != CARD_FILENAME, f.path))
    for i, record in enumerate(ordered):
        on_bytes = None
        if on_file is not None:
            on_file(record.path, i, len(ordered), 0)

            def on_bytes(done: int, path: str = record.path, i: int = i) -> None:
                on_file(path, i, len(ordered), done)

        download_file(remote, record, dest, on_bytes=on_bytes)
        if record.path == CARD_FILENAME and first is not None:
            first(dest)
    shutil.rmtree(dest / ".cache", ignore_errors=True)
    return ordered


def _reporting_tqdm(on_bytes: Callable[[int], None]) -> Any:
    """A silent tqdm class for huggingface_hub's ``tqdm_class`` that reports bytes done."""
    from tqdm.auto import tqdm

    class Reporting(tqdm):  # type: ignore[misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs["disable"] = True
            super().__init__(*args, **kwargs)
            self.done = int(kwargs.get("initial") or 0)

        def update(self, n: float | None = 1) -> bool | None:
            self.done += int(n or 0)
            on_bytes(self.done)
            return None

    return Reporting


def verify_file(path: Path, record: FileRecord) -> None:
    """Check ``path`` against the hub's hash for it; raise ChecksumMismatchError if not."""
    sha256, blob = file_hashes(path)
    if record.sha256:
        if sha256 != record.sha256:
            raise ChecksumMismatchError(record.path, f"sha256:{record.sha256}", f"sha256:{sha256}")
    elif record.blob_id:
        if blob != record.blob_id:
            raise ChecksumMismatchError(
                record.path, f"git-sha1:{record.blob_id}", f"git-sha1:{blob}"
            )
    elif path.stat().st_size != record.size:
        raise ChecksumMismatchError(
            record.path, f"{record.size} bytes", f"{path.stat().st_size} bytes"
        )


def file_hashes(path: Path) -> tuple[str, str]:
    """``(sha256, git blob sha1)`` of a file, read once in 1 MiB blocks."""
    size = path.stat().st_size
    sha256 = hashlib.sha256()
    blob = hashlib.sha1(f"blob {size}\0".encode(), usedforsecurity=False)
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            sha256.update(chunk)
            blob.update(chunk)
    return sha256.hexdigest(), blob.hexdigest()
