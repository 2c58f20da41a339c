"""deepfx's settings from the environment, read at call time and checked.

Every ``DEEPFX_*`` variable the hub and the store read goes through one function here, so a
process that changes the environment (tests, an app switching stores) is honoured, and a
bad value is a clear :class:`~deepfx.errors.UsageError` (exit 2) naming the variable, not
a silent default or a crash deep inside a download.

=========================  ==========  ====================================================
variable                   default     meaning
=========================  ==========  ====================================================
``DEEPFX_HOME``            user data   the store's root folder
``DEEPFX_HUB_TIMEOUT``     15          seconds: the wait for one hub answer, and the whole
                                       deadline of a metadata request
``DEEPFX_HUB_MIN_RATE``    50000       bytes/s: a file download must finish within
                                       ``DEEPFX_HUB_TIMEOUT + size / DEEPFX_HUB_MIN_RATE``
``DEEPFX_HUB_TTL``         3600        seconds the hub listing is cached
``DEEPFX_LOCK_TIMEOUT``    600         seconds to wait for another install of the same model
``DEEPFX_LOCAL_MAX_FILES`` 10000       most files ``add-local`` copies from a folder / .zip
``DEEPFX_LOCAL_MAX_BYTES`` 20e9        most bytes ``add-local`` copies from a folder / .zip
=========================  ==========  ====================================================
"""

from __future__ import annotations

import math
import os
from pathlib import Path

from deepfx.errors import UsageError

__all__ = [
    "HUB_METADATA_MAX_BYTES",
    "download_deadline_s",
    "home",
    "hub_min_rate",
    "hub_timeout_s",
    "hub_ttl_s",
    "local_max_bytes",
    "local_max_files",
    "lock_timeout_s",
]

#: The most bytes one hub answer that is not a file (JSON, headers of a HEAD, an error
#: page) may have: a model_info with every file's metadata is a few MB at most.
HUB_METADATA_MAX_BYTES = 64 * 1024 * 1024


def home() -> Path:
    """The store's root: ``DEEPFX_HOME`` if set, else the user data folder (platformdirs)."""
    env = os.environ.get("DEEPFX_HOME")
    if env:
        return Path(env).expanduser()
    from platformdirs import user_data_dir

    return Path(user_data_dir("deepfx", appauthor=False))


def _number(var: str, default: float, *, minimum: float, integer: bool = False) -> float:
    """``var`` as a finite number >= ``minimum`` (``default`` when unset or empty)."""
    raw = os.environ.get(var, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < minimum or (integer and value != int(value)):
        kind = "a whole number" if integer else "a number"
        raise UsageError(
            f"{var}={raw[:40]!r} is not valid: it must be {kind} >= {minimum:g}; "
            f"fix or unset it (default {default:g})"
        )
    return value


def hub_timeout_s() -> float:
    """Seconds to wait for one hub answer (``DEEPFX_HUB_TIMEOUT``, default 15)."""
    return _number("DEEPFX_HUB_TIMEOUT", 15.0, minimum=0.001)


def hub_min_rate() -> float:
    """Slowest download accepted, in bytes per second (``DEEPFX_HUB_MIN_RATE``, default 50 kB/s)."""
    return _number("DEEPFX_HUB_MIN_RATE", 50_000.0, minimum=1.0)


def download_deadline_s(size: int) -> float:
    """The overall deadline of downloading ``size`` bytes: ``DEEPFX_HUB_TIMEOUT`` plus the time
    the slowest accepted rate needs. A server that drips bytes (each read in time, the whole
    never done) is cut here; a per-read timeout alone never would."""
    return hub_timeout_s() + max(0, size) / hub_min_rate()


def hub_ttl_s(default: float = 3600.0) -> float:
    """Seconds the hub listing is cached (``DEEPFX_HUB_TTL``)."""
    return _number("DEEPFX_HUB_TTL", default, minimum=0.0)


def lock_timeout_s() -> float:
    """Seconds to wait for another install of the same model (``DEEPFX_LOCK_TIMEOUT``)."""
    return _number("DEEPFX_LOCK_TIMEOUT", 600.0, minimum=0.0)


def local_max_files() -> int:
    """The most files ``add-local`` copies (``DEEPFX_LOCAL_MAX_FILES``, default 10,000)."""
    return int(_number("DEEPFX_LOCAL_MAX_FILES", 10_000, minimum=1, integer=True))


def local_max_bytes() -> int:
    """The most bytes ``add-local`` copies (``DEEPFX_LOCAL_MAX_BYTES``, default 20 GB)."""
    return int(_number("DEEPFX_LOCAL_MAX_BYTES", 20e9, minimum=1, integer=True))
