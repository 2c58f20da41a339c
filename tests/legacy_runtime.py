"""The real torch 1.9 runtime (the original Audacity host's libtorch) for the tests.

:func:`legacy_runtime` creates (once) or reuses ``.venv-legacy/`` beside the project's
``.venv`` - Python 3.9, ``torch==1.9.0``, ``numpy<2``, ``audacitorch==0.0.4`` - with the
downloaded wheels kept in ``.venv-legacy-wheels/`` (both git-ignored), so only the first
run downloads (about 830 MB). ``scripts/install.sh`` creates it too. The tests skip, with
the reason, only where no Python 3.9 exists; on CI and the dev machine they run.
``DEEPFX_LEGACY_VENV`` points them at another venv.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import pytest

from deepfx.legacy.runtime import LegacyRuntime, ensure_runtime, find_base_python

REPO = Path(__file__).resolve().parents[1]


def legacy_venv() -> Path:
    env = os.environ.get("DEEPFX_LEGACY_VENV")
    return Path(env) if env else REPO / ".venv-legacy"


@lru_cache(maxsize=1)
def _runtime() -> LegacyRuntime | str:
    venv = legacy_venv()
    if not (venv / "bin" / "python").exists() and find_base_python() is None:
        return "no Python 3.9 on this machine: the torch 1.9 runtime cannot be created"
    return ensure_runtime(venv=venv)


def legacy_runtime() -> LegacyRuntime:
    """The torch 1.9 runtime, or skip the test naming why it cannot exist here."""
    rt = _runtime()
    if isinstance(rt, str):
        pytest.skip(rt)
    return rt
