"""The install queue: installs, updates and removals run one at a time on a worker,
through :class:`deepfx.store.Store` (the same calls as ``deepfx models install``).

Each :class:`InstallJob` carries what the window draws: a fraction, speed and time left
(from the store's ``on_download(bytes_done, bytes_total)``), the current step, and how it
ended. A cancelled download is kept by the store for resuming; the window asks the user
whether to keep it (:meth:`InstallQueue.discard_partial` if not).
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from deepfx.app import workers
from deepfx.app.messages import Message

__all__ = ["InstallJob", "InstallQueue"]


@dataclass
class InstallJob:
    name: str
    kind: str | None
    action: str = "install"  # "install", "update" or "remove"
    state: str = "queued"  # queued, running, done, failed, cancelled
    done: int = 0
    total: int = 0
    step: str = ""
    speed_bps: float = 0.0
    eta_s: float | None = None
    result: Any = None
    message: Message | None = None
    task: workers.Task | None = None
    _samples: deque[tuple[float, int]] = field(default_factory=lambda: deque(maxlen=20))

    @property
    def fraction(self) -> float:
        return min(self.done / self.total, 1.0) if self.total else 0.0

    @property
    def status(self) -> str:
        """What the library row shows for this job."""
        verb = {"install": "installing", "update": "updating", "remove": "removing"}[self.action]
        if self.state == "queued":
            return "queued"
        if self.state == "running":
            return f"{verb} {int(self.fraction * 100)} %" if self.total else f"{verb}…"
        if self.state == "failed" and self.message is not None:
            return f"failed: {self.message.title.lower()}"
        return self.state

    def add_sample(self, t: float, done: int) -> None:
        self._samples.append((t, done))
        t0, d0 = self._samples[0]
        if t - t0 > 0.2 and done > d0:
            self.speed_bps = (done - d0) / (t - t0)
            self.eta_s = (self.total - done) / self.speed_bps if self.total else None


class InstallQueue(workers.JobQueue):
    jobs: list[InstallJob]
    history: list[InstallJob]

    def job(self, name: str) -> InstallJob | None:
        return next((j for j in self.jobs if j.name == name), None)

    def enqueue(self, name: str, *, kind: str | None = None, action: str = "install") -> InstallJob:
        """Queue ``action`` on ``name``; a second request for a queued name is ignored."""
        have = self.job(name)
        if have is not None:
            return have
        job = InstallJob(name, kind, action)
        self.jobs.append(job)
        self.changed.emit(job)
        self._next()
        return job

    def cancel(self, name: str) -> None:
        job = self.job(name)
        if job is None:
            return
        if job.state == "queued":
            self.jobs.remove(job)
            job.state = "cancelled"
            self._end(job)
        elif job.task is not None:
            job.task.cancel()

    def discard_partial(self, name: str) -> None:
        """Delete the kept part of a cancelled download (on a worker)."""

        def work(_report: Any, _cancel: Any) -> int:
            from deepfx.store import Store

            return Store().discard_partial(name)

        workers.start(work)

    @property
    def busy(self) -> bool:
        return bool(self.jobs)

    # --- internals ------------------------------------------------------------------------

    def _work(self, job: InstallJob) -> Any:
        return _work(job)

    def _progress(self, job: InstallJob, event: tuple[Any, ...]) -> None:
        if event[0] == "bytes":
            _, t, done, total = event
            job.done, job.total = int(done), int(total)
            job.add_sample(float(t), job.done)
        else:
            job.step = str(event[1])
        self.changed.emit(job)

    def _done(self, job: InstallJob, result: Any) -> None:
        job.state, job.result = "done", result
        if job.total:
            job.done = job.total
        self._end(job)


def _work(job: InstallJob) -> workers.Work:
    name, kind, action = job.name, job.kind, job.action

    def work(report: Any, cancel: Any) -> Any:
        from deepfx.store import Store

        store = Store()

        def on_download(done: int, total: int) -> None:
            report(("bytes", time.monotonic(), done, total))

        def on_step(text: str) -> None:
            report(("step", text))

        if action == "remove":
            plan = store.remove(name)
            on_step(f"removing {name}")
            return plan.execute()
        if action == "update":
            return store.update(name, on_step=on_step, on_download=on_download, cancel=cancel)
        return store.install(
            name,
            kind=kind,  # type: ignore[arg-type]  # "effect" / "analyzer" / None
            on_step=on_step,
            on_download=on_download,
            cancel=cancel,
        )

    return work
