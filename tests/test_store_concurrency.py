"""Two processes installing one model at once; a full disk."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hub_helpers import GitHub, HubServer, hub_env, make_audacitorch_effect, readme

from deepfx.errors import DiskFullError

_INSTALL = """
import sys
from deepfx.errors import AlreadyInstalledError
from deepfx.store import Store
try:
    m = Store().install("hugggof/split").model
    print("installed", m.commit)
except AlreadyInstalledError:
    print("already")
"""


@pytest.fixture()
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[HubServer]:
    repos = GitHub(tmp_path / "repos")
    repos.commit_folder("hugggof/split", make_audacitorch_effect(tmp_path / "built"))
    repos.commit("hugggof/split", {"README.md": readme(), "weights.bin": os.urandom(300_000)})
    with HubServer(repos) as server, hub_env(monkeypatch, tmp_path, server):
        yield server


def test_two_processes_install_same_model(hub: HubServer, tmp_path: Path) -> None:
    from deepfx.store import Store

    hub.delay["hugggof/split/model.pt"] = 0.5  # keep the first installer busy
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _INSTALL],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1][-2000:] for o in outs]
    results = sorted(o[0].split()[0] for o in outs)
    assert results == ["already", "installed"]
    gets = [r for r in hub.requests if r.startswith("GET") and r.endswith("/model.pt")]
    assert len(gets) == 1  # the second process waited on the lock, then found it installed
    (m,) = Store().installed()
    assert [p.name for p in m.folder.parent.iterdir() if p.is_dir()] == [m.commit]
    tmp = tmp_path / "deepfx-home" / "tmp"
    assert not tmp.exists() or not any(tmp.iterdir())


def test_two_forced_installs_at_once(hub: HubServer, tmp_path: Path) -> None:
    """Two `deepfx models install --force` of one model, as two processes (issue 18): both
    end cleanly, one after the other; the store's work folder is left empty. (The first
    used to remove `<root>/tmp` under the second, which was waiting for the lock.)"""
    from deepfx.store import Store

    hub.delay["hugggof/split/model.pt"] = 1.0  # the first holds the lock while the second waits
    cmd = [sys.executable, "-m", "deepfx", "models", "install", "--force", "hugggof/split"]
    procs = [
        subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=180) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [o[1][-2000:] for o in outs]
    assert all("installed" in o[0] for o in outs)
    gets = [r for r in hub.requests if r.startswith("GET") and r.endswith("/model.pt")]
    assert len(gets) == 2  # the second really installed again, after the first
    (m,) = Store().installed()
    assert [p.name for p in m.folder.parent.iterdir() if p.is_dir()] == [m.commit]
    tmp = tmp_path / "deepfx-home" / "tmp"
    assert not tmp.exists() or not any(tmp.iterdir())


@pytest.fixture()
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 200 KB filesystem (tmpfs); skipped where it cannot be mounted (needs root)."""
    small = tmp_path / "small"
    small.mkdir()
    mount = ["mount", "-t", "tmpfs", "-o", "size=200k", "tmpfs", str(small)]
    if subprocess.run(mount, capture_output=True).returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    try:
        yield small
    finally:
        subprocess.run(["umount", str(small)], check=False)


def _files_left(home: Path) -> list[Path]:
    return [p for p in home.rglob("*") if "locks" not in p.parts and p.name != "locks"]


def test_disk_too_small_for_download(
    hub: HubServer, small_disk: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from deepfx.store import Store

    monkeypatch.setenv("DEEPFX_HOME", str(small_disk / "home"))
    with pytest.raises(DiskFullError, match="needs 3"):
        Store().install("hugggof/split")
    assert _files_left(small_disk / "home") == []
    assert not [r for r in hub.requests if "resolve" in r]  # refused before downloading


def test_disk_fills_up_during_copy(
    small_disk: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ENOSPC from the filesystem itself, mid-copy."""
    from deepfx.store import Store

    src = make_audacitorch_effect(tmp_path / "big")
    (src / "weights.bin").write_bytes(os.urandom(300_000))
    monkeypatch.setenv("DEEPFX_HOME", str(small_disk / "home"))
    with pytest.raises(DiskFullError, match="full"):
        Store().add_local(src)
    assert _files_left(small_disk / "home") == []
