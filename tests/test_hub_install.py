"""Installing from a real HTTP hub (tests/hub_helpers.py) with the real huggingface_hub client."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from hub_helpers import (
    EFFECT_CARD,
    GitHub,
    HubServer,
    hub_env,
    make_audacitorch_analyzer,
    make_audacitorch_effect,
    readme,
)

from deepfx.errors import (
    AlreadyInstalledError,
    CardError,
    ChecksumMismatchError,
    ModelNotFoundError,
    NetworkError,
    NotInstalledError,
    WrongModelTypeError,
)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Model folders made once per module with the real audacitorch package."""
    root = tmp_path_factory.mktemp("built")
    return {
        "effect": make_audacitorch_effect(root / "effect"),
        "effect2": make_audacitorch_effect(root / "effect2", gain=0.25),
        "analyzer": make_audacitorch_analyzer(root / "analyzer"),
    }


@pytest.fixture()
def hub(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, built: dict[str, Path]
) -> Iterator[HubServer]:
    repos = GitHub(tmp_path / "repos")
    repos.commit_folder("hugggof/split", built["effect"])
    repos.commit("hugggof/split", {"README.md": readme()})
    repos.commit_folder("hugggof/labeler", built["analyzer"])
    with HubServer(repos) as server, hub_env(monkeypatch, tmp_path, server):
        yield server


def test_install_and_run_audacitorch_model(hub: HubServer) -> None:
    from deepfx.model import load_model
    from deepfx.store import Store, find_installed

    store = Store()
    res = store.install("hugggof/split")
    m = res.model
    assert m.name == "hugggof/split" and m.source == "hub"
    assert m.commit == hub.repos.head("hugggof/split")
    assert {f["path"] for f in m.files} == {"metadata.json", "model.pt", "README.md"}
    pt = next(f for f in m.files if f["path"] == "model.pt")
    assert pt["sha256"] and pt["size"] == (m.folder / "model.pt").stat().st_size
    assert find_installed("hugggof/split") == m.folder
    assert find_installed("split") == m.folder  # unique short name
    model = load_model("hugggof/split")
    x = np.linspace(-1, 1, 16000, dtype=np.float32)[None]
    out = model.forward(x)
    assert out.shape == (2, 16000)
    np.testing.assert_allclose(out[0], x[0] * 0.5, atol=1e-6)
    np.testing.assert_allclose(out[1], -x[0], atol=1e-6)
    # the manifest is the single record of what was installed
    man = json.loads((m.folder / ".deepfx-manifest.json").read_text())
    assert man["repo_id"] == "hugggof/split" and man["card"]["labels"] == ["half", "inverted"]
    with pytest.raises(AlreadyInstalledError):
        store.install("hugggof/split")


def test_legacy_card_installs_with_notes(hub: HubServer) -> None:
    from deepfx.model import load_model
    from deepfx.store import Store

    m = Store().install("hugggof/labeler").model
    assert m.kind == "analyzer"
    assert m.card["domain_tags"] == ["music"]
    assert any("Music" in n for n in m.card_warnings)
    classes, stamps = load_model("hugggof/labeler").forward(np.full((1, 8000), 0.5, np.float32))
    assert list(classes) == [1] and stamps.shape == (1, 2)


def _nothing_left(tmp_path: Path) -> None:
    home = tmp_path / "deepfx-home"
    assert not (home / "models").exists() or not any((home / "models").iterdir())
    assert not (home / "tmp").exists() or not any((home / "tmp").iterdir())


def test_wrong_type_refused_before_download(hub: HubServer, tmp_path: Path) -> None:
    from deepfx.store import Store

    with pytest.raises(WrongModelTypeError, match="is an analyzer"):
        Store().install("hugggof/labeler", kind="effect")
    assert not any("model.pt" in r for r in hub.requests)
    _nothing_left(tmp_path)


def test_repo_not_found(hub: HubServer, tmp_path: Path) -> None:
    from deepfx.store import Store

    with pytest.raises(ModelNotFoundError, match="no model repo 'nobody/nothing'"):
        Store().install("nobody/nothing")
    with pytest.raises(ModelNotFoundError, match="revision 'nope'"):
        Store().install("hugggof/split@nope")
    _nothing_left(tmp_path)


def test_repo_without_card(hub: HubServer, tmp_path: Path) -> None:
    from deepfx.store import Store

    hub.repos.commit("someone/weights", {"model.pt": b"\0" * 10, "README.md": readme()})
    with pytest.raises(ModelNotFoundError, match="has no metadata.json"):
        Store().install("someone/weights")
    _nothing_left(tmp_path)


def test_invalid_card_names_the_field(
    hub: HubServer, tmp_path: Path, built: dict[str, Path]
) -> None:
    from deepfx.store import Store

    card = dict(EFFECT_CARD, sample_rate=-5)
    card.pop("labels")
    hub.repos.commit_folder("someone/broken", built["effect"])
    hub.repos.commit("someone/broken", {"metadata.json": json.dumps(card)})
    with pytest.raises(CardError) as err:
        Store().install("someone/broken")
    assert "labels: required field is missing" in str(err.value)
    assert "sample_rate" in str(err.value)
    _nothing_left(tmp_path)


def test_corrupt_network_file_is_refused(hub: HubServer, tmp_path: Path) -> None:
    from deepfx.store import Store

    hub.repos.commit(
        "someone/corrupt", {"metadata.json": json.dumps(EFFECT_CARD), "model.pt": b"not a model"}
    )
    with pytest.raises(Exception) as err:
        Store().install("someone/corrupt")
    assert "cannot load model file" in str(err.value)
    _nothing_left(tmp_path)


def test_checksum_mismatch_names_the_file(hub: HubServer, tmp_path: Path) -> None:
    from deepfx.store import Store

    hub.corrupt.add("hugggof/split/model.pt")
    with pytest.raises(ChecksumMismatchError, match="model.pt") as err:
        Store().install("hugggof/split")
    assert err.value.expected.startswith("sha256:")
    _nothing_left(tmp_path)
    hub.corrupt.clear()
    hub.corrupt.add("hugggof/split/metadata.json")  # a regular file: git blob sha1
    with pytest.raises(ChecksumMismatchError, match="metadata.json"):
        Store().install("hugggof/split")
    _nothing_left(tmp_path)


def test_dropped_connection_resumes_and_verifies(hub: HubServer) -> None:
    from deepfx.store import Store

    hub.drop["hugggof/split/model.pt"] = 1
    m = Store().install("hugggof/split").model
    assert hub.drop["hugggof/split/model.pt"] == 0  # the drop happened
    ranged = [r for r in hub.requests if "model.pt" in r]
    assert len(ranged) >= 3  # HEAD, cut GET, resumed GET
    assert (m.folder / "model.pt").stat().st_size == next(
        f["size"] for f in m.files if f["path"] == "model.pt"
    )


def test_network_down_names_endpoint(hub: HubServer, tmp_path: Path) -> None:
    from deepfx.store import Store

    url = hub.url
    hub.stop()
    with pytest.raises(NetworkError, match=url.replace(".", r"\.")):
        Store().install("hugggof/split")
    _nothing_left(tmp_path)


def test_timeout_is_a_network_error(
    hub: HubServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from deepfx.store import Store

    monkeypatch.setenv("DEEPFX_HUB_TIMEOUT", "0.3")
    hub.stall_s = 1.5
    with pytest.raises(NetworkError, match="did not answer in time"):
        Store().install("hugggof/split")
    _nothing_left(tmp_path)


def test_update_keeps_old_version_usable(hub: HubServer, built: dict[str, Path]) -> None:
    from deepfx.model import load_model
    from deepfx.store import Store, find_installed

    store = Store()
    old = store.install("hugggof/split").model
    running = load_model("hugggof/split").load()
    x = np.ones((1, 1000), np.float32)
    assert store.update("hugggof/split").changed is False

    new_sha = hub.repos.commit("hugggof/split", {"model.pt": built["effect2"] / "model.pt"})
    seen: list[str] = []

    def during(step: str) -> None:
        # while the new revision is downloaded and checked, the old one is the installed one
        assert find_installed("hugggof/split") == old.folder
        load_model("hugggof/split").forward(x)
        seen.append(step)

    res = store.update("hugggof/split", on_step=during)
    assert res.changed and res.old_commit == old.commit and res.new_commit == new_sha
    assert any("downloading model.pt" in s for s in seen)
    new = store.info("hugggof/split")
    assert new.commit == new_sha and new.folder != old.folder and not old.folder.exists()
    np.testing.assert_allclose(load_model("hugggof/split").forward(x)[0], 0.25)
    np.testing.assert_allclose(running.forward(x)[0], 0.5)  # a model already loaded keeps running


def test_revision_pins(hub: HubServer, built: dict[str, Path]) -> None:
    from deepfx.store import Store

    first = hub.repos.head("hugggof/split")
    hub.repos.commit("hugggof/split", {"model.pt": built["effect2"] / "model.pt"})
    store = Store()
    m = store.install(f"hugggof/split@{first}").model
    assert m.commit == first and m.pinned
    res = store.update("hugggof/split")
    assert not res.changed and "pinned" in res.note
    res = store.update("hugggof/split", revision="main")
    assert res.changed and store.info("split").commit == hub.repos.head("hugggof/split")
    assert not store.info("split").pinned and store.info("split").revision == "main"
    # a branch is followed: a new commit on it is picked up
    hub.repos.commit("hugggof/split", {"README.md": readme(["audacity", "v3"])})
    assert store.update("split").changed


def test_remove_plan_then_execute(hub: HubServer, tmp_path: Path) -> None:
    from deepfx.store import Store, find_installed

    store = Store()
    m = store.install("hugggof/split").model
    plan = store.remove("split")
    assert plan.bytes_freed >= m.size and any(p.name == "model.pt" for p in plan.paths)
    assert m.folder.exists()  # nothing happens before execute
    plan.execute()
    with pytest.raises(NotInstalledError):
        find_installed("hugggof/split")
    assert store.installed() == []
    _nothing_left(tmp_path)
