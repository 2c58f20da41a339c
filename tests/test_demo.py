"""The demo: a clip made here, every built-in run on it by the engine, offline."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from deepfx.demo import MELODY, DemoTask, make_clip, model_folder, run_demo


@pytest.fixture()
def private_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Model store and caches inside the test's folder, never the user's."""
    monkeypatch.setenv("DEEPFX_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    return tmp_path


def test_clip_has_speech_melody_and_clicks_where_it_says(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "clip.wav")
    audio, rate = sf.read(str(clip.path), dtype="float32", always_2d=True)
    assert rate == clip.sample_rate == 44100
    assert audio.shape[1] == 2
    assert abs(audio.shape[0] / rate - clip.duration_s) < 1e-6
    assert np.abs(audio).max() <= 0.9 + 1e-6
    assert [lb.text for lb in clip.melody] == [name for name, _ in MELODY]
    left, right = audio[:, 0], audio[:, 1]
    start, end = clip.speech_span
    assert clip.speech_source in ("espeak-ng", "synthetic")
    hiss = np.sqrt(np.mean(left[: int((start - 0.05) * rate)] ** 2))  # left: hiss only
    for channel in (left, right):  # speech is centred: in both channels, well above hiss
        speech = channel[int(start * rate) : int(end * rate)]
        assert np.sqrt(np.mean(speech**2)) > 5 * hiss
    note = clip.melody[0]
    seg = slice(int(note.start_s * rate) + 2000, int(note.end_s * rate) - 2000)
    win = np.hanning(seg.stop - seg.start)
    spec_left = np.abs(np.fft.rfft(left[seg] * win))
    spec_right = np.abs(np.fft.rfft(right[seg] * win))
    peak = int(np.argmax(spec_left))
    assert abs(peak * rate / len(win) - MELODY[0][1]) < 5  # the first note really is C4
    assert spec_right[peak] < 0.05 * spec_left[peak]  # and it is on the left only


def test_synthetic_voice_when_espeak_is_not_used(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "clip.wav", use_espeak=False)
    assert clip.speech_source == "synthetic"
    audio, rate = sf.read(str(clip.path), dtype="float32", always_2d=True)
    start, end = clip.speech_span
    voiced = audio[int((start + 0.5) * rate) : int((start + 1.0) * rate), 0]
    assert np.sqrt(np.mean(voiced**2)) > 0.05


def test_model_folder_is_the_store_copy_built_once(private_dirs: Path) -> None:
    from deepfx.store import Store

    folder = model_folder("builtin/hpss")
    assert (folder / "metadata.json").is_file() and (folder / "model.pt").is_file()
    assert str(folder).startswith(str(private_dirs / "home"))  # in the store, not a cache
    assert [m.name for m in Store().installed()] == ["builtin/hpss"]
    stamp = (folder / "model.pt").stat().st_mtime_ns
    assert model_folder("builtin/hpss") == folder
    assert (folder / "model.pt").stat().st_mtime_ns == stamp


def test_demo_runs_every_builtin_and_writes_stems_and_labels(private_dirs: Path) -> None:
    out = private_dirs / "demo"
    seen: list[str] = []
    result = run_demo(out, on_step=seen.append)
    assert result.ok, [s.error for s in result.steps]
    steps = {s.model: s for s in result.steps}
    assert list(steps) == [
        "builtin/hpss",
        "builtin/center-sides",
        "builtin/enhance",
        "builtin/vad",
        "builtin/notes",
        "builtin/instruments",
    ]
    clip, rate = sf.read(str(result.clip.path), dtype="float64", always_2d=True)

    hpss = steps["builtin/hpss"]
    assert hpss.kind == "effect" and hpss.outputs == ["harmonic", "percussive"]
    parts = [sf.read(str(p), dtype="float64", always_2d=True)[0] for p in hpss.files]
    assert parts[0].shape == clip.shape  # stereo stays stereo (the mono model, per channel)
    np.testing.assert_allclose(parts[0] + parts[1], clip, atol=1e-3)

    center = steps["builtin/center-sides"]
    assert center.outputs == ["center", "sides-left", "sides-right"]
    assert all(p.is_file() for p in center.files)

    enhance = steps["builtin/enhance"]
    assert enhance.outputs == ["speech", "noise"]
    assert all(p.is_file() for p in enhance.files)

    vad = steps["builtin/vad"]
    assert vad.kind == "analyzer" and vad.files[0].is_file()
    start, end = result.clip.speech_span
    assert vad.labels and all(lb.text == "speech" for lb in vad.labels)
    assert abs(vad.labels[0].start_s - start) < 0.3
    assert abs(vad.labels[-1].end_s - end) < 0.5
    assert vad.files[0].read_text().count("speech") == len(vad.labels)

    notes = steps["builtin/notes"]
    melody_start = result.clip.melody[0].start_s - 0.1
    melody_end = result.clip.melody[-1].end_s
    in_melody = [lb.text for lb in notes.labels if melody_start <= lb.start_s < melody_end]
    assert in_melody == [name for name, _ in MELODY]

    instruments = steps["builtin/instruments"]
    assert instruments.kind == "analyzer" and instruments.files[0].is_file()
    for part in result.clip.instruments:  # the passage's piano and trumpet are labelled
        inside = [
            lb.text
            for lb in instruments.labels
            if lb.start_s < part.end_s - 0.2 and lb.end_s > part.start_s + 0.2
        ]
        assert part.text in inside, (part, instruments.labels)
    assert any("making the demo clip" in s for s in seen)


def test_demo_command_prints_the_summary_table(private_dirs: Path) -> None:
    out = private_dirs / "cli-demo"
    env = dict(os.environ, COLUMNS="160")
    proc = subprocess.run(
        [sys.executable, "-m", "deepfx", "demo", "-o", str(out)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    for name in ("builtin/hpss", "builtin/enhance", "builtin/vad", "builtin/notes"):
        assert name in proc.stdout
    assert "analyzer" in proc.stdout and "effect" in proc.stdout
    assert (out / "demo-clip.wav").is_file()
    assert (out / "notes" / "demo-clip - labels (notes).txt").is_file()


def test_a_model_that_cannot_be_made_is_reported_and_the_rest_still_run(
    private_dirs: Path,
) -> None:
    tasks = (DemoTask("builtin/no-such-model", "nothing"), DemoTask("builtin/hpss", "separation"))
    result = run_demo(private_dirs / "demo", tasks=tasks)
    missing, hpss = result.steps
    assert not result.ok
    assert missing.error and "builtin/no-such-model" in missing.error
    assert hpss.ok and all(p.is_file() for p in hpss.files)
