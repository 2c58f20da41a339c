"""Installing through an olah mirror (the common self-hosted Hugging Face mirror, from PyPI)
in front of the tests' own hub server, online and offline.

Online, olah proxies and caches everything deepfx uses. Offline (``[accessibility]
offline = true``), olah serves only commits it has cached and answers a request without a
revision with 401 "RepoNotFound": deepfx says so - not "private" - and installs a cached
commit given as ``user/model@<commit>``.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import numpy as np
import pytest
from hub_helpers import GitHub, HubServer, hub_env, make_audacitorch_effect, readme

pytest.importorskip("olah")

from deepfx.errors import ModelNotFoundError  # noqa: E402


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def olah(tmp: Path, upstream: str, *, offline: bool, port: int) -> Iterator[str]:
    """olah on 127.0.0.1:port mirroring ``upstream`` (host:port), cache in tmp/olah-repos."""
    import httpx

    cfg = tmp / f"olah-{'offline' if offline else 'online'}.toml"
    cfg.write_text(
        "[basic]\n"
        f'host = "127.0.0.1"\nport = {port}\n'
        f'hf-scheme = "http"\nhf-netloc = "{upstream}"\nhf-lfs-netloc = "{upstream}"\n'
        f'mirror-netloc = "127.0.0.1:{port}"\nmirror-lfs-netloc = "127.0.0.1:{port}"\n'
        f'repos-path = "{tmp / "olah-repos"}"\n'
        "[accessibility]\n"
        f"offline = {'true' if offline else 'false'}\n"
    )
    log = open(tmp / f"olah-{port}-{offline}.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [sys.executable, "-c", "from olah.server import cli; cli()", "-c", str(cfg)],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=tmp,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                httpx.get(f"{url}/api/whoami-v2", timeout=1)
                break
            except httpx.TransportError:
                if proc.poll() is not None:
                    raise RuntimeError((tmp / f"olah-{port}-{offline}.log").read_text()) from None
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        log.close()


@pytest.fixture()
def mirrored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[HubServer, Callable[[bool], AbstractContextManager[str]]]]:
    """The test hub with hugggof/split, and ``mirror(offline)``: a context in which
    HF_ENDPOINT is an olah in front of it (offline: cut off from it)."""
    repos = GitHub(tmp_path / "repos")
    repos.commit_folder("hugggof/split", make_audacitorch_effect(tmp_path / "effect"))
    repos.commit("hugggof/split", {"README.md": readme()})
    port = _free_port()
    with HubServer(repos) as hub, hub_env(monkeypatch, tmp_path, hub):
        upstream = hub.url.split("//", 1)[1]

        @contextmanager
        def mirror(offline: bool) -> Iterator[str]:
            with olah(
                tmp_path, "127.0.0.1:9" if offline else upstream, offline=offline, port=port
            ) as url:
                monkeypatch.setenv("HF_ENDPOINT", url)
                yield url

        yield hub, mirror


def test_install_through_olah_and_run(mirrored) -> None:  # type: ignore[no-untyped-def]
    from deepfx.model import load_model
    from deepfx.store import Store

    hub, mirror = mirrored
    with mirror(False):
        res = Store().install("hugggof/split")
    assert res.model.commit == hub.repos.head("hugggof/split")
    assert any("paths-info" in r for r in hub.requests)  # it really went through olah
    out = load_model("hugggof/split").forward(np.ones((1, 16000), np.float32) * 0.5)
    assert out.shape == (2, 16000)


def test_offline_olah_says_what_it_needs_not_private(
    mirrored,  # type: ignore[no-untyped-def]
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from deepfx.store import Store

    _hub, mirror = mirrored
    with mirror(False):
        commit = Store().install("hugggof/split").model.commit  # olah caches this commit
    monkeypatch.setenv("DEEPFX_HOME", str(tmp_path / "second-home"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "second-hf"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "second-hf" / "hub"))
    with mirror(True):
        with pytest.raises(ModelNotFoundError) as info:
            Store().install("hugggof/split")
        text = str(info.value)
        assert "private" not in text and "mirror" in text and "@<commit>" in text, text
        res = Store().install(f"hugggof/split@{commit}")
    assert res.model.commit == commit
