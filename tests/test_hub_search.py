"""Search: curated lists + the `audacity` tag over the test hub, cached, offline fallback."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from hub_helpers import (
    EFFECT_CARD,
    LEGACY_ANALYZER_CARD,
    GitHub,
    HubServer,
    hub_env,
    readme,
)

from deepfx.errors import NetworkError


@pytest.fixture()
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[HubServer]:
    # Search only reads cards, so the networks here are placeholder bytes.
    repos = GitHub(tmp_path / "repos")
    repos.commit("hugggof/split", {"metadata.json": json.dumps(EFFECT_CARD), "README.md": readme()})
    repos.commit(
        "hugggof/labeler",
        {"metadata.json": json.dumps(LEGACY_ANALYZER_CARD), "README.md": readme(["other"])},
    )
    speech = dict(EFFECT_CARD, domain_tags=["speech"], short_description="Removes hum from speech")
    repos.commit("alice/dehum", {"metadata.json": json.dumps(speech), "README.md": readme()})
    repos.commit("bob/untagged", {"metadata.json": json.dumps(EFFECT_CARD)})
    repos.commit("carol/nocard", {"README.md": readme()})
    # curated lists, as JSON arrays of repo ids in hub repos
    repos.commit(
        "hugggof/audacity-models", {"models.json": json.dumps(["hugggof/labeler", "hugggof/split"])}
    )
    repos.commit(
        "deepfx/curated-models", {"models.json": json.dumps(["alice/dehum", "gone/missing"])}
    )
    import deepfx.builtins

    # the real built-ins would be listed too; these tests are about the hub
    monkeypatch.setattr(deepfx.builtins, "catalog", lambda: [])
    with HubServer(repos) as server, hub_env(monkeypatch, tmp_path, server):
        yield server


def test_search_combines_curated_and_tag(hub: HubServer) -> None:
    from deepfx.hub import search

    res = search()
    by_id = {m.repo_id: m for m in res.models}
    assert set(by_id) == {
        "hugggof/split",
        "hugggof/labeler",
        "alice/dehum",
        "carol/nocard",
        "gone/missing",
    }
    assert "bob/untagged" not in by_id  # neither curated nor tagged
    assert by_id["hugggof/split"].sources == ["curated:hugggof/audacity-models", "tag"]
    assert by_id["hugggof/labeler"].sources == ["curated:hugggof/audacity-models"]
    assert by_id["hugggof/labeler"].kind == "analyzer"
    assert by_id["hugggof/labeler"].domain_tags == ["music"]  # legacy "Music" read leniently
    assert by_id["carol/nocard"].problem == "no metadata.json"
    assert by_id["gone/missing"].problem and "no model repo" in by_id["gone/missing"].problem
    assert not res.from_cache


def test_filters(hub: HubServer) -> None:
    from deepfx.hub import search

    assert [m.repo_id for m in search(kind="analyzer").models] == ["hugggof/labeler"]
    assert [m.repo_id for m in search(domain="speech").models] == ["alice/dehum"]
    assert [m.repo_id for m in search("hum speech").models] == ["alice/dehum"]
    assert {m.repo_id for m in search("inverted", kind="effect").models} == {
        "hugggof/split",
        "alice/dehum",
    }


def test_listing_cached_then_offline_with_note(
    hub: HubServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from deepfx.hub import search

    first = search()
    n_requests = len(hub.requests)
    again = search()
    assert again.from_cache and len(hub.requests) == n_requests  # within the TTL: no network
    monkeypatch.setenv("DEEPFX_HUB_TTL", "0")
    where = hub.url.split("//")[1]
    hub.stop()
    offline = search(kind="effect")
    assert offline.from_cache and offline.note and "unreachable" in offline.note
    assert where in offline.note  # names the endpoint
    assert {m.repo_id for m in offline.models} == {
        m.repo_id for m in first.models if m.kind == "effect"
    }


def test_offline_without_cache_is_a_network_error(
    hub: HubServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from deepfx.hub import curated_lists, search

    hub.stop()
    if ("hugggof/audacity-models", "models.json") in curated_lists():
        # the default lists: their entries come from the snapshot shipped in the package
        res = search()
        assert res.models and all(m.needs_network for m in res.models)
        assert "cannot reach the hub" in (res.note or "")
        assert "shipped with deepfx" in (res.note or "")
    monkeypatch.setenv("DEEPFX_CURATED_LISTS", "someone/lists:models.json")  # no snapshot
    with pytest.raises(NetworkError, match="cannot reach the hub"):
        search()


def test_hf_hub_offline_respected(hub: HubServer, monkeypatch: pytest.MonkeyPatch) -> None:
    from deepfx.hub import search

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    res = search()  # the curated entries shipped in the package, marked as needing the hub
    assert all(m.needs_network for m in res.models) and "offline mode" in (res.note or "")
    monkeypatch.setenv("DEEPFX_CURATED_LISTS", "")
    with pytest.raises(NetworkError, match="offline mode"):
        search()
    assert hub.requests == []


def test_curated_lists_configurable(hub: HubServer, monkeypatch: pytest.MonkeyPatch) -> None:
    from deepfx.hub import curated_lists, search

    monkeypatch.setenv("DEEPFX_CURATED_LISTS", "deepfx/curated-models:models.json")
    assert curated_lists() == [("deepfx/curated-models", "models.json")]
    ids = {m.repo_id for m in search(refresh=True).models}
    assert "hugggof/labeler" not in ids and "alice/dehum" in ids
    monkeypatch.setenv("DEEPFX_CURATED_LISTS", "")
    ids = {m.repo_id for m in search(refresh=True).models}
    assert ids == {"hugggof/split", "alice/dehum", "carol/nocard"}  # the tag search only


def test_remote_card(hub: HubServer) -> None:
    from deepfx.hub import remote_card

    m = remote_card("alice/dehum")
    assert m.kind == "effect" and m.labels == ["half", "inverted"] and m.sample_rate == 16000


def test_builtins_listed_first_and_offline(
    hub: HubServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import deepfx.builtins
    from deepfx.builtins import BuiltinSpec
    from deepfx.card import ModelCard
    from deepfx.hub import search

    card = ModelCard.from_dict(dict(LEGACY_ANALYZER_CARD, domain_tags=["speech"], tags=[]))
    spec = BuiltinSpec(name="builtin/vad", card=card, build=lambda dest: None)
    monkeypatch.setattr(deepfx.builtins, "catalog", lambda: [spec])
    res = search(kind="analyzer")
    assert [m.repo_id for m in res.models] == ["builtin/vad", "hugggof/labeler"]
    assert res.models[0].sources == ["builtin"]
    hub.stop()
    monkeypatch.setenv("DEEPFX_HOME", str(tmp_path / "other-home"))  # no cache there
    res = search()
    assert res.models[0].repo_id == "builtin/vad"
    shipped = res.models[1:]  # the default curated lists: the snapshot in the package
    assert all(m.needs_network for m in shipped)
    assert res.note and "built-ins and the curated list shipped with deepfx" in res.note
    assert [m.repo_id for m in search(builtins=False).models] == [m.repo_id for m in shipped]
    monkeypatch.setenv("DEEPFX_CURATED_LISTS", "")  # no curated lists: no snapshot either
    res = search()
    assert [m.repo_id for m in res.models] == ["builtin/vad"]
    assert res.note and "built-ins only" in res.note
    with pytest.raises(NetworkError):
        search(builtins=False)
