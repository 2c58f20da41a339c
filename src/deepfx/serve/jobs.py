"""Jobs: event id -> a run in a worker thread, its progress, its result, its cancel token.

Inference runs in one plain thread per job (never on the event loop), through the public
engine (:func:`deepfx.engine.run`), so a served result is byte-for-byte what
``deepfx run`` writes. Models are loaded once per (name, device) and cached; runs of one
cached model take turns (one network instance, one device's memory), different models run
side by side. A :class:`~deepfx.engine.CancelToken` per job stops the engine between
forward calls; a stopped or failed job removes its folder before it reports.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from deepfx.engine import CancelToken, Progress
from deepfx.errors import Cancelled, DeepfxError
from deepfx.model import Model
from deepfx.serve.protocol import progress_payload

__all__ = ["Job", "JobRegistry", "ModelCache"]

log = logging.getLogger("deepfx.serve")

#: Terminal event names of a job's stream.
FINAL = ("complete", "error")


@dataclass
class Job:
    """One ``call`` (controls, process or cancel): its events, appended by any thread.

    ``items`` grows append-only with ``(event, data)`` pairs and ends with exactly one
    ``complete`` or ``error``; readers poll it with a cursor (see :meth:`since`).
    """

    kind: str
    model: str
    client: str
    session: str | None = None
    id: str = field(default_factory=lambda: secrets.token_hex(16))
    token: CancelToken = field(default_factory=CancelToken)
    created: float = field(default_factory=time.monotonic)
    items: list[tuple[str, Any]] = field(default_factory=list)
    stopped: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _last_progress: tuple[str, float] = ("", -1.0)

    @property
    def done(self) -> bool:
        return self.stopped.is_set()

    def push(self, event: str, data: Any) -> None:
        with self._lock:
            if self.items and self.items[-1][0] in FINAL:
                return
            self.items.append((event, data))
        if event in FINAL:
            self.stopped.set()

    def complete(self, data: list[Any]) -> None:
        self.push("complete", data)

    def fail(self, message: str) -> None:
        self.push("error", message)

    def progress(self, stage: str, done: int = 0, total: int = 0, unit: str = "samples") -> None:
        """Record progress, at most one event per 1 % per stage (a long file has many
        chunks; the stream needs a bar, not every chunk)."""
        frac = min(done / total, 1.0) if total else 0.0
        last_stage, last_frac = self._last_progress
        if stage == last_stage and frac - last_frac < 0.01 and frac < 1.0:
            return
        self._last_progress = (stage, frac)
        self.push("progress", progress_payload(stage, done, total, unit))

    def since(self, cursor: int) -> list[tuple[str, Any]]:
        with self._lock:
            return list(self.items[cursor:])


class JobRegistry:
    """Every job by event id; old finished ones are forgotten by :meth:`sweep`."""

    def __init__(self, ttl_s: float = 1800.0):
        self.ttl_s = ttl_s
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()

    def add(self, job: Job) -> Job:
        with self._lock:
            self._jobs[job.id] = job
        return job

    def get(self, event_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(event_id)

    def running(self, *, kind: str = "process") -> list[Job]:
        with self._lock:
            return [j for j in self._jobs.values() if j.kind == kind and not j.done]

    def session(self, session: str) -> list[Job]:
        with self._lock:
            return [j for j in self._jobs.values() if j.session == session]

    def sweep(self, *, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        with self._lock:
            old = [k for k, j in self._jobs.items() if j.done and now - j.created > self.ttl_s]
            for k in old:
                del self._jobs[k]

    def cancel_all(self) -> list[Job]:
        jobs = self.running()
        for j in jobs:
            j.token.cancel()
        return jobs


class ModelCache:
    """Loaded models by (name, device): each loaded once, then shared; one run at a time
    per loaded model."""

    def __init__(self, loader: Callable[[str, str], Model]):
        self._loader = loader
        self._lock = threading.Lock()
        self._models: dict[tuple[str, str], Model] = {}
        self._load_locks: dict[tuple[str, str], threading.Lock] = {}
        self._run_locks: dict[tuple[str, str], threading.Lock] = {}
        #: How many times each (name, device) was loaded (1 once cached; for diagnostics).
        self.loads: dict[tuple[str, str], int] = {}

    def get(self, name: str, device: str) -> Model:
        key = (name, device)
        with self._lock:
            if key in self._models:
                return self._models[key]
            load_lock = self._load_locks.setdefault(key, threading.Lock())
        with load_lock:
            with self._lock:
                if key in self._models:
                    return self._models[key]
            model = self._loader(name, device)
            with self._lock:
                self._models[key] = model
                self.loads[key] = self.loads.get(key, 0) + 1
            return model

    def run_lock(self, name: str, device: str) -> threading.Lock:
        with self._lock:
            return self._run_locks.setdefault((name, device), threading.Lock())

    def loaded(self) -> list[tuple[str, str]]:
        with self._lock:
            return list(self._models)


def acquire(lock: threading.Lock, token: CancelToken, on_wait: Callable[[], None]) -> None:
    """Take ``lock``, giving up with Cancelled when ``token`` is cancelled meanwhile."""
    if lock.acquire(blocking=False):
        return
    on_wait()
    while not lock.acquire(timeout=0.1):
        token.raise_if_cancelled()


def on_progress(job: Job) -> Callable[[Progress], None]:
    def cb(p: Progress) -> None:
        job.progress(p.stage, p.done, p.total, p.unit)

    return cb


def one_line(text: str) -> str:
    """A message on one line (an event stream's data line must not break)."""
    return " ".join(part.strip() for part in text.splitlines() if part.strip())


def run_in_thread(
    job: Job,
    work: Callable[[], list[Any]],
    cleanup: Callable[[], None] = lambda: None,
    scrub: Callable[[str], str] = lambda s: s,
) -> None:
    """Run ``work`` in a daemon thread; its return value completes the job. Any error
    (or a cancel) runs ``cleanup`` first, then ends the stream with a one-line message
    (``scrub`` replaces private temp paths by the client's file name)."""

    def target() -> None:
        try:
            data = work()
        except Cancelled:
            cleanup()
            job.fail("cancelled; no output was written")
        except DeepfxError as exc:
            cleanup()
            job.fail(scrub(one_line(str(exc))) or type(exc).__name__)
        except Exception as exc:  # noqa: BLE001 - a bug must still end the stream with text
            log.exception("job %s failed", job.id)
            cleanup()
            job.fail(scrub(one_line(f"internal error: {type(exc).__name__}: {exc}")))
        else:
            job.complete(data)

    threading.Thread(
        target=target, name=f"deepfx-serve-{job.kind}-{job.id[:8]}", daemon=True
    ).start()
