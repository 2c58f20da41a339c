"""`deepfx serve` over real HTTP, replaying HARP 3.0.1's request sequence
(upload -> controls -> process -> poll the stream -> download) for an effect and an analyzer;
results equal `deepfx run`'s on the same file. Also two clients at once, cancel, and what is
left in the private temp folder."""

from __future__ import annotations

import json
import os
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
import soundfile as sf
from serve_helpers import Harp, HarpError, Running, home, left_on_disk, running, write_wav
from signals import chord, clicks

from deepfx.serve.server import ServeOptions


@pytest.fixture(scope="module")
def srv() -> Iterator[Running]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DEEPFX_HOME", str(home()))
        mp.setenv("HF_HUB_OFFLINE", "1")
        with running(ServeOptions(port=0, max_upload_mb=2)) as r:
            yield r


@pytest.fixture(scope="module")
def song(tmp_path_factory: pytest.TempPathFactory) -> Path:
    sr = 22050
    mono = 0.5 * chord(3.0, sr) / 3 + 0.5 * clicks(3.0, sr)
    stereo = np.stack([mono, 0.8 * mono], axis=1)
    return write_wav(tmp_path_factory.mktemp("in") / "song.wav", stereo, sr)


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from signals import espeak_speech, have_espeak, with_silence

    if not have_espeak():
        pytest.skip("espeak-ng is not installed")
    sr = 16000
    x = with_silence(espeak_speech(sr, "Hello, this is a test."), sr, before_s=0.5, after_s=0.5)
    return write_wav(tmp_path_factory.mktemp("in") / "talk.wav", x, sr)


def deepfx_run(*args: str) -> None:
    """`deepfx run ...` through the real CLI entry point (in this process: one torch import)."""
    from deepfx.cli.app import main

    with pytest.raises(SystemExit) as exc:
        main(["run", *args, "-q"])
    assert exc.value.code == 0


def read(path: Path) -> np.ndarray:
    return sf.read(path, dtype="float32", always_2d=True)[0]


def test_index_lists_every_model_with_its_harp_url(srv: Running) -> None:
    r = httpx.get(srv.origin + "/")
    assert r.status_code == 200 and "text/html" in r.headers["content-type"]
    for name in ("builtin/hpss", "builtin/vad", "local/slow"):
        assert f"{srv.origin}/m/{name}" in r.text
    assert f"{srv.origin}/m/builtin/hpss/stems/percussive" in r.text
    page = httpx.get(srv.url("builtin/vad"), follow_redirects=True)  # HARP's "open in browser"
    assert page.status_code == 200 and f"{srv.origin}/m/builtin/vad" in page.text
    models = {m["name"]: m for m in httpx.get(srv.origin + "/models").json()}
    assert models["builtin/vad"]["type"] == "analyzer"
    assert models["builtin/hpss"]["url"] == f"{srv.origin}/m/builtin/hpss"


def test_effect_controls_are_harps_shapes(srv: Running) -> None:
    c = Harp(srv.url("builtin/hpss")).controls()
    assert set(c["card"]) == {"name", "description", "author", "tags"}
    types = [i["type"] for i in c["inputs"]]
    assert types[0] == "audio_track" and c["inputs"][0]["required"] is True
    assert "number_box" in types and "toggle" in types  # hpss is mono: per-channel applies
    box = next(i for i in c["inputs"] if i["type"] == "number_box")
    assert box["min"] == box["minimum"] and box["max"] == box["maximum"]
    assert [o["label"] for o in c["outputs"]] == ["harmonic", "percussive"]
    assert all(o["type"] == "audio_track" for o in c["outputs"])
    one = Harp(srv.url("builtin/hpss") + "/stems/percussive").controls()
    assert [o["label"] for o in one["outputs"]] == ["percussive"]


def test_effect_equals_deepfx_run(srv: Running, song: Path, tmp_path: Path) -> None:
    harp = Harp(srv.url("builtin/hpss"))
    files, labels = harp.process(song, tmp_path / "harp")
    assert labels == []
    assert [f.name for f in files] == ["song - harmonic.wav", "song - percussive.wav"]
    deepfx_run("builtin/hpss", str(song), "-o", str(tmp_path / "cli"))
    for f in files:
        assert np.array_equal(read(f), read(tmp_path / "cli" / f.name))
    stages = [p["stage"] for p in harp.progress]
    assert "processing" in stages and harp.progress[-1]["fraction"] <= 1.0
    assert left_on_disk(srv.state) == []  # downloaded once each: all removed


def test_stem_url_keeps_only_that_stem(srv: Running, song: Path, tmp_path: Path) -> None:
    files, _ = Harp(srv.url("builtin/hpss") + "/stems/percussive").process(song, tmp_path)
    assert [f.name for f in files] == ["song - percussive.wav"]
    deepfx_run("builtin/hpss", str(song), "-o", str(tmp_path / "cli"), "--stems", "percussive")
    assert np.array_equal(read(files[0]), read(tmp_path / "cli" / files[0].name))


def test_analyzer_labels_equal_deepfx_run(srv: Running, speech: Path, tmp_path: Path) -> None:
    harp = Harp(srv.url("builtin/vad"))
    c = harp.controls()
    assert [o["type"] for o in c["outputs"]] == ["audio_track", "json"]
    files, labels = harp.process(speech, tmp_path / "harp", controls=c)
    assert len(files) == 1 and np.array_equal(read(files[0]), read(speech))  # the input back
    deepfx_run("builtin/vad", str(speech), "-o", str(tmp_path / "cli"), "--labels-format", "json")
    want = json.loads((tmp_path / "cli" / "talk - labels (vad).json").read_text())
    assert want, "the CLI found speech"
    assert [lb["label"] for lb in labels] == [w["text"] for w in want]
    assert [lb["t"] for lb in labels] == [w["start_s"] for w in want]
    ends = [lb["t"] + lb["duration"] for lb in labels]
    assert ends == pytest.approx([w["end_s"] for w in want], abs=1e-9)
    for lb in labels:
        assert lb["label_type"] == "AudioLabel" and isinstance(lb["color"], int) and lb["color"]
        assert isinstance(lb["description"], str)


def test_two_clients_at_once(srv: Running, song: Path, speech: Path, tmp_path: Path) -> None:
    """Two HARPs on the same model and one on another, all at once: every result is right."""
    jobs = {
        "a": ("builtin/hpss", song),
        "b": ("builtin/hpss", song),
        "c": ("builtin/vad", speech),
    }
    results: dict[str, tuple[list[Path], list[dict]]] = {}
    errors: list[BaseException] = []

    def one(key: str) -> None:
        model, audio = jobs[key]
        try:
            results[key] = Harp(srv.url(model)).process(audio, tmp_path / key)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(k,)) for k in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not errors, errors
    for name in ("song - harmonic.wav", "song - percussive.wav"):
        assert np.array_equal(read(tmp_path / "a" / name), read(tmp_path / "b" / name))
    assert results["c"][1] and results["c"][1][0]["label"] == "speech"
    assert srv.state.cache.loads[("builtin/hpss", "auto")] == 1  # loaded once, shared


def test_cancel_stops_the_run_and_leaves_nothing(srv: Running, tmp_path: Path) -> None:
    audio = write_wav(tmp_path / "long.wav", np.zeros(8000 * 60, dtype=np.float32), 8000, "PCM_16")
    harp = Harp(srv.url("local/slow"))
    controls = harp.controls()
    event_id = harp.post_call("process", harp.payload(controls, harp.upload(audio)))
    url = f"{harp.base}/gradio_api/call/process/{event_id}"
    lines: list[str] = []
    with httpx.stream("GET", url, headers=harp.headers(), timeout=120) as r:
        it = r.iter_lines()
        for line in it:
            lines.append(line)
            if '"stage": "processing"' in line:
                assert harp.cancel() == []  # returns once the run has stopped
                break
        lines.extend(it)
    assert "event: error" in lines and "event: complete" not in lines
    message = json.loads(lines[lines.index("event: error") + 1][len("data: ") :])
    assert message.startswith("cancelled")
    job = srv.state.jobs.get(event_id)
    assert job is not None and job.done and job.token.cancelled
    assert left_on_disk(srv.state) == []


def test_storage_is_private(srv: Running) -> None:
    mode = stat.S_IMODE(os.stat(srv.state.storage.root).st_mode)
    assert mode == 0o700


def test_shutdown_removes_the_temp_folder(song: Path) -> None:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DEEPFX_HOME", str(home()))
        with running(ServeOptions(port=0, models=("builtin/vad",))) as r:
            Harp(r.url("builtin/vad")).upload(song)  # an upload never processed
            root = r.state.storage.root
            assert any(root.rglob("song.wav"))
    assert not root.exists()


def test_harp_error_for_a_model_that_breaks_its_contract(srv: Running, tmp_path: Path) -> None:
    loud = write_wav(tmp_path / "loud.wav", np.full(8000, 0.95, dtype=np.float32), 8000)
    with pytest.raises(HarpError) as exc:
        Harp(srv.url("local/breaks")).process(loud, tmp_path / "out")
    msg = json.loads(str(exc.value)[len("data: ") :])
    assert "broke its contract" in msg and "local/breaks" in msg
    assert str(srv.state.storage.root) not in msg
    assert left_on_disk(srv.state) == []
