"""Settings that persist: store folder, hub endpoint, offline mode, default device and
output folder, the last folders used. Kept in an INI file in the user config folder
(``DEEPFX_APP_CONFIG`` names another file; the tests use a temporary one).

The library reads its configuration from the environment on every call (``DEEPFX_HOME``,
``HF_ENDPOINT``, ``HF_HUB_OFFLINE``), so :meth:`AppSettings.apply_to_env` is how a
setting reaches it: one source of truth, the same one the CLI uses.
"""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QSettings

__all__ = ["AppSettings", "config_path"]


def config_path() -> Path:
    from deepfx.settings import app_config

    env = app_config()
    if env:
        return env
    from platformdirs import user_config_dir

    return Path(user_config_dir("deepfx", appauthor=False)) / "app.ini"


class AppSettings:
    """Typed access to the app's QSettings (INI format, one file)."""

    KEYS = (
        "store_folder",
        "hub_endpoint",
        "offline",
        "device",
        "output_folder",
        "last_input_folder",
    )

    def __init__(self, path: Path | None = None):
        self.path = path or config_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._q = QSettings(str(self.path), QSettings.Format.IniFormat)
        #: what the environment said before any setting was applied (restored on "")
        self._env0 = {
            k: os.environ.get(k) for k in ("DEEPFX_HOME", "HF_ENDPOINT", "DEEPFX_OFFLINE")
        }

    def get(self, key: str, default: str = "") -> str:
        value = self._q.value(key, default)
        return "" if value is None else str(value)

    def set(self, key: str, value: str | bool) -> None:
        self._q.setValue(key, str(value).lower() if isinstance(value, bool) else value)
        self._q.sync()

    @property
    def offline(self) -> bool:
        return self.get("offline", "false") == "true"

    @property
    def device(self) -> str:
        return self.get("device", "auto") or "auto"

    def apply_to_env(self) -> None:
        """Point the library at the chosen store folder, endpoint and offline mode."""
        for key, var in (("store_folder", "DEEPFX_HOME"), ("hub_endpoint", "HF_ENDPOINT")):
            value = self.get(key)
            if value:
                os.environ[var] = value
            elif self._env0[var] is not None:
                os.environ[var] = self._env0[var] or ""
            else:
                os.environ.pop(var, None)
        if self.offline:
            os.environ["DEEPFX_OFFLINE"] = "1"
        elif self._env0["DEEPFX_OFFLINE"] is not None:  # offline from the environment
            os.environ["DEEPFX_OFFLINE"] = self._env0["DEEPFX_OFFLINE"] or ""
        else:
            os.environ.pop("DEEPFX_OFFLINE", None)
