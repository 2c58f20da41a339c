"""Accessible names for the parts Qt builds inside composite widgets (a combo box's
popup list, a tab bar and its scroll arrows, a line edit's clear button), so a screen
reader names every control, not only the ones this package creates itself."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QHeaderView,
    QLineEdit,
    QTabBar,
    QTabWidget,
    QToolButton,
    QWidget,
)

__all__ = ["name_parts"]


def name_parts(root: QWidget) -> None:
    """Give Qt's inner widgets under ``root`` names derived from their owner's."""
    for combo in root.findChildren(QComboBox):
        view = combo.view()
        if not view.accessibleName():
            view.setAccessibleName(f"{combo.accessibleName() or 'Choices'}: choices")
    for tabs in root.findChildren(QTabWidget):
        bar = tabs.tabBar()
        if not bar.accessibleName():
            bar.setAccessibleName(tabs.accessibleName() or "Tabs")
    for bar in root.findChildren(QTabBar):
        for i, button in enumerate(bar.findChildren(QToolButton)):
            if not button.accessibleName():
                button.setAccessibleName("Scroll tabs left" if i == 0 else "Scroll tabs right")
    for header in root.findChildren(QHeaderView):
        if not header.accessibleName():
            across = header.orientation() == Qt.Orientation.Horizontal
            parent = header.parentWidget()
            owner = parent.accessibleName() if parent is not None else ""
            header.setAccessibleName(f"{owner}: {'column' if across else 'row'} headers")
    for edit in root.findChildren(QLineEdit):
        for button in edit.findChildren(QToolButton):
            if not button.accessibleName():
                button.setAccessibleName(f"Clear {edit.accessibleName() or 'the text'}")
