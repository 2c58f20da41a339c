"""The main window: the library (Effects / Analyzers) on the left; Details, Apply and
Results on the right; menus; the install and run queues; the Audacity status poll.

Every piece of work goes through :mod:`deepfx.app.workers`; every error through
:func:`deepfx.app.messages.explain`, shown inline where it happened. Questions to the
user go through :meth:`MainWindow.ask`, one place a test can answer them.
"""

from __future__ import annotations

import html
import sys
from pathlib import Path
from typing import Any

from PySide6.QtCore import QTimer, QUrl
from PySide6.QtGui import QAction, QDesktopServices, QDragEnterEvent, QDropEvent, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QFileDialog,
    QInputDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from deepfx.app import workers
from deepfx.app.apply_panel import ApplyPanel, expand_paths
from deepfx.app.audacity_state import AudacityState
from deepfx.app.catalog import Entry, installed_entries, merge, parse_query
from deepfx.app.details import DetailsPane, duration_text, human_size
from deepfx.app.installs import InstallJob, InstallQueue
from deepfx.app.jobs import RunJob, RunQueue
from deepfx.app.library import LibraryPane
from deepfx.app.messages import Message, explain, log_path
from deepfx.app.results import ResultsView, items_for
from deepfx.app.settings import AppSettings

__all__ = ["MainWindow", "run_app"]

AUDACITY_POLL_MS = 3000


class MainWindow(QMainWindow):
    def __init__(self, settings: AppSettings | None = None, *, poll_audacity: bool = True):
        super().__init__()
        self.settings = settings or AppSettings()
        self.settings.apply_to_env()
        self.setWindowTitle("deepfx — audio models on your computer")
        self.setAcceptDrops(True)
        self.installs = InstallQueue()
        self.runs = RunQueue()
        self.found: Any = None  # the last deepfx.hub.SearchResult
        self.note = ""
        self.added: list[Entry] = []  # models added by id this session (not in the listing)
        self.sizes: dict[str, tuple[int, int]] = {}
        self.entries: list[Entry] = []
        self._poll_task: workers.Task | None = None
        self._search_task: workers.Task | None = None
        self._discard_on_cancel: set[str] = set()

        # the hub's endpoint is set once the library has loaded (deepfx.hub pulls in
        # pydantic: not before the first paint)
        self.panes = {k: LibraryPane(k) for k in ("effect", "analyzer")}
        self.library_tabs = QTabWidget()
        self.library_tabs.setAccessibleName("Library: effects and analyzers")
        self.library_tabs.addTab(self.panes["effect"], "Effects")
        self.library_tabs.addTab(self.panes["analyzer"], "Analyzers")
        self.library_tabs.setTabToolTip(0, "Waveform to waveform: separate, denoise, enhance")
        self.library_tabs.setTabToolTip(1, "Waveform to labels: find speech, notes, events")
        for pane in self.panes.values():
            pane.selected.connect(self.on_selected)
            pane.add_repo.connect(lambda repo, p=pane: self.add_repo(repo, p.kind))
            pane.add_from_hub.connect(lambda p=pane: self.ask_repo(p.kind))
            pane.add_local.connect(lambda p=pane: self.pick_local(p.kind))
            pane.explore.connect(self.explore)
            pane.refresh.connect(lambda: self.refresh_available(refresh=True))
        self.library_tabs.currentChanged.connect(self._library_tab_changed)

        self.details = DetailsPane()
        self.details.install_clicked.connect(self.install)
        self.details.update_clicked.connect(
            lambda e: self.installs.enqueue(e.name, action="update")
        )
        self.details.remove_clicked.connect(self.remove)
        self.details.cancel_clicked.connect(self.cancel_install)
        self.details.use_clicked.connect(self.use)
        self.apply_panel = ApplyPanel(
            default_device=self.settings.device, output_folder=self.settings.get("output_folder")
        )
        self.apply_panel.apply.connect(self.runs.enqueue)
        self.apply_panel.cancel.connect(self.cancel_run)
        self.apply_panel.output_chosen.connect(lambda d: self.settings.set("output_folder", d))
        self.results = ResultsView()
        results_page = QWidget()
        rl = QVBoxLayout(results_page)
        rl.setContentsMargins(10, 10, 10, 10)
        self.results_hint = QLabel(
            "Results appear here. Drag a result into your DAW or a folder; "
            "Open folder shows it in the file manager."
        )
        self.results_hint.setProperty("role", "muted")
        self.results_hint.setWordWrap(True)
        rl.addWidget(self.results_hint)
        rl.addWidget(self.results, 1)
        self.work_tabs = QTabWidget()
        self.work_tabs.setAccessibleName("Details, apply and results")
        self.work_tabs.addTab(self.details, "Details")
        self.work_tabs.addTab(self.apply_panel, "Apply")
        self.work_tabs.addTab(results_page, "Results")

        split = QSplitter()
        split.setChildrenCollapsible(False)
        split.addWidget(self.library_tabs)
        split.addWidget(self.work_tabs)
        split.setSizes([560, 720])
        central = QWidget()
        cl = QVBoxLayout(central)
        cl.setContentsMargins(10, 10, 10, 4)
        cl.addWidget(split)
        self.setCentralWidget(central)
        self.status_text = QLabel("Ready")
        self.status_text.setAccessibleName("Status")
        self.statusBar().addWidget(self.status_text, 1)

        self.installs.changed.connect(self.on_install_changed)
        self.installs.finished.connect(self.on_install_finished)
        self.runs.changed.connect(self.on_run_changed)
        self.runs.finished.connect(self.on_run_finished)
        self._menus()

        self.audacity_timer = QTimer(self)
        self.audacity_timer.setInterval(AUDACITY_POLL_MS)
        self.audacity_timer.timeout.connect(self.poll_audacity)
        if poll_audacity:
            self.audacity_timer.start()
            QTimer.singleShot(0, self.poll_audacity)

        # after the first paint: the worker importing the library would slow it down
        QTimer.singleShot(150, self._start_loading)
        self.resize(1280, 800)
        from deepfx.app.a11y import name_parts

        name_parts(self)

    # --- menus ---------------------------------------------------------------------------

    def _menus(self) -> None:
        bar = self.menuBar()
        file = bar.addMenu("&File")
        self._action(file, "Add from &Hugging Face…", lambda: self.ask_repo(self._kind()), "Ctrl+H")
        self._action(file, "Add &local model…", lambda: self.pick_local(self._kind()), "Ctrl+L")
        self._action(file, "Add audio &files…", self.apply_panel._pick_files, "Ctrl+O")
        file.addSeparator()
        self._action(file, "&Settings…", self.open_settings, QKeySequence.StandardKey.Preferences)
        self._action(file, "&Quit", self.close, QKeySequence.StandardKey.Quit)
        models = bar.addMenu("&Models")
        self._action(models, "&Explore models on the hub…", self.explore)
        self._action(
            models, "&Refresh the list", lambda: self.refresh_available(refresh=True), "F5"
        )
        help_ = bar.addMenu("&Help")
        self._action(help_, "Where is the &log file?", self.show_log_location)
        self._action(help_, "&About deepfx", self.about)

    def _action(self, menu: Any, text: str, slot: Any, shortcut: Any = None) -> QAction:
        act = QAction(text, self)
        if shortcut is not None:
            act.setShortcut(QKeySequence(shortcut))
        act.triggered.connect(slot)
        menu.addAction(act)
        return act

    def _kind(self) -> str:
        return "effect" if self.library_tabs.currentIndex() == 0 else "analyzer"

    # --- asking and telling --------------------------------------------------------------

    def ask(self, title: str, text: str, buttons: list[str]) -> str:
        """Ask a question; returns the chosen button's text (the last one on Escape)."""
        box = QMessageBox(self)
        box.setWindowTitle(title)
        box.setText(text)
        made = [box.addButton(b, QMessageBox.ButtonRole.ActionRole) for b in buttons]
        box.setEscapeButton(made[-1])
        box.exec()
        clicked = box.clickedButton()
        return buttons[made.index(clicked)] if clicked in made else buttons[-1]

    def tell(self, text: str, *, seconds: float = 8) -> None:
        self.status_text.setText(text)

    @staticmethod
    def message_html(m: Message) -> str:
        return f"<b>{html.escape(m.title)}</b> — {html.escape(m.text)}<br>{html.escape(m.hint)}"

    def show_log_location(self) -> None:
        QMessageBox.information(
            self,
            "Log file",
            f"deepfx writes its log to:\n{log_path()}\n\nAttach it to bug reports.",
        )

    def about(self) -> None:
        from deepfx import __version__

        QMessageBox.about(
            self,
            "About deepfx",
            f"deepfx {__version__}: run audio deep-learning models on your own computer. "
            "Nothing is uploaded.",
        )

    # --- the library ---------------------------------------------------------------------

    def _start_loading(self) -> None:
        """Read the store on a worker first (it imports the library: pydantic, numpy), so
        the window paints at once; then fill the lists and ask the hub."""

        def work(_r: Any, _c: Any) -> None:
            from deepfx import hub  # noqa: F401
            from deepfx.store import Store

            Store().installed()

        def loaded(_res: Any = None) -> None:
            from deepfx.hub import endpoint

            for pane in self.panes.values():
                pane.endpoint = endpoint()
            self.refresh_installed()
            self.refresh_available()

        workers.start(work, done=loaded, failed=lambda _exc: loaded())

    def refresh_installed(self) -> None:
        """Re-read the store (manifests only: fast, offline) and redraw both lists."""
        from deepfx.store import Store

        try:
            installed = installed_entries(Store().installed())
        except Exception as exc:  # noqa: BLE001 - an unreadable store folder
            installed = []
            self.tell(str(explain(exc)))
        installed, available = merge(installed, self.found)
        have = {e.name for e in installed} | {e.name for e in available}
        for e in self.added:
            if e.name not in have:
                available.append(e)
        for e in installed + available:
            job = self.installs.job(e.name)
            e.activity = job.status if job is not None else None
            if e.name in self.sizes and e.size is None:
                e.size = self.sizes[e.name][0]
        self.entries = installed + available
        for pane in self.panes.values():
            pane.show_rows(installed, available, self.note)
        cur = self.details.entry
        if cur is not None:
            fresh = self.entry(cur.name)
            if fresh is not None:
                self.details.show_entry(fresh, job=self.installs.job(fresh.name))
                if fresh.name in self.sizes and not fresh.is_installed:
                    self.details.set_remote_size(*self.sizes[fresh.name])
            if self.apply_panel.entry is not None:
                a = self.entry(self.apply_panel.entry.name)
                if a is not None:
                    self.apply_panel.entry = a
                    self.apply_panel._update()

    def entry(self, name: str) -> Entry | None:
        return next((e for e in self.entries if e.name == name), None)

    def refresh_available(self, *, refresh: bool = False) -> None:
        """Ask :func:`deepfx.hub.search` (on a worker) for the Available sections."""
        if self._search_task is not None and not self._search_task.finished:
            return
        self.tell("Reading the list of models…")

        def work(_r: Any, _c: Any) -> Any:
            from deepfx import hub

            return hub.search(refresh=refresh)

        self._search_task = workers.start(work, done=self._found, failed=self._search_failed)

    def _found(self, result: Any) -> None:
        from deepfx.hub import endpoint, is_offline

        self.found = result
        notes = []
        shipped = any(getattr(m, "needs_network", False) for m in result.models)
        if is_offline():
            notes.append(
                "Offline mode: showing "
                + (
                    f"the list cached at {result.fetched_at[:16].replace('T', ' ')}"
                    if result.fetched_at
                    else "built-ins and deepfx's shipped curated list"
                    if shipped
                    else "the built-in models only (no list cached yet)"
                )
            )
        elif result.note and "unreachable" in result.note:
            when = result.fetched_at[:16].replace("T", " ")
            notes.append(f"Cannot reach the hub at {endpoint()}: showing the list cached at {when}")
        elif result.note and "built-ins only" in result.note:
            notes.append(f"Cannot reach the hub at {endpoint()}: showing the built-in models only")
        elif result.note:
            notes.append(result.note[0].upper() + result.note[1:])
        self.note = " ".join(notes)
        hub_count = sum(1 for m in result.models if m.sources != ["builtin"])
        self.tell(f"{len(result.models)} models listed ({hub_count} from the hub)")
        self.refresh_installed()

    def _search_failed(self, exc: BaseException) -> None:
        m = explain(exc)
        self.note = f"{m.title}: {m.text}"
        self.tell(self.note)
        self.refresh_installed()

    def _library_tab_changed(self, index: int) -> None:
        pane = self.panes["effect" if index == 0 else "analyzer"]
        self.on_selected(pane.current())

    def on_selected(self, entry: Entry | None) -> None:
        self.details.show_entry(entry, job=self.installs.job(entry.name) if entry else None)
        if entry is None:
            return
        self.work_tabs.setCurrentWidget(self.details)
        if entry.is_installed or entry.source != "hub" or entry.kind == "?":
            return
        if entry.name in self.sizes:
            self.details.set_remote_size(*self.sizes[entry.name])
            return
        name = entry.name

        def work(_r: Any, _c: Any) -> tuple[int, int]:
            from deepfx.hub import resolve_revision
            from deepfx.store import Store

            return resolve_revision(name).size, Store().partial_size(name)

        def done(res: tuple[int, int]) -> None:
            self.sizes[name] = res
            e = self.entry(name)
            if e is not None:
                e.size = res[0]
            if self.details.entry is not None and self.details.entry.name == name:
                self.details.set_remote_size(*res)
            for pane in self.panes.values():
                pane.view.viewport().update()

        def failed(exc: BaseException) -> None:
            if self.details.entry is not None and self.details.entry.name == name:
                self.details.show_error(self.message_html(explain(exc)))

        workers.start(work, done=done, failed=failed)

    def explore(self) -> None:
        from deepfx.hub import endpoint

        QDesktopServices.openUrl(QUrl(f"{endpoint()}/models?other=audacity"))

    def ask_repo(self, kind: str) -> None:
        text, ok = QInputDialog.getText(
            self, "Add from Hugging Face", "Repo id (user/model) or the model's hub URL:"
        )
        if ok and text.strip():
            self.add_repo(text.strip(), kind)

    def add_repo(self, text: str, kind: str) -> None:
        """Look ``text`` (a repo id or hub URL) up on the hub and show it, ready to install."""
        from deepfx.hub import endpoint

        pane = self.panes[kind]
        mode, repo = parse_query(text, endpoint=endpoint())
        if mode != "repo":
            pane.show_message(f"“{text}” is not a repo id: it looks like user/model.")
            return
        repo_id, _, rev = repo.partition("@")
        pane.show_message("")
        self.tell(f"Looking up {repo_id} on {endpoint()}…")

        def work(_r: Any, _c: Any) -> Any:
            from deepfx.hub import remote_card, resolve_revision
            from deepfx.store import Store

            remote = resolve_revision(repo_id, revision=rev or None)
            card = remote_card(repo_id, revision=rev or None)
            card.commit = remote.commit
            return card, remote.size, Store().partial_size(repo_id)

        def done(res: Any) -> None:
            card, size, partial = res
            if card.problem:
                pane.show_message(
                    f"{repo_id} cannot be installed: its model card is not valid "
                    f"({card.problem}). Ask its author to fix metadata.json."
                )
                self.tell("")
                return
            if card.kind != kind:
                other = "Analyzers" if card.kind == "analyzer" else "Effects"
                what = "an analyzer" if card.kind == "analyzer" else "an effect"
                pane.show_message(f"{repo_id} is {what}: see the {other} tab.")
                self.library_tabs.setCurrentWidget(self.panes[card.kind])
                self.panes[card.kind].show_message(f"{repo_id} is here, in {other}.")
                kind_pane = self.panes[card.kind]
            else:
                kind_pane = pane
            self.sizes[repo_id] = (size, partial)
            _, extra = merge([], type("R", (), {"models": [card]})())
            for e in extra:
                e.size = size
                self.added = [a for a in self.added if a.name != e.name] + [e]
            self.refresh_installed()
            kind_pane.select(repo_id)
            self.tell(f"{repo_id}: {human_size(size)} to download")

        def failed(exc: BaseException) -> None:
            m = explain(exc)
            pane.show_message(f"{repo_id}: {m.text}")
            self.tell("")

        workers.start(work, done=done, failed=failed)

    def pick_local(self, kind: str) -> None:
        path = QFileDialog.getExistingDirectory(self, "Model folder (metadata.json inside)")
        if not path:
            path, _ = QFileDialog.getOpenFileName(self, "Model .zip", "", "Zip (*.zip)")
        if path:
            self.add_local(Path(path), kind)

    def add_local(self, path: Path, kind: str | None = None) -> None:
        self.installs.enqueue(str(path), kind=kind)

    # --- installs ------------------------------------------------------------------------

    def install(self, entry: Entry) -> None:
        kind = entry.kind if entry.kind in ("effect", "analyzer") else None
        self.installs.enqueue(entry.name, kind=kind)

    def cancel_install(self, entry: Entry) -> None:
        job = self.installs.job(entry.name)
        if job is None:
            return
        if job.state == "running" and job.done:
            choice = self.ask(
                "Stop installing?",
                f"{human_size(job.done)} of {entry.name} are downloaded. Keep them so the "
                "next install resumes from there?",
                ["Stop and keep the download", "Stop and discard it", "Continue installing"],
            )
            if choice == "Continue installing":
                return
            if choice == "Stop and discard it":
                self._discard_on_cancel.add(entry.name)
        self.installs.cancel(entry.name)

    def remove(self, entry: Entry) -> None:
        from deepfx.store import Store

        try:
            plan = Store().remove(entry.name)
        except Exception as exc:  # noqa: BLE001
            self.details.show_error(self.message_html(explain(exc)))
            return
        choice = self.ask(
            "Remove model?",
            f"Remove {entry.name}? This deletes {len(plan.paths)} files and frees "
            f"{human_size(plan.bytes_freed)} in {plan.folder}.",
            [f"Remove and free {human_size(plan.bytes_freed)}", "Keep it"],
        )
        if choice.startswith("Remove"):
            self.installs.enqueue(entry.name, action="remove")

    def on_install_changed(self, job: InstallJob) -> None:
        for e in self.entries:
            if e.name == job.name:
                e.activity = job.status if job.state in ("queued", "running") else e.activity
        for pane in self.panes.values():
            pane.view.viewport().update()
        if self.details.entry is not None and self.details.entry.name == job.name:
            self.details.show_job(job)
        running = [j for j in self.installs.jobs if j.state == "running"]
        if running:
            j = running[0]
            left = f" · {duration_text(j.eta_s)} left" if j.eta_s is not None else ""
            queued = len(self.installs.jobs) - 1
            more = f" · {queued} more queued" if queued else ""
            self.tell(f"{j.status.capitalize()}: {j.name}{left}{more}")

    def on_install_finished(self, job: InstallJob) -> None:
        e = self.entry(job.name)
        if job.state == "cancelled" and job.name in self._discard_on_cancel:
            self._discard_on_cancel.discard(job.name)
            self.installs.discard_partial(job.name)
        if job.name in self.sizes:
            del self.sizes[job.name]  # the partial size changed
        if job.state == "done":
            name = getattr(getattr(job.result, "model", None), "name", job.name)
            verb = {"install": "Installed", "update": "Updated", "remove": "Removed"}[job.action]
            extra = ""
            if job.action == "remove" and isinstance(job.result, int):
                extra = f" ({human_size(job.result)} freed)"
            if job.action == "update" and job.result is not None:
                extra = f" ({job.result.note or 'new revision ' + job.result.new_commit[:12]})"
            self.tell(f"{verb} {name}{extra}")
            self.refresh_installed()
            if job.action != "remove":
                for pane in self.panes.values():
                    pane.select(name)
            return
        if e is not None:
            e.activity = job.status if job.state == "failed" else None
        self.refresh_installed()
        cur = self.details.entry
        if cur is not None and cur.name == job.name and not cur.is_installed:
            self.on_selected(cur)  # ask again: what is left to download changed
        if e is not None and job.state == "failed":
            e2 = self.entry(job.name)
            if e2 is not None:
                e2.activity = job.status
        if job.message is not None:
            text = self.message_html(job.message)
            if self.details.entry is not None and self.details.entry.name == job.name:
                self.details.show_error(text if job.state == "failed" else "")
            pane = self.panes.get(job.kind or self._kind(), self.panes[self._kind()])
            if job.state == "failed" and (self.details.entry is None or e is None):
                pane.show_message(f"{job.name}: {job.message.text} {job.message.hint}")
            self.tell(f"{job.name}: {job.message.title}")

    # --- applying ------------------------------------------------------------------------

    def use(self, entry: Entry) -> None:
        self.apply_panel.set_entry(entry)
        self.work_tabs.setCurrentWidget(self.apply_panel)
        self.apply_panel.apply_button.setFocus()

    def cancel_run(self) -> None:
        job = self.runs.current
        if job is not None:
            self.runs.cancel(job)

    def on_run_changed(self, job: RunJob) -> None:
        waiting = [j for j in self.runs.jobs if j.state == "queued"]
        self.apply_panel.show_job(self.runs.current, waiting)
        cur = self.runs.current
        if cur is not None:
            left = f" · {duration_text(cur.eta_s)} left" if cur.eta_s is not None else ""
            self.tell(f"{cur.stage}: {cur.title} {round(cur.fraction * 100)} %{left}")

    def on_run_finished(self, job: RunJob) -> None:
        waiting = [j for j in self.runs.jobs if j.state == "queued"]
        self.apply_panel.show_job(self.runs.current, waiting)
        if job.state == "done":
            items = items_for(job)
            for it in items:
                self.results.add(it)
            self.results_hint.setText(
                f"{len(self.results.results)} result{'s' if len(self.results.results) != 1 else ''}"
                " · drag a result into your DAW or a folder; Open folder shows it"
            )
            self.tell(f"Done: {job.title} → {len(items)} result{'s' if len(items) != 1 else ''}")
            self.apply_panel.show_error("")
            if not self.runs.jobs:
                self.work_tabs.setCurrentIndex(2)
        elif job.message is not None:
            if job.state == "cancelled":
                self.apply_panel.show_error(
                    "<b>Cancelled</b> — nothing was written"
                    + (
                        " and the Audacity project is unchanged."
                        if job.target == "audacity"
                        else "."
                    )
                )
            else:
                self.apply_panel.show_error(self.message_html(job.message))
            self.tell(f"{job.title}: {job.message.title}")

    # --- Audacity ------------------------------------------------------------------------

    def poll_audacity(self) -> None:
        """Refresh the Audacity status line on a worker; never while a run uses the pipe."""
        if self._poll_task is not None and not self._poll_task.finished:
            return
        cur = self.runs.current
        if cur is not None and cur.target == "audacity":
            return

        def work(_r: Any, _c: Any) -> AudacityState:
            from deepfx.app.audacity_state import probe

            return probe()

        self._poll_task = workers.start(
            work,
            done=self.apply_panel.set_audacity,
            failed=lambda exc: self.apply_panel.set_audacity(
                AudacityState("not-running", str(explain(exc)))
            ),
        )

    # --- settings ------------------------------------------------------------------------

    def open_settings(self) -> None:
        from deepfx.app.settings_dialog import SettingsDialog

        dlg = SettingsDialog(self.settings, self)
        if dlg.exec():
            self.found = None
            self.sizes.clear()
            self.refresh_installed()
            self.refresh_available()

    # --- drag and drop onto the window ---------------------------------------------------

    def dragEnterEvent(self, e: QDragEnterEvent) -> None:  # noqa: N802
        if e.mimeData().hasUrls():
            e.acceptProposedAction()

    def dropEvent(self, e: QDropEvent) -> None:  # noqa: N802
        paths = [Path(u.toLocalFile()) for u in e.mimeData().urls() if u.isLocalFile()]
        self.handle_drop(paths)
        e.acceptProposedAction()

    def handle_drop(self, paths: list[Path]) -> None:
        """A model folder or .zip installs as a local model; audio goes to Apply."""
        models = [
            p
            for p in paths
            if (p.is_dir() and (p / "metadata.json").is_file()) or p.suffix.lower() == ".zip"
        ]
        for p in models:
            self.add_local(p, None)
        audio = expand_paths([p for p in paths if p not in models])
        if audio:
            self.apply_panel.add_paths(audio)
            self.work_tabs.setCurrentWidget(self.apply_panel)

    def closeEvent(self, event: Any) -> None:  # noqa: N802
        self.audacity_timer.stop()
        for job in list(self.runs.jobs):
            self.runs.cancel(job)
        for ijob in list(self.installs.jobs):
            self.installs.cancel(ijob.name)
        workers.pool().waitForDone(10000)
        super().closeEvent(event)


def run_app(argv: list[str] | None = None) -> int:
    """Create the application and the window, and run the event loop."""
    from deepfx.app.messages import setup_logging
    from deepfx.app.theme import apply_theme

    app = QApplication.instance() or QApplication(list(argv or sys.argv[:1]))
    assert isinstance(app, QApplication)
    app.setApplicationName("deepfx")
    app.setOrganizationName("deepfx")
    setup_logging()
    apply_theme(app)
    win = MainWindow()
    win.show()
    return int(app.exec())
