"""The mod-script-pipe client against an in-process fake of Audacity's pipe server.

The fake speaks the protocol as measured on Audacity 3.2.4 (see docs/audacity.md): it
opens the command FIFO for reading, then the answer FIFO for writing, and answers each
line with text, ``BatchCommand finished: OK|Failed!`` and an empty line. It can
reproduce each pitfall that hangs a naive client: bare-newline answers at start-up,
nobody listening, slow answers, answers in pieces, Audacity going away.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from deepfx.audacity import pipe as pipe_module
from deepfx.audacity.pipe import AudacityPipe, format_command, pipe_paths
from deepfx.errors import (
    AudacityCommandError,
    AudacityNotRunningError,
    AudacityTimeoutError,
    UnsafePipeError,
)

pytestmark = pytest.mark.skipif(os.name != "posix", reason="FIFOs are POSIX only")


class FakeAudacity:
    def __init__(self, folder: Path, *, drop_first: int = 0, pieces: bool = False):
        self.to_path = str(folder / "to")
        self.from_path = str(folder / "from")
        os.mkfifo(self.to_path)
        os.mkfifo(self.from_path)
        self.drop_first = drop_first
        self.pieces = pieces
        self.received: list[str] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _answer(self, command: str) -> bytes | None:
        name, _, rest = command.partition(":")
        if name == "Message":
            text = rest.strip().removeprefix("Text=").strip('"')
            return f"{text}\nBatchCommand finished: OK\n\n".encode()
        if name == "GetInfo":
            return b'\n[ \n  { "name":"a", "kind":"wave" } ]\nBatchCommand finished: OK\n\n'
        if name == "Slow":
            time.sleep(0.6)
            return b"slow\nBatchCommand finished: OK\n\n"
        if name == "Quit":
            return None
        return f"Your batch command of {name} was not recognized.\n".encode() + (
            b"BatchCommand finished: Failed!\n\n"
        )

    def _serve(self) -> None:
        with open(self.to_path, "rb") as commands, open(self.from_path, "wb") as answers:
            for raw in commands:
                command = raw.decode().rstrip("\n")
                self.received.append(command)
                if self.drop_first > 0:
                    self.drop_first -= 1
                    answers.write(b"\n")
                    answers.flush()
                    continue
                reply = self._answer(command)
                if reply is None:
                    return
                if self.pieces:
                    for i in range(0, len(reply), 3):
                        answers.write(reply[i : i + 3])
                        answers.flush()
                        time.sleep(0.001)
                else:
                    answers.write(reply)
                    answers.flush()

    def stop(self) -> None:
        # unblock a server still waiting in open() or in a read
        with contextlib.suppress(OSError):
            fd = os.open(self.to_path, os.O_WRONLY | os.O_NONBLOCK)
            os.write(fd, b"Quit:\n")
            os.close(fd)
        self.thread.join(timeout=2)


@pytest.fixture
def fake(tmp_path: Path) -> Iterator[FakeAudacity]:
    server = FakeAudacity(tmp_path)
    yield server
    server.stop()


def _client(server: FakeAudacity, **kw: float) -> AudacityPipe:
    return AudacityPipe(to_path=server.to_path, from_path=server.from_path, **kw)  # type: ignore[arg-type]


def test_commands_and_answers(fake: FakeAudacity) -> None:
    with _client(fake) as pipe:
        assert pipe.do("Message", Text="hello world") == "hello world"
        assert pipe.get_info("Tracks") == [{"name": "a", "kind": "wave"}]
        reply = pipe.send("Bogus: X=1")
        assert not reply.ok and "not recognized" in reply.text
        with pytest.raises(AudacityCommandError, match="Bogus"):
            pipe.do("Bogus")


def test_invalid_getinfo_type_is_never_sent(fake: FakeAudacity) -> None:
    with _client(fake) as pipe:
        with pytest.raises(ValueError, match="Tracks"):
            pipe.get_info("Selection")
    assert not any("Selection" in c for c in fake.received)


def test_bare_newline_answers_at_startup_are_skipped(tmp_path: Path) -> None:
    server = FakeAudacity(tmp_path, drop_first=3)
    try:
        with _client(server, connect_timeout_s=10) as pipe:
            assert pipe.do("Message", Text="first real") == "first real"
            assert pipe.get_info("Tracks")[0]["name"] == "a"
    finally:
        server.stop()
    assert len([c for c in server.received if c.startswith('Message: Text="deepfx-sync')]) >= 4


def test_answers_in_small_pieces(tmp_path: Path) -> None:
    server = FakeAudacity(tmp_path, pieces=True)
    try:
        with _client(server) as pipe:
            assert pipe.do("Message", Text="piece by piece") == "piece by piece"
    finally:
        server.stop()


class RecreatingAudacity:
    """Audacity 3.2's mod-script-pipe on Linux (``PipeServer.cpp``): it serves one
    client until end-of-file, then unlinks both FIFOs and makes new ones; ``gap_s``
    stands for a busy machine between the two."""

    def __init__(self, folder: Path, *, connections: int, gap_s: float) -> None:
        self.to_path = str(folder / "to")
        self.from_path = str(folder / "from")
        self.gap_s = gap_s
        self.served = 0
        self._make()
        self.thread = threading.Thread(target=self._serve, args=(connections,), daemon=True)
        self.thread.start()

    def _make(self) -> None:
        os.mkfifo(self.to_path)
        os.mkfifo(self.from_path)

    def _serve(self, connections: int) -> None:
        for i in range(connections):
            with open(self.to_path, "rb") as commands, open(self.from_path, "wb") as answers:
                for raw in commands:
                    text = raw.decode().partition("Text=")[2].strip().strip('"')
                    answers.write(f"{text}\nBatchCommand finished: OK\n\n".encode())
                    answers.flush()
            self.served += 1
            os.unlink(self.to_path)
            os.unlink(self.from_path)
            if i + 1 < connections:
                time.sleep(self.gap_s)
                self._make()


def test_connect_right_after_another_client_waits_for_the_new_fifos(tmp_path: Path) -> None:
    server = RecreatingAudacity(tmp_path, connections=2, gap_s=0.3)
    first = AudacityPipe(to_path=server.to_path, from_path=server.from_path).connect()
    assert first.do("Message", Text="one") == "one"
    first.close()
    deadline = time.monotonic() + 5
    while os.path.lexists(server.to_path) and time.monotonic() < deadline:
        time.sleep(0.005)  # Audacity unlinks the FIFOs once it read end-of-file
    with AudacityPipe(to_path=server.to_path, from_path=server.from_path) as second:
        assert second.do("Message", Text="two") == "two"
    server.thread.join(timeout=5)
    assert server.served == 2


def test_missing_pipe_says_how_to_enable_the_module(tmp_path: Path) -> None:
    pipe = AudacityPipe(to_path=str(tmp_path / "to"), from_path=str(tmp_path / "from"))
    with pytest.raises(AudacityNotRunningError, match=r"Edit > Preferences > Modules"):
        pipe.connect()
    assert not pipe.connected


def test_nobody_listening_fails_at_the_deadline(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "to")
    os.mkfifo(tmp_path / "from")
    pipe = AudacityPipe(
        to_path=str(tmp_path / "to"), from_path=str(tmp_path / "from"), connect_timeout_s=0.3
    )
    t0 = time.monotonic()
    with pytest.raises(AudacityNotRunningError, match="nobody listens"):
        pipe.connect()
    assert time.monotonic() - t0 < 10  # it returns; no blocking open


def test_dead_process_stops_the_wait_early(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "to")
    os.mkfifo(tmp_path / "from")
    pipe = AudacityPipe(
        to_path=str(tmp_path / "to"),
        from_path=str(tmp_path / "from"),
        connect_timeout_s=60,
        is_alive=lambda: False,
    )
    t0 = time.monotonic()
    with pytest.raises(AudacityNotRunningError):
        pipe.connect()
    assert time.monotonic() - t0 < 10


def test_timeout_then_resync_discards_the_late_answer(fake: FakeAudacity) -> None:
    with _client(fake) as pipe:
        with pytest.raises(AudacityTimeoutError, match="dialog"):
            pipe.send("Slow:", timeout_s=0.1)
        # the answer to Slow arrives late; the next command must not take it for its own
        assert pipe.do("Message", Text="after") == "after"
        assert pipe.do("Message", Text="again") == "again"


def test_audacity_going_away(fake: FakeAudacity) -> None:
    pipe = _client(fake).connect()
    fake.stop()
    with pytest.raises(AudacityNotRunningError):
        for _ in range(3):  # the first write may still land in the pipe buffer
            pipe.send("Message: Text=x", timeout_s=2)
    assert not pipe.connected


def test_format_command_quotes_and_keeps_precision() -> None:
    assert format_command("Select", Start=0.1 + 0.2, End=2, Track=0, Mode="Set") == (
        'Select: Start=0.30000000000000004 End=2 Track=0 Mode="Set"'
    )
    assert format_command("SetTrack", Name="a - b", Mute=True) == 'SetTrack: Name="a - b" Mute=1'
    assert format_command("SelectAll") == "SelectAll:"
    with pytest.raises(ValueError, match="double quotes"):
        format_command("SetTrack", Name='say "hi"')
    with pytest.raises(ValueError, match="newlines"):
        format_command("SetTrack", Name="two\nlines")
    with pytest.raises(ValueError):
        format_command("Bad Name")


def test_pipe_names_per_platform(monkeypatch: pytest.MonkeyPatch) -> None:
    assert pipe_paths(uid=1000) == (
        "/tmp/audacity_script_pipe.to.1000",
        "/tmp/audacity_script_pipe.from.1000",
    )
    monkeypatch.setattr(pipe_module, "_WINDOWS", True)
    assert pipe_paths() == (r"\\.\pipe\ToSrvPipe", r"\\.\pipe\FromSrvPipe")
    assert pipe_paths()[0] == "\\\\.\\pipe\\ToSrvPipe"


# --- planted files and links in place of the pipes (issue 18.3) ------------------------


@pytest.mark.parametrize("which", ["to", "from"])
@pytest.mark.parametrize("plant", ["regular file", "symlink to a file", "symlink to a fifo"])
def test_planted_file_or_link_is_refused(tmp_path: Path, which: str, plant: str) -> None:
    paths = {"to": tmp_path / "to", "from": tmp_path / "from"}
    victim = tmp_path / "victim"
    victim.write_bytes(b"secret\n")
    real_fifo = tmp_path / "real-fifo"
    os.mkfifo(real_fifo)
    for name, path in paths.items():
        if name != which:
            os.mkfifo(path)
        elif plant == "regular file":
            path.write_bytes(b"")
        elif plant == "symlink to a file":
            path.symlink_to(victim)
        else:
            path.symlink_to(real_fifo)
    # a reader on the genuine command FIFO, so that opening it for writing would succeed
    fd = os.open(paths["to"], os.O_RDONLY | os.O_NONBLOCK) if which == "from" else -1
    try:
        pipe = AudacityPipe(
            to_path=str(paths["to"]), from_path=str(paths["from"]), connect_timeout_s=0.5
        )
        with pytest.raises(UnsafePipeError, match="refusing Audacity's"):
            pipe.connect()
        assert not pipe.connected
    finally:
        if fd >= 0:
            os.close(fd)
    assert victim.read_bytes() == b"secret\n"
    if plant == "regular file":
        assert paths[which].read_bytes() == b""  # nothing was written into it


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give a FIFO to another user")
def test_another_users_fifo_is_refused(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "to")
    os.mkfifo(tmp_path / "from")
    os.chown(tmp_path / "to", 65534, 65534)
    pipe = AudacityPipe(
        to_path=str(tmp_path / "to"), from_path=str(tmp_path / "from"), connect_timeout_s=0.5
    )
    with pytest.raises(UnsafePipeError, match="owned by another user"):
        pipe.connect()


def test_refused_pipe_is_an_audacity_error_with_exit_code_6() -> None:
    assert issubclass(UnsafePipeError, PermissionError)
    assert UnsafePipeError("x").exit_code == 6
