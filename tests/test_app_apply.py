"""Applying from the window to audio files: outputs equal `deepfx run`'s, results with
waveforms and label lanes, drag out as file URLs, cancel, a model breaking its contract;
the event loop keeps turning during a run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import audacity_models as models
import numpy as np
import pytest
import soundfile as sf
from app_helpers import (  # noqa: F401 - fixtures used by name
    Ticker,
    app_env_fixture,
    make_window_fixture,
    shot,
    wait_idle,
)
from PySide6.QtCore import Qt

RATE = models.RATE


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("models")
    models.gain_and_invert(root)
    models.loudness_labeler(root)
    models.too_many_outputs(root)
    return root


def _song(path: Path, seconds: float) -> Path:
    t = np.arange(int(seconds * RATE)) / RATE
    amp = np.where((t % 4) < 1.5, 0.8, 0.05)
    left = amp * np.sin(2 * np.pi * 220 * t)
    right = amp * np.sin(2 * np.pi * 330 * t + 0.4)
    sf.write(str(path), np.stack([left, right], axis=1).astype(np.float32), RATE, "FLOAT")
    return path


def _install_local(win: Any, qtbot: Any, folder: Path) -> Any:
    win.handle_drop([folder])  # dropping a model folder on the window installs it
    name = f"local/{folder.name}"
    qtbot.waitUntil(
        lambda: win.entry(name) is not None and win.entry(name).is_installed, timeout=60_000
    )
    wait_idle(qtbot)
    return win.entry(name)


def _apply(
    win: Any, qtbot: Any, entry: Any, inputs: list[Path], out: Path, *, enter: bool = False
) -> Any:
    win.use(entry)
    panel = win.apply_panel
    panel.add_paths(inputs)
    panel.beside.setChecked(False)
    panel.out_edit.setText(str(out))
    assert panel.apply_button.isEnabled(), panel.reason.text()
    n = len(win.runs.history)
    if enter:  # Enter applies
        qtbot.keyClick(panel, Qt.Key.Key_Return)
    else:
        qtbot.mouseClick(panel.apply_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(win.runs.history) > n, timeout=120_000)
    wait_idle(qtbot)
    return win.runs.history[-1]


def test_apply_is_disabled_until_the_model_is_installed(make_window: Any) -> None:
    win = make_window()
    win.apply_panel.set_entry(win.entry("builtin/hpss"))
    assert not win.apply_panel.apply_button.isEnabled()
    assert "Install builtin/hpss first" in win.apply_panel.reason.text()
    assert [b.text() for b in win.apply_panel.stem_boxes] == ["harmonic", "percussive"]


def test_apply_to_files_equals_deepfx_run_and_shows_results(
    make_window: Any, qtbot: Any, model_dir: Path, app_env: Path
) -> None:
    from deepfx.app.audacity_state import describe
    from deepfx.audacity.bridge import Status

    win = make_window()
    win.apply_panel.set_audacity(describe(Status(False), None))  # what a poll says here
    effect = _install_local(win, qtbot, model_dir / "gain_and_invert")
    analyzer = _install_local(win, qtbot, model_dir / "loudness_labeler")
    song = _song(app_env / "song.wav", 60.0)
    shots: list[str] = []

    def on_change(job: Any) -> None:  # the Apply screen with a run in progress
        if not shots and job.state == "running" and 0.2 < job.fraction < 0.9:
            shots.append(str(shot(win, "apply")))

    win.runs.changed.connect(on_change)
    ticker = Ticker()
    job = _apply(win, qtbot, effect, [song], app_env / "out-app")
    assert ticker.stop() > 5  # the event loop kept turning during the run
    assert job.state == "done", job.message
    assert shots, "no progress event between 20 % and 90 %"
    subprocess.run(
        [sys.executable, "-m", "deepfx", "run", effect.name, str(song), "-o", str(app_env / "cli")],
        check=True,
        capture_output=True,
    )
    made = sorted(p.name for p in (app_env / "out-app").iterdir())
    assert made == sorted(p.name for p in (app_env / "cli").iterdir())
    assert made == ["song - half.wav", "song - inverted.wav"]
    for name in made:
        a, ra = sf.read(str(app_env / "out-app" / name), dtype="float32")
        b, rb = sf.read(str(app_env / "cli" / name), dtype="float32")
        assert ra == rb and np.array_equal(a, b)
    assert win.settings.get("output_folder") == str(app_env / "out-app")  # remembered

    # the analyzer: a label file and a label lane over the input's waveform
    win.apply_panel.files.clear()
    job2 = _apply(win, qtbot, analyzer, [song], app_env / "out-app")
    assert job2.state == "done", job2.message
    [labels_file] = (app_env / "out-app").glob("song - labels (*).txt")  # names its model
    results = win.results
    assert results.count() == 3
    assert results.results[0].kind == "labels" and results.results[0].labels
    assert win.work_tabs.currentIndex() == 2
    mime = results.mimeData([results.item(i) for i in range(results.count())])
    urls = sorted(Path(u.toLocalFile()).name for u in mime.urls())
    assert urls == ["song - half.wav", "song - inverted.wav", labels_file.name]
    assert all(u.isLocalFile() for u in mime.urls())
    wait_idle(qtbot)
    shot(win, "results")


def test_runs_queue_and_cancel_leaves_nothing(
    make_window: Any, qtbot: Any, model_dir: Path, app_env: Path
) -> None:
    win = make_window()
    effect = _install_local(win, qtbot, model_dir / "gain_and_invert")
    song = _song(app_env / "long.wav", 240.0)
    panel = win.apply_panel
    win.use(effect)
    panel.add_paths([song])
    panel.beside.setChecked(False)
    panel.out_edit.setText(str(app_env / "out"))
    qtbot.mouseClick(panel.apply_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: win.runs.current is not None and win.runs.current.fraction > 0)
    first = win.runs.current
    assert panel.apply_button.text() == "Add to queue"
    qtbot.mouseClick(panel.apply_button, Qt.MouseButton.LeftButton)  # a second run queues
    assert panel.queue.count() == 1 and panel.queue.item(0).text().startswith("Waiting: ")
    qtbot.mouseClick(panel.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: first.state == "cancelled", timeout=60_000)
    qtbot.waitUntil(lambda: win.runs.current is not None and win.runs.current is not first)
    second = win.runs.current
    assert panel.queue.count() == 0
    qtbot.mouseClick(panel.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: second.state == "cancelled", timeout=60_000)
    wait_idle(qtbot)
    assert not list((app_env / "out").glob("*.wav"))  # nothing partial
    assert "Cancelled" in panel.message.text()
    assert win.results.count() == 0


def test_dropped_files_and_folders_go_to_the_file_list(make_window: Any, app_env: Path) -> None:
    from PySide6.QtCore import QMimeData, QPointF, QUrl
    from PySide6.QtGui import QDropEvent

    win = make_window()
    folder = app_env / "takes"
    folder.mkdir()
    a = _song(folder / "a.wav", 0.5)
    b = _song(folder / "b.aiff", 0.5)
    (folder / "notes.txt").write_text("not audio")
    single = _song(app_env / "c.wav", 0.5)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(folder)), QUrl.fromLocalFile(str(single))])
    files = win.apply_panel.files
    ev = QDropEvent(
        QPointF(5, 5),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    files.dropEvent(ev)
    assert files.paths() == [a, b, single]
    files.dropEvent(ev)  # the same files again: not listed twice
    assert len(files.paths()) == 3


def test_a_model_breaking_its_contract_is_reported(
    make_window: Any, qtbot: Any, model_dir: Path, app_env: Path
) -> None:
    win = make_window()
    bad = _install_local(win, qtbot, model_dir / "too_many_outputs")
    song = _song(app_env / "short.wav", 3.0)
    job = _apply(win, qtbot, bad, [song], app_env / "out", enter=True)
    assert job.state == "failed" and job.message.error == "ContractError"
    text = win.apply_panel.message.text()
    assert "The model misbehaved" in text and "broke its contract" in text
    assert not list((app_env / "out").glob("*.wav"))


def test_audacity_states_in_the_apply_tab(make_window: Any) -> None:
    from deepfx.app.audacity_state import describe
    from deepfx.audacity.bridge import Status

    win = make_window()
    panel = win.apply_panel
    import dataclasses

    # as if installed: the Audacity state is then what keeps Apply disabled
    panel.set_entry(dataclasses.replace(win.entry("builtin/vad"), installed=object()))
    panel.to_audacity.setChecked(True)
    panel.set_audacity(describe(Status(False), (4242, "3")))  # running, no pipe
    assert not panel.apply_button.isEnabled()
    assert "mod-script-pipe is not enabled" in panel.reason.text()
    assert "Edit > Preferences > Modules" in panel.audacity_line.text()
    panel.set_audacity(describe(Status(False), (4242, "4")))  # Audacity 4: no pipe at all
    assert not panel.to_audacity.isEnabled() and panel.to_files.isChecked()
    assert "Apply to audio files instead" in panel.audacity_line.text()
