"""deepfx inside a running Audacity, through its scripting module mod-script-pipe.

:mod:`deepfx.audacity.pipe` is the client for the pipe; :mod:`deepfx.audacity.bridge`
reads the selection, runs a model on it and puts the results back into the project.
Importing this package imports neither torch nor the engine.
"""

from __future__ import annotations

__all__: list[str] = []
