"""The resident worker without Audacity: wire format, model cache, private folder, and a
real worker process started on demand, stopped, killed and started again.

Applies through the worker against the real Audacity are in test_audacity_resident.py.
"""

from __future__ import annotations

import os
import signal
import socket
import time
from pathlib import Path

import audacity_models as models
import pytest

from deepfx.errors import (
    AudacityNotRunningError,
    Cancelled,
    DeepfxError,
    SelectionError,
    UsageError,
)
from deepfx.resident import client, place, protocol
from deepfx.resident.cache import ModelCache, folder_signature

pytestmark = pytest.mark.skipif(os.name != "posix", reason="Unix sockets")


@pytest.fixture
def resident_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "rd"
    monkeypatch.setenv("DEEPFX_RESIDENT_DIR", str(folder))
    monkeypatch.setenv("DEEPFX_RESIDENT_IDLE", "20")
    return folder


@pytest.fixture
def worker(resident_dir: Path):  # type: ignore[no-untyped-def]
    """A real worker process for this test, stopped afterwards."""
    client.start_worker().close()
    yield place.socket_path()
    client.stop_worker()


def test_errors_keep_their_class_message_and_exit_code() -> None:
    for exc in (
        SelectionError("no audio track is selected in Audacity: click one"),
        Cancelled(signal=15),
        AudacityNotRunningError("Audacity does not answer"),
    ):
        back = protocol.error_from(protocol.error_message(exc))
        assert type(back) is type(exc)
        assert str(back) == str(exc) and back.exit_code == exc.exit_code
    assert protocol.error_from(protocol.error_message(Cancelled(signal=15))).exit_code == 143
    other = protocol.error_from(protocol.error_message(ZeroDivisionError("x")))
    assert type(other) is DeepfxError and "ZeroDivisionError" in str(other)
    unknown = protocol.error_from({"type": "os.system", "message": "m", "exit_code": 3})
    assert type(unknown) is DeepfxError  # only deepfx error classes are ever built


def test_line_reader_refuses_what_is_not_the_protocol(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(protocol, "MAX_LINE", 1000)  # a socketpair buffers less than 4 MiB
    a, b = socket.socketpair()
    with a, b:
        a.sendall(b'{"op": "ping"}\n[1, 2]\nnot json\n')
        reader = protocol.LineReader(b)
        assert reader.read() == {"op": "ping"}
        with pytest.raises(protocol.ProtocolError, match="not a JSON object"):
            reader.read()
        with pytest.raises(protocol.ProtocolError, match="not JSON"):
            reader.read()
        a.sendall(b"x" * 1500)
        with pytest.raises(protocol.ProtocolError, match="size limit"):
            reader.read()


def test_cache_loads_once_and_again_when_the_folder_changes(tmp_path: Path) -> None:
    folder = models.gain_and_invert(tmp_path)
    cache = ModelCache()
    seen: list[str] = []
    first = cache.get(str(folder), device="cpu", threads=None, on_load=seen.append)
    again = cache.get(str(folder), device="cpu", threads=None, on_load=seen.append)
    assert again is first and cache.loads == 1 and seen == ["gain_and_invert"]
    other = cache.get(str(folder), device="cpu", threads=1)  # other threads: other key
    assert other is not first and cache.loads == 2
    signature = folder_signature(folder)
    from deepfx.card import CARD_FILENAME

    card = folder / CARD_FILENAME
    st = card.stat()
    os.utime(card, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # edited on disk
    assert folder_signature(folder) != signature
    fresh = cache.get(str(folder), device="cpu", threads=None)
    assert fresh is not first and cache.loads == 3
    assert len(cache.names()) <= 2  # the changed folder's old entry is gone


def test_private_folder_is_made_0700_and_refused_when_others_can_open_it(
    resident_dir: Path,
) -> None:
    made = place.private_dir()
    assert made == resident_dir and (made.stat().st_mode & 0o777) == 0o700
    os.chmod(made, 0o755)
    with pytest.raises(UsageError, match="other users"):
        place.private_dir()
    os.chmod(made, 0o700)
    link = resident_dir.parent / "link"
    link.symlink_to(made)
    os.environ["DEEPFX_RESIDENT_DIR"] = str(link)
    with pytest.raises(UsageError, match="not a folder"):
        place.private_dir()


def test_worker_key_follows_the_store(resident_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    one = place.socket_path()
    monkeypatch.setenv("DEEPFX_HOME", str(resident_dir.parent / "other-store"))
    assert place.socket_path() != one  # another store, another worker


def test_worker_starts_on_demand_answers_and_stops(worker: Path) -> None:
    pong = client.ping()
    assert pong is not None and pong["event"] == "pong" and pong["loads"] == 0
    assert (worker.stat().st_mode & 0o777) == 0o600
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(str(worker))
    with sock:
        protocol.send(sock, {"op": "format-disk"})
        answer = protocol.LineReader(sock).read()
    assert (
        answer is not None and answer["event"] == "error" and "unknown request" in answer["message"]
    )
    assert client.stop_worker() is True
    assert client.ping() is None and not worker.exists()  # the socket went with it


def test_worker_killed_is_started_again_and_relays_errors(worker: Path) -> None:
    pong = client.ping()
    assert pong is not None
    os.kill(int(pong["pid"]), signal.SIGKILL)
    deadline = time.monotonic() + 10
    while client.ping() is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert worker.exists()  # a stale socket: the next client must cope
    # the next client starts a fresh worker over the stale socket; with no Audacity here,
    # the worker's apply fails and its error comes back as the same class
    sock = client.start_worker()
    with sock:
        protocol.send(sock, {"op": "apply", "model": "no/such-model", "timeout_s": 1})
        answer = protocol.LineReader(sock).read()
    assert answer is not None and answer["event"] == "error"
    with pytest.raises((AudacityNotRunningError, SelectionError)):
        raise protocol.error_from(answer)
    again = client.ping()
    assert again is not None and again["pid"] != pong["pid"]


def test_worker_exits_when_idle(resident_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEEPFX_RESIDENT_IDLE", "1")
    client.start_worker().close()
    path = place.socket_path()
    deadline = time.monotonic() + 30
    while path.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not path.exists() and client.ping() is None


def test_idle_zero_runs_in_this_process(
    resident_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEEPFX_RESIDENT_IDLE", "0")
    with pytest.raises(DeepfxError):
        client.apply("no/such-model", timeout_s=1)
    assert not list(resident_dir.glob("worker-*.sock")) if resident_dir.exists() else True
