"""The resident worker process: ``python -m deepfx.resident.server --socket PATH``.

One job at a time (Audacity has one scripting pipe): each connection sends one request
(:mod:`deepfx.resident.protocol`); an apply runs :func:`deepfx.audacity.bridge.apply`
with models from the :class:`~deepfx.resident.cache.ModelCache`, streams its progress,
and ends with ``done`` or ``error``. While it runs, a ``cancel`` line (or the client
going away) cancels it through the engine's token. Only this user's processes are
served (the folder is 0700, and on Linux the peer's uid is checked too). The worker
exits after ``idle_s`` seconds without a connection and removes its socket.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import os
import socket
import struct
import sys
import threading
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from deepfx.resident.cache import ModelCache
from deepfx.resident.protocol import LineReader, ProtocolError, error_message, send

__all__ = ["Worker", "main"]


def _peer_uid(conn: socket.socket) -> int | None:
    opt = getattr(socket, "SO_PEERCRED", None)
    if opt is None:
        return None  # not Linux: the 0700 folder is the guard
    raw = conn.getsockopt(socket.SOL_SOCKET, opt, struct.calcsize("3i"))
    return int(struct.unpack("3i", raw)[1])


class Worker:
    """The listening socket, the model cache and the accept loop."""

    def __init__(self, path: Path, *, idle_s: float, cache: ModelCache | None = None):
        self.path = path
        self.idle_s = idle_s
        self.cache = cache or ModelCache()
        self.listener: socket.socket | None = None
        self.stopping = False
        self.jobs = 0

    # -- start / stop -------------------------------------------------------------------

    def bind(self) -> bool:
        """Listen on ``path``; False when another live worker already does."""
        lock = os.open(str(self.path) + ".lock", os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if self.path.exists():
                probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                try:
                    probe.connect(str(self.path))
                    return False  # someone answers: that worker serves
                except OSError:
                    self.path.unlink()  # a stale socket of a worker that died
                finally:
                    probe.close()
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            old = os.umask(0o177)
            try:
                sock.bind(str(self.path))
            finally:
                os.umask(old)
            sock.listen(8)
            self.listener = sock
            self.inode = os.stat(self.path).st_ino
            return True
        finally:
            os.close(lock)

    def close(self) -> None:
        if self.listener is not None:
            self.listener.close()
            self.listener = None
            with contextlib.suppress(OSError):
                if os.stat(self.path).st_ino == self.inode:  # still ours: remove it
                    self.path.unlink()

    def serve(self) -> None:
        assert self.listener is not None
        last = time.monotonic()
        self.listener.settimeout(0.5)
        try:
            while not self.stopping:
                try:
                    conn, _ = self.listener.accept()
                except TimeoutError:
                    if time.monotonic() - last > self.idle_s:
                        break
                    continue
                with conn:
                    conn.settimeout(None)
                    uid = _peer_uid(conn)
                    if uid is not None and uid != os.getuid():
                        continue
                    with contextlib.suppress(OSError, ProtocolError):
                        self.handle(conn)
                last = time.monotonic()
        finally:
            self.close()

    # -- one connection -------------------------------------------------------------------

    def handle(self, conn: socket.socket) -> None:
        reader = LineReader(conn)
        request = reader.read()
        if request is None:
            return
        op = request.get("op")
        if op == "ping":
            send(conn, {"event": "pong", "pid": os.getpid(), "models": self.cache.names(),
                        "loads": self.cache.loads, "jobs": self.jobs})  # fmt: skip
        elif op == "stop":
            self.stopping = True
            send(conn, {"event": "stopping", "pid": os.getpid()})
        elif op == "apply":
            self.apply(conn, reader, request)
        else:
            send(conn, error_message(ProtocolError(f"unknown request {str(op)[:40]!r}")))

    def apply(self, conn: socket.socket, reader: LineReader, request: dict[str, Any]) -> None:
        from deepfx.audacity import bridge
        from deepfx.engine.events import CancelToken

        token = CancelToken()
        gone = threading.Event()

        def listen() -> None:  # a cancel line, or the client vanishing, cancels
            try:
                while True:
                    message = reader.read()
                    if message is None or message.get("op") == "cancel":
                        break
            except (OSError, ProtocolError):
                pass
            gone.set()
            token.cancel()

        def report(event: Any) -> None:
            if gone.is_set():
                return
            try:
                send(conn, {"event": "progress", **asdict(event)})
            except OSError:
                token.cancel()

        threading.Thread(target=listen, daemon=True).start()
        self.jobs += 1
        try:
            ref = str(request["model"])
            device = str(request.get("device") or "auto")
            threads = request.get("threads")
            threads = int(threads) if threads is not None else None

            def loader() -> Any:
                def loading(name: str) -> None:
                    report(bridge.ApplyProgress("loading", name, 0, 1))

                return self.cache.get(ref, device=device, threads=threads, on_load=loading)

            result = bridge.apply(
                ref,
                stems=request.get("stems"),
                per_channel=_tristate(request.get("per_channel")),
                device=device,
                threads=threads,
                timeout_s=float(request.get("timeout_s") or 30.0),
                on_progress=report,
                cancel=token,
                loader=loader,
            )
        except BaseException as exc:  # noqa: BLE001 - every error goes back to the client
            with contextlib.suppress(OSError):
                send(conn, error_message(exc))
            if not isinstance(exc, Exception):
                raise
        else:
            with contextlib.suppress(OSError):
                send(conn, {"event": "done", "result": asdict(result)})


def _tristate(value: object) -> bool | None:
    """``per_channel`` as the engine takes it: ``None`` (the default layout rule) or a bool."""
    return None if value is None else bool(value)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deepfx.resident.server")
    parser.add_argument("--socket", required=True, type=Path)
    parser.add_argument("--idle", type=float, default=600.0)
    args = parser.parse_args(argv)
    worker = Worker(args.socket, idle_s=args.idle)
    if not worker.bind():
        return 0
    print(f"deepfx resident worker {os.getpid()} on {args.socket}", file=sys.stderr, flush=True)
    worker.serve()
    return 0


if __name__ == "__main__":
    sys.exit(main())
