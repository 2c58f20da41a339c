"""Shared test setup: import deepfx from this checkout (also in subprocesses), and give
every test its own home and store."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

SRC = str(Path(__file__).resolve().parents[1] / "src")
if sys.path[0] != SRC:
    sys.path.insert(0, SRC)
os.environ["PYTHONPATH"] = SRC + os.pathsep + os.environ.get("PYTHONPATH", "")
os.environ.setdefault("PYTHONWARNINGS", "ignore::DeprecationWarning")


@pytest.fixture(autouse=True)
def _isolated_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """Every test gets its own empty home, config, cache, data folder, store and HF cache,
    so no test reads or writes the user's (and no two tests share one by accident).
    A test that needs a particular store sets ``DEEPFX_HOME`` itself, over this one."""
    home = tmp_path_factory.mktemp("home")
    for var, sub in (
        ("HOME", ""),
        ("XDG_CONFIG_HOME", ".config"),
        ("XDG_CACHE_HOME", ".cache"),
        ("XDG_DATA_HOME", ".local/share"),
        ("DEEPFX_HOME", "deepfx"),
        ("HF_HOME", ".cache/huggingface"),
    ):
        monkeypatch.setenv(var, str(home / sub) if sub else str(home))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    # deriving an ONNX network adds seconds to every install: tests of the optimisation
    # (tests/test_optimize.py) turn it on; the others install the original alone
    monkeypatch.setenv("DEEPFX_OPTIMIZE", "0")
    return home
