"""The Apply tab: the target (Audacity's selection or audio files), the options the
card allows (stems, device, per channel, label format), Apply, and the run's progress
with stage, time left, Cancel and the queue behind it.

Apply is disabled, with the reason inline, until the model is installed and the target
is ready. The Audacity status line is refreshed on a worker every few seconds.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QFileDialog,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from deepfx.app import devices
from deepfx.app.audacity_state import AudacityState
from deepfx.app.catalog import Entry
from deepfx.app.details import duration_text
from deepfx.app.jobs import RunJob

__all__ = ["AUDIO_SUFFIXES", "ApplyPanel", "expand_paths"]

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".aif", ".aiff", ".opus")
LABEL_FORMATS = ("txt", "csv", "json", "srt", "vtt")


def expand_paths(paths: list[Path]) -> list[Path]:
    """Audio files among ``paths``, folders expanded (recursively), in a stable order."""
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            out += sorted(f for f in p.rglob("*") if f.suffix.lower() in AUDIO_SUFFIXES)
        elif p.suffix.lower() in AUDIO_SUFFIXES:
            out.append(p)
    seen: set[Path] = set()
    return [p for p in out if not (p in seen or seen.add(p))]  # type: ignore[func-returns-value]


class FileList(QListWidget):
    """The input files; accepts dropped files and folders."""

    dropped = Signal(list)

    def __init__(self) -> None:
        super().__init__()
        self.setAcceptDrops(True)
        self.setDragDropMode(QAbstractItemView.DragDropMode.DropOnly)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setAccessibleName("Audio files to process (drop files or folders here)")

    def dragEnterEvent(self, e: QDragEnterEvent) -> None:  # noqa: N802
        if e.mimeData().hasUrls():
            e.acceptProposedAction()

    def dragMoveEvent(self, e) -> None:  # noqa: N802, ANN001
        if e.mimeData().hasUrls():
            e.acceptProposedAction()

    def dropEvent(self, e: QDropEvent) -> None:  # noqa: N802
        paths = [Path(u.toLocalFile()) for u in e.mimeData().urls() if u.isLocalFile()]
        self.dropped.emit(paths)
        e.acceptProposedAction()

    def paths(self) -> list[Path]:
        return [Path(self.item(i).data(Qt.ItemDataRole.UserRole)) for i in range(self.count())]

    def paintEvent(self, e) -> None:  # noqa: N802, ANN001
        super().paintEvent(e)
        if self.count():
            return
        from PySide6.QtGui import QColor, QPainter

        p = QPainter(self.viewport())
        p.setPen(QColor("#8a90a0"))
        p.drawText(
            self.viewport().rect(),
            Qt.AlignmentFlag.AlignCenter,
            "Drop audio files or folders here",
        )
        p.end()


class ApplyPanel(QWidget):
    apply = Signal(object)  # RunJob
    cancel = Signal()
    output_chosen = Signal(str)

    def __init__(self, *, default_device: str = "auto", output_folder: str = "") -> None:
        super().__init__()
        self.entry: Entry | None = None
        self.audacity = AudacityState("not-running", "Checking whether Audacity is running…")
        self.running_job: RunJob | None = None

        self.model_title = QLabel("No model chosen")
        self.model_title.setProperty("role", "title")
        self.model_note = QLabel("Choose a model in the library, then come back here.")
        self.model_note.setProperty("role", "muted")
        self.model_note.setWordWrap(True)

        # --- target ---
        self.to_files = QRadioButton("Audio files")
        self.to_files.setAccessibleName("Apply to audio files")
        self.to_audacity = QRadioButton("The selection in Audacity")
        self.to_audacity.setAccessibleName("Apply to the selection in the running Audacity")
        self.target = QButtonGroup(self)
        self.target.addButton(self.to_files)
        self.target.addButton(self.to_audacity)
        self.to_files.setChecked(True)
        self.audacity_line = QLabel(self.audacity.text)
        self.audacity_line.setWordWrap(True)
        self.audacity_line.setProperty("role", "muted")
        self.audacity_line.setAccessibleName("Audacity status")

        self.files = FileList()
        self.files.dropped.connect(self.add_paths)
        self.files.setMinimumHeight(90)
        self.add_files_button = QPushButton("Add files…")
        self.add_files_button.setAccessibleName("Add audio files")
        self.add_files_button.clicked.connect(self._pick_files)
        self.add_folder_button = QPushButton("Add folder…")
        self.add_folder_button.setAccessibleName("Add every audio file of a folder")
        self.add_folder_button.clicked.connect(self._pick_folder)
        self.clear_button = QPushButton("Clear")
        self.clear_button.setAccessibleName("Remove all files from the list")
        self.clear_button.clicked.connect(self._clear)
        file_buttons = QHBoxLayout()
        file_buttons.addWidget(self.add_files_button)
        file_buttons.addWidget(self.add_folder_button)
        file_buttons.addStretch(1)
        file_buttons.addWidget(self.clear_button)

        self.beside = QCheckBox("Write results beside each input")
        self.beside.setAccessibleName("Write results beside each input file")
        self.out_edit = QLineEdit(output_folder)
        self.out_edit.setAccessibleName("Output folder")
        self.out_edit.setPlaceholderText("Output folder")
        self.out_button = QPushButton("Choose…")
        self.out_button.setAccessibleName("Choose the output folder")
        self.out_button.clicked.connect(self._pick_out)
        self.beside.setChecked(not output_folder)
        self.beside.toggled.connect(self._update)
        self.out_edit.textChanged.connect(self._update)
        out_row = QHBoxLayout()
        out_row.addWidget(self.out_edit, 1)
        out_row.addWidget(self.out_button)

        target_box = QGroupBox("Apply to")
        tl = QVBoxLayout(target_box)
        tl.addWidget(self.to_audacity)
        tl.addWidget(self.audacity_line)
        tl.addSpacing(4)
        tl.addWidget(self.to_files)
        self.files_box = QWidget()
        fl = QVBoxLayout(self.files_box)
        fl.setContentsMargins(22, 0, 0, 0)
        fl.addWidget(self.files)
        fl.addLayout(file_buttons)
        fl.addWidget(self.beside)
        fl.addLayout(out_row)
        tl.addWidget(self.files_box)
        self.to_files.toggled.connect(self._update)

        # --- options ---
        self.options_box = QGroupBox("Options")
        self.options = QGridLayout(self.options_box)
        self.options.setColumnStretch(1, 1)
        self.stems_row = QWidget()
        self.stems_layout = QHBoxLayout(self.stems_row)
        self.stems_layout.setContentsMargins(0, 0, 0, 0)
        self.stems_layout.setSpacing(16)
        self.stems_layout.addStretch(1)
        self.stem_boxes: list[QCheckBox] = []
        self.device = QComboBox()
        self.device.setAccessibleName("Device the model runs on")
        self.device.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.device.setMinimumContentsLength(22)
        self.device_reason = QLabel()
        self.device_reason.setProperty("role", "muted")
        self.device_reason.setWordWrap(True)
        self._fill_devices(default_device)
        # Stereo stays stereo by default (a mono model runs once per channel); this is
        # the opt-out, as `deepfx run --mono`.
        self.mono = QCheckBox("Mix stereo down to mono")
        self.mono.setAccessibleName("Mix stereo down to mono")
        self.label_format = QComboBox()
        self.label_format.setAccessibleName("Label file format")
        for f in LABEL_FORMATS:
            self.label_format.addItem({"txt": "Audacity labels (.txt)"}.get(f, f".{f}"), f)
        self.stems_label = QLabel("Stems")
        self.format_label = QLabel("Label file")
        self.options.addWidget(self.stems_label, 0, 0)
        self.options.addWidget(self.stems_row, 0, 1)
        self.options.addWidget(self.format_label, 1, 0)
        self.options.addWidget(self.label_format, 1, 1)
        self.options.addWidget(QLabel("Device"), 2, 0)
        self.options.addWidget(self.device, 2, 1)
        self.options.addWidget(self.device_reason, 3, 1)
        self.options.addWidget(self.mono, 4, 1)

        # --- run ---
        self.apply_button = QPushButton("Apply")
        self.apply_button.setProperty("primary", True)
        self.apply_button.setAccessibleName("Apply the model")
        self.apply_button.setDefault(True)
        self.apply_button.setAutoDefault(True)
        self.apply_button.clicked.connect(self._apply)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setAccessibleName("Cancel the run")
        self.cancel_button.clicked.connect(self.cancel)
        self.reason = QLabel()
        self.reason.setProperty("role", "muted")
        self.reason.setWordWrap(True)
        run_row = QHBoxLayout()
        run_row.addWidget(self.apply_button)
        run_row.addWidget(self.reason, 1)
        self.progress = QProgressBar()
        self.progress.setAccessibleName("Run progress")
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(False)
        self.stage = QLabel()
        self.stage.setAccessibleName("Run stage")
        self.time_left = QLabel()
        self.time_left.setProperty("role", "muted")
        prog_row = QHBoxLayout()
        prog_row.addWidget(self.progress, 1)
        prog_row.addWidget(self.cancel_button)
        stage_row = QHBoxLayout()
        stage_row.addWidget(self.stage, 1)
        stage_row.addWidget(self.time_left)
        self.run_box = QWidget()
        rl = QVBoxLayout(self.run_box)
        rl.setContentsMargins(0, 0, 0, 0)
        rl.addLayout(prog_row)
        rl.addLayout(stage_row)
        self.run_box.hide()
        self.queue = QListWidget()
        self.queue.setAccessibleName("Runs waiting in the queue")
        self.queue.setMaximumHeight(70)
        self.queue.hide()
        self.message = QLabel()
        self.message.setProperty("role", "error")
        self.message.setWordWrap(True)
        self.message.hide()

        lay = QVBoxLayout(self)
        lay.setContentsMargins(18, 16, 18, 16)
        lay.setSpacing(10)
        lay.addWidget(self.model_title)
        lay.addWidget(self.model_note)
        lay.addWidget(target_box, 1)
        lay.addWidget(self.options_box)
        lay.addLayout(run_row)
        lay.addWidget(self.run_box)
        lay.addWidget(self.queue)
        lay.addWidget(self.message)
        self.set_entry(None)

    # --- state from the window -----------------------------------------------------------

    def set_entry(self, entry: Entry | None) -> None:
        self.entry = entry
        for b in self.stem_boxes:
            b.deleteLater()
        self.stem_boxes = []
        if entry is None:
            self.model_title.setText("No model chosen")
            self.model_note.setText("Choose a model in the library, then come back here.")
        else:
            self.model_title.setText(entry.name)
            self.model_note.setText(entry.description)
            if entry.kind == "effect":
                for label in entry.labels:
                    box = QCheckBox(label)
                    box.setChecked(True)
                    box.setAccessibleName(f"Keep the {label} output")
                    box.toggled.connect(self._update)
                    self.stems_layout.insertWidget(self.stems_layout.count() - 1, box)
                    self.stem_boxes.append(box)
        effect = entry is not None and entry.kind == "effect"
        self.stems_label.setVisible(effect)
        self.stems_row.setVisible(effect)
        self.label_format.setVisible(not effect)
        self.format_label.setVisible(not effect)
        self._update()

    def set_audacity(self, state: AudacityState) -> None:
        self.audacity = state
        self.audacity_line.setText(state.text)
        role = {"connected": "ok", "audacity4": "note", "no-pipe": "note"}.get(state.state, "muted")
        self.audacity_line.setProperty("role", role)
        self.audacity_line.style().unpolish(self.audacity_line)
        self.audacity_line.style().polish(self.audacity_line)
        self.to_audacity.setEnabled(state.state != "audacity4")
        if state.state == "audacity4" and self.to_audacity.isChecked():
            self.to_files.setChecked(True)
        self._update()

    def show_job(self, job: RunJob | None, waiting: list[RunJob]) -> None:
        self.running_job = job
        self.run_box.setVisible(job is not None)
        if job is not None:
            self.progress.setValue(int(job.fraction * 1000))
            where = f" · {job.position}" if job.position else ""
            self.stage.setText(f"{job.stage}{where}")
            self.time_left.setText(
                f"{duration_text(job.eta_s)} left" if job.eta_s is not None else ""
            )
        self.queue.clear()
        for w in waiting:
            self.queue.addItem(f"Waiting: {w.title}")
        self.queue.setVisible(bool(waiting))
        self._update()

    def show_error(self, text: str) -> None:
        self.message.setText(text)
        self.message.setVisible(bool(text))

    # --- files -------------------------------------------------------------------------

    def add_paths(self, paths: list[Path]) -> None:
        have = set(self.files.paths())
        for p in expand_paths([Path(x) for x in paths]):
            if p not in have:
                item = QListWidgetItem(f"{p.name}   —   {p.parent}")
                item.setData(Qt.ItemDataRole.UserRole, str(p))
                self.files.addItem(item)
        self.to_files.setChecked(True)
        self._update()

    def _pick_files(self) -> None:
        names, _ = QFileDialog.getOpenFileNames(
            self, "Audio files", "", "Audio (" + " ".join(f"*{s}" for s in AUDIO_SUFFIXES) + ")"
        )
        self.add_paths([Path(n) for n in names])

    def _pick_folder(self) -> None:
        d = QFileDialog.getExistingDirectory(self, "Folder of audio files")
        if d:
            self.add_paths([Path(d)])

    def _pick_out(self) -> None:
        d = QFileDialog.getExistingDirectory(self, "Output folder", self.out_edit.text())
        if d:
            self.out_edit.setText(d)
            self.beside.setChecked(False)

    def _clear(self) -> None:
        self.files.clear()
        self._update()

    # --- options -------------------------------------------------------------------------

    def _fill_devices(self, default: str) -> None:
        from PySide6.QtGui import QStandardItemModel

        reasons = []
        for c in devices.choices():
            text = c.label if c.available else f"{c.label} — {c.reason}"
            self.device.addItem(text, c.name)
            if not c.available:
                model = self.device.model()
                assert isinstance(model, QStandardItemModel)
                item = model.item(self.device.count() - 1)
                item.setEnabled(False)
                item.setToolTip(c.reason)
                reasons.append(f"{c.label}: {c.reason}")
        i = self.device.findData(default)
        self.device.setCurrentIndex(max(i, 0))
        self.device_reason.setText("Not available here: " + "; ".join(reasons) if reasons else "")

    def stems(self) -> list[str] | None:
        if not self.stem_boxes:
            return None
        return [b.text() for b in self.stem_boxes if b.isChecked()]

    def out_dir(self) -> Path | None:
        if self.beside.isChecked() or not self.out_edit.text().strip():
            return None
        return Path(self.out_edit.text().strip()).expanduser()

    # --- apply -------------------------------------------------------------------------

    def blocker(self) -> str:
        """Why Apply is disabled ("" when it is enabled)."""
        e = self.entry
        if e is None:
            return "Choose a model in the library first."
        if not e.is_installed:
            return f"Install {e.name} first (Library → Install)."
        if e.kind == "effect" and self.stems() == []:
            return "Tick at least one stem to keep."
        if self.to_audacity.isChecked():
            if self.audacity.state != "connected":
                return self.audacity.text
            if not self.audacity.can_apply:
                return "Select a time range on one or more audio tracks in Audacity."
            return ""
        if not self.files.count():
            return "Add audio files: drop them here, or use Add files…"
        if not self.beside.isChecked() and not self.out_edit.text().strip():
            return "Choose an output folder, or tick “beside each input”."
        return ""

    def _update(self) -> None:
        self.files_box.setEnabled(self.to_files.isChecked())
        self.out_edit.setEnabled(not self.beside.isChecked())
        self.out_button.setEnabled(not self.beside.isChecked())
        why = self.blocker()
        self.apply_button.setEnabled(not why)
        busy = self.running_job is not None
        self.apply_button.setText("Add to queue" if busy and not why else "Apply")
        self.reason.setText(why)

    def _apply(self) -> None:
        if self.blocker() or self.entry is None:
            return
        if self.out_dir() is not None:
            self.output_chosen.emit(str(self.out_dir()))
        self.show_error("")
        job = RunJob(
            model=self.entry.name,
            kind=self.entry.kind,
            target="audacity" if self.to_audacity.isChecked() else "files",
            inputs=self.files.paths(),
            out_dir=self.out_dir(),
            stems=self.stems(),
            per_channel=False if self.mono.isChecked() else None,
            device=str(self.device.currentData() or "auto"),
            label_format=str(self.label_format.currentData() or "txt"),
        )
        self.apply.emit(job)

    def keyPressEvent(self, event) -> None:  # noqa: N802, ANN001
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and self.apply_button.isEnabled():
            self._apply()
            return
        super().keyPressEvent(event)


def file_url(path: Path) -> QUrl:
    return QUrl.fromLocalFile(str(path))
