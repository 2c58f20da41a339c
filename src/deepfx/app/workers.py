"""Long work off the UI thread: a :class:`Task` runs a function on Qt's thread pool and
reports back by signal (delivered on the UI thread, since the signal object lives there).

The function gets two arguments: ``report(obj)`` to send progress, and a
:class:`deepfx.engine.CancelToken` that :meth:`Task.cancel` sets. Every exception ends as
``failed(exc)``; the window turns it into a message (:func:`deepfx.app.messages.explain`).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

if TYPE_CHECKING:
    from deepfx.engine.events import CancelToken

__all__ = ["JobQueue", "Task", "pool", "start"]

Work = Callable[[Callable[[Any], None], "CancelToken"], Any]
_RUNNING: set[Task] = set()  # keeps tasks (and their signal objects) alive until they end


class _Signals(QObject):
    progress = Signal(object)
    done = Signal(object)
    failed = Signal(object)
    ended = Signal()


class Task(QRunnable):
    """One piece of work for the pool; connect to ``signals`` before :func:`start`."""

    def __init__(self, work: Work):
        super().__init__()
        self.setAutoDelete(False)
        self.work = work
        self.signals = _Signals()
        self.finished = False
        # the engine's CancelToken, made on the worker: importing deepfx.engine (numpy,
        # pydantic...) on the UI thread would delay the window's first paint
        self._token: CancelToken | None = None
        self._cancelled = False
        self._lock = threading.Lock()

    def cancel(self) -> None:
        with self._lock:
            self._cancelled = True
            if self._token is not None:
                self._token.cancel()

    def _make_token(self) -> CancelToken:
        from deepfx.engine.events import CancelToken

        with self._lock:
            self._token = CancelToken()
            if self._cancelled:
                self._token.cancel()
            return self._token

    def run(self) -> None:  # on a pool thread
        try:
            result = self.work(self.signals.progress.emit, self._make_token())
        except BaseException as exc:  # noqa: BLE001 - every error becomes a message
            self.signals.failed.emit(exc)
        else:
            # boxed in a tuple, so the queued signal never carries a bare None
            self.signals.done.emit((result,))
        finally:
            self.signals.ended.emit()


def pool() -> QThreadPool:
    return QThreadPool.globalInstance()


def start(
    work: Work,
    *,
    done: Callable[[Any], None] | None = None,
    failed: Callable[[BaseException], None] | None = None,
    progress: Callable[[Any], None] | None = None,
) -> Task:
    """Run ``work(report, cancel)`` on the pool; the callbacks run on the UI thread."""
    task = Task(work)
    if done is not None:
        task.signals.done.connect(lambda boxed: done(boxed[0]))
    if failed is not None:
        task.signals.failed.connect(failed)
    if progress is not None:
        task.signals.progress.connect(progress)

    def _end() -> None:
        task.finished = True
        _RUNNING.discard(task)

    task.signals.ended.connect(_end)
    _RUNNING.add(task)
    pool().start(task)
    return task


def running() -> int:
    """Tasks started and not yet ended (tests wait for 0)."""
    return len(_RUNNING)


class JobQueue(QObject):
    """What the install queue and the run queue share: jobs run one at a time, each ends
    done, failed or cancelled (with a :class:`~deepfx.app.messages.Message`), moves to
    ``history``, and the next starts. Subclasses fill ``jobs`` and define ``_work`` (the
    job's function for a worker thread), ``_progress`` and ``_done``; ``_starting`` sets
    what a job records when it starts."""

    changed = Signal(object)  # the job
    finished = Signal(object)  # the job (done, failed or cancelled)

    def __init__(self) -> None:
        super().__init__()
        self.jobs: list[Any] = []  # queued and running, in order
        self.history: list[Any] = []

    def _next(self) -> None:
        if not self.jobs or self.jobs[0].state == "running":
            return
        job = self.jobs[0]
        job.state = "running"
        self._starting(job)
        job.task = start(
            self._work(job),
            progress=functools.partial(self._progress, job),
            done=functools.partial(self._done, job),
            failed=functools.partial(self._failed, job),
        )
        self.changed.emit(job)

    def _starting(self, job: Any) -> None:
        """Record what a job needs when it starts (nothing by default)."""

    def _work(self, job: Any) -> Callable[..., Any]:
        raise NotImplementedError

    def _progress(self, job: Any, event: Any) -> None:
        raise NotImplementedError

    def _done(self, job: Any, result: Any) -> None:
        raise NotImplementedError

    def _failed(self, job: Any, exc: BaseException) -> None:
        from deepfx.app.messages import explain
        from deepfx.errors import Cancelled

        job.message = explain(exc)
        job.state = "cancelled" if isinstance(exc, Cancelled) else "failed"
        self._end(job)

    def _end(self, job: Any) -> None:
        if job in self.jobs:
            self.jobs.remove(job)
        self.history.append(job)
        self.changed.emit(job)
        self.finished.emit(job)
        self._next()
