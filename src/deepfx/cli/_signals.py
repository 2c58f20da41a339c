"""SIGINT and SIGTERM for every command: clean up, exit 130 / 143, a second signal at once.

Python runs a signal handler only between bytecodes of the main thread, so while a long
forward call runs in C (torch, onnxruntime) a handler waits until the call returns; a
process that relied on it alone ignores Ctrl-C for as long as the model takes. So there
are two listeners:

* the Python handler (main thread): the first signal cancels cooperatively when a command
  attached a :class:`~deepfx.engine.CancelToken` (the engine stops between chunks and
  removes its temporary files; exit 130 for SIGINT, 143 for SIGTERM); without a token it
  raises :class:`Interrupted` at once, so every ``finally`` runs;
* a watcher thread woken through :func:`signal.set_wakeup_fd`, which the C-level handler
  writes to immediately, whatever the main thread is doing: on a second signal, when a
  cancel token is attached and the main thread has not ended the command within
  :data:`CANCEL_GRACE_S` of the first signal (it is stuck in one long forward call), or
  when it has not ended within :data:`TERM_GRACE_S` of a SIGTERM otherwise, it removes
  every live temporary output and the output folders the run made that are still empty
  (:mod:`deepfx.outputs.temps`), prints the one error line and ends the process with
  ``os._exit(128 + signal)``. So Ctrl-C in ``deepfx run`` lands within about a second
  whatever the model is doing.

Nothing hidden is left behind either way.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import threading
from collections.abc import Iterator
from types import FrameType, TracebackType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from deepfx.engine.events import CancelToken

__all__ = ["CANCEL_GRACE_S", "TERM_GRACE_S", "Interrupted", "SignalGuard", "cancel_with"]

#: Seconds a cooperative cancel (a token attached: ``deepfx run``) has to end the command
#: after the first signal before the watcher ends the process itself: the engine stops
#: between forward calls, but a forward call in C cannot be interrupted.
CANCEL_GRACE_S = 1.0

#: Seconds the main thread has to finish after a first SIGTERM before the watcher ends
#: the process itself (a service manager's SIGKILL usually follows after 10 s or more).
TERM_GRACE_S = 5.0
#: Seconds the watcher lets a responsive main thread handle a second signal itself.
_SECOND_GRACE_S = 0.5
_HANDLED = (signal.SIGINT, signal.SIGTERM)
_current: SignalGuard | None = None


class Interrupted(KeyboardInterrupt):
    """A signal stopped the command; ``signum`` decides the exit code (128 + signum)."""

    def __init__(self, signum: int):
        self.signum = int(signum)
        name = "interrupted (Ctrl-C)" if self.signum == signal.SIGINT else "terminated"
        self.message = f"{name}; no partial output was left"
        super().__init__(self.message)


def _message(signum: int) -> bytes:
    name = "cancelled (Ctrl-C)" if signum == signal.SIGINT else "terminated"
    return f"error: {name}; stopped at once, temporary files removed\n".encode()


class SignalGuard:
    """Install the handlers and the watcher for the duration of one command."""

    def __init__(self) -> None:
        self.token: CancelToken | None = None
        self._seen = 0  # signals the Python handler saw
        self._done = threading.Event()
        self._active = False
        self._old: dict[int, object] = {}
        self._old_fd = -1
        self._sock: tuple[socket.socket, socket.socket] | None = None

    def __enter__(self) -> SignalGuard:
        global _current
        if threading.current_thread() is not threading.main_thread():
            return self  # signals can only be handled in the main thread
        r, w = socket.socketpair()
        r.setblocking(True)
        w.setblocking(False)
        self._sock = (r, w)
        for sig in _HANDLED:
            self._old[sig] = signal.signal(sig, self._handler)
        self._old_fd = signal.set_wakeup_fd(w.fileno(), warn_on_full_buffer=False)
        threading.Thread(target=self._watch, name="deepfx-signals", daemon=True).start()
        self._active = True
        _current = self
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        global _current
        self._done.set()
        if not self._active:
            return
        _current = None
        signal.set_wakeup_fd(self._old_fd)
        for sig, old in self._old.items():
            with contextlib.suppress(TypeError, ValueError):
                signal.signal(sig, old)  # type: ignore[arg-type]
        if self._sock is not None:
            for s in self._sock:
                with contextlib.suppress(OSError):
                    s.close()
        self._active = False

    # -- main thread ------------------------------------------------------------------

    def _handler(self, signum: int, frame: FrameType | None) -> None:
        self._seen += 1
        token = self.token
        if token is not None and self._seen == 1:
            token.cancel(signum)
            return
        raise Interrupted(signum)

    # -- watcher thread ---------------------------------------------------------------

    def _watch(self) -> None:
        assert self._sock is not None
        r = self._sock[0]
        count = 0
        while True:
            try:
                data = r.recv(64)
            except OSError:
                return
            if not data or self._done.is_set():
                return
            for signum in data:
                count += 1
                if count >= 2:
                    self._hard_exit(signum, _SECOND_GRACE_S)
                elif self.token is not None:
                    threading.Thread(
                        target=self._hard_exit, args=(signum, CANCEL_GRACE_S), daemon=True
                    ).start()
                elif signum == signal.SIGTERM:
                    threading.Thread(
                        target=self._hard_exit, args=(signum, TERM_GRACE_S), daemon=True
                    ).start()

    def _hard_exit(self, signum: int, grace: float) -> None:
        if self._done.wait(grace):
            return  # the main thread ended the command itself
        from deepfx.outputs.temps import remove_live_temps, remove_made_folders

        remove_live_temps()
        remove_made_folders()
        with contextlib.suppress(OSError):
            os.write(2, _message(signum))
        os._exit(128 + signum)


@contextlib.contextmanager
def cancel_with(token: CancelToken) -> Iterator[None]:
    """Within this block the first SIGINT/SIGTERM cancels ``token`` (cooperatively)
    instead of interrupting at once."""
    guard = _current
    if guard is None:
        yield
        return
    guard.token = token
    try:
        yield
    finally:
        guard.token = None
