"""Progress events and cancel tokens: how faces watch and stop the engine.

The engine never draws anything. It calls ``on_progress(Progress(...))`` at documented
points and checks a :class:`CancelToken` between blocks and between forward calls.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Literal

from deepfx.errors import Cancelled

__all__ = ["CancelToken", "Pace", "Progress", "Stage", "chunk_position"]

#: ``loading`` the model; ``processing`` audio (``done``/``total`` in model-rate samples);
#: ``writing`` (renaming finished outputs into place); ``done`` for an input; ``note``: a
#: line for the user in ``message`` (e.g. "stereo input: builtin/hpss is mono, ran per
#: channel"), no progress.
Stage = Literal["loading", "processing", "writing", "done", "note"]


@dataclass(frozen=True)
class Progress:
    """One progress event.

    Attributes
    ----------
    stage:
        ``"loading"``, ``"processing"``, ``"writing"`` or ``"done"``.
    done, total:
        Work done and total work for the current input, in ``unit`` (``"samples"``: audio
        samples at the model's rate that are finished). ``total`` is 0 when unknown.
    input:
        Name of the input being processed (file name, or ``"<array>"``).
    index, count:
        Position of this input (0-based) and number of inputs in the run.
    started:
        ``time.monotonic()`` when this input started; :attr:`elapsed_s` and
        :attr:`eta_s` derive from it.
    """

    stage: Stage
    done: int = 0
    total: int = 0
    input: str = "<array>"
    index: int = 0
    count: int = 1
    unit: str = "samples"
    started: float = field(default_factory=time.monotonic)
    #: Which chunk (forward call) is next, 1-based, and how many there are (0: unknown).
    chunk: int = 0
    chunks: int = 0
    #: the line to show for a ``note`` event
    message: str = ""

    @property
    def fraction(self) -> float:
        """Done / total in [0, 1] (0 when the total is unknown)."""
        return min(self.done / self.total, 1.0) if self.total else 0.0

    @property
    def elapsed_s(self) -> float:
        return time.monotonic() - self.started

    @property
    def eta_s(self) -> float | None:
        """Seconds left at the current pace, or None before anything is done."""
        if not self.done or not self.total:
            return None
        return self.elapsed_s * (self.total - self.done) / self.done


class CancelToken:
    """Thread-safe cancel flag: call :meth:`cancel` from any thread (or a signal handler).

    The engine checks it between reads and between forward calls and raises
    :class:`deepfx.errors.Cancelled`; outputs being written are removed.
    """

    def __init__(self) -> None:
        self._event = threading.Event()
        #: The signal that cancelled (2 SIGINT, 15 SIGTERM); decides the exit code.
        self.signal = 2

    def cancel(self, signal: int | None = None) -> None:
        if signal is not None and not self._event.is_set():
            self.signal = int(signal)
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self, message: str | None = None) -> None:
        """:class:`Cancelled` (``message``, else the default) once :meth:`cancel` was called."""
        if self._event.is_set():
            raise Cancelled(message, signal=self.signal)


def chunk_position(done: int, total: int, window: int | None, overlap: int) -> tuple[int, int]:
    """``(chunk being worked on, chunks)`` for ``done`` of ``total`` samples cut in
    windows of ``window`` samples overlapping by ``overlap`` (``None``: one piece)."""
    if total <= 0:
        return 0, 0
    if not window or window >= total:
        return (1 if done < total else 1), 1
    hop = max(window - overlap, 1)
    chunks = max(1, -(-max(total - overlap, 1) // hop))
    return min(done // hop + 1, chunks), chunks


class Pace:
    """What a progress display shows between events: the work done estimated *now*.

    The engine reports after each forward call; one call on a long chunk can take many
    seconds, during which a bar fed only by events would stand still. ``Pace`` keeps the
    rate measured so far (samples per second since the first work) and moves the estimate
    forward at that rate, but never past the end of the chunk being worked on (the
    largest step seen between two events), so it never claims work not done. Before the
    first measured step there is no rate: ``estimate`` is the reported value and
    ``eta_s`` None ("estimating").
    """

    def __init__(self) -> None:
        self.first_t: float | None = None
        self.last_t = 0.0
        self.done = 0.0
        self.total = 0.0
        self.step = 0.0

    def update(self, done: float, total: float, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        if self.first_t is None or total != self.total or done < self.done:
            self.first_t, self.done, self.step = now, float(done), 0.0
        self.step = max(self.step, float(done) - self.done)
        self.done, self.total, self.last_t = float(done), float(total), now

    def rate(self) -> float | None:
        if self.first_t is None or self.last_t <= self.first_t or self.done <= 0:
            return None
        return self.done / (self.last_t - self.first_t)

    def estimate(self, now: float | None = None) -> float:
        """Work done by now (in the units of ``update``), at most the current chunk's end."""
        now = time.monotonic() if now is None else now
        rate = self.rate()
        if rate is None:
            return self.done
        ahead = min(rate * max(now - self.last_t, 0.0), 0.95 * self.step)
        return min(self.done + ahead, self.total)

    def eta_s(self, now: float | None = None) -> float | None:
        rate = self.rate()
        if rate is None or not self.total:
            return None
        return max(self.total - self.estimate(now), 0.0) / rate
