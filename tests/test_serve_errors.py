"""Bad requests to `deepfx serve` get a 4xx and a one-line JSON message, never a traceback;
nothing they sent is kept. Token, Host and Origin checks."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from serve_helpers import Harp, HarpError, Running, home, left_on_disk, running, write_wav

from deepfx.errors import UsageError
from deepfx.serve.jobs import Job, run_in_thread
from deepfx.serve.server import ServeOptions, check
from deepfx.serve.state import ServedModel

TOKEN = "studio-secret-123"


@pytest.fixture(scope="module")
def srv() -> Iterator[Running]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DEEPFX_HOME", str(home()))
        opts = ServeOptions(port=0, max_upload_mb=1, models=("builtin/vad", "builtin/hpss"))
        with running(opts) as r:
            yield r


@pytest.fixture
def wav(tmp_path: Path) -> Path:
    return write_wav(tmp_path / "a.wav", np.zeros(1600, dtype=np.float32), 16000)


def assert_error(r: httpx.Response, status: int, *words: str) -> str:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    message = r.json()["error"]
    assert isinstance(message, str) and message and "\n" not in message
    assert "Traceback" not in r.text
    for w in words:
        assert w in message
    return message


def test_unknown_event_id(srv: Running) -> None:
    r = httpx.get(srv.url("builtin/vad") + "/gradio_api/call/process/0123456789abcdef")
    assert_error(r, 404, "unknown event id")
    event_id = Harp(srv.url("builtin/vad")).post_call("controls")  # a real id, wrong name
    r = httpx.get(srv.url("builtin/vad") + f"/gradio_api/call/process/{event_id}")
    assert_error(r, 404, "unknown event id")
    r = httpx.get(srv.url("builtin/hpss") + f"/gradio_api/call/controls/{event_id}")
    assert_error(r, 404, "unknown event id")  # an id of another model's URL


def test_process_accepts_only_paths_upload_handed_out(srv: Running, wav: Path) -> None:
    harp = Harp(srv.url("builtin/vad"))
    controls = harp.controls()
    for path in (str(wav), "/etc/passwd", str(srv.state.storage.root / "x.wav")):
        with pytest.raises(HarpError) as exc:
            harp.post_call("process", harp.payload(controls, path))
        assert exc.value.status == 400 and "not a file this server's upload handed out" in str(
            exc.value
        )
    remote = harp.upload(wav)
    data = harp.read_stream("process", harp.post_call("process", harp.payload(controls, remote)))
    assert httpx.get(data[0]["url"]).status_code == 200  # downloaded: the job is removed
    assert httpx.get(data[0]["url"]).status_code == 404  # once
    with pytest.raises(HarpError) as exc:  # one use only
        harp.post_call("process", harp.payload(controls, remote))
    assert exc.value.status == 400


def test_non_audio_upload_is_refused_and_not_kept(srv: Running, tmp_path: Path) -> None:
    fake = tmp_path / "notes.wav"
    fake.write_text("this is not audio\n" * 100)
    r = httpx.post(
        srv.url("builtin/vad") + "/gradio_api/upload",
        files={"files": (fake.name, fake.read_bytes(), "audio/midi")},
    )
    assert_error(r, 415, "'notes.wav' is not audio deepfx can read")
    assert left_on_disk(srv.state) == []


def test_oversized_upload_is_refused(srv: Running, tmp_path: Path) -> None:
    big = write_wav(tmp_path / "big.wav", np.zeros((400000, 2), dtype=np.float32), 44100)
    r = httpx.post(
        srv.url("builtin/vad") + "/gradio_api/upload",
        files={"files": (big.name, big.read_bytes(), "audio/midi")},
    )
    assert_error(r, 413, "larger than this server's limit of 1 MB", "--max-upload-mb")

    def chunked() -> Iterator[bytes]:  # no Content-Length: refused while streaming
        yield b'--xyz\r\nContent-Disposition: form-data; name="files"; filename="big.wav"\r\n\r\n'
        for _ in range(40):
            yield b"\0" * 65536
        yield b"\r\n--xyz--\r\n"

    r = httpx.post(
        srv.url("builtin/vad") + "/gradio_api/upload",
        content=chunked(),
        headers={"Content-Type": "multipart/form-data; boundary=xyz"},
    )
    assert_error(r, 413, "larger than this server's limit")

    def many_parts() -> Iterator[bytes]:  # the limit is for the whole request, not per file
        for i in range(3):
            head = f'--xyz\r\nContent-Disposition: form-data; name="files"; filename="{i}.wav"'
            yield head.encode() + b"\r\n\r\n" + b"\0" * 500_000 + b"\r\n"
        yield b"--xyz--\r\n"

    r = httpx.post(
        srv.url("builtin/vad") + "/gradio_api/upload",
        content=many_parts(),
        headers={"Content-Type": "multipart/form-data; boundary=xyz"},
    )
    assert_error(r, 413, "larger than this server's limit")
    assert left_on_disk(srv.state) == []


@pytest.mark.parametrize(
    ("body", "ctype", "words"),
    [
        (b"not json", "application/json", "must be JSON"),
        (b"[1, 2]", "application/json", "JSON object"),
        (b'{"data": 3}', "application/json", "JSON object"),
        (b'{"data": []}', "application/json", "expected 3 values"),
        (b'{"data": [null, false, 10.0]}', "application/json", "no input audio"),
        (b'{"data": [{"path": "/x"}, "yes", 10.0]}', "application/json", "'Per channel'"),
        (b'{"data": [{"path": "/x"}, false, 0.001]}', "application/json", "between"),
    ],
)
def test_malformed_process_requests(srv: Running, body: bytes, ctype: str, words: str) -> None:
    r = httpx.post(
        srv.url("builtin/vad") + "/gradio_api/call/process",
        content=body,
        headers={"Content-Type": ctype},
    )
    assert_error(r, 400, words)


def test_malformed_queue_requests(srv: Running) -> None:
    url = srv.url("builtin/vad") + "/gradio_api/queue/join"
    assert_error(httpx.post(url, json={"fn_index": 7, "session_hash": "s"}), 400, "fn_index")
    assert_error(httpx.post(url, json={"fn_index": 1}), 400, "session_hash")
    r = httpx.post(url, json={"fn_index": 1, "session_hash": "s"})
    assert_error(r, 422, "expected 3 values")
    r = httpx.get(srv.url("builtin/vad") + "/gradio_api/queue/data")
    assert_error(r, 400, "session_hash")
    r = httpx.get(srv.url("builtin/vad") + "/gradio_api/queue/data?session_hash=nobody")
    assert r.status_code == 200 and r.text.strip() == 'data: {"msg": "close_stream"}'


def test_malformed_uploads(srv: Running) -> None:
    url = srv.url("builtin/vad") + "/gradio_api/upload"
    assert_error(httpx.post(url, content=b"raw"), 400, "multipart/form-data")
    r = httpx.post(url, files={"other": ("a.wav", b"x", "audio/wav")})
    assert_error(r, 400, "no file in a 'files' field")
    r = httpx.post(
        url, content=b"--b\r\ngarbage", headers={"Content-Type": "multipart/form-data; boundary=b"}
    )
    assert r.status_code == 400 and "error" in r.json()


def test_unknown_models_stems_routes_methods(srv: Running) -> None:
    assert_error(httpx.get(srv.origin + "/m/nobody/nothing/config"), 404, "no model")
    assert_error(httpx.get(srv.url("builtin/hpss") + "/stems/vocals/config"), 404, "harmonic")
    assert_error(httpx.get(srv.url("builtin/vad") + "/stems/speech/config"), 404, "analyzer")
    assert_error(httpx.get(srv.origin + "/nowhere"), 404, "see /")
    assert_error(httpx.get(srv.url("builtin/vad") + "/gradio_api/upload"), 405, "GET")
    r = httpx.post(srv.url("builtin/vad") + "/gradio_api/call/predict", json={"data": []})
    assert_error(r, 404, "controls, process and cancel")
    r = httpx.get(srv.url("builtin/vad") + "/gradio_api/file=/etc/passwd")
    assert_error(r, 404, "no such file")


def test_host_and_origin_checks(srv: Running) -> None:
    r = httpx.get(srv.origin + "/", headers={"Host": "evil.example:80"})
    assert_error(r, 403, "only requests to 127.0.0.1 or localhost")
    r = httpx.post(
        srv.url("builtin/vad") + "/gradio_api/call/controls",
        json={"data": []},
        headers={"Origin": "https://evil.example"},
    )
    assert_error(r, 403, "cross-origin")
    port = srv.origin.rsplit(":", 1)[1]
    r = httpx.get(srv.origin + "/", headers={"Host": f"localhost:{port}"})
    assert r.status_code == 200


def test_non_loopback_host_needs_a_token() -> None:
    with pytest.raises(UsageError, match="--token"):
        check(ServeOptions(host="0.0.0.0"))
    with pytest.raises(UsageError, match="at least 8"):
        check(ServeOptions(host="0.0.0.0", token="short"))
    check(ServeOptions(host="0.0.0.0", token=TOKEN))
    check(ServeOptions(host="127.0.0.1"))


def test_token_is_required_on_every_request(wav: Path, tmp_path: Path) -> None:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DEEPFX_HOME", str(home()))
        with running(ServeOptions(port=0, token=TOKEN, models=("builtin/vad",))) as r:
            base = r.url("builtin/vad")
            for url in (r.origin + "/", base + "/config", base + "/gradio_api/info"):
                assert_error(httpx.get(url), 401, "Authorization: Bearer")
                bad = {"Authorization": "Bearer hf_someHuggingFaceToken"}
                assert_error(httpx.get(url, headers=bad), 401)
            with pytest.raises(HarpError) as exc:
                Harp(base, token=None).upload(wav)
            assert exc.value.status == 401
            with pytest.raises(HarpError) as exc:
                Harp(base, token="wrong-token-xyz").controls()
            assert exc.value.status == 401
            files, labels = Harp(base, token=TOKEN).process(wav, tmp_path / "out")
            assert len(files) == 1 and labels == []
            ok = httpx.get(r.origin + "/", headers={"X-HF-Authorization": f"Bearer {TOKEN}"})
            assert ok.status_code == 200


def test_a_bug_is_a_500_with_text_not_a_traceback() -> None:
    """The safety net: a served model whose card is unusable makes the route fail inside."""
    broken = ServedModel("x/broken", card=None)  # type: ignore[arg-type]
    with running(ServeOptions(port=0), models=[broken]) as r:
        resp = httpx.get(r.url("x/broken") + "/config")
        assert_error(resp, 500, "internal error: AttributeError")


def test_a_failing_job_ends_its_stream_with_text_and_cleans_up() -> None:
    job = Job("process", "m", "c")
    cleaned: list[bool] = []

    def work() -> list[object]:
        raise RuntimeError("boom\nsecond line")

    run_in_thread(job, work, cleanup=lambda: cleaned.append(True))
    assert job.stopped.wait(10)
    assert job.items[-1] == ("error", "internal error: RuntimeError: boom second line")
    assert cleaned == [True]
