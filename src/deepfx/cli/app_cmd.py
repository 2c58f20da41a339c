"""`deepfx app`: open the desktop window (needs the `app` extra: PySide6-Essentials,
pyqtgraph). Qt is imported only when the command runs, so `deepfx --help` stays fast."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    @app.command("app")
    def app_cmd() -> None:
        """Open the deepfx window: model library, install, apply to files or Audacity.

        Example: deepfx app
        """
        try:
            import pyqtgraph  # noqa: F401
            import PySide6  # noqa: F401
        except ImportError:
            from deepfx.errors import UsageError

            raise UsageError(
                "the window needs PySide6 and pyqtgraph; install them with "
                "`pip install 'deepfx[app]'` (or run scripts/install.sh)"
            ) from None
        from deepfx.app.window import run_app

        raise typer.Exit(run_app(None))
