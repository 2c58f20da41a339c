"""Look: one pinned font (DejaVu Sans, so screenshots render the same everywhere), the
colours of the domain chips, and the style sheet."""

from __future__ import annotations

from pathlib import Path

__all__ = ["CHIP_COLORS", "FONT_FAMILY", "STYLE", "apply_theme", "font_files"]

FONT_FAMILY = "DejaVu Sans"
#: Where Debian's fonts-dejavu-core (and other systems) put DejaVu Sans.
FONT_DIRS = (
    "/usr/share/fonts/truetype/dejavu",
    "/usr/share/fonts/dejavu",
    "/usr/share/fonts/TTF",
    "/Library/Fonts",
)
CHIP_COLORS = {
    "music": "#7c5cff",
    "speech": "#12a37f",
    "environmental": "#d9822b",
    "other": "#6b7280",
}
ACCENT = "#3b6ef5"
TEXT = "#1f2430"
MUTED = "#5f6675"
BORDER = "#d9dce3"
BG = "#f6f7f9"

STYLE = f"""
QWidget {{ color: {TEXT}; font-size: 10pt; }}
QMainWindow, QDialog {{ background: {BG}; }}
QTabWidget::pane {{ border: 1px solid {BORDER}; border-radius: 6px; background: white; top: -1px; }}
QTabBar::tab {{ padding: 7px 16px; border: 1px solid transparent; color: {MUTED}; }}
QTabBar::tab:selected {{ color: {TEXT}; font-weight: bold; border-bottom: 2px solid {ACCENT}; }}
QLineEdit, QComboBox {{ padding: 5px 8px; border: 1px solid {BORDER}; border-radius: 5px;
    background: white; }}
QComboBox::drop-down {{ subcontrol-origin: padding; subcontrol-position: center right;
    width: 22px; border: none; }}
QComboBox::down-arrow {{ width: 12px; height: 12px;
    image: url(:/qt-project.org/styles/commonstyle/images/arrow-down-16.png); }}
QLineEdit:focus, QComboBox:focus {{ border: 1px solid {ACCENT}; }}
QPushButton {{ padding: 6px 14px; border: 1px solid {BORDER}; border-radius: 5px;
    background: white; }}
QPushButton:hover {{ border-color: {ACCENT}; }}
QPushButton:focus {{ border: 1px solid {ACCENT}; }}
QPushButton:disabled {{ color: #a0a6b3; background: #f0f1f4; }}
QPushButton[primary="true"] {{ background: {ACCENT}; color: white; border-color: {ACCENT};
    font-weight: bold; }}
QPushButton[primary="true"]:disabled {{ background: #a9bdf7; border-color: #a9bdf7; }}
QListView, QListWidget, QTableWidget {{ border: none; background: white; outline: none; }}
QProgressBar {{ border: 1px solid {BORDER}; border-radius: 4px; background: #eef0f4;
    text-align: center; height: 14px; }}
QProgressBar::chunk {{ background: {ACCENT}; border-radius: 3px; }}
QLabel[role="title"] {{ font-size: 15pt; font-weight: bold; }}
QLabel[role="section"] {{ font-weight: bold; color: {MUTED}; font-size: 9pt; }}
QLabel[role="muted"] {{ color: {MUTED}; }}
QLabel[role="error"] {{ background: #fdecec; color: #9b1c1c; border: 1px solid #f5c2c2;
    border-radius: 5px; padding: 8px; }}
QLabel[role="note"] {{ background: #fff7e0; color: #7a5a00; border: 1px solid #f1dea0;
    border-radius: 5px; padding: 6px 8px; }}
QLabel[role="ok"] {{ color: #0f7a52; }}
QGroupBox {{ border: 1px solid {BORDER}; border-radius: 6px; margin-top: 14px; padding: 10px;
    background: white; font-weight: bold; }}
QGroupBox::title {{ subcontrol-origin: margin; left: 10px; padding: 0 4px; color: {MUTED}; }}
QStatusBar {{ color: {MUTED}; }}
QStatusBar QLabel {{ padding: 2px 10px; }}
"""


def font_files() -> list[Path]:
    """DejaVu Sans regular and bold, where installed (``DEEPFX_APP_FONT_DIR`` first)."""
    from deepfx.settings import app_font_dir

    first = app_font_dir()
    dirs = [str(first)] if first else []
    for d in [*dirs, *FONT_DIRS]:
        regular = Path(d) / "DejaVuSans.ttf"
        if regular.is_file():
            bold = Path(d) / "DejaVuSans-Bold.ttf"
            return [regular, bold] if bold.is_file() else [regular]
    return []


def apply_theme(app: object) -> str:
    """Load the pinned font into ``app`` (a QApplication) and set the style; returns
    the family used (the platform default when DejaVu Sans is not installed)."""
    from PySide6.QtGui import QFont, QFontDatabase
    from PySide6.QtWidgets import QApplication

    assert isinstance(app, QApplication)
    family = ""
    for path in font_files():
        fid = QFontDatabase.addApplicationFont(str(path))
        if fid >= 0 and not family:
            family = (QFontDatabase.applicationFontFamilies(fid) or [""])[0]
    app.setStyle("Fusion")
    if family:
        font = QFont(family, 10)
        font.setHintingPreference(QFont.HintingPreference.PreferNoHinting)
        app.setFont(font)
    app.setStyleSheet(STYLE)
    return family or app.font().family()
