"""The library list: a Qt list model of section headers and model rows, and the painter
that draws a row like a model card (name, author, description, domain chips, size,
licence, status). Painting rows (rather than one widget per row) keeps a list of
hundreds of hub models instant to fill and scroll.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QAbstractListModel, QModelIndex, QPersistentModelIndex, QRect, QSize, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPen
from PySide6.QtWidgets import QStyle, QStyledItemDelegate, QStyleOptionViewItem

from deepfx.app import theme
from deepfx.app.catalog import Entry

__all__ = ["ENTRY_ROLE", "EntryListModel", "Header", "RowDelegate"]

ENTRY_ROLE = Qt.ItemDataRole.UserRole + 1
Index = QModelIndex | QPersistentModelIndex


@dataclass
class Header:
    """A section title ("Installed", "Available") with an optional note (offline...)."""

    text: str
    note: str = ""


class EntryListModel(QAbstractListModel):
    def __init__(self) -> None:
        super().__init__()
        self.items: list[Header | Entry] = []

    def set_items(self, items: list[Header | Entry]) -> None:
        self.beginResetModel()
        self.items = items
        self.endResetModel()

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(self.items)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        item = self.items[index.row()]
        if role == ENTRY_ROLE:
            return item
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.AccessibleTextRole):
            if isinstance(item, Header):
                return f"{item.text}. {item.note}".strip(". ")
            return f"{item.name}: {item.description} ({item.status})"
        return None

    def flags(self, index: Index) -> Qt.ItemFlag:
        if index.isValid() and isinstance(self.items[index.row()], Header):
            return Qt.ItemFlag.ItemIsEnabled
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable

    def row_of(self, name: str) -> int:
        for i, item in enumerate(self.items):
            if isinstance(item, Entry) and item.name == name:
                return i
        return -1


class RowDelegate(QStyledItemDelegate):
    ROW_H = 64
    HEADER_H = 34
    NOTE_H = 54

    def sizeHint(self, option: QStyleOptionViewItem, index: Index) -> QSize:  # noqa: N802
        item = index.data(ENTRY_ROLE)
        if isinstance(item, Header):
            if not item.text:
                return QSize(200, self.NOTE_H - self.HEADER_H + 14)
            return QSize(200, self.NOTE_H if item.note else self.HEADER_H)
        return QSize(200, self.ROW_H)

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: Index) -> None:
        item = index.data(ENTRY_ROLE)
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        rect: QRect = option.rect  # type: ignore[attr-defined]
        base = QFont(option.font)  # type: ignore[attr-defined]
        if isinstance(item, Header):
            self._paint_header(painter, rect, base, item)
        elif isinstance(item, Entry):
            state = option.state  # type: ignore[attr-defined]
            selected = bool(state & QStyle.StateFlag.State_Selected)
            focused = bool(state & QStyle.StateFlag.State_HasFocus)
            self._paint_entry(painter, rect, base, item, selected, focused)
        painter.restore()

    def _paint_header(self, p: QPainter, rect: QRect, base: QFont, item: Header) -> None:
        f = QFont(base)
        f.setBold(True)
        f.setPointSizeF(base.pointSizeF() * 0.9)
        f.setCapitalization(QFont.Capitalization.AllUppercase)
        f.setLetterSpacing(QFont.SpacingType.PercentageSpacing, 108)
        p.setFont(f)
        p.setPen(QColor(theme.MUTED))
        p.drawText(
            rect.adjusted(14, 10, -10, 0),
            Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop,
            item.text,
        )
        if item.note:
            p.setFont(base)
            box = rect.adjusted(12, 30 if item.text else 4, -12, -6)
            p.setPen(QPen(QColor("#f1dea0")))
            p.setBrush(QColor("#fff7e0"))
            p.drawRoundedRect(box, 4, 4)
            p.setPen(QColor("#7a5a00"))
            fm = QFontMetrics(base)
            text = fm.elidedText(item.note, Qt.TextElideMode.ElideRight, box.width() - 16)
            p.drawText(box.adjusted(8, 0, -8, 0), Qt.AlignmentFlag.AlignVCenter, text)

    def _paint_entry(
        self, p: QPainter, rect: QRect, base: QFont, e: Entry, selected: bool, focused: bool
    ) -> None:
        card = rect.adjusted(8, 3, -8, -3)
        p.setPen(QPen(QColor(theme.ACCENT if selected else theme.BORDER), 1.5 if selected else 1))
        p.setBrush(QColor("#eef3ff" if selected else "white"))
        p.drawRoundedRect(card, 6, 6)
        if focused and not selected:
            p.setPen(QPen(QColor(theme.ACCENT), 1, Qt.PenStyle.DotLine))
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.drawRoundedRect(card.adjusted(2, 2, -2, -2), 5, 5)
        inner = card.adjusted(12, 8, -12, -8)
        small = QFont(base)
        small.setPointSizeF(base.pointSizeF() * 0.85)
        fm_s = QFontMetrics(small)
        bold = QFont(base)
        bold.setBold(True)
        fm_b = QFontMetrics(bold)
        fm = QFontMetrics(base)
        line1 = inner.top() + fm_b.ascent()
        line2 = inner.bottom() - fm.descent()

        # right column, line 1: domain chips; line 2: size · licence · status
        cx = inner.right()
        p.setFont(small)
        for dom in reversed(e.domains[:3]):
            w = fm_s.horizontalAdvance(dom) + 14
            chip = QRect(cx - w, inner.top() - 1, w, fm_s.height() + 4)
            chip_color = QColor(theme.CHIP_COLORS.get(dom, theme.CHIP_COLORS["other"]))
            p.setPen(Qt.PenStyle.NoPen)
            fill = QColor(chip_color)
            fill.setAlpha(36)
            p.setBrush(fill)
            p.drawRoundedRect(chip, chip.height() / 2, chip.height() / 2)
            p.setPen(chip_color.darker(130))
            p.drawText(chip, Qt.AlignmentFlag.AlignCenter, dom)
            cx -= w + 4
        chips_left = cx

        status = e.status
        color: str = theme.MUTED
        if status.startswith(("failed", "card problem")):
            color = "#b42318"
        elif status == "update available":
            color = "#b54708"
        elif status.startswith(("installing", "queued", "updating", "removing")):
            color = theme.ACCENT
        elif status == "installed":
            color = "#0f7a52"
        st = fm_s.elidedText(status, Qt.TextElideMode.ElideRight, 230)
        st_w = fm_s.horizontalAdvance(st)
        p.setPen(QColor(color))
        p.drawText(inner.right() - st_w, line2, st)
        meta = " · ".join(x for x in (e.size_text, e.license or "") if x)
        meta_w = 0
        if meta:
            meta = fm_s.elidedText(meta, Qt.TextElideMode.ElideLeft, 170)
            meta_w = fm_s.horizontalAdvance(meta) + 14
            p.setPen(QColor(theme.MUTED))
            p.drawText(inner.right() - st_w - meta_w, line2, meta)

        # left: name, author; description
        p.setFont(bold)
        p.setPen(QColor(theme.TEXT))
        room1 = chips_left - inner.left() - 12
        name = fm_b.elidedText(e.name, Qt.TextElideMode.ElideMiddle, int(room1 * 0.7))
        p.drawText(inner.left(), line1, name)
        x = inner.left() + fm_b.horizontalAdvance(name) + 8
        if e.author:
            p.setFont(small)
            p.setPen(QColor(theme.MUTED))
            author = fm_s.elidedText(
                f"by {e.author}", Qt.TextElideMode.ElideRight, max(0, chips_left - 12 - x)
            )
            p.drawText(x, line1, author)
        p.setFont(base)
        p.setPen(QColor(theme.MUTED))
        room2 = inner.width() - st_w - meta_w - 16
        desc = fm.elidedText(e.description or "—", Qt.TextElideMode.ElideRight, room2)
        p.drawText(inner.left(), line2, desc)
