"""A client for Audacity's scripting module, mod-script-pipe.

Audacity (3.x) with mod-script-pipe enabled listens on two pipes: commands go in through
one, answers come out of the other. On Linux and macOS they are named FIFOs,
``/tmp/audacity_script_pipe.to.<uid>`` and ``/tmp/audacity_script_pipe.from.<uid>``; on
Windows they are the named pipes ``\\\\.\\pipe\\ToSrvPipe`` and ``\\\\.\\pipe\\FromSrvPipe``.
Each command is one line (``Name: Key=value ...``); each answer is any number of lines,
then ``BatchCommand finished: OK`` (or ``Failed!``), then an empty line.

Every wait here has a deadline, because each naive step hangs forever in practice:

* the FIFO files outlive Audacity, and a blocking ``open`` on them never returns when
  nobody listens: the command pipe is opened with ``O_NONBLOCK`` (``ENXIO`` means "nobody
  listening yet") and retried until a deadline;
* commands sent in Audacity's first fraction of a second are answered with a bare newline
  and dropped: :meth:`AudacityPipe.connect` polls with a harmless ``Message:`` carrying a
  fresh token until that token comes back, discarding anything before it;
* a modal dialog in Audacity blocks the pipe: every command has a timeout, and after a
  timeout the next command first resynchronises (a late answer would otherwise be read as
  the answer to the next command).

The FIFOs sit in ``/tmp``, where any local user can plant a file or a symbolic link under
their names before Audacity starts. Each pipe is therefore checked with ``lstat`` (a FIFO,
not a link, owned by the current user), opened with ``O_NOFOLLOW`` and checked again with
``fstat`` on the opened descriptor (so a swap between the check and the open is caught);
anything else is refused with :class:`~deepfx.errors.UnsafePipeError` and nothing is
written. On Windows the pipes live in the kernel's named-pipe namespace, not in a folder
other users can write to, so there is no link to plant; see docs/threat-model.md.

Example
-------
>>> with AudacityPipe() as pipe:                       # doctest: +SKIP
...     tracks = pipe.get_info("Tracks")
...     pipe.do("Select", Start=0, End=1.5, Track=0)
"""

from __future__ import annotations

import errno
import json
import os
import queue
import stat
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from deepfx.errors import (
    AudacityCommandError,
    AudacityError,
    AudacityNotRunningError,
    AudacityTimeoutError,
    UnsafePipeError,
)

__all__ = [
    "DEFAULT_CONNECT_TIMEOUT_S",
    "DEFAULT_TIMEOUT_S",
    "ENABLE_STEPS",
    "GETINFO_TYPES",
    "AudacityPipe",
    "Reply",
    "format_command",
    "pipe_paths",
]

#: Seconds a command may take before :class:`AudacityTimeoutError` (a modal dialog in
#: Audacity is the usual reason an answer never comes).
DEFAULT_TIMEOUT_S = 30.0
#: Seconds :meth:`AudacityPipe.connect` waits for Audacity to answer.
DEFAULT_CONNECT_TIMEOUT_S = 5.0
#: The only values ``GetInfo: Type=`` accepts; any other one opens a modal dialog in
#: Audacity 3.2 and hangs the pipe, so they are checked before sending.
GETINFO_TYPES = (
    "Commands",
    "Menus",
    "Preferences",
    "Tracks",
    "Clips",
    "Envelopes",
    "Labels",
    "Boxes",
)

#: What to do when the pipe is missing: the module ships with Audacity, disabled.
ENABLE_STEPS = (
    "in Audacity open Edit > Preferences > Modules, set mod-script-pipe to 'Enabled', "
    "then quit and restart Audacity (the module loads only at start-up)"
)

_FINISHED = b"BatchCommand finished: "
_WINDOWS = sys.platform == "win32"


def pipe_paths(*, uid: int | None = None) -> tuple[str, str]:
    """The (command, answer) pipe names of mod-script-pipe on this platform.

    ``uid`` defaults to the current user's: on Linux and macOS each user's Audacity has
    its own pair, so a second Audacity started by the same user takes over the names.
    """
    if _WINDOWS:
        return r"\\.\pipe\ToSrvPipe", r"\\.\pipe\FromSrvPipe"
    if uid is None:
        uid = os.getuid()
    return f"/tmp/audacity_script_pipe.to.{uid}", f"/tmp/audacity_script_pipe.from.{uid}"


@dataclass(frozen=True)
class Reply:
    """One answer of Audacity: ``ok`` from the ``BatchCommand finished`` line, and the
    lines before it (``text``, without the trailing newline)."""

    command: str
    ok: bool
    text: str

    def json(self) -> Any:
        """Parse ``text`` as JSON (``GetInfo: ... Format=JSON`` answers)."""
        try:
            return json.loads(self.text)
        except json.JSONDecodeError as exc:
            raise AudacityCommandError(
                f"Audacity answered {self.command!r} with text that is not JSON "
                f"({exc.msg}): {self.text[:200]!r}"
            ) from None


def format_command(name: str, /, **params: object) -> str:
    """Build one command line, quoting string values.

    Booleans become ``1``/``0``, numbers are written with full precision (``repr``) so
    times survive to the sample. Audacity has no escape for ``"`` inside a quoted value
    and a newline would end the command, so both are refused.
    """
    if not name or not name.replace("_", "").replace("-", "").isalnum():
        raise ValueError(f"not an Audacity command name: {name!r}")
    parts = [f"{name}:"]
    for key, value in params.items():
        if value is None:
            continue
        if isinstance(value, bool):
            text = "1" if value else "0"
        elif isinstance(value, (int, float)):
            text = repr(float(value)) if isinstance(value, float) else str(value)
        else:
            text = str(value)
            if '"' in text or "\n" in text or "\r" in text:
                raise ValueError(
                    f"{key}={text!r}: Audacity commands cannot carry double quotes or newlines"
                )
            text = f'"{text}"'
        parts.append(f"{key}={text}")
    return " ".join(parts)


class _Transport:
    """Byte pipe pair with deadlines; one implementation per platform."""

    def write(self, data: bytes, deadline: float) -> None:
        raise NotImplementedError

    def read(self, deadline: float) -> bytes:
        """Bytes that arrived before ``deadline``; ``b""`` when none did."""
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


def check_fifo(path: str, st: os.stat_result, *, what: str) -> None:
    """Refuse anything but a FIFO owned by the current user (``st`` from lstat or fstat).

    A link, a regular file, a device or another user's FIFO under Audacity's pipe name is
    what a hostile local user would plant to read or redirect deepfx's commands.
    """
    if stat.S_ISLNK(st.st_mode):
        kind = "a symbolic link"
    elif not stat.S_ISFIFO(st.st_mode):
        kind = "a regular file" if stat.S_ISREG(st.st_mode) else "not a FIFO"
    elif st.st_uid != os.getuid():
        kind = f"a FIFO owned by another user (uid {st.st_uid})"
    else:
        return
    raise UnsafePipeError(
        f"refusing Audacity's {what} {path}: it is {kind}, not a FIFO of yours; someone may "
        "have planted it. Quit Audacity, delete the file, and start Audacity again"
    )


def _open_fifo(path: str, flags: int, *, what: str) -> int:
    """``os.open`` a FIFO without following links, checked before and after the open."""
    try:
        check_fifo(path, os.lstat(path), what=what)
    except FileNotFoundError:
        pass  # the open below reports it (ENOENT), as before
    fd = os.open(path, flags | os.O_NOFOLLOW)
    try:
        check_fifo(path, os.fstat(fd), what=what)
    except BaseException:
        os.close(fd)
        raise
    return fd


#: Seconds a missing FIFO is waited for. Measured in Audacity 3.2's mod-script-pipe
#: (``PipeServer.cpp``): when a client closes, Audacity reads end-of-file, *unlinks both
#: FIFOs* and makes new ones, so right after another client (the resident worker, the CLI)
#: let go the files are briefly absent. A client that connects then must wait, not say
#: "Audacity is not running".
RECREATE_GRACE_S = 1.0


def _appears(path: str, until: float) -> bool:
    """``path`` exists, or appears before the monotonic time ``until``."""
    while not os.path.lexists(path):
        if time.monotonic() >= until:
            return False
        time.sleep(0.02)
    return True


class _FifoTransport(_Transport):
    """Linux / macOS: two FIFOs, both opened non-blocking so nothing waits forever."""

    def __init__(self, to_path: str, from_path: str, deadline: float, alive: Callable[[], bool]):
        self._w = -1
        self._r = -1
        self._writer_seen = False
        if not _appears(to_path, min(deadline, time.monotonic() + RECREATE_GRACE_S)):
            raise AudacityNotRunningError(
                f"Audacity's scripting pipe {to_path} does not exist: Audacity is not running "
                f"or mod-script-pipe is not enabled. Start Audacity; to enable the module, "
                f"{ENABLE_STEPS}"
            )
        # Audacity opens the command FIFO for reading first, then the answer FIFO for
        # writing; a non-blocking open for writing fails with ENXIO until it reads.
        while True:
            try:
                self._w = _open_fifo(to_path, os.O_WRONLY | os.O_NONBLOCK, what="command pipe")
                break
            except UnsafePipeError:
                raise
            except OSError as exc:
                if exc.errno == errno.ELOOP:  # O_NOFOLLOW met a link planted after the check
                    raise UnsafePipeError(
                        f"refusing Audacity's command pipe {to_path}: it is a symbolic link"
                    ) from None
                if exc.errno not in (errno.ENXIO, errno.ENOENT):
                    raise AudacityNotRunningError(
                        f"cannot open Audacity's scripting pipe {to_path}: {exc.strerror}"
                    ) from None
            if time.monotonic() >= deadline or not alive():
                raise AudacityNotRunningError(
                    f"nobody listens on Audacity's scripting pipe {to_path}: the file is left "
                    "over from an Audacity that has exited, or Audacity is still starting. "
                    "Start Audacity and try again; if it is running, mod-script-pipe may be "
                    f"disabled: {ENABLE_STEPS}"
                )
            time.sleep(0.02)
        try:
            self._r = _open_fifo(from_path, os.O_RDONLY | os.O_NONBLOCK, what="answer pipe")
        except UnsafePipeError:
            os.close(self._w)
            raise
        except OSError as exc:
            os.close(self._w)
            raise AudacityNotRunningError(
                f"cannot open Audacity's answer pipe {from_path}: {exc.strerror}; restart Audacity"
            ) from None

    def write(self, data: bytes, deadline: float) -> None:
        import select

        view = memoryview(data)
        while view:
            try:
                n = os.write(self._w, view)
                view = view[n:]
                continue
            except BlockingIOError:
                pass
            except BrokenPipeError:
                raise AudacityNotRunningError(
                    "Audacity closed its scripting pipe (it was quit or crashed); start it again"
                ) from None
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AudacityTimeoutError(
                    "Audacity does not read commands (a dialog may be open in Audacity: close it)"
                )
            select.select([], [self._w], [], remaining)

    def read(self, deadline: float) -> bytes:
        import select

        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return b""
            ready, _, _ = select.select([self._r], [], [], min(remaining, 0.25))
            if not ready:
                continue
            try:
                data = os.read(self._r, 65536)
            except BlockingIOError:
                continue
            if data:
                self._writer_seen = True
                return data
            # End of file: no writer. Before Audacity has opened its end that is normal
            # (it does so right after reading our first bytes); afterwards it means
            # Audacity went away.
            if self._writer_seen:
                raise AudacityNotRunningError(
                    "Audacity closed its scripting pipe (it was quit or crashed); start it again"
                )
            time.sleep(0.01)

    def close(self) -> None:
        for fd in (self._w, self._r):
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self._w = self._r = -1


class _WindowsPipeTransport(_Transport):
    """Windows: two named pipes. Reads block in Windows, so a daemon thread reads and
    hands the bytes over through a queue that has a timeout."""

    def __init__(self, to_path: str, from_path: str, deadline: float, alive: Callable[[], bool]):
        while True:
            try:
                self._w = open(to_path, "wb", buffering=0)  # noqa: SIM115 - closed in close()
                break
            except OSError as exc:
                if time.monotonic() >= deadline or not alive():
                    raise AudacityNotRunningError(
                        f"cannot open Audacity's scripting pipe {to_path} ({exc}): Audacity is "
                        f"not running or mod-script-pipe is not enabled. Start Audacity; to "
                        f"enable the module, {ENABLE_STEPS}"
                    ) from None
                time.sleep(0.05)
        try:
            self._r = open(from_path, "rb", buffering=0)  # noqa: SIM115 - closed in close()
        except OSError as exc:
            self._w.close()
            raise AudacityNotRunningError(
                f"cannot open Audacity's answer pipe {from_path} ({exc}); restart Audacity"
            ) from None
        self._queue: queue.Queue[bytes] = queue.Queue()
        threading.Thread(target=self._pump, name="deepfx-audacity-pipe", daemon=True).start()

    def _pump(self) -> None:
        try:
            while True:
                data = self._r.read(65536)
                self._queue.put(data or b"")
                if not data:
                    return
        except OSError:
            self._queue.put(b"")

    def write(self, data: bytes, deadline: float) -> None:
        try:
            self._w.write(data)
            self._w.flush()
        except OSError:
            raise AudacityNotRunningError(
                "Audacity closed its scripting pipe (it was quit or crashed); start it again"
            ) from None

    def read(self, deadline: float) -> bytes:
        try:
            data = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            return b""
        if not data:
            raise AudacityNotRunningError(
                "Audacity closed its scripting pipe (it was quit or crashed); start it again"
            )
        return data.replace(b"\r\n", b"\n")

    def close(self) -> None:
        for f in (self._w, self._r):
            try:
                f.close()
            except OSError:
                pass


class AudacityPipe:
    """A connection to a running Audacity through mod-script-pipe.

    Parameters
    ----------
    to_path, from_path
        The command and answer pipes; default: :func:`pipe_paths`.
    timeout_s
        Default limit for one command, in seconds.
    connect_timeout_s
        How long :meth:`connect` waits for Audacity to answer, in seconds.
    is_alive
        Optional check that the Audacity process still runs (a test harness passes its
        ``Popen.poll() is None``); connecting stops waiting as soon as it says no.
    """

    def __init__(
        self,
        *,
        to_path: str | None = None,
        from_path: str | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S,
        is_alive: Callable[[], bool] | None = None,
    ):
        default_to, default_from = pipe_paths()
        self.to_path = to_path or default_to
        self.from_path = from_path or default_from
        self.timeout_s = timeout_s
        self.connect_timeout_s = connect_timeout_s
        self._is_alive = is_alive or (lambda: True)
        self._transport: _Transport | None = None
        self._buffer = b""
        self._desynced = False

    # --- connection --------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._transport is not None

    def connect(self) -> AudacityPipe:
        """Open both pipes and wait until Audacity really answers.

        Raises :class:`AudacityNotRunningError` when the pipe is missing or nobody
        listens before ``connect_timeout_s``.
        """
        if self._transport is not None:
            return self
        deadline = time.monotonic() + self.connect_timeout_s
        cls = _WindowsPipeTransport if _WINDOWS else _FifoTransport
        while True:
            self._transport = cls(self.to_path, self.from_path, deadline, self._is_alive)
            self._buffer = b""
            try:
                self._sync(deadline, poll_s=0.3)
                return self
            except AudacityTimeoutError:
                self.close()
                raise AudacityNotRunningError(
                    f"Audacity did not answer on its scripting pipe within "
                    f"{self.connect_timeout_s:g} s: close any open dialog in Audacity and try "
                    "again; if it keeps happening, restart Audacity"
                ) from None
            except AudacityNotRunningError:
                self.close()
                # Opened the FIFOs of the connection another client just closed, as
                # Audacity was replacing them (see RECREATE_GRACE_S): open the new ones.
                if time.monotonic() >= deadline or not self._is_alive():
                    raise
                time.sleep(0.05)
            except BaseException:
                self.close()
                raise

    def close(self) -> None:
        """Close the pipes (Audacity keeps running and accepts a new connection)."""
        if self._transport is not None:
            self._transport.close()
        self._transport = None
        self._buffer = b""
        self._desynced = False

    def __enter__(self) -> AudacityPipe:
        return self.connect()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def resync(self, *, timeout_s: float | None = None) -> None:
        """Discard late answers until Audacity echoes a fresh token.

        Needed after a timeout: the late answer to the old command would otherwise be
        taken for the answer to the next one.
        """
        self._require()
        self._sync(time.monotonic() + (timeout_s or self.timeout_s), poll_s=None)

    # --- commands ----------------------------------------------------------------------

    def send(self, command: str, *, timeout_s: float | None = None) -> Reply:
        """Send one raw command line and return Audacity's answer (OK or not)."""
        if "\n" in command or "\r" in command:
            raise ValueError("one command per call: the command contains a newline")
        transport = self._require()
        if self._desynced:
            self.resync(timeout_s=timeout_s)
        deadline = time.monotonic() + (timeout_s or self.timeout_s)
        try:
            transport.write(command.encode("utf-8") + b"\n", deadline)
            return self._read_reply(command, deadline)
        except AudacityTimeoutError:
            self._desynced = True
            raise
        except AudacityNotRunningError:
            self.close()
            raise

    def do(self, name: str, /, *, timeout_s: float | None = None, **params: object) -> str:
        """Run command ``name`` with ``params``; raise :class:`AudacityCommandError` when
        Audacity answers ``Failed!``. Returns the answer's text."""
        command = format_command(name, **params)
        reply = self.send(command, timeout_s=timeout_s)
        if not reply.ok:
            detail = f": {reply.text.strip()}" if reply.text.strip() else ""
            raise AudacityCommandError(f"Audacity refused {command!r}{detail}")
        return reply.text

    def get_info(self, type_: str, *, timeout_s: float | None = None) -> Any:
        """``GetInfo: Type=<type_> Format=JSON``, parsed. ``type_`` is checked against
        :data:`GETINFO_TYPES` first, since Audacity answers a wrong one with a dialog."""
        if type_ not in GETINFO_TYPES:
            raise ValueError(f"GetInfo type must be one of {', '.join(GETINFO_TYPES)}")
        command = format_command("GetInfo", Type=type_, Format="JSON")
        reply = self.send(command, timeout_s=timeout_s)
        if not reply.ok:
            raise AudacityCommandError(f"Audacity refused {command!r}")
        return reply.json()

    # --- internals ---------------------------------------------------------------------

    def _require(self) -> _Transport:
        if self._transport is None:
            raise AudacityError("not connected to Audacity: call connect() first")
        return self._transport

    def _read_reply(self, command: str, deadline: float) -> Reply:
        transport = self._require()
        while True:
            reply = self._take_reply(command)
            if reply is not None:
                return reply
            data = transport.read(deadline)
            if not data:
                raise AudacityTimeoutError(
                    f"Audacity did not answer {command!r} in time: a dialog may be open in "
                    "Audacity (close it and try again), or the operation takes longer than "
                    "the timeout"
                )
            self._buffer += data

    def _take_reply(self, command: str) -> Reply | None:
        """Cut one complete answer off the front of the buffer, if there is one."""
        at = self._buffer.find(_FINISHED)
        if at < 0:
            return None
        end = self._buffer.find(b"\n\n", at)
        if end < 0:
            return None
        status = self._buffer[at + len(_FINISHED) : end].strip()
        body = self._buffer[:at]
        self._buffer = self._buffer[end + 2 :]
        # Leading bare newlines are what Audacity sends for commands it dropped at
        # start-up, and most answers begin with an empty line; neither is content.
        text = body.decode("utf-8", errors="replace").lstrip("\n").rstrip("\n")
        return Reply(command=command, ok=status == b"OK", text=text)

    def _sync(self, deadline: float, *, poll_s: float | None) -> None:
        """Send ``Message: Text=<token>`` (again every ``poll_s`` seconds when given) and
        read until an answer carries the token; everything before it is discarded."""
        transport = self._require()
        token = f"deepfx-sync-{uuid.uuid4().hex}"
        command = format_command("Message", Text=token)
        next_send = 0.0
        sends = 0
        while True:
            now = time.monotonic()
            if now >= deadline:
                self._desynced = True
                raise AudacityTimeoutError(
                    "Audacity stopped answering on its scripting pipe: a dialog may be open in "
                    "Audacity (close it), or restart Audacity"
                )
            if now >= next_send:
                transport.write(command.encode() + b"\n", deadline)
                sends += 1
                next_send = now + poll_s if poll_s else float("inf")
            while True:
                reply = self._take_reply(command)
                if reply is None:
                    break
                if token in reply.text:
                    self._buffer = b""
                    self._desynced = False
                    if sends > 1:
                        # Answers to the repeated polls may still be on their way;
                        # Audacity answers in order, so one more single sync drains them.
                        self._sync(deadline, poll_s=None)
                    return
            data = transport.read(min(deadline, next_send))
            if data:
                self._buffer += data
            elif not self._is_alive():
                raise AudacityNotRunningError("Audacity exited while deepfx was connecting")
