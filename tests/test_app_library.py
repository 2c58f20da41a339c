"""The window's library: browsing, filtering, searching, adding by id, errors, settings,
accessibility, and that starting it does not import torch."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from app_helpers import (  # noqa: F401 - fixtures used by name
    app_env_fixture,
    entry_names,
    make_window_fixture,
    shot,
    wait_idle,
)
from hub_helpers import (
    EFFECT_CARD,
    GitHub,
    HubServer,
    hub_env,
    make_audacitorch_analyzer,
    make_audacitorch_effect,
    readme,
)

from deepfx import errors as E


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("built")
    return {
        "effect": make_audacitorch_effect(root / "effect"),
        "analyzer": make_audacitorch_analyzer(root / "analyzer"),
    }


@pytest.fixture()
def hub(
    app_env: Path, monkeypatch: pytest.MonkeyPatch, built: dict[str, Path]
) -> Iterator[HubServer]:
    repos = GitHub(app_env / "repos")
    repos.commit_folder("hugggof/split", built["effect"])
    repos.commit("hugggof/split", {"README.md": readme()})
    repos.commit_folder("hugggof/labeler", built["analyzer"])
    repos.commit("hugggof/labeler", {"README.md": readme()})
    bad = {k: v for k, v in EFFECT_CARD.items() if k != "sample_rate"}
    import json

    repos.commit("broken/card", {"metadata.json": json.dumps(bad), "README.md": readme([])})
    repos.commit("listed/broken", {"metadata.json": json.dumps(bad), "README.md": readme()})
    repos.commit("plain/repo", {"README.md": readme(["other"])})
    monkeypatch.delenv("DEEPFX_OFFLINE")
    with HubServer(repos) as server, hub_env(monkeypatch, app_env, server):
        yield server


def test_builtins_are_listed_offline_in_their_tabs(make_window: Any) -> None:
    win = make_window()
    effects, analyzers = entry_names(win, "effect"), entry_names(win, "analyzer")
    assert {"builtin/hpss", "builtin/center-sides", "builtin/enhance"} <= set(effects)
    assert {"builtin/vad", "builtin/notes"} <= set(analyzers)
    assert not set(effects) & {"builtin/vad", "builtin/notes"}
    headers = [i for i in win.panes["effect"].model.items if not hasattr(i, "name")]
    assert any("Offline" in h.note for h in headers)  # the Available section says so
    win.panes["effect"].select("builtin/hpss")
    assert win.details.title.text() == "builtin/hpss"
    assert "offline" in win.details.install_button.text()
    assert "harmonic, percussive" in [
        win.details.facts.itemAt(i).widget().text() for i in range(win.details.facts.count())
    ]


def test_text_and_domain_filters(make_window: Any, qtbot: Any) -> None:
    win = make_window()
    pane = win.panes["effect"]
    pane.search.setText("speech noise")
    assert entry_names(win, "effect") == ["builtin/enhance"]
    pane.search.clear()
    pane.domain.setCurrentIndex(pane.domain.findData("music"))
    names = entry_names(win, "effect")
    assert "builtin/hpss" in names and "builtin/enhance" not in names
    pane.search.setText("nothing-matches-this")
    assert entry_names(win, "effect") == []
    assert any("No model matches" in getattr(i, "note", "") for i in pane.model.items)


def test_search_lists_the_hub_and_adds_by_id_or_url(
    make_window: Any, hub: HubServer, qtbot: Any
) -> None:
    win = make_window()
    assert "hugggof/split" in entry_names(win, "effect")
    assert "hugggof/labeler" in entry_names(win, "analyzer")
    pane = win.panes["effect"]
    # a full hub URL in the search box selects the model
    pane.search.setText(f"{hub.url}/hugggof/split/tree/main")
    assert entry_names(win, "effect") == ["hugggof/split"]
    # a listed model whose card is invalid says why, and cannot be installed
    pane.search.setText("listed/broken")
    broken = pane.visible_entries()[0]
    assert broken.status.startswith("card problem:") and "sample_rate" in broken.status
    pane.select("listed/broken")
    assert not win.details.install_button.isEnabled()
    pane.search.clear()
    pane.select("hugggof/split")
    wait_idle(qtbot)
    assert win.details.install_button.text().startswith("Install (")
    shot(win, "library")


def test_offline_shows_the_cached_listing_and_says_so(
    make_window: Any, hub: HubServer, qtbot: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_window()  # lists the hub once: the listing is cached
    monkeypatch.setenv("DEEPFX_OFFLINE", "1")
    monkeypatch.setenv("DEEPFX_HUB_TTL", "0")  # stale: it would ask the hub if it could
    win = make_window()
    assert "hugggof/split" in entry_names(win, "effect")
    notes = " ".join(getattr(i, "note", "") for i in win.panes["effect"].model.items)
    assert "Offline mode: showing the list cached at" in notes


def test_offline_with_no_cache_lists_the_shipped_curated_snapshot(
    make_window: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 16.8 in the window: offline and never online, the curated entries shipped in
    the package are still listed, each saying it needs the network."""
    monkeypatch.delenv("DEEPFX_CURATED_LISTS")  # deepfx's own curated list
    win = make_window()
    everything = [e for kind in ("effect", "analyzer") for e in win.panes[kind].visible_entries()]
    shipped = [e for e in everything if e.source != "builtin"]
    assert shipped, [e.name for e in everything]
    assert all(e.status == "not installed · needs network" for e in shipped)
    notes = " ".join(getattr(i, "note", "") for i in win.panes["effect"].model.items)
    assert "shipped curated list" in notes
    shot(win, "library-offline")


def _add(win: Any, qtbot: Any, text: str, kind: str = "effect") -> str:
    pane = win.panes[kind]
    pane.search.setText(text)
    qtbot.keyClick(pane.search, "\r")
    wait_idle(qtbot)
    return pane.message.text() if not pane.message.isHidden() else ""


def test_add_from_hugging_face_says_what_is_wrong(
    make_window: Any, hub: HubServer, qtbot: Any
) -> None:
    win = make_window()
    assert "not found" in _add(win, qtbot, "nobody/missing").lower() or "no model repo" in (
        win.panes["effect"].message.text()
    )
    msg = _add(win, qtbot, "broken/card")
    assert "sample_rate" in msg and "not valid" in msg
    assert "no metadata.json" in _add(win, qtbot, "plain/repo")
    # an analyzer asked for in the Effects tab: sent to the Analyzers tab
    msg = _add(win, qtbot, "hugggof/labeler@main")
    assert "is an analyzer: see the Analyzers tab" in msg
    assert win.library_tabs.currentWidget() is win.panes["analyzer"]
    # a repo not in the listing (no audacity tag) added by id: shown with its size
    hub.repos.commit("someone/untagged", {"README.md": readme([])})
    hub.repos.commit_folder("someone/untagged", win_built_effect(hub))
    win.library_tabs.setCurrentIndex(0)
    assert _add(win, qtbot, "someone/untagged") == ""
    assert win.panes["effect"].current().name == "someone/untagged"
    assert win.details.install_button.text().startswith("Install (")


def win_built_effect(hub: HubServer) -> Path:
    return hub.repos.path("hugggof/split")  # a checkout: metadata.json + model.pt


def test_no_network_keeps_the_builtins_and_says_so(
    make_window: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DEEPFX_OFFLINE")
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("DEEPFX_HUB_TIMEOUT", "2")
    win = make_window()
    assert "builtin/hpss" in entry_names(win, "effect")
    notes = " ".join(getattr(i, "note", "") for i in win.panes["effect"].model.items)
    assert "Cannot reach the hub at http://127.0.0.1:9" in notes and "built-in models only" in notes


def _construct(cls: type) -> BaseException:
    """An instance of any deepfx error class, whatever its constructor takes."""
    if cls is E.NonFiniteAudioError:
        return cls("the audio", 1.0, 0)
    if cls is E.BackendMissingError:
        return cls("m.onnx", "onnxruntime", "pip install onnxruntime")
    for args in (("boom",), (), ("file.wav", "cause"), ("x.wav",), ("f", "a", "b")):
        try:
            return cls(*args)
        except (TypeError, ValueError):
            continue
    raise AssertionError(cls)


def test_every_error_class_has_a_message_and_what_to_do() -> None:
    from deepfx.app.messages import HINTS, explain

    classes = [c for n in E.__all__ if isinstance(c := getattr(E, n), type)]
    assert {c for c, _, _ in HINTS} >= set(classes)
    for cls in classes:
        m = explain(_construct(cls))
        assert m.title != "Internal error" and m.hint and m.text, cls
        assert "Traceback" not in str(m)


def test_an_unexpected_error_is_logged_not_shown(app_env: Path) -> None:
    from deepfx.app.messages import explain, setup_logging

    log = setup_logging()
    try:
        raise KeyError("oops")
    except KeyError as exc:
        m = explain(exc)
    assert m.title == "Internal error" and str(log) in m.hint
    import logging

    for h in logging.getLogger("deepfx").handlers:
        h.flush()
    assert "Traceback" in log.read_text()


def test_every_interactive_widget_has_an_accessible_name(make_window: Any, qtbot: Any) -> None:
    from PySide6.QtWidgets import (
        QAbstractButton,
        QAbstractItemView,
        QAbstractSpinBox,
        QComboBox,
        QLineEdit,
        QScrollBar,
        QTabBar,
        QWidget,
    )

    from deepfx.app.settings_dialog import SettingsDialog

    win = make_window()
    win.panes["effect"].select("builtin/hpss")
    win.use(win.entry("builtin/hpss"))
    dlg = SettingsDialog(win.settings, win)
    qtbot.addWidget(dlg)
    kinds = (QAbstractButton, QLineEdit, QComboBox, QAbstractItemView, QAbstractSpinBox, QTabBar)
    missing = []
    for root in (win, dlg):
        for w in root.findChildren(QWidget):
            if not isinstance(w, kinds) or isinstance(w, QScrollBar):
                continue
            if w.objectName().startswith("qt_"):  # Qt's own parts (spin arrows, tab scrollers)
                continue
            if not w.accessibleName().strip():
                parent = type(w.parent()).__name__
                missing.append(f"{type(w).__name__} in {parent} {w.objectName()!r}")
    assert not missing, missing


def test_keyboard_tab_order_and_enter(make_window: Any, qtbot: Any) -> None:
    win = make_window()
    pane = win.panes["effect"]
    pane.search.setFocus()
    order = [pane.search]
    w = pane.search
    for _ in range(6):
        w = w.nextInFocusChain()
        while not w.focusPolicy() & w.focusPolicy().TabFocus or not w.isVisible():
            w = w.nextInFocusChain()
        order.append(w)
    assert pane.domain in order and pane.view in order
    pane.search.setText("hpss")
    qtbot.keyClick(pane.search, "\r")  # Enter selects the first match
    assert pane.current().name == "builtin/hpss"


def test_settings_persist(make_window: Any, qtbot: Any, app_env: Path) -> None:
    from deepfx.app.settings import AppSettings
    from deepfx.app.settings_dialog import SettingsDialog

    win = make_window()
    dlg = SettingsDialog(win.settings, win)
    qtbot.addWidget(dlg)
    store = app_env / "elsewhere"
    dlg.store_edit.setText(str(store))
    dlg.endpoint_edit.setText("http://127.0.0.1:1/")
    dlg.offline.setChecked(True)
    dlg.output_edit.setText(str(app_env / "renders"))
    dlg.save()
    again = AppSettings()
    assert again.get("store_folder") == str(store)
    assert again.get("hub_endpoint") == "http://127.0.0.1:1"
    assert again.offline and again.get("output_folder") == str(app_env / "renders")
    import os

    assert os.environ["DEEPFX_HOME"] == str(store) and os.environ["DEEPFX_OFFLINE"] == "1"
    from deepfx.store import Store

    assert Store().root == store  # the library follows the setting


def test_parse_query_accepts_ids_and_urls() -> None:
    from deepfx.app.catalog import parse_query

    ep = "https://huggingface.co"
    assert parse_query("user/model", endpoint=ep) == ("repo", "user/model")
    assert parse_query("user/model@v2", endpoint=ep) == ("repo", "user/model@v2")
    assert parse_query("https://huggingface.co/user/model", endpoint=ep) == ("repo", "user/model")
    assert parse_query("http://127.0.0.1:5/a/b/blob/main/x", endpoint="http://127.0.0.1:5") == (
        "repo",
        "a/b",
    )
    assert parse_query("drums and bass", endpoint=ep) == ("text", "drums and bass")
    assert parse_query("builtin/vad", endpoint=ep) == ("text", "builtin/vad")


def test_audacity_status_lines() -> None:
    from deepfx.app.audacity_state import describe
    from deepfx.audacity.bridge import Selection, Status, TrackInfo

    assert describe(Status(False), None).state == "not-running"
    st = describe(Status(False), (123, "3"))
    assert st.state == "no-pipe" and "1. " in st.text and "3. " in st.text
    a4 = describe(Status(False), (123, "4"))
    assert a4.state == "audacity4" and "audio files" in a4.text
    t = TrackInfo(0, "Voice", "wave", True, 0.0, 10.0, 1)
    ok = describe(Status(True, (t,), Selection(1.5, 4.0, (t,))), None)
    assert ok.can_apply and "Voice" in ok.text and "0:01.50" in ok.text and "2.50 s" in ok.text


def test_deepfx_help_loads_neither_qt_nor_torch() -> None:
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from deepfx.cli.app import app\n"
        "res = CliRunner().invoke(app, ['--help'])\n"
        "assert res.exit_code == 0 and ' app ' in res.output, res.output\n"
        "print(sorted(m for m in ('PySide6', 'torch', 'pyqtgraph') if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    ).stdout
    assert out.strip().splitlines()[-1] == "[]"


def test_starting_the_window_does_not_import_torch(app_env: Path) -> None:
    code = (
        "import sys\n"
        "from PySide6.QtWidgets import QApplication\n"
        "app = QApplication([])\n"
        "from deepfx.app.window import MainWindow\n"
        "from deepfx.app import workers\n"
        "w = MainWindow(poll_audacity=True); w.show()\n"
        "for _ in range(60):\n"
        "    app.processEvents(); workers.pool().waitForDone(50)\n"
        "while workers.running():\n"
        "    app.processEvents(); workers.pool().waitForDone(50)\n"
        "print('torch' in sys.modules, w.panes['effect'].loaded)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    ).stdout
    assert out.strip().splitlines()[-1] == "False True"  # loaded, and no torch
