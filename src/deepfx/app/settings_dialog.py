"""The Settings dialog: store folder (shown, opened, changed) with the disk used in
total and per model, hub endpoint, offline mode, default device and output folder."""

from __future__ import annotations

from PySide6.QtCore import QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
)

from deepfx.app import devices
from deepfx.app.settings import AppSettings
from deepfx.store import Store, human_size

__all__ = ["SettingsDialog"]


class SettingsDialog(QDialog):
    def __init__(self, settings: AppSettings, parent: object = None) -> None:
        super().__init__(parent)  # type: ignore[arg-type]
        self.setWindowTitle("deepfx settings")
        self.setAccessibleName("Settings")
        self.settings = settings
        store = Store()

        self.store_edit = QLineEdit(settings.get("store_folder") or str(store.root))
        self.store_edit.setAccessibleName("Store folder")
        show = QPushButton("Show in file manager")
        show.setAccessibleName("Show the store folder in the file manager")
        show.clicked.connect(
            lambda: QDesktopServices.openUrl(QUrl.fromLocalFile(self.store_edit.text()))
        )
        change = QPushButton("Change…")
        change.setAccessibleName("Change the store folder")
        change.clicked.connect(self._pick_store)
        row = QHBoxLayout()
        row.addWidget(self.store_edit, 1)
        row.addWidget(show)
        row.addWidget(change)

        models = store.installed()
        self.usage = QLabel(
            f"{human_size(sum(m.size for m in models)) if models else '0 B'} used by "
            f"{len(models)} model{'s' if len(models) != 1 else ''}"
        )
        self.table = QTableWidget(len(models), 2)
        self.table.setAccessibleName("Disk used per model")
        self.table.setHorizontalHeaderLabels(["Model", "Size"])
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().hide()
        for i, m in enumerate(models):
            self.table.setItem(i, 0, QTableWidgetItem(m.name))
            self.table.setItem(i, 1, QTableWidgetItem(human_size(m.size)))
        self.table.setMaximumHeight(160)

        from deepfx.hub import endpoint

        self.endpoint_edit = QLineEdit(settings.get("hub_endpoint"))
        self.endpoint_edit.setPlaceholderText(endpoint())
        self.endpoint_edit.setAccessibleName("Hub endpoint")
        self.offline = QCheckBox("Offline: never contact the hub (installed models still work)")
        self.offline.setAccessibleName("Offline mode")
        self.offline.setChecked(settings.offline)
        self.device = QComboBox()
        self.device.setAccessibleName("Default device")
        for c in devices.choices():
            if c.available:
                self.device.addItem(c.label, c.name)
        self.device.setCurrentIndex(max(self.device.findData(settings.device), 0))
        self.output_edit = QLineEdit(settings.get("output_folder"))
        self.output_edit.setPlaceholderText("beside each input")
        self.output_edit.setAccessibleName("Default output folder")

        form = QFormLayout()
        form.addRow("Store folder", row)
        form.addRow("Disk used", self.usage)
        form.addRow("", self.table)
        form.addRow("Hub endpoint", self.endpoint_edit)
        form.addRow("", self.offline)
        form.addRow("Default device", self.device)
        form.addRow("Default output folder", self.output_edit)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        for b in buttons.buttons():
            b.setAccessibleName(b.text().replace("&", ""))
        buttons.accepted.connect(self.save)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(buttons)
        self.resize(720, 480)
        from deepfx.app.a11y import name_parts

        name_parts(self)

    def _pick_store(self) -> None:
        d = QFileDialog.getExistingDirectory(self, "Store folder", self.store_edit.text())
        if d:
            self.store_edit.setText(d)

    def save(self) -> None:
        s = self.settings
        store = self.store_edit.text().strip()
        s.set(
            "store_folder",
            "" if store == str(Store().root) and not s.get("store_folder") else store,
        )
        s.set("hub_endpoint", self.endpoint_edit.text().strip().rstrip("/"))
        s.set("offline", self.offline.isChecked())
        s.set("device", str(self.device.currentData() or "auto"))
        s.set("output_folder", self.output_edit.text().strip())
        s.apply_to_env()
        self.accept()
