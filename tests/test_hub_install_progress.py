"""Install progress in bytes, cancel, and resume of a cancelled download (the app's needs)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from hub_helpers import GitHub, HubServer, hub_env, make_audacitorch_effect, readme

from deepfx.engine import CancelToken
from deepfx.errors import Cancelled, ChecksumMismatchError

CHUNK = 64 * 1024
BIG = 1_000_000


@pytest.fixture()
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[HubServer]:
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "DOWNLOAD_CHUNK_SIZE", CHUNK)  # many progress updates
    folder = make_audacitorch_effect(tmp_path / "effect")
    blob = np.random.default_rng(0).integers(0, 255, BIG, dtype=np.uint8).tobytes()
    repos = GitHub(tmp_path / "repos")
    repos.commit_folder("hugggof/big", folder)
    repos.commit("hugggof/big", {"README.md": readme(), "extra.bin": blob})
    with HubServer(repos) as server, hub_env(monkeypatch, tmp_path, server):
        yield server


def test_on_download_reports_bytes_up_to_the_total(hub: HubServer) -> None:
    from deepfx.store import Store

    seen: list[tuple[int, int]] = []
    res = Store().install("hugggof/big", on_download=lambda d, t: seen.append((d, t)))
    total = res.model.size
    assert seen and all(t == total for _, t in seen)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    assert seen[-1][0] == total


def _cancel_at_model_pt(token: CancelToken):  # type: ignore[no-untyped-def]
    """An on_step callback that cancels once the last file (model.pt) starts."""

    def on_step(text: str) -> None:
        if text.startswith("downloading model.pt"):
            token.cancel()

    return on_step


def _gets(hub: HubServer, file: str) -> int:
    return sum(1 for r in hub.requests if r.startswith("GET ") and r.endswith("/" + file))


def test_cancel_keeps_finished_files_and_the_next_install_does_not_fetch_them_again(
    hub: HubServer,
) -> None:
    from deepfx.store import Store

    store = Store()
    token = CancelToken()
    with pytest.raises(Cancelled):
        store.install("hugggof/big", on_step=_cancel_at_model_pt(token), cancel=token)
    assert store.installed() == []  # nothing half-installed
    assert store.partial_size("hugggof/big") >= BIG  # extra.bin was complete: kept
    assert _gets(hub, "extra.bin") == 1

    seen: list[int] = []
    store.install("hugggof/big", on_download=lambda d, t: seen.append(d))
    assert _gets(hub, "extra.bin") == 1  # resumed: not downloaded a second time
    assert seen[-1] == store.info("hugggof/big").size
    assert store.partial_size("hugggof/big") == 0  # moved into place, nothing left over
    out = store.info("hugggof/big").folder / "extra.bin"
    assert out.stat().st_size == BIG


def test_discard_partial_frees_the_kept_bytes(hub: HubServer) -> None:
    from deepfx.store import Store

    store = Store()
    token = CancelToken()
    with pytest.raises(Cancelled):
        store.install("hugggof/big", on_step=_cancel_at_model_pt(token), cancel=token)
    kept = store.partial_size("hugggof/big")
    assert store.discard_partial("hugggof/big") == kept > 0
    assert store.partial_size("hugggof/big") == 0
    store.install("hugggof/big")
    assert _gets(hub, "extra.bin") == 2  # discarded: fetched again


def test_a_corrupt_download_is_not_kept(hub: HubServer) -> None:
    from deepfx.store import Store

    hub.corrupt.add("hugggof/big/extra.bin")
    store = Store()
    with pytest.raises(ChecksumMismatchError):
        store.install("hugggof/big")
    assert store.partial_size("hugggof/big") == 0
