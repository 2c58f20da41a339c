"""Applies through the resident worker, against the real Audacity: the model is loaded
once for repeated applies (the CLI's and the window's), progress starts with the
loading stage and names chunks, and a cancel stops the worker's apply with the project
left as it was. Latencies are printed (run with -s), never asserted."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import audacity_models as models
import numpy as np
import pytest
from audacity_harness import (  # noqa: F401 - fixtures used by name
    AudacitySession,
    audacity_fixture,
    audacity_session_fixture,
)

from deepfx.errors import Cancelled
from deepfx.resident import client

pytestmark = pytest.mark.audacity
RATE = models.RATE


@pytest.fixture
def resident(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("DEEPFX_RESIDENT_DIR", str(tmp_path / "rd"))
    monkeypatch.setenv("DEEPFX_RESIDENT_IDLE", "60")
    yield
    client.stop_worker()


def _voice(s: AudacitySession, tmp: Path, seconds: float = 3.0) -> None:
    t = np.arange(int(seconds * RATE)) / RATE
    signal = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    s.import_audio(tmp / "voice.wav", signal, RATE)


def _timed_apply(s: AudacitySession, model: Path, **kw: Any) -> tuple[float, float, list[Any]]:
    """(seconds to the first progress event, seconds in all, the events)."""
    events: list[Any] = []
    first: list[float] = []
    t0 = time.monotonic()

    def seen(ev: Any) -> None:
        if not first:
            first.append(time.monotonic() - t0)
        events.append(ev)

    with s.released():  # the worker opens the pipe itself
        client.apply(model, on_progress=seen, **kw)
    return (first[0] if first else float("nan")), time.monotonic() - t0, events


def test_repeat_apply_does_not_load_the_model_again(
    audacity: AudacitySession, tmp_path: Path, resident: None
) -> None:
    _voice(audacity, tmp_path)
    model = models.gain_and_invert(tmp_path / "models")
    assert audacity.pipe is not None
    figures = []
    stages = []
    for _ in range(3):
        audacity.pipe.do("Select", Start=0.5, End=2.5, Track=0)
        first_s, total_s, events = _timed_apply(audacity, model, stems=["half"])
        figures.append((first_s, total_s))
        stages.append([e.stage for e in events])
    assert stages[0][0] == "loading" and "loading" not in stages[1] + stages[2]
    for s in stages:
        assert s.index("reading") < s.index("running") < s.index("adding")
    pong = client.ping()
    assert pong is not None and pong["loads"] == 1 and pong["jobs"] == 3
    names = [t["name"] for t in audacity.pipe.get_info("Tracks")]
    assert names == [
        "voice",
        "voice - half",
        "voice - half (gain_and_invert)",
        "voice - half (gain_and_invert) (2)",
    ]
    print("\nresident applies (first event s, total s):", [f"{a:.3f}/{b:.3f}" for a, b in figures])


def test_cancel_reaches_the_worker(
    audacity: AudacitySession, tmp_path: Path, resident: None
) -> None:
    from deepfx.engine import CancelToken

    _voice(audacity, tmp_path)
    model = models.gain_and_invert(tmp_path / "models")
    assert audacity.pipe is not None
    audacity.pipe.do("Select", Start=0.5, End=2.5, Track=0)
    before = [t["name"] for t in audacity.pipe.get_info("Tracks")]
    token = CancelToken()

    def cancel_when_running(ev: Any) -> None:
        if ev.stage == "running":
            # The client tells the worker as soon as this returns; the tiny model's whole
            # job takes well under a second, so a delay here would let it finish first.
            token.cancel()

    with pytest.raises(Cancelled), audacity.released():
        client.apply(model, on_progress=cancel_when_running, cancel=token)
    assert [t["name"] for t in audacity.pipe.get_info("Tracks")] == before
    pong = client.ping()
    assert pong is not None  # the worker survives a cancel and keeps the model
    assert pong["loads"] == 1


def test_cli_applies_share_the_worker(
    audacity: AudacitySession, tmp_path: Path, resident: None
) -> None:
    _voice(audacity, tmp_path)
    model = models.gain_and_invert(tmp_path / "models")
    assert audacity.pipe is not None
    walls = []
    for _ in range(2):
        audacity.pipe.do("Select", Start=0.5, End=1.5, Track=0)
        with audacity.released():
            t0 = time.monotonic()
            done = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "deepfx",
                    "audacity",
                    "apply",
                    str(model),
                    "--stems",
                    "half",
                ],
                capture_output=True,
                text=True,
                timeout=180,
            )
            walls.append(time.monotonic() - t0)
        assert done.returncode == 0, done.stderr
    assert "added track 'voice - half (gain_and_invert)'" in done.stdout
    pong = client.ping()
    assert pong is not None and pong["loads"] == 1 and pong["jobs"] == 2
    print("\nCLI applies, wall s:", [f"{w:.2f}" for w in walls])
