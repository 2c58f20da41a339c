"""The tag scheme (issue 14): every model deepfx writes is tagged `deepfx`; `audacity` only
when the original host's torch 1.9 runs it. Search finds both kinds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hub_helpers import EFFECT_CARD, GitHub, HubServer, hub_env, readme


def test_search_finds_audacity_and_deepfx_only_models(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repos = GitHub(tmp_path / "repos")
    card = json.dumps(EFFECT_CARD)
    repos.commit("old/host-model", {"metadata.json": card, "README.md": readme(["audacity"])})
    both = readme(["audacity", "deepfx"])
    repos.commit("new/both", {"metadata.json": card, "README.md": both})
    only = readme(["deepfx"]).replace("- audacity\n", "")
    repos.commit("new/deepfx-only", {"metadata.json": card, "README.md": only})
    repos.commit("x/unrelated", {"metadata.json": card, "README.md": readme(["other"])})
    import deepfx.builtins

    monkeypatch.setattr(deepfx.builtins, "catalog", lambda: [])
    with HubServer(repos) as server, hub_env(monkeypatch, tmp_path, server):
        from deepfx.hub import search

        found = {m.repo_id: m for m in search().models}
    assert "audacity" not in only
    assert {"old/host-model", "new/both", "new/deepfx-only"} <= set(found)
    assert "x/unrelated" not in found
    assert found["new/deepfx-only"].sources == ["tag"]  # found once, though two tags match
    assert found["new/both"].sources == ["tag"]
