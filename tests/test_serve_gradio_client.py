"""A real third-party Gradio API client (gradio_client, the one Gradio ships) against
`deepfx serve`: config, info, upload, the queue protocol, downloads, cancel."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from serve_helpers import Running, home, left_on_disk, running, write_wav

from deepfx.engine import run
from deepfx.serve.server import ServeOptions

gradio_client = pytest.importorskip("gradio_client")

TOKEN = "studio-secret-123"


@pytest.fixture(scope="module")
def srv() -> Iterator[Running]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DEEPFX_HOME", str(home()))
        mp.setenv("HF_HUB_OFFLINE", "1")
        mp.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
        mp.setenv("GRADIO_ANALYTICS_ENABLED", "False")
        opts = ServeOptions(port=0, token=TOKEN, models=("builtin/hpss", "local/slow"))
        with running(opts) as r:
            yield r


def client(srv: Running, model: str, tmp_path: Path):  # noqa: ANN201
    return gradio_client.Client(
        srv.url(model),
        headers={"Authorization": f"Bearer {TOKEN}"},
        download_files=str(tmp_path / "dl"),
        verbose=False,
        analytics_enabled=False,
    )


def test_gradio_client_controls_and_process(srv: Running, tmp_path: Path) -> None:
    sr = 16000
    t = np.arange(sr * 2) / sr
    x = (0.3 * np.sin(2 * np.pi * 220 * t) + 0.2 * (np.arange(sr * 2) % 4000 == 0)).astype(
        np.float32
    )
    song = write_wav(tmp_path / "tone.wav", x, sr)
    c = client(srv, "builtin/hpss", tmp_path)
    try:
        info = c.view_api(print_info=False, return_format="dict")
        assert set(info["named_endpoints"]) >= {"/controls", "/process", "/cancel"}
        controls = c.predict(api_name="/controls")
        assert [o["label"] for o in controls["outputs"]] == ["harmonic", "percussive"]
        harmonic, percussive = c.predict(
            gradio_client.handle_file(str(song)), False, 10.0, api_name="/process"
        )
    finally:
        c.close()
    (want,) = run("builtin/hpss", [song], tmp_path / "lib")
    for got, label in ((harmonic, "harmonic"), (percussive, "percussive")):
        a = sf.read(got, dtype="float32")[0]
        b = sf.read(want.files[label], dtype="float32")[0]
        assert np.array_equal(a, b)
    assert left_on_disk(srv.state) == []


def test_gradio_client_cancel(srv: Running, tmp_path: Path) -> None:
    audio = write_wav(tmp_path / "long.wav", np.zeros(8000 * 60, dtype=np.float32), 8000, "PCM_16")
    c = client(srv, "local/slow", tmp_path)
    try:
        job = c.submit(gradio_client.handle_file(str(audio)), False, 0.05, api_name="/process")
        for _ in range(1200):  # wait until it is processing
            st = job.status()
            if st.progress_data and st.progress_data[0].desc == "processing":
                break
            time.sleep(0.05)
        (under_way,) = srv.state.jobs.running()
        assert job.cancel()
    finally:
        c.close()
    assert under_way.stopped.wait(60)
    assert under_way.token.cancelled
    assert under_way.items[-1] == ("error", "cancelled; no output was written")
    assert left_on_disk(srv.state) == []
