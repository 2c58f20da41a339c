"""`deepfx audacity status` / `apply` as a user runs them, against the real Audacity."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import audacity_models as models
import numpy as np
import pytest
import soundfile as sf
from audacity_harness import (  # noqa: F401 - fixtures used by name
    AudacitySession,
    audacity_fixture,
    audacity_session_fixture,
)

pytestmark = pytest.mark.audacity


def _deepfx(s: AudacitySession, *args: str) -> subprocess.CompletedProcess[str]:
    with s.released():  # the CLI (and its resident worker) opens the pipe itself
        return subprocess.run(
            [sys.executable, "-m", "deepfx", "audacity", *args],
            capture_output=True,
            text=True,
            timeout=120,
        )


def _project(s: AudacitySession, tmp_path: Path) -> None:
    t = np.arange(2 * models.RATE) / models.RATE
    path = tmp_path / "lead.wav"
    sf.write(str(path), (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), models.RATE)
    assert s.pipe is not None
    s.pipe.do("Import2", Filename=str(path))
    s.pipe.do("Select", Start=0.5, End=1.5, Track=0)


def test_cli_status_shows_tracks_and_selection(audacity: AudacitySession, tmp_path: Path) -> None:
    _project(audacity, tmp_path)
    done = _deepfx(audacity, "status")
    assert done.returncode == 0, done.stderr
    assert "connected" in done.stdout
    assert "lead" in done.stdout
    assert "selection: 0.500 s to 1.500 s (1.000 s) on 'lead'" in done.stdout


def test_cli_apply_effect_with_stems(audacity: AudacitySession, tmp_path: Path) -> None:
    _project(audacity, tmp_path)
    model = models.gain_and_invert(tmp_path / "models")
    done = _deepfx(audacity, "apply", str(model), "--stems", "half")
    assert done.returncode == 0, done.stderr
    assert "added track 'lead - half'" in done.stdout
    assert audacity.pipe is not None
    names = [t["name"] for t in audacity.pipe.get_info("Tracks")]
    assert names == ["lead", "lead - half"]


def test_cli_apply_error_is_one_line_with_exit_code(
    audacity: AudacitySession, tmp_path: Path
) -> None:
    _project(audacity, tmp_path)
    assert audacity.pipe is not None
    audacity.pipe.do("SelectNone")
    model = models.gain_and_invert(tmp_path / "models")
    done = _deepfx(audacity, "apply", str(model))
    assert done.returncode == 6
    assert "no audio track is selected" in done.stderr
    assert "Traceback" not in done.stderr
    assert [t["name"] for t in audacity.pipe.get_info("Tracks")] == ["lead"]
