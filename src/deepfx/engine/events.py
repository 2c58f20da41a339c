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

__all__ = ["CancelToken", "Progress", "Stage"]

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
