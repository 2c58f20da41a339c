"""The window against a real Audacity (under Xvfb): the status line, Apply on the
selection (results as new tracks), and Audacity going away in the middle of an apply."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import audacity_models as models
import numpy as np
import pytest
from app_helpers import (  # noqa: F401 - fixtures used by name
    app_env_fixture,
    make_window_fixture,
    wait_idle,
)
from audacity_harness import (  # noqa: F401 - fixtures used by name
    AudacitySession,
    audacity_fixture,
    audacity_session_fixture,
)
from PySide6.QtCore import Qt

from deepfx.audacity.pipe import AudacityPipe

pytestmark = pytest.mark.audacity
RATE = models.RATE


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("models")
    models.gain_and_invert(root)
    return root


def _prepare(win: Any, qtbot: Any, s: AudacitySession, tmp: Path, model: Path) -> Any:
    t = np.arange(3 * RATE) / RATE
    audio = (0.5 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    s.import_audio(tmp / "voice.wav", audio, RATE)
    assert s.pipe is not None
    s.pipe.do("Select", Start=0.5, End=2.0, Track=0, TrackCount=1, Mode="Set")
    win.handle_drop([model])
    name = f"local/{model.name}"
    qtbot.waitUntil(
        lambda: win.entry(name) is not None and win.entry(name).is_installed, timeout=60_000
    )
    wait_idle(qtbot)
    win.use(win.entry(name))
    # the window (and its resident worker) open the pipe themselves: a second client
    # cannot while the session holds it (measured on 3.2.4), so the session lets go
    assert s.pipe is not None
    s.pipe.close()
    win.poll_audacity()
    qtbot.waitUntil(lambda: win.apply_panel.audacity.state == "connected", timeout=30_000)
    win.apply_panel.to_audacity.setChecked(True)
    return win.entry(name)


def test_apply_to_the_audacity_selection(
    make_window: Any, qtbot: Any, audacity: AudacitySession, app_env: Path, model_dir: Path
) -> None:
    win = make_window()
    _prepare(win, qtbot, audacity, app_env, model_dir / "gain_and_invert")
    line = win.apply_panel.audacity_line.text()
    assert "1 track selected (voice)" in line and "0:00.50–0:02.00" in line
    assert win.apply_panel.apply_button.isEnabled(), win.apply_panel.reason.text()
    qtbot.mouseClick(win.apply_panel.apply_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: bool(win.runs.history), timeout=120_000)
    wait_idle(qtbot)
    job = win.runs.history[-1]
    assert job.state == "done", job.message
    audacity.pipe = AudacityPipe(connect_timeout_s=30, timeout_s=30).connect()
    names = [t["name"] for t in audacity.pipe.get_info("Tracks")]
    assert names == ["voice", "voice - half", "voice - inverted"]
    assert [r.kind for r in win.results.results] == ["audacity", "audacity"]


def test_audacity_gone_mid_apply_is_reported(
    make_window: Any, qtbot: Any, audacity: AudacitySession, app_env: Path, model_dir: Path
) -> None:
    win = make_window()
    _prepare(win, qtbot, audacity, app_env, model_dir / "gain_and_invert")
    killed: list[bool] = []

    def kill_on_run(job: Any) -> None:  # Audacity quits while the model runs
        if job.state == "running" and job.stage.startswith("Running") and not killed:
            killed.append(True)
            assert audacity.proc is not None
            audacity.proc.kill()
            audacity.proc.wait(10)

    win.runs.changed.connect(kill_on_run)
    try:
        qtbot.mouseClick(win.apply_panel.apply_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: bool(win.runs.history), timeout=120_000)
        wait_idle(qtbot)
        job = win.runs.history[-1]
        assert killed and job.state == "failed"
        assert job.message is not None and job.message.error.startswith("Audacity")
        assert "Audacity" in win.apply_panel.message.text()
        assert "Traceback" not in win.apply_panel.message.text()
    finally:
        audacity.restart()  # the next test gets a fresh Audacity
