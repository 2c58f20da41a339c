"""Shared test setup: import deepfx from this checkout (also in subprocesses), and give
every test its own home and store."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

SRC = str(Path(__file__).resolve().parents[1] / "src")
if sys.path[0] != SRC:
    sys.path.insert(0, SRC)
os.environ["PYTHONPATH"] = SRC + os.pathsep + os.environ.get("PYTHONPATH", "")
os.environ.setdefault("PYTHONWARNINGS", "ignore::DeprecationWarning")
# resident workers (Audacity applies) started by tests live in one private folder, go
# idle soon, and are all stopped when the session ends (see pytest_sessionfinish)
RESIDENT_DIR = tempfile.mkdtemp(prefix="deepfx-resident-tests-")
os.environ["DEEPFX_RESIDENT_DIR"] = RESIDENT_DIR
os.environ.setdefault("DEEPFX_RESIDENT_IDLE", "30")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    from deepfx.resident.client import stop_worker

    for sock in Path(RESIDENT_DIR).glob("worker-*.sock"):
        try:
            stop_worker(sock)
        except Exception:  # noqa: BLE001, S112 - best effort at the very end
            continue
    shutil.rmtree(RESIDENT_DIR, ignore_errors=True)


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
