"""Shared set-up for the window's tests (pytest-qt, ``QT_QPA_PLATFORM=offscreen``).

Every test gets a temporary ``DEEPFX_HOME``, app config file and log file, and no real
network: the hub is the tests' own server (``hub_helpers``) or offline mode.
Screenshots go to ``docs/images/`` at 1280x800 in the pinned font (DejaVu Sans).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402

pytest.importorskip("PySide6", reason="the app extra (PySide6-Essentials) is not installed")
pytest.importorskip("pyqtgraph", reason="the app extra (pyqtgraph) is not installed")
pytest.importorskip("pytestqt", reason="pytest-qt is not installed")

IMAGES = Path(__file__).resolve().parents[1] / "docs" / "images"
SIZE = (1280, 800)


@pytest.fixture(name="app_env")
def app_env_fixture(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A temporary home, config and log; offline unless a test points at its hub."""
    monkeypatch.setenv("DEEPFX_HOME", str(tmp_path / "deepfx-home"))
    monkeypatch.setenv("DEEPFX_APP_CONFIG", str(tmp_path / "config" / "app.ini"))
    monkeypatch.setenv("DEEPFX_APP_LOG", str(tmp_path / "app.log"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-home" / "hub"))
    monkeypatch.setenv("DEEPFX_CURATED_LISTS", "")
    # deepfx's own offline switch: huggingface_hub reads HF_HUB_OFFLINE once, at import,
    # and would stay offline for the hub tests that follow in this process
    monkeypatch.setenv("DEEPFX_OFFLINE", "1")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_ENDPOINT", raising=False)
    return tmp_path


@pytest.fixture(name="make_window")
def make_window_fixture(qtbot: Any, app_env: Path) -> Iterator[Callable[..., Any]]:
    from PySide6.QtWidgets import QApplication

    from deepfx.app import workers
    from deepfx.app.settings import AppSettings
    from deepfx.app.theme import apply_theme
    from deepfx.app.window import MainWindow

    apply_theme(QApplication.instance())
    made: list[Any] = []

    def make(**kw: Any) -> Any:
        kw.setdefault("poll_audacity", False)
        win = MainWindow(AppSettings(), **kw)
        qtbot.addWidget(win)
        win.resize(*SIZE)
        win.show()
        qtbot.waitExposed(win)
        qtbot.waitUntil(lambda: all(p.loaded for p in win.panes.values()), timeout=60_000)
        wait_idle(qtbot)
        made.append(win)
        return win

    yield make
    for win in made:
        win.audacity_timer.stop()
    qtbot.waitUntil(lambda: workers.running() == 0, timeout=60_000)


def wait_idle(qtbot: Any, timeout_ms: int = 60_000) -> None:
    """Until every worker task has ended and its signals were delivered."""
    from deepfx.app import workers

    qtbot.waitUntil(lambda: workers.running() == 0, timeout=timeout_ms)
    qtbot.wait(20)


def shot(win: Any, name: str) -> Path:
    """Save a 1280x800 screenshot of ``win`` to docs/images/<name>.png."""
    from PySide6.QtWidgets import QApplication

    win.resize(*SIZE)
    QApplication.processEvents()
    IMAGES.mkdir(parents=True, exist_ok=True)
    path = IMAGES / f"{name}.png"
    img = win.grab()
    assert (img.width(), img.height()) == SIZE, (img.width(), img.height())
    assert img.save(str(path))
    return path


def entry_names(win: Any, kind: str) -> list[str]:
    return [e.name for e in win.panes[kind].visible_entries()]


class Ticker:
    """A QTimer that counts its ticks: proof the event loop kept turning."""

    def __init__(self, interval_ms: int = 10) -> None:
        from PySide6.QtCore import QTimer

        self.ticks = 0
        self.timer = QTimer()
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self._tick)
        self.timer.start()

    def _tick(self) -> None:
        self.ticks += 1

    def stop(self) -> int:
        self.timer.stop()
        return self.ticks
