"""Private temp storage for uploads and outputs: one 0700 folder, size-limited, cleaned.

Why a registry and not the filesystem: ``process`` must accept only the paths that
``upload`` handed out, and downloads must serve only the files a finished job published.
Both are looked up here by the exact string the client sends, so no client-supplied path
is ever opened. Everything lives under one ``mkdtemp`` folder (mode 0700) that is removed
at shutdown; uploads are moved into their job when ``process`` claims them, a job's folder
is removed once each of its outputs has been downloaded, on error or cancel, or
``ttl_s`` after it finished (a running job is never swept).
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["JobFolder", "Storage", "safe_name"]

_UNSAFE = re.compile(r"[^A-Za-z0-9._ -]+")


def safe_name(name: str | None, *, default: str = "upload") -> str:
    """A file name safe to create: the last path part of ``name``, odd characters
    replaced by ``_``, at most 100 characters, never hidden or empty."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    base = _UNSAFE.sub("_", base).strip(" .")[-100:]
    return base or default


@dataclass
class JobFolder:
    """One job's folder: ``in/`` holds the claimed upload, ``out/`` the outputs."""

    root: Path
    created: float = field(default_factory=time.monotonic)
    finished: float | None = None  # when its outputs were ready (a running job is never swept)
    published: set[str] = field(default_factory=set)
    downloaded: set[str] = field(default_factory=set)

    @property
    def input_dir(self) -> Path:
        return self.root / "in"

    @property
    def output_dir(self) -> Path:
        return self.root / "out"


@dataclass
class _Upload:
    path: Path
    original: str
    created: float = field(default_factory=time.monotonic)


class Storage:
    """The server's private temp folder and the registries of what it may hand out."""

    def __init__(self, *, max_upload_bytes: int, ttl_s: float = 1800.0, parent: Path | None = None):
        self.max_upload_bytes = int(max_upload_bytes)
        self.ttl_s = float(ttl_s)
        self.root = Path(tempfile.mkdtemp(prefix="deepfx-serve-", dir=parent))
        os.chmod(self.root, 0o700)
        self._lock = threading.Lock()
        self._uploads: dict[str, _Upload] = {}
        self._files: dict[str, JobFolder] = {}
        self._jobs: list[JobFolder] = []

    # --- uploads -------------------------------------------------------------------------

    def new_upload_path(self, original: str | None) -> Path:
        """A fresh, unguessable path for one uploaded file (its folder is created)."""
        folder = self.root / "u" / secrets.token_hex(16)
        folder.mkdir(parents=True, mode=0o700)
        return folder / safe_name(original)

    def add_upload(self, path: Path, original: str) -> str:
        """Record a finished upload; returns the path string the client gets back."""
        with self._lock:
            self._uploads[str(path)] = _Upload(path, original)
        return str(path)

    def drop_upload_file(self, path: Path) -> None:
        """Remove a rejected or aborted upload (file and its folder)."""
        with self._lock:
            self._uploads.pop(str(path), None)
        shutil.rmtree(path.parent, ignore_errors=True)

    def is_upload(self, path: str) -> bool:
        with self._lock:
            return path in self._uploads

    def claim_upload(self, path: str, job: JobFolder) -> tuple[Path, str]:
        """Move the upload ``path`` into ``job`` (one use only).

        Returns the new path and the client's original file name. Raises ``KeyError``
        when ``path`` is not an upload this server handed out (or it was used already).
        """
        with self._lock:
            up = self._uploads.pop(path)
        job.input_dir.mkdir(parents=True, exist_ok=True)
        dest = job.input_dir / up.path.name
        os.replace(up.path, dest)
        shutil.rmtree(up.path.parent, ignore_errors=True)
        return dest, up.original

    # --- jobs and downloads ----------------------------------------------------------------

    def new_job(self) -> JobFolder:
        job = JobFolder(self.root / "j" / secrets.token_hex(16))
        job.output_dir.mkdir(parents=True, mode=0o700)
        with self._lock:
            self._jobs.append(job)
        return job

    def finish(self, job: JobFolder) -> None:
        """The job's outputs are ready: from now on ``ttl_s`` counts for it."""
        job.finished = time.monotonic()

    def publish(self, job: JobFolder, path: Path) -> str:
        """Make ``path`` (inside ``job``) downloadable; returns its path string."""
        key = str(path)
        with self._lock:
            job.published.add(key)
            self._files[key] = job
        return key

    def take(self, path: str) -> tuple[Path, JobFolder | None] | None:
        """The file for a download request, or None when ``path`` is not published.

        Each output is handed out once: it is unpublished at once (a second request gets
        None). The job is returned when this was its last output, for the caller to
        :meth:`remove_job` once the file has been sent.
        """
        with self._lock:
            job = self._files.pop(path, None)
            if job is None:
                return None
            job.downloaded.add(path)
            last = job.downloaded >= job.published
        p = Path(path)
        if not p.is_file():
            return None
        return p, (job if last else None)

    def remove_job(self, job: JobFolder) -> None:
        """Forget a job's files and delete its folder (idempotent)."""
        with self._lock:
            for key in job.published:
                self._files.pop(key, None)
            if job in self._jobs:
                self._jobs.remove(job)
        shutil.rmtree(job.root, ignore_errors=True)

    # --- cleaning ------------------------------------------------------------------------

    def sweep(self, *, now: float | None = None) -> int:
        """Remove uploads and job folders older than ``ttl_s``; returns how many."""
        now = time.monotonic() if now is None else now
        with self._lock:
            old_uploads = [u for u in self._uploads.values() if now - u.created > self.ttl_s]
            old_jobs = [
                j for j in self._jobs if j.finished is not None and now - j.finished > self.ttl_s
            ]
        for up in old_uploads:
            self.drop_upload_file(up.path)
        for job in old_jobs:
            self.remove_job(job)
        return len(old_uploads) + len(old_jobs)

    def files_on_disk(self) -> list[Path]:
        """Every file under the private folder (for tests and diagnostics)."""
        return sorted(p for p in self.root.rglob("*") if p.is_file())

    def close(self) -> None:
        """Delete everything (at shutdown)."""
        with self._lock:
            self._uploads.clear()
            self._files.clear()
            self._jobs.clear()
        shutil.rmtree(self.root, ignore_errors=True)
