"""deepfx's settings from the environment, read at call time and checked.

Every environment variable deepfx reads goes through one function here (no other module
reads ``os.environ``), so a process that changes the environment (tests, an app switching
stores) is honoured, and a bad value is a clear :class:`~deepfx.errors.UsageError`
(exit 2) naming the variable, not a silent default or a crash deep inside a download.
The same table is in ``docs/settings.md``.

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
``DEEPFX_CURATED_LISTS``   deepfx's    ``repo[:file],...`` curated model lists to search
                           list        (empty: none)
``DEEPFX_OFFLINE``         off         ``1``/``true``/``yes``/``on``: never use the network
``DEEPFX_DEBUG``           off         any value: print tracebacks with error lines
``DEEPFX_RESIDENT_IDLE``   600         seconds the resident worker (Audacity applies) keeps
                                       models loaded after its last job; 0: no worker,
                                       every apply loads the model in its own process
``DEEPFX_RESIDENT_DIR``    runtime     the resident worker's private (0700) socket folder
                           dir         (default ``$XDG_RUNTIME_DIR/deepfx``, else
                                       ``<tmp>/deepfx-<uid>``)
``DEEPFX_OPTIMIZE``        on          ``0``/``false``/``no``/``off``: installs do not try to
                                       derive a faster ONNX network (``models optimize`` does)
``DEEPFX_OPTIMIZE_CHUNK_S`` 2          seconds of audio the install times each runner on
``DEEPFX_OPTIMIZE_TIMEOUT`` 300        seconds the ONNX exporters may take at install (in a
                                       child process, stopped then: the original is kept)
``DEEPFX_THREAD_BUDGET``   all cores   CPU threads this process's models may use in total
                                       (batch actors get cores // actors)
``HF_ENDPOINT``            hf.co       the hub's base URL (``http(s)://...``)
``HF_HUB_OFFLINE``         off         as ``DEEPFX_OFFLINE`` (huggingface_hub's own switch)
``HF_HUB_CACHE``           HF_HOME/hub huggingface_hub's download cache
``HF_HOME``                ~/.cache/hf huggingface_hub's folder
``HF_TOKEN``               login       read by huggingface_hub itself (publish, private repos)
=========================  ==========  ====================================================
"""

from __future__ import annotations

import math
import os
from collections.abc import MutableMapping
from pathlib import Path

from deepfx.errors import UsageError

__all__ = [
    "DEFAULT_ENDPOINT",
    "app_config",
    "app_font_dir",
    "app_log",
    "child_environment",
    "legacy_base_python",
    "legacy_venv",
    "process_environment",
    "pyenv_root",
    "ray_address",
    "resident_dir",
    "resident_idle_s",
    "runtime_dir",
    "HUB_METADATA_MAX_BYTES",
    "curated_lists",
    "debug",
    "download_deadline_s",
    "hf_cache_dir",
    "home",
    "hub_endpoint",
    "hub_min_rate",
    "hub_timeout_s",
    "hub_ttl_s",
    "local_max_bytes",
    "local_max_files",
    "lock_timeout_s",
    "offline",
    "optimize_chunk_s",
    "optimize_on_install",
    "optimize_timeout_s",
    "thread_budget",
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


DEFAULT_ENDPOINT = "https://huggingface.co"
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}


def hub_endpoint() -> str:
    """The hub's base URL: ``HF_ENDPOINT`` if set, else huggingface.co."""
    raw = os.environ.get("HF_ENDPOINT", "").strip()
    if not raw:
        return DEFAULT_ENDPOINT
    if not raw.lower().startswith(("http://", "https://")):
        raise UsageError(
            f"HF_ENDPOINT={raw[:60]!r} is not valid: it must be an http:// or https:// URL; "
            "fix or unset it"
        )
    return raw.rstrip("/")


def offline() -> bool:
    """True when ``HF_HUB_OFFLINE`` or ``DEEPFX_OFFLINE`` asks for no network at all.

    ``DEEPFX_OFFLINE`` must be a yes/no word; ``HF_HUB_OFFLINE`` is read the way
    huggingface_hub reads it (anything but a yes word is no)."""
    raw = os.environ.get("DEEPFX_OFFLINE", "").strip().lower()
    if raw not in _TRUE | _FALSE:
        raise UsageError(
            f"DEEPFX_OFFLINE={raw[:40]!r} is not valid: use 1/true/yes/on or 0/false/no/off"
        )
    return raw in _TRUE or os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in _TRUE


def optimize_on_install() -> bool:
    """Whether an install tries to derive a faster ONNX network (``DEEPFX_OPTIMIZE``,
    default on): a yes/no word."""
    raw = os.environ.get("DEEPFX_OPTIMIZE", "").strip().lower()
    if raw not in _TRUE | _FALSE:
        raise UsageError(
            f"DEEPFX_OPTIMIZE={raw[:40]!r} is not valid: use 1/true/yes/on or 0/false/no/off"
        )
    return raw == "" or raw in _TRUE


def optimize_chunk_s() -> float:
    """Seconds of audio each runner is timed on when an install compares them (bounds the
    install's extra time; ``DEEPFX_OPTIMIZE_CHUNK_S``, default 4, at least 0.5)."""
    return _number("DEEPFX_OPTIMIZE_CHUNK_S", 2.0, minimum=0.5)


def optimize_timeout_s() -> float:
    """Seconds an install lets torch's ONNX exporters work before it gives up on deriving
    (``DEEPFX_OPTIMIZE_TIMEOUT``, default 300; they run in a child process, which is
    stopped then): a huge network's export must never hold an install for an hour."""
    return _number("DEEPFX_OPTIMIZE_TIMEOUT", 300.0, minimum=0.1)


def thread_budget() -> int | None:
    """The CPU threads this process's models may use in total (``DEEPFX_THREAD_BUDGET``,
    a whole number >= 1), or ``None``: the thread policy decides from the cores."""
    if not os.environ.get("DEEPFX_THREAD_BUDGET", "").strip():
        return None
    return int(_number("DEEPFX_THREAD_BUDGET", 1, minimum=1, integer=True))


def hf_cache_dir() -> str:
    """huggingface_hub's cache folder, read from the environment now (``HF_HUB_CACHE``,
    else ``HF_HOME``/hub), not at import time as huggingface_hub does."""
    if os.environ.get("HF_HUB_CACHE"):
        return os.environ["HF_HUB_CACHE"]
    if os.environ.get("HF_HOME"):
        return os.path.join(os.environ["HF_HOME"], "hub")
    from huggingface_hub import constants

    return str(constants.HF_HUB_CACHE)


def curated_lists(default: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The curated lists to read, as ``(repo_id, file)`` pairs: ``DEEPFX_CURATED_LISTS``
    (``repo[:file]`` items, comma-separated; set but empty means none), else ``default``."""
    env = os.environ.get("DEEPFX_CURATED_LISTS")
    if env is None:
        return list(default)
    out = []
    for item in env.split(","):
        item = item.strip()
        if not item:
            continue
        repo, _, file = item.partition(":")
        out.append((repo.strip(), file.strip() or "models.json"))
    return out


def debug() -> bool:
    """``DEEPFX_DEBUG`` set to anything: error lines come with their traceback. Never an
    error itself (it is read while reporting one)."""
    return bool(os.environ.get("DEEPFX_DEBUG"))


def _path(var: str) -> Path | None:
    value = os.environ.get(var)
    return Path(value).expanduser() if value else None


def app_config() -> Path | None:
    """``DEEPFX_APP_CONFIG``: the window's settings file (default: the user config folder)."""
    return _path("DEEPFX_APP_CONFIG")


def app_log() -> Path | None:
    """``DEEPFX_APP_LOG``: the window's log file (default: the user log folder)."""
    return _path("DEEPFX_APP_LOG")


def app_font_dir() -> Path | None:
    """``DEEPFX_APP_FONT_DIR``: a folder holding DejaVuSans.ttf for the window, tried first."""
    return _path("DEEPFX_APP_FONT_DIR")


def legacy_base_python() -> Path | None:
    """``DEEPFX_LEGACY_BASE_PYTHON``: the Python 3.9 to build the torch 1.9 runtime from."""
    return _path("DEEPFX_LEGACY_BASE_PYTHON")


def legacy_venv() -> Path | None:
    """``DEEPFX_LEGACY_VENV``: where the torch 1.9 runtime lives (default: the user cache)."""
    return _path("DEEPFX_LEGACY_VENV")


def pyenv_root() -> Path:
    """``PYENV_ROOT`` (default ``~/.pyenv``): where pyenv's Pythons are looked for."""
    return _path("PYENV_ROOT") or Path.home() / ".pyenv"


def ray_address() -> str | None:
    """``RAY_ADDRESS``: the Ray cluster ``deepfx batch`` joins (default: a private local one)."""
    return os.environ.get("RAY_ADDRESS") or None


def resident_idle_s() -> float:
    """``DEEPFX_RESIDENT_IDLE`` (default 600): seconds the resident worker stays after its
    last job; 0 turns the worker off."""
    return _number("DEEPFX_RESIDENT_IDLE", 600.0, minimum=0.0)


def resident_dir() -> Path | None:
    """``DEEPFX_RESIDENT_DIR``: the resident worker's socket folder, if set."""
    return _path("DEEPFX_RESIDENT_DIR")


def runtime_dir() -> Path | None:
    """``XDG_RUNTIME_DIR``: the per-user runtime folder of the session, if any."""
    return _path("XDG_RUNTIME_DIR")


def child_environment(*, drop: tuple[str, ...] = ()) -> dict[str, str]:
    """A copy of this process's environment for a child process, less ``drop``."""
    return {k: v for k, v in os.environ.items() if k not in drop}


def process_environment() -> MutableMapping[str, str]:
    """This process's environment itself, for the one job that must *set* variables its
    child runtime reads (the local Ray of ``deepfx batch``, restored afterwards). Settings
    are read through the functions above, never through this."""
    return os.environ
