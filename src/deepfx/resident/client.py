"""Talk to the resident worker: start it on demand, run one apply through it.

:func:`apply` has the signature of :func:`deepfx.audacity.bridge.apply` (less ``pipe``;
``model`` is a name or a folder) and returns the same :class:`ApplyResult`. When no
worker answers it starts one (``python -m deepfx.resident.server``, in its own session,
inheriting this environment, log beside the socket) and waits for it. When the worker
dies before it began adding results, it is started again and the apply retried once;
nothing was changed in Audacity by then but the selection measurement, which undoes
itself. ``DEEPFX_RESIDENT_IDLE=0`` runs the apply in this process instead.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from deepfx import settings
from deepfx.errors import AudacityError
from deepfx.resident.place import socket_path
from deepfx.resident.protocol import LineReader, ProtocolError, error_from, send

if TYPE_CHECKING:
    from deepfx.audacity.bridge import ApplyResult, ProgressCallback

__all__ = ["WorkerGone", "apply", "ping", "start_worker", "stop_worker"]

START_TIMEOUT_S = 60.0


class WorkerGone(AudacityError):
    """The resident worker ended in the middle of a job."""


def _connect(path: Path) -> socket.socket | None:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(str(path))
    except OSError:
        sock.close()
        return None
    return sock


def start_worker(path: Path | None = None) -> socket.socket:
    """A connection to the worker, starting one if none answers."""
    path = path or socket_path()
    sock = _connect(path)
    if sock is not None:
        return sock
    import deepfx

    env = settings.child_environment()
    src = str(Path(deepfx.__file__).resolve().parent.parent)  # the same deepfx in the child
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH", "")) if p)
    log = open(str(path)[: -len(".sock")] + ".log", "ab")  # noqa: SIM115 - the child's
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "deepfx.resident.server", "--socket", str(path),
             "--idle", repr(settings.resident_idle_s())],
            env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
        )  # fmt: skip
    finally:
        log.close()
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        sock = _connect(path)
        if sock is not None:
            return sock
        if proc.poll() is not None and proc.returncode != 0:
            raise AudacityError(
                f"the resident worker did not start (exit {proc.returncode}; log: "
                f"{str(path)[: -len('.sock')]}.log); set DEEPFX_RESIDENT_IDLE=0 to run without it"
            )
        time.sleep(0.05)
    raise AudacityError(f"the resident worker did not answer within {START_TIMEOUT_S:.0f} s")


def _request(message: dict[str, Any], path: Path | None = None) -> dict[str, Any] | None:
    path = path or socket_path()
    sock = _connect(path)
    if sock is None:
        return None
    with sock:
        try:
            send(sock, message)
            return LineReader(sock).read()
        except (OSError, ProtocolError):
            return None  # a worker dying as it answers is no worker


def ping(path: Path | None = None) -> dict[str, Any] | None:
    """The worker's ``pong`` (pid, loaded models, load count), or None when none runs."""
    return _request({"op": "ping"}, path)


def stop_worker(path: Path | None = None, *, wait_s: float = 10.0) -> bool:
    """Ask the worker to exit; True when one was running (it has gone when this returns,
    unless it did not within ``wait_s``)."""
    path = path or socket_path()
    answer = _request({"op": "stop"}, path)
    if answer is None:
        return False
    pid = int(answer.get("pid", 0))
    deadline = time.monotonic() + wait_s
    while pid and time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        except PermissionError:
            break
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        time.sleep(0.05)
    return True


def apply(
    model: str | Path,
    *,
    stems: Sequence[str] | None = None,
    per_channel: bool | None = None,
    device: str = "auto",
    threads: int | None = None,
    timeout_s: float = 30.0,
    on_progress: ProgressCallback | None = None,
    cancel: Any = None,
) -> ApplyResult:
    """:func:`deepfx.audacity.bridge.apply`, run by the resident worker."""
    if settings.resident_idle_s() <= 0:
        from deepfx.audacity import bridge

        return bridge.apply(
            model, stems=stems, per_channel=per_channel, device=device, threads=threads,
            timeout_s=timeout_s, on_progress=on_progress, cancel=cancel,
        )  # fmt: skip
    _check_tracks(timeout_s)  # "nothing selected" at once, even before a worker starts
    ref = str(Path(model).expanduser().resolve()) if Path(model).expanduser().exists() else model
    request = {
        "op": "apply",
        "model": str(ref),
        "stems": list(stems) if stems is not None else None,
        "per_channel": per_channel,
        "device": device,
        "threads": threads,
        "timeout_s": timeout_s,
    }
    try:
        return _apply_once(request, on_progress, cancel)
    except WorkerGone as gone:
        if gone.adding:  # type: ignore[attr-defined]
            raise
        return _apply_once(request, on_progress, cancel)  # a fresh worker, once


def _check_tracks(timeout_s: float) -> None:
    """Read Audacity's track list here (no model, no torch) and raise the bridge's
    :class:`~deepfx.errors.SelectionError` when no audio track is selected; the pipe is
    closed again before the worker opens it (one client at a time)."""
    from deepfx.audacity import bridge
    from deepfx.errors import SelectionError

    with bridge._connected(None, timeout_s) as pipe:
        tracks = bridge._tracks(pipe)
    if not any(t.selected and t.is_wave for t in tracks):
        raise SelectionError(bridge._NOTHING_SELECTED)


def _apply_once(
    request: dict[str, Any], on_progress: ProgressCallback | None, cancel: Any
) -> ApplyResult:
    from deepfx.audacity.bridge import ApplyProgress

    sock = start_worker()
    adding = False
    with sock:
        send(sock, request)
        reader = LineReader(sock)
        sock.settimeout(0.2)  # to notice a cancel while the worker is busy
        told = False
        while True:
            if cancel is not None and cancel.cancelled and not told:
                with contextlib.suppress(OSError):
                    send(sock, {"op": "cancel"})
                told = True
            try:
                message = reader.read()
            except TimeoutError:
                continue
            except (OSError, ProtocolError):
                message = None
            if message is None:
                gone = WorkerGone(
                    "the resident worker stopped during the apply"
                    + ("; check the project in Audacity" if adding else "")
                )
                gone.adding = adding  # type: ignore[attr-defined]
                raise gone
            event = message.get("event")
            if event == "progress":
                fields = {k: v for k, v in message.items() if k != "event"}
                progress = ApplyProgress(**fields)
                adding = adding or progress.stage == "adding"
                if on_progress is not None:
                    on_progress(progress)
            elif event == "done":
                return _result(message["result"])
            elif event == "error":
                raise error_from(message)
            else:
                raise ProtocolError(f"unexpected event {str(event)[:40]!r} from the worker")


def _result(raw: dict[str, Any]) -> ApplyResult:
    from deepfx.audacity.bridge import AddedTrack, ApplyResult

    added = tuple(AddedTrack(**a) for a in raw.pop("added", ()))
    return ApplyResult(**raw, added=added)
