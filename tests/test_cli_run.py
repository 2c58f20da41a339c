"""`deepfx run` end to end in subprocesses, including Ctrl-C (SIGINT) mid-run."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time

import engine_helpers as h
import numpy as np
import pytest
import soundfile as sf

from deepfx.card import Chunking


def deepfx(*args, **kw):
    return subprocess.run(
        [sys.executable, "-m", "deepfx", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        **kw,
    )


@pytest.fixture(scope="module")
def conv(tmp_path_factory):
    return h.conv_model(tmp_path_factory.mktemp("m") / "conv", chunk_s=0.1, overlap_s=0.04)


def test_run_writes_stems(tmp_path, conv):
    src = tmp_path / "song.wav"
    sf.write(src, (np.random.default_rng(0).standard_normal((30000, 2)) * 0.2), 22050)
    r = deepfx(
        "run", conv, src, src, "-o", tmp_path / "out", "--stems", "b", "--format", "flac", "-q"
    )
    assert r.returncode == 0, r.stderr
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["song - b.flac"]
    assert sf.info(tmp_path / "out" / "song - b.flac").frames == 30000


def test_run_errors_are_one_line(tmp_path, conv):
    r = deepfx("run", conv, tmp_path / "nope.wav", "-o", tmp_path / "out")
    assert r.returncode == 2 and "audio file not found" in r.stderr
    src = tmp_path / "a.wav"
    sf.write(src, np.zeros(1000), 8000)
    r = deepfx("run", conv, src, "-o", tmp_path / "out", "--stems", "vocals")
    assert r.returncode == 2 and "its labels are: a, b" in r.stderr
    assert "Traceback" not in r.stderr


def test_labels_format_flag(tmp_path):
    folder = h.save(
        h.Loud(8000),
        tmp_path / "loud",
        h.card(labels=["loud"], rate=8000, effect=False, chunking=Chunking(window_s=1.0)),
    )
    x = np.zeros(16000)
    x[4000:9000] = 0.9
    src = tmp_path / "a.wav"
    sf.write(src, x, 8000)
    r = deepfx("run", folder, src, "-o", tmp_path / "o", "--labels-format", "srt", "-q")
    assert r.returncode == 0, r.stderr
    text = (tmp_path / "o" / "a - labels (test-model).srt").read_text()
    assert text.startswith("1\n00:00:00,500 --> 00:00:01,130\nloud")


def test_ctrl_c_cancels_cleanly(tmp_path, conv):
    src = tmp_path / "long.wav"
    sf.write(src, (np.random.default_rng(1).standard_normal((16000 * 600, 1)) * 0.2), 16000)
    before = hashlib.sha256(src.read_bytes()).hexdigest()
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "deepfx", "run", str(conv), str(src), "-o", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ.copy(),
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # wait until outputs are being written
        if out.exists() and any(p.name.startswith(".") for p in out.iterdir()):
            break
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "cancelled" in err
    assert not out.exists() or list(out.iterdir()) == []  # a run that wrote nothing leaves nothing
    assert hashlib.sha256(src.read_bytes()).hexdigest() == before


def test_unavailable_device_is_a_clear_error(tmp_path, conv):
    src = tmp_path / "a.wav"
    sf.write(src, np.zeros(1000), 8000)
    r = deepfx("run", conv, src, "-o", tmp_path / "out", "--device", "cuda")
    assert r.returncode == 2 and "cuda" in r.stderr.lower()
    r = deepfx("run", conv, src, "-o", tmp_path / "out", "--device", "tpu")
    assert r.returncode == 2 and "unknown device" in r.stderr
