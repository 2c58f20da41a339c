"""The details pane: everything the card says, where the model is, and the Install /
Update / Remove buttons with the install's progress, speed, time left and Cancel.

The pane only shows and asks; the window does the work (signals ``install``,
``update``, ``remove``, ``cancel``, ``use``).
"""

from __future__ import annotations

import html

from PySide6.QtCore import Qt, Signal, SignalInstance
from PySide6.QtWidgets import (
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from deepfx.app import theme
from deepfx.app.catalog import Entry
from deepfx.app.installs import InstallJob

__all__ = ["DetailsPane", "duration_text"]


def human_size(n: int | None) -> str:
    from deepfx.store import human_size as size  # deepfx.store loads pydantic: not at start

    return size(n)


def duration_text(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    s = int(round(seconds))
    if s < 60:
        return f"{s} s"
    m, s = divmod(s, 60)
    if m < 60:
        return f"{m} min {s:02d} s"
    h, m = divmod(m, 60)
    return f"{h} h {m:02d} min"


class DetailsPane(QWidget):
    install_clicked = Signal(object)  # Entry
    update_clicked = Signal(object)
    remove_clicked = Signal(object)
    cancel_clicked = Signal(object)
    use_clicked = Signal(object)

    def __init__(self) -> None:
        super().__init__()
        self.entry: Entry | None = None
        self.job: InstallJob | None = None
        self.remote_size: int | None = None
        self.partial: int = 0

        self.title = QLabel("Pick a model")
        self.title.setProperty("role", "title")
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.subtitle = QLabel("Select a model in the list to see what it does.")
        self.subtitle.setProperty("role", "muted")
        self.subtitle.setWordWrap(True)
        self.chips = QLabel()
        self.chips.setTextFormat(Qt.TextFormat.RichText)
        self.description = QLabel()
        self.description.setWordWrap(True)
        self.description.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self.install_button = QPushButton("Install")
        self.install_button.setProperty("primary", True)
        self.install_button.setAccessibleName("Install the model")
        self.install_button.clicked.connect(lambda: self._emit(self.install_clicked))
        self.update_button = QPushButton("Update")
        self.update_button.setAccessibleName("Update the model to the hub's newest revision")
        self.update_button.clicked.connect(lambda: self._emit(self.update_clicked))
        self.remove_button = QPushButton("Remove…")
        self.remove_button.setAccessibleName("Remove the model from this computer")
        self.remove_button.clicked.connect(lambda: self._emit(self.remove_clicked))
        self.use_button = QPushButton("Apply this model →")
        self.use_button.setProperty("primary", True)
        self.use_button.setAccessibleName("Use this model in the Apply tab")
        self.use_button.clicked.connect(lambda: self._emit(self.use_clicked))
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setAccessibleName("Cancel the install")
        self.cancel_button.clicked.connect(lambda: self._emit(self.cancel_clicked))
        buttons = QHBoxLayout()
        for b in (self.install_button, self.use_button, self.update_button, self.remove_button):
            buttons.addWidget(b)
        buttons.addStretch(1)

        self.progress = QProgressBar()
        self.progress.setAccessibleName("Install progress")
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(False)
        self.progress_text = QLabel()
        self.progress_text.setProperty("role", "muted")
        prog = QHBoxLayout()
        prog.addWidget(self.progress, 1)
        prog.addWidget(self.cancel_button)
        self.progress_box = QWidget()
        pv = QVBoxLayout(self.progress_box)
        pv.setContentsMargins(0, 0, 0, 0)
        pv.addLayout(prog)
        pv.addWidget(self.progress_text)
        self.progress_box.hide()

        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setProperty("role", "error")
        self.message.hide()

        self.facts = QFormLayout()
        self.facts.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        self.facts.setHorizontalSpacing(14)
        self.facts.setVerticalSpacing(6)
        facts_box = QWidget()
        facts_box.setLayout(self.facts)

        body = QWidget()
        body.setObjectName("detailsBody")
        body.setStyleSheet("#detailsBody { background: white; }")
        lay = QVBoxLayout(body)
        lay.setContentsMargins(18, 16, 18, 16)
        lay.setSpacing(10)
        lay.addWidget(self.title)
        lay.addWidget(self.subtitle)
        lay.addWidget(self.chips)
        lay.addLayout(buttons)
        lay.addWidget(self.progress_box)
        lay.addWidget(self.message)
        lay.addWidget(self.description)
        lay.addWidget(facts_box)
        lay.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        scroll.setWidget(body)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(scroll)
        self.show_entry(None)

    def _emit(self, sig: SignalInstance) -> None:
        if self.entry is not None:
            sig.emit(self.entry)

    # --- showing ---------------------------------------------------------------------------

    def show_entry(self, entry: Entry | None, *, job: InstallJob | None = None) -> None:
        self.entry = entry
        self.remote_size = None
        self.partial = 0
        while self.facts.rowCount():
            self.facts.removeRow(0)
        self.message.hide()
        if entry is None:
            self.title.setText("Pick a model")
            self.subtitle.setText("Select a model in the list to see what it does.")
            self.chips.clear()
            self.description.clear()
            for b in (self.install_button, self.update_button, self.remove_button):
                b.hide()
            self.use_button.hide()
            self.progress_box.hide()
            return
        self.title.setText(entry.name)
        kind = {"effect": "Effect", "analyzer": "Analyzer"}.get(entry.kind, "Unknown type")
        who = f" · by {entry.author}" if entry.author else ""
        self.subtitle.setText(f"{kind}{who} · {entry.description or 'no description'}")
        self.chips.setText(_chips_html(entry))
        self.description.setText(entry.long_description or entry.description)
        self._facts(entry)
        self.show_job(job)

    def set_remote_size(self, size: int | None, partial: int = 0) -> None:
        """The download size learned from the hub (on a worker), shown on the button."""
        self.remote_size = size
        self.partial = partial
        self.show_job(self.job)
        if size:
            self.facts.insertRow(0, _key("Download"), _val(human_size(size)))

    def show_error(self, text: str) -> None:
        self.message.setText(text)
        self.message.setVisible(bool(text))

    def show_job(self, job: InstallJob | None) -> None:
        self.job = job
        e = self.entry
        if e is None:
            return
        active = job is not None and job.state in ("queued", "running")
        self.install_button.setVisible(not e.is_installed and not active)
        self.install_button.setEnabled(e.kind != "?")
        self.install_button.setText(self._install_text(e))
        self.use_button.setVisible(e.is_installed and not active)
        self.update_button.setVisible(e.is_installed and e.source == "hub" and not active)
        self.update_button.setText("Update" if e.update_available else "Check for update")
        self.remove_button.setVisible(e.is_installed and not active)
        self.progress_box.setVisible(active)
        if job is not None and active:
            self.cancel_button.setEnabled(job.action != "remove")
            if job.state == "queued":
                self.progress.setRange(0, 0)
                self.progress_text.setText("Waiting for the installs before it…")
            elif job.total:
                self.progress.setRange(0, 1000)
                self.progress.setValue(int(job.fraction * 1000))
                speed = f"{human_size(int(job.speed_bps))}/s" if job.speed_bps else "—"
                self.progress_text.setText(
                    f"{human_size(job.done)} of {human_size(job.total)} · {speed} · "
                    f"{duration_text(job.eta_s)} left"
                )
            else:
                self.progress.setRange(0, 0)
                self.progress_text.setText(job.step or "Starting…")
        if job is not None and job.state == "failed" and job.message is not None:
            m = job.message
            self.show_error(f"<b>{html.escape(m.title)}</b><br>{html.escape(m.text)}<br>{m.hint}")

    def _install_text(self, e: Entry) -> str:
        if e.source == "builtin":
            return "Install (built on this computer, offline)"
        if self.remote_size:
            left = max(self.remote_size - self.partial, 0)
            if self.partial:
                return f"Resume install ({human_size(left)} left)"
            return f"Install ({human_size(self.remote_size)})"
        return "Install"

    def _facts(self, e: Entry) -> None:
        inst = e.installed
        rows: list[tuple[str, str]] = []
        if e.sample_rate:
            rows.append(("Sample rate", f"{e.sample_rate:,} Hz".replace(",", " ")))
        what = "Stems" if e.kind == "effect" else "Labels"
        if e.labels:
            rows.append((what, ", ".join(e.labels)))
        if e.tags:
            rows.append(("Tags", ", ".join(e.tags)))
        rows.append(("Licence", e.license or "not stated"))
        exported = e.exported_with
        if exported:
            rows.append(("Exported with", ", ".join(f"{k} {v}" for k, v in exported.items())))
        if inst is not None:
            rows.append(("Installed", inst.installed_at.replace("T", " ")[:16] or "yes"))
            if inst.commit:
                rows.append(("Commit", inst.commit[:12] + (" (pinned)" if inst.pinned else "")))
            rows.append(("Size on disk", human_size(inst.size)))
            rows.append(("Speed", html.escape(inst.optimized_line)))
            rows.append(("Folder", _folder_link(inst.folder)))
        elif e.remote is not None and e.remote.commit:
            rows.append(("Commit", e.remote.commit[:12]))
        if e.source == "hub":
            rows.append(("Repository", f'<a href="{_repo_url(e.name)}">{_repo_url(e.name)}</a>'))
        if e.problem:
            rows.append(("Card problem", e.problem))
        for k, v in rows:
            self.facts.addRow(_key(k), _val(v))


def _folder_link(folder: object) -> str:
    """A short link to the model's folder (opens the file manager); the full path is
    too long for one line."""
    from pathlib import Path

    from PySide6.QtCore import QUrl

    p = Path(str(folder))
    short = "…/" + "/".join(p.parts[-3:])
    return f'<a href="{QUrl.fromLocalFile(str(p)).toString()}">{html.escape(short)}</a>'


def _repo_url(name: str) -> str:
    from deepfx.hub import endpoint

    return f"{endpoint()}/{name}"


def _key(text: str) -> QLabel:
    lab = QLabel(text)
    lab.setProperty("role", "muted")
    return lab


def _val(text: str) -> QLabel:
    import re

    lab = QLabel(text)
    plain = re.sub(r"<[^>]+>", "", text)
    lab.setAccessibleName(plain)
    lab.setToolTip(plain if len(plain) > 40 else "")
    lab.setWordWrap(len(plain) > 70)  # short values on one line: exact row heights
    lab.setOpenExternalLinks(True)
    lab.setTextInteractionFlags(Qt.TextInteractionFlag.TextBrowserInteraction)
    return lab


def _chips_html(e: Entry) -> str:
    out = []
    for d in e.domains:
        c = theme.CHIP_COLORS.get(d, theme.CHIP_COLORS["other"])
        out.append(f'<span style="color:{c}; font-weight:bold">●&nbsp;{html.escape(d)}</span>')
    status = html.escape(e.status)
    out.append(f'<span style="color:{theme.MUTED}">{status}</span>')
    return " &nbsp; ".join(out)
