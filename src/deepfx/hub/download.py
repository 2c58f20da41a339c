"""Download one revision of a hub repo into a folder, verifying every file.

huggingface_hub does the transfers (resume after a dropped connection, size checks);
deepfx then checks every byte against the hash the hub publishes for the file: the
sha256 of an LFS object, or the git blob sha1 (the ``blobId``) of a regular file. A
mismatch raises :class:`~deepfx.errors.ChecksumMismatchError` naming the file.

Nothing the server says becomes a path unchecked: the commit id must be 40 hex digits and
every file name a plain relative path (no ``..``, no absolute path, no backslash or NUL),
else :class:`~deepfx.errors.UnsafeHubAnswerError` before anything is written. Every
request runs under :func:`deepfx.hub._limits.bounded`: an overall deadline and at most
the announced number of bytes.
"""

from __future__ import annotations

import hashlib
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from deepfx.card import CARD_FILENAME
from deepfx.errors import ChecksumMismatchError, ModelNotFoundError, UnsafeHubAnswerError
from deepfx.hub._client import api, check_online, check_repo_id, endpoint, hub_errors, timeout_s

if TYPE_CHECKING:
    from deepfx.engine.events import CancelToken

__all__ = [
    "FileRecord",
    "RemoteRevision",
    "check_commit",
    "check_repo_path",
    "fetch_revision",
    "file_hashes",
    "resolve_revision",
]

#: Files of a repo that are never part of a model folder.
SKIP_FILES = frozenset({".gitattributes", ".gitignore"})

#: Names a repo file may not have: huggingface_hub's bookkeeping inside the download
#: folder, and the store's own manifest.
_RESERVED = (".cache/", ".deepfx-manifest.json")
_COMMIT_RE = re.compile(r"[0-9a-f]{40}")
_BAD_CHARS = re.compile(r"[\x00-\x1f\\:*?\"<>|]")

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


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def check_commit(commit: object, repo_id: str) -> str:
    """``commit`` if it is a full commit id (40 lowercase hex digits), else
    :class:`UnsafeHubAnswerError`: it names a folder in the store, so an id such as
    ``../../x`` or ``/home/me`` must never get that far."""
    if isinstance(commit, str) and _COMMIT_RE.fullmatch(commit):
        return commit
    raise UnsafeHubAnswerError(
        f"the hub at {endpoint()} gave {_shown(commit)} as the commit of {repo_id!r}, which is "
        "not a commit id (40 hex digits); refused, nothing was written. Check HF_ENDPOINT"
    )


def check_repo_path(name: object, repo_id: str) -> str:
    """``name`` if it is a safe relative file name inside a model folder, else
    :class:`UnsafeHubAnswerError` (absolute, ``..``/``.`` parts, empty parts, backslashes,
    NUL or other control characters, Windows-reserved characters, over 255 bytes a part)."""
    ok = isinstance(name, str) and 0 < len(name) <= 1000 and not _BAD_CHARS.search(name)
    if ok:
        assert isinstance(name, str)
        parts = name.split("/")
        ok = all(p not in ("", ".", "..") and len(p.encode()) <= 255 for p in parts) and not (
            name.startswith(_RESERVED)
        )
    if ok:
        return str(name)
    raise UnsafeHubAnswerError(
        f"the hub at {endpoint()} lists a file {_shown(name)} in {repo_id!r} that is not a "
        "safe file name (absolute, `..`, backslash, NUL or reserved); refused, nothing was "
        "written. Check HF_ENDPOINT"
    )


def resolve_revision(repo_id: str, *, revision: str | None = None) -> RemoteRevision:
    """Ask the hub which commit ``revision`` (default: the main branch) is, and its files.

    The answer is checked before anything uses it: the commit id (:func:`check_commit`),
    every file name (:func:`check_repo_path`, no duplicates) and every size (a whole
    number, announced for each file: it bounds the download).
    """
    from huggingface_hub import errors as hf

    from deepfx.hub._limits import bounded
    from deepfx.settings import HUB_METADATA_MAX_BYTES

    check_repo_id(repo_id)
    check_online()
    with (
        hub_errors("reading the repo's file list", repo_id=repo_id, revision=revision),
        bounded(
            "reading the repo's file list",
            deadline_s=2 * timeout_s(),
            max_bytes=HUB_METADATA_MAX_BYTES,
        ),
    ):
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
    commit = check_commit(info.sha, repo_id)
    files = []
    seen: set[str] = set()
    for sib in info.siblings or []:
        path = check_repo_path(sib.rfilename, repo_id)
        if path in SKIP_FILES:
            continue
        if path.lower() in seen:  # case-insensitive file systems would merge them
            raise UnsafeHubAnswerError(
                f"the hub at {endpoint()} lists {_shown(path)} twice in {repo_id!r}; refused"
            )
        seen.add(path.lower())
        lfs = sib.lfs
        size = lfs.size if lfs is not None else sib.size
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise UnsafeHubAnswerError(
                f"the hub at {endpoint()} gave no valid size for {_shown(path)} in "
                f"{repo_id!r} (got {_shown(size)}); refused, nothing was written"
            )
        files.append(
            FileRecord(
                path=path,
                size=size,
                sha256=lfs.sha256 if lfs is not None else None,
                blob_id=sib.blob_id,
            )
        )
    return RemoteRevision(repo_id=repo_id, commit=commit, files=files)


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
    The download must be done by :func:`deepfx.settings.download_deadline_s` of its size
    and may not exceed the size the file list announced
    (:class:`~deepfx.errors.DownloadLimitError`); the file must land inside ``dest``.
    """
    from huggingface_hub import hf_hub_download

    from deepfx.hub._limits import bounded
    from deepfx.settings import download_deadline_s

    check_commit(remote.commit, remote.repo_id)
    check_repo_path(record.path, remote.repo_id)
    check_online()
    what = f"downloading {record.path}"
    with (
        hub_errors(what, repo_id=remote.repo_id),
        bounded(what, deadline_s=download_deadline_s(record.size), max_bytes=record.size),
    ):
        got = hf_hub_download(
            remote.repo_id,
            record.path,
            revision=remote.commit,
            local_dir=dest,
            endpoint=endpoint(),
            etag_timeout=timeout_s(),
            tqdm_class=_reporting_tqdm(on_bytes, limit=record.size, what=what),
        )
    path = Path(str(got))
    if not path.resolve().is_relative_to(Path(dest).resolve()):
        raise UnsafeHubAnswerError(f"{record.path} was written outside the download folder")
    verify_file(path, record)
    return path


def fetch_revision(
    remote: RemoteRevision,
    dest: Path,
    *,
    first: Callable[[Path], object] | None = None,
    on_file: FileProgress | None = None,
    cancel: CancelToken | None = None,
) -> list[FileRecord]:
    """Download every file of ``remote`` into ``dest`` (an empty folder), verified.

    ``cancel`` (a :class:`deepfx.engine.CancelToken`) is checked before each file and as
    bytes arrive; cancelling raises :class:`deepfx.errors.Cancelled` and leaves what was
    downloaded in ``dest`` (huggingface_hub's ``.incomplete`` files included), so a later
    call with the same ``dest`` resumes instead of starting again.

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
        if cancel is not None:
            cancel.raise_if_cancelled()
        on_bytes = None
        if on_file is not None:
            on_file(record.path, i, len(ordered), 0)
        if on_file is not None or cancel is not None:

            def on_bytes(done: int, path: str = record.path, i: int = i) -> None:
                if cancel is not None:
                    cancel.raise_if_cancelled()
                if on_file is not None:
                    on_file(path, i, len(ordered), done)

        download_file(remote, record, dest, on_bytes=on_bytes)
        if record.path == CARD_FILENAME and first is not None:
            first(dest)
    shutil.rmtree(dest / ".cache", ignore_errors=True)
    return ordered


def _reporting_tqdm(on_bytes: Callable[[int], None] | None, *, limit: int, what: str) -> Any:
    """A silent tqdm class for huggingface_hub's ``tqdm_class`` that reports bytes done and
    stops a body that decodes (``Content-Encoding``) to more than ``limit`` bytes."""
    from tqdm.auto import tqdm

    from deepfx.hub._limits import too_large

    class Reporting(tqdm):  # type: ignore[misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs["disable"] = True
            super().__init__(*args, **kwargs)
            self.done = int(kwargs.get("initial") or 0)

        def update(self, n: float | None = 1) -> bool | None:
            self.done += int(n or 0)
            if self.done > limit:
                raise too_large(what, limit, endpoint())
            if on_bytes is not None:
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
