"""One tab of the library (Effects or Analyzers): search box, domain filter, the actions
that add models, and the list with its Installed and Available sections.

The pane holds no data of its own: the window gives it every row (:meth:`show_rows`)
and it shows the ones of its kind that match the search. Clicking a row only selects it
(the details pane shows it); installing is always the details pane's explicit button.
"""

from __future__ import annotations

from PySide6.QtCore import QItemSelection, QModelIndex, QSignalBlocker, Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListView,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from deepfx.app.catalog import DOMAINS, Entry, parse_query
from deepfx.app.rows import ENTRY_ROLE, EntryListModel, Header, RowDelegate

__all__ = ["LibraryPane"]

TITLES = {"effect": "Effects", "analyzer": "Analyzers"}


class LibraryPane(QWidget):
    selected = Signal(object)  # Entry or None
    add_repo = Signal(str)  # a repo id typed or pasted into the search box
    add_from_hub = Signal()
    add_local = Signal()
    explore = Signal()
    refresh = Signal()

    def __init__(self, kind: str, *, endpoint: str = "https://huggingface.co"):
        super().__init__()
        self.kind = kind
        self.endpoint = endpoint
        self._installed: list[Entry] = []
        self._available: list[Entry] = []
        self._note = ""
        self.loaded = False
        what = "effects" if kind == "effect" else "analyzers"

        self.search = QLineEdit()
        self.search.setPlaceholderText("Search, or paste user/model or a hub URL")
        self.search.setAccessibleName(f"Search {what}")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(self._apply_filter)
        self.search.returnPressed.connect(self._enter)
        self.domain = QComboBox()
        self.domain.setAccessibleName(f"Domain filter for {what}")
        self.domain.addItem("All domains", "")
        for d in DOMAINS:
            self.domain.addItem(d.capitalize(), d)
        self.domain.currentIndexChanged.connect(self._apply_filter)
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.setAccessibleName(f"Refresh the list of {what}")
        self.refresh_button.setToolTip("Ask the hub again (the listing is cached for an hour)")
        self.refresh_button.clicked.connect(self.refresh)

        top = QHBoxLayout()
        top.addWidget(self.search, 1)
        top.addWidget(self.domain)
        top.addWidget(self.refresh_button)

        self.add_hub_button = QPushButton("Add from Hugging Face…")
        self.add_hub_button.setAccessibleName("Add a model from Hugging Face by repo id")
        self.add_hub_button.clicked.connect(self.add_from_hub)
        self.add_local_button = QPushButton("Add local model…")
        self.add_local_button.setAccessibleName("Add a local model folder or zip file")
        self.add_local_button.clicked.connect(self.add_local)
        self.explore_button = QPushButton("Explore models…")
        self.explore_button.setAccessibleName("Explore models on the hub in the browser")
        self.explore_button.clicked.connect(self.explore)
        actions = QHBoxLayout()
        actions.addWidget(self.add_hub_button)
        actions.addWidget(self.add_local_button)
        actions.addStretch(1)
        actions.addWidget(self.explore_button)

        self.model = EntryListModel()
        self.view = QListView()
        self.view.setAccessibleName(f"{TITLES[kind]}: installed and available models")
        self.view.setModel(self.model)
        self.view.setItemDelegate(RowDelegate(self.view))
        self.view.setUniformItemSizes(False)
        self.view.setVerticalScrollMode(QListView.ScrollMode.ScrollPerPixel)
        self.view.setSpacing(0)
        self.view.selectionModel().selectionChanged.connect(self._selection)

        self.message = QLabel()
        self.message.setProperty("role", "error")
        self.message.setWordWrap(True)
        self.message.hide()

        lay = QVBoxLayout(self)
        lay.setContentsMargins(10, 10, 10, 10)
        lay.setSpacing(8)
        lay.addLayout(top)
        lay.addLayout(actions)
        lay.addWidget(self.message)
        lay.addWidget(self.view, 1)
        self.setTabOrder(self.search, self.domain)
        self.setTabOrder(self.domain, self.refresh_button)
        self.setTabOrder(self.refresh_button, self.add_hub_button)
        self.setTabOrder(self.add_hub_button, self.add_local_button)
        self.setTabOrder(self.add_local_button, self.explore_button)
        self.setTabOrder(self.explore_button, self.view)
        self._apply_filter()

    # --- data ---------------------------------------------------------------------------

    def show_rows(self, installed: list[Entry], available: list[Entry], note: str = "") -> None:
        """Replace the rows (all kinds; this pane keeps its own), keeping the selection."""
        mine = (self.kind, "?")
        self._installed = [e for e in installed if e.kind in mine]
        self._available = [e for e in available if e.kind in mine]
        self._note = note
        self.loaded = True
        self._apply_filter()

    def visible_entries(self) -> list[Entry]:
        return [i for i in self.model.items if isinstance(i, Entry)]

    def current(self) -> Entry | None:
        idx = self.view.currentIndex()
        item = idx.data(ENTRY_ROLE) if idx.isValid() else None
        return item if isinstance(item, Entry) else None

    def select(self, name: str) -> bool:
        row = self.model.row_of(name)
        if row < 0:
            return False
        self.view.setCurrentIndex(self.model.index(row))
        return True

    def show_message(self, text: str) -> None:
        self.message.setText(text)
        self.message.setVisible(bool(text))

    # --- internals ------------------------------------------------------------------------

    def _filters(self) -> tuple[str, str | None]:
        text = self.search.text()
        mode, value = parse_query(text, endpoint=self.endpoint)
        if mode == "repo":  # a repo id filters to that name (Enter adds it)
            return value.split("@", 1)[0], None
        return text, (self.domain.currentData() or None)

    def _apply_filter(self) -> None:
        cur = self.current()
        keep = cur.name if cur is not None else None
        text, domain = self._filters()
        inst = [e for e in self._installed if e.matches(text, domain)]
        avail = [e for e in self._available if e.matches(text, domain)]
        if not self.loaded:
            self.model.set_items([Header("Loading the model library…")])
            return
        items: list[Header | Entry] = [Header(f"Installed · {len(inst)}")]
        items += inst or [Header("", "Nothing installed yet: pick a model below and install it.")]
        items.append(Header(f"Available · {len(avail)}", self._note))
        if not avail and (text or domain):
            items.append(Header("", "No model matches: try other words, or paste user/model."))
        items += avail
        self.model.set_items(items)
        if keep:  # the same row again: not a new choice (the window keeps its tab)
            blocker = QSignalBlocker(self.view.selectionModel())
            self.select(keep)
            del blocker

    def _enter(self) -> None:
        mode, value = parse_query(self.search.text(), endpoint=self.endpoint)
        self.show_message("")
        if mode == "repo" and self.model.row_of(value.split("@", 1)[0]) < 0:
            self.add_repo.emit(value)
        elif entries := self.visible_entries():
            self.select(entries[0].name)
            self.view.setFocus()

    def _selection(self, _sel: QItemSelection, _old: QItemSelection) -> None:
        idx: QModelIndex = self.view.currentIndex()
        item = idx.data(ENTRY_ROLE) if idx.isValid() else None
        self.selected.emit(item if isinstance(item, Entry) else None)

    def keyPressEvent(self, event) -> None:  # noqa: N802, ANN001
        if event.key() == Qt.Key.Key_Slash:
            self.search.setFocus()
            return
        super().keyPressEvent(event)
