"""Installing from the window: size first, progress, queue, cancel (kept), resume,
failure, remove; the event loop keeps turning throughout."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import audacity_models as models
import numpy as np
import pytest
from app_helpers import (  # noqa: F401 - fixtures used by name
    Ticker,
    app_env_fixture,
    make_window_fixture,
    shot,
    wait_idle,
)
from hub_helpers import GitHub, HubServer, hub_env, readme
from PySide6.QtCore import Qt

BIG = 1_000_000


@pytest.fixture()
def hub(app_env: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[HubServer]:
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "DOWNLOAD_CHUNK_SIZE", 64 * 1024)
    folder = models.gain_and_invert(app_env / "built")
    repos = GitHub(app_env / "repos")
    blob = np.random.default_rng(1).integers(0, 255, BIG, dtype=np.uint8).tobytes()
    repos.commit_folder("hugggof/big", folder)
    repos.commit("hugggof/big", {"README.md": readme(), "extra.bin": blob})
    repos.commit_folder("hugggof/small", folder)
    repos.commit("hugggof/small", {"README.md": readme()})
    monkeypatch.delenv("DEEPFX_OFFLINE")
    with HubServer(repos) as server, hub_env(monkeypatch, app_env, server):
        yield server


def _gets(hub: HubServer, file: str) -> int:
    return sum(1 for r in hub.requests if r.startswith("GET ") and r.endswith("/" + file))


def _row(win: Any, name: str) -> Any:
    return next(e for e in win.panes["effect"].visible_entries() if e.name == name)


def test_install_progress_queue_cancel_resume_and_remove(
    make_window: Any, hub: HubServer, qtbot: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from deepfx.store import Store

    win = make_window()
    asked: list[str] = []

    def ask(title: str, text: str, buttons: list[str]) -> str:
        asked.append(text)
        return buttons[0]  # "Stop and keep the download" / "Remove and free ..."

    monkeypatch.setattr(win, "ask", ask)
    pane = win.panes["effect"]
    assert pane.select("hugggof/big")
    wait_idle(qtbot)
    assert win.details.install_button.text() == "Install (1.0 MB)"  # size first
    assert _gets(hub, "extra.bin") == 0  # selecting downloads nothing

    hub.delay["hugggof/big/model.pt"] = 1.5
    ticker = Ticker()
    qtbot.mouseClick(win.details.install_button, Qt.MouseButton.LeftButton)
    job = win.installs.job("hugggof/big")
    assert job is not None
    qtbot.waitUntil(lambda: job.step.startswith("downloading model.pt"), timeout=30_000)
    assert win.details.progress_box.isVisibleTo(win.details)
    assert "1.0 MB of 1.0 MB" in win.details.progress_text.text()
    assert _row(win, "hugggof/big").status.startswith("installing ")

    # a second install waits in the queue
    pane.select("hugggof/small")
    wait_idle_but(qtbot, win)
    qtbot.mouseClick(win.details.install_button, Qt.MouseButton.LeftButton)
    assert _row(win, "hugggof/small").status == "queued"
    hub.corrupt.add("hugggof/small/model.pt")  # and it will fail, saying why

    pane.select("hugggof/big")
    shot(win, "details")
    qtbot.mouseClick(win.details.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: job.state == "cancelled", timeout=30_000)
    assert "Keep them so the next install resumes" in asked[0]
    assert ticker.ticks > 10  # the event loop kept turning during the install

    small = win.installs.job("hugggof/small") or win.installs.history[-1]
    qtbot.waitUntil(lambda: small.state == "failed", timeout=30_000)
    wait_idle(qtbot)
    assert ticker.stop() > 10
    assert _row(win, "hugggof/small").status == "failed: download corrupted"
    store = Store()
    assert store.installed() == []
    assert store.partial_size("hugggof/big") >= BIG  # kept for resuming
    pane.select("hugggof/big")
    wait_idle(qtbot)
    assert win.details.install_button.text().startswith("Resume install (")

    hub.delay.clear()
    qtbot.mouseClick(win.details.install_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: win.entry("hugggof/big").is_installed, timeout=60_000)
    wait_idle(qtbot)
    assert _gets(hub, "extra.bin") == 1  # resumed, not downloaded again
    assert _row(win, "hugggof/big").status == "installed"
    assert win.details.use_button.isVisibleTo(win.details)

    # the hub moves on: the row says so, and Update brings the new revision
    old = Store().info("hugggof/big").commit
    new = hub.repos.commit("hugggof/big", {"README.md": readme() + "\nversion 2\n"})
    win.refresh_available(refresh=True)
    wait_idle(qtbot)
    assert _row(win, "hugggof/big").status == "update available"
    pane.select("hugggof/big")
    assert win.details.update_button.text() == "Update"
    qtbot.mouseClick(win.details.update_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: Store().info("hugggof/big").commit == new, timeout=60_000)
    wait_idle(qtbot)
    assert old != new and _row(win, "hugggof/big").status == "installed"

    qtbot.mouseClick(win.details.remove_button, Qt.MouseButton.LeftButton)
    assert "frees 1.0 MB" in asked[-1]
    qtbot.waitUntil(lambda: not Store().installed(), timeout=30_000)
    wait_idle(qtbot)
    assert not win.entry("hugggof/big").is_installed
    assert "Removed hugggof/big" in win.status_text.text()


def wait_idle_but(qtbot: Any, win: Any) -> None:
    """Wait for the size lookup (the install keeps running)."""
    qtbot.waitUntil(lambda: "hugggof/small" in win.sizes, timeout=30_000)


def test_a_builtin_installs_offline_from_the_window(make_window: Any, qtbot: Any) -> None:
    from deepfx.store import Store

    win = make_window()  # offline (DEEPFX_OFFLINE=1): the built-ins need no network
    pane = win.panes["effect"]
    assert pane.select("builtin/hpss")
    assert win.details.install_button.text() == "Install (built on this computer, offline)"
    qtbot.mouseClick(win.details.install_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: win.entry("builtin/hpss").is_installed, timeout=180_000)
    wait_idle(qtbot)
    assert [m.name for m in Store().installed()] == ["builtin/hpss"]
    assert _row(win, "builtin/hpss").status == "installed"
    facts = [win.details.facts.itemAt(i).widget().text() for i in range(win.details.facts.count())]
    assert "MIT" in facts and "Size on disk" in facts and "Folder" in facts
    shot(win, "details-installed")
    qtbot.mouseClick(win.details.use_button, Qt.MouseButton.LeftButton)
    assert win.work_tabs.currentWidget() is win.apply_panel
    assert win.apply_panel.reason.text().startswith("Add audio files")  # only files missing
