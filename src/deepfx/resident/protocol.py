"""The worker's wire format: one JSON object per line, in both directions, over a Unix
stream socket whose folder only its user can open.

Client to worker, first line: ``{"op": "ping"}``, ``{"op": "stop"}`` or ``{"op": "apply",
"model": str, "stems": [str] | null, "per_channel": bool | null, "device": str, "threads": int |
null, "timeout_s": float}``; later lines of an apply: ``{"op": "cancel"}``.

Worker to client: ``{"event": "pong", "pid": int, "models": [str]}``, ``{"event":
"progress", ...}`` (the fields of :class:`~deepfx.audacity.bridge.ApplyProgress`),
``{"event": "done", "result": {...}}`` (an :class:`~deepfx.audacity.bridge.ApplyResult`),
``{"event": "error", "type": str, "message": str, "exit_code": int}``. A line is at most
:data:`MAX_LINE` bytes; anything else is a :class:`ProtocolError`.
"""

from __future__ import annotations

import json
import socket
from dataclasses import asdict
from typing import Any

from deepfx.errors import AudacityError, DeepfxError

__all__ = ["MAX_LINE", "LineReader", "ProtocolError", "error_from", "error_message", "send"]

#: Longest line either side sends (a result with thousands of labels fits easily).
MAX_LINE = 4 * 1024 * 1024


class ProtocolError(AudacityError):
    """The other side sent something that is not this protocol."""


def send(sock: socket.socket, message: dict[str, Any]) -> None:
    data = json.dumps(message, separators=(",", ":")).encode("utf-8") + b"\n"
    if len(data) > MAX_LINE:
        raise ProtocolError(f"message of {len(data)} bytes is over the limit of {MAX_LINE}")
    sock.sendall(data)


class LineReader:
    """Reads JSON lines from a socket; ``None`` at a clean end of stream."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.buffer = b""

    def read(self) -> dict[str, Any] | None:
        while b"\n" not in self.buffer:
            if len(self.buffer) > MAX_LINE:
                raise ProtocolError("a line over the size limit")
            chunk = self.sock.recv(65536)
            if not chunk:
                if self.buffer:
                    raise ProtocolError("the connection ended inside a line")
                return None
            self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        try:
            message = json.loads(line)
        except ValueError as exc:
            raise ProtocolError(f"not JSON: {exc}") from None
        if not isinstance(message, dict):
            raise ProtocolError("a line that is not a JSON object")
        return message


def error_message(exc: BaseException) -> dict[str, Any]:
    """An exception as the ``error`` event (deepfx errors keep their class and exit code)."""
    if isinstance(exc, DeepfxError):
        return {
            "event": "error",
            "type": type(exc).__name__,
            "message": str(exc),
            "exit_code": int(exc.exit_code),
            "signal": int(getattr(exc, "signal", 0) or 0),
        }
    return {
        "event": "error",
        "type": "DeepfxError",
        "message": f"the resident worker failed: {type(exc).__name__}: {exc}"[:2000],
        "exit_code": 1,
        "signal": 0,
    }


def error_from(message: dict[str, Any]) -> DeepfxError:
    """The ``error`` event as the same deepfx error class (message and exit code kept)."""
    import deepfx.errors as errors

    cls = getattr(errors, str(message.get("type", "")), None)
    if not (isinstance(cls, type) and issubclass(cls, DeepfxError)):
        cls = DeepfxError
    exc = cls.__new__(cls)
    Exception.__init__(exc, str(message.get("message", "the resident worker failed")))
    exc.exit_code = int(message.get("exit_code", 1))
    if message.get("signal"):
        exc.signal = int(message["signal"])  # type: ignore[attr-defined]
    return exc


def as_dict(obj: Any) -> dict[str, Any]:
    return asdict(obj)
