"""The Results tab: what each run made, with a waveform per audio output and a label
lane over the input's waveform for analyzers (pyqtgraph), Open folder, playback where
an audio device exists, and drag and drop of the files into a DAW or file manager (the
drag carries file URLs).

Waveforms are min/max envelopes computed on a worker from the written files.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QMimeData, Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from deepfx.app import theme, workers

if TYPE_CHECKING:
    import numpy as np

__all__ = ["ResultItem", "ResultsView", "envelope", "playback_available"]

BINS = 1200


@dataclass
class ResultItem:
    """One thing a run made: an audio file, a label file, or tracks added to Audacity."""

    title: str
    kind: str  # "audio", "labels" or "audacity"
    path: Path | None = None
    source: Path | None = None  # the input (for a label lane's waveform)
    labels: list[Any] = field(default_factory=list)
    detail: str = ""


def envelope(path: Path, bins: int = BINS) -> tuple[np.ndarray, np.ndarray, float]:
    """(min, max) per bin of the mono mix of ``path``, and its duration in seconds."""
    import numpy as np
    import soundfile as sf

    with sf.SoundFile(str(path)) as f:
        frames, rate = f.frames, f.samplerate
        step = max(1, frames // bins)
        lo, hi = [], []
        for block in f.blocks(blocksize=step * 64, dtype="float32", always_2d=True):
            mono = block.mean(axis=1)
            n = len(mono) // step * step
            if n:
                m = mono[:n].reshape(-1, step)
                lo.append(m.min(axis=1))
                hi.append(m.max(axis=1))
    if not lo:
        return np.zeros(1), np.zeros(1), 0.0
    return np.concatenate(lo), np.concatenate(hi), frames / rate


def playback_available() -> bool:
    """True when ``sounddevice`` is installed and finds an output device."""
    try:
        import sounddevice as sd  # type: ignore[import-not-found]

        return any(d.get("max_output_channels", 0) > 0 for d in sd.query_devices())
    except Exception:  # noqa: BLE001 - no PortAudio, no device: no playback button
        return False


def _plot_class() -> Any:
    """pyqtgraph's plot widget, subclassed on first use (pyqtgraph and numpy load only
    when the first result is shown, not at the window's start)."""
    global _PLOT
    if _PLOT is not None:
        return _PLOT
    import numpy as np
    import pyqtgraph as pg

    class _Plot(pg.PlotWidget):
        def __init__(self) -> None:
            super().__init__(background="w")
            self.setMouseEnabled(False, False)
            self.hideButtons()
            self.setMenuEnabled(False)
            self.getPlotItem().hideAxis("left")
            self.getPlotItem().getAxis("bottom").setPen(pg.mkPen(theme.BORDER))
            self.getPlotItem().getAxis("bottom").setTextPen(pg.mkPen(theme.MUTED))
            self.setFixedHeight(74)
            self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
            self.setFocusPolicy(Qt.FocusPolicy.NoFocus)

        def draw(self, env: tuple[np.ndarray, np.ndarray, float], labels: list[Any]) -> None:
            lo, hi, dur = env
            x = np.linspace(0, dur, len(lo))
            color = pg.mkColor(theme.ACCENT)
            pen = pg.mkPen(color, width=1)
            top = self.plot(x, hi, pen=pen)
            bottom = self.plot(x, lo, pen=pen)
            fill = pg.mkColor(theme.ACCENT)
            fill.setAlpha(90 if not labels else 45)
            self.addItem(pg.FillBetweenItem(top, bottom, brush=fill))
            colors = ["#12a37f", "#d9822b", "#7c5cff", "#e5484d", "#0091ff"]
            names = sorted({str(lab.text) for lab in labels})
            for lab in labels[:2000]:
                c = pg.mkColor(colors[names.index(str(lab.text)) % len(colors)])
                c.setAlpha(70)
                region = pg.LinearRegionItem(
                    (lab.start_s, max(lab.end_s, lab.start_s + 1e-3)), movable=False, brush=c
                )
                region.setZValue(-10)
                for line in region.lines:
                    line.setPen(pg.mkPen(None))
                self.addItem(region)
                wide = (lab.end_s - lab.start_s) / max(dur, 1e-9) > 0.04
                if len(labels) <= 40 and wide:
                    t = pg.TextItem(str(lab.text), color=theme.TEXT, anchor=(0, 0))
                    t.setPos(lab.start_s, 1.0)
                    self.addItem(t)
            self.setYRange(-1.05, 1.1, padding=0)
            self.setXRange(0, max(dur, 1e-3), padding=0)

    _PLOT = _Plot
    return _Plot


_PLOT: Any = None


class ResultRow(QWidget):
    def __init__(self, item: ResultItem, *, can_play: bool) -> None:
        super().__init__()
        self.item = item
        self.plot: Any = None
        title = QLabel(f"<b>{item.title}</b>")
        detail = QLabel(item.detail)
        detail.setProperty("role", "muted")
        self.open_button = QPushButton("Open folder")
        self.open_button.setAccessibleName(f"Open the folder of {item.title}")
        self.open_button.clicked.connect(self._open)
        self.open_button.setVisible(item.path is not None)
        self.play_button = QPushButton("▶ Play")
        self.play_button.setAccessibleName(f"Play {item.title}")
        self.play_button.setVisible(can_play and item.kind == "audio")
        self.play_button.clicked.connect(self._play)
        head = QHBoxLayout()
        head.addWidget(title)
        head.addWidget(detail, 1)
        head.addWidget(self.play_button)
        head.addWidget(self.open_button)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(12, 8, 12, 8)
        lay.addLayout(head)
        if item.kind in ("audio", "labels") and (item.path or item.source):
            self.plot = _plot_class()()
            self.plot.setAccessibleName(f"Waveform of {item.title}")
            lay.addWidget(self.plot)

    def _open(self) -> None:
        if self.item.path is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.item.path.parent)))

    def _play(self) -> None:
        def work(_r: Any, _c: Any) -> None:
            import sounddevice as sd
            import soundfile as sf

            data, rate = sf.read(str(self.item.path), dtype="float32")
            sd.play(data, rate)
            sd.wait()

        workers.start(work)


def _draw(plot: Any, item: ResultItem, env: tuple[np.ndarray, np.ndarray, float]) -> None:
    plot.draw(env, item.labels)


class ResultsView(QListWidget):
    """The results; dragging rows out gives the files' URLs (``text/uri-list``)."""

    cleared = Signal()

    def __init__(self) -> None:
        super().__init__()
        self.setAccessibleName("Results: drag them into a DAW or a file manager")
        self.setDragEnabled(True)
        self.setDragDropMode(QAbstractItemView.DragDropMode.DragOnly)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.setSpacing(4)
        self.can_play = playback_available()
        self.results: list[ResultItem] = []

    def add(self, item: ResultItem) -> QListWidgetItem:
        row = ResultRow(item, can_play=self.can_play)
        li = QListWidgetItem()
        li.setData(Qt.ItemDataRole.UserRole, str(item.path) if item.path else "")
        li.setData(Qt.ItemDataRole.AccessibleTextRole, f"{item.title} {item.detail}")
        li.setSizeHint(row.sizeHint())
        self.insertItem(0, li)
        self.setItemWidget(li, row)
        self.results.insert(0, item)
        if row.plot is not None:
            src = item.path if item.kind == "audio" else item.source
            plot = row.plot

            def work(_r: Any, _c: Any, p: Path = src) -> Any:  # type: ignore[assignment]
                return envelope(p)

            workers.start(work, done=functools.partial(_draw, plot, item))
        return li

    def mimeData(self, items: Any) -> QMimeData:  # noqa: N802
        mime = QMimeData()
        urls = [
            QUrl.fromLocalFile(str(it.data(Qt.ItemDataRole.UserRole)))
            for it in items
            if it.data(Qt.ItemDataRole.UserRole)
        ]
        mime.setUrls(urls)
        return mime

    def mimeTypes(self) -> list[str]:  # noqa: N802
        return ["text/uri-list"]


def _label_summary(labels: list[Any], source: str) -> str:
    names = sorted({str(lab.text) for lab in labels})
    shown = ", ".join(names[:4]) + (f" +{len(names) - 4}" if len(names) > 4 else "")
    return f"{len(labels)} label{'s' if len(labels) != 1 else ''} ({shown}) over {source}"


def items_for(job: Any) -> list[ResultItem]:
    """Result rows for a finished :class:`deepfx.app.jobs.RunJob`."""
    out: list[ResultItem] = []
    if job.target == "audacity":
        res = job.result
        for t in res.added:
            what = f"{t.labels} labels" if t.kind == "label" else f"{t.channels} ch"
            out.append(
                ResultItem(
                    t.name,
                    "audacity",
                    detail=f"added to Audacity at {res.start_s:.2f} s · {what}",
                )
            )
        return out
    for ro in job.result:
        for label, path in ro.files.items():
            if ro.kind == "analyzer" or label == "labels":
                out.append(
                    ResultItem(
                        path.name,
                        "labels",
                        path=path,
                        source=ro.input,
                        labels=list(ro.labels),
                        detail=_label_summary(ro.labels, ro.input.name),
                    )
                )
            else:
                out.append(
                    ResultItem(path.name, "audio", path=path, detail=f"{label} of {ro.input.name}")
                )
    return out
