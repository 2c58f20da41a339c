"""Publish round trip and the CLI, against the test hub, with the real huggingface_hub client."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hub_helpers import EFFECT_CARD, GitHub, HubServer, hub_env, make_audacitorch_effect, readme

from deepfx.errors import PublishError


@pytest.fixture()
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[HubServer]:
    repos = GitHub(tmp_path / "repos")
    repos.commit("hugggof/audacity-models", {"models.json": "[]"})
    import deepfx.builtins

    monkeypatch.setattr(deepfx.builtins, "catalog", lambda: [])  # only hub models here
    with HubServer(repos) as server, hub_env(monkeypatch, tmp_path, server):
        yield server


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_audacitorch_effect(tmp_path_factory.mktemp("pub") / "fx")


def test_publish_then_search_and_install(hub: HubServer, model_dir: Path, tmp_path: Path) -> None:
    import shutil

    from deepfx.hub import publish, search
    from deepfx.store import Store

    folder = tmp_path / "fx"
    shutil.copytree(model_dir, folder)
    (folder / "README.md").write_text(
        "---\nlicense: mit\ntags:\n- demo\n---\n\n# My split\n\nHello.\n"
    )
    res = publish(folder, repo_id="alice/split")
    assert res.commit == hub.repos.head("alice/split")
    text = (folder / "README.md").read_text()
    assert text.startswith("---\n") and "- audacity" in text and "- demo" in text
    assert "license: mit" in text and text.rstrip().endswith("Hello.")  # body and keys kept
    assert {"POST /api/repos/create"} <= set(hub.requests)
    found = search("split", refresh=True).models
    assert [m.repo_id for m in found] == ["alice/split"] and found[0].sources == ["tag"]
    m = Store().install("alice/split").model
    assert {f["path"] for f in m.files} == {"README.md", "metadata.json", "model.pt"}
    # publishing again updates the same repo (create_repo exist_ok) with a new commit
    (folder / "notes.txt").write_text("v2")
    second = publish(folder, repo_id="alice/split")
    assert second.commit != res.commit
    assert Store().update("alice/split").changed


def test_publish_refuses_invalid_card(hub: HubServer, model_dir: Path, tmp_path: Path) -> None:
    import shutil

    from deepfx.errors import CardError
    from deepfx.hub import publish

    folder = tmp_path / "bad"
    shutil.copytree(model_dir, folder)
    (folder / "metadata.json").write_text(json.dumps(dict(EFFECT_CARD, domain_tags=["Music"])))
    with pytest.raises(CardError, match="domain_tags"):
        publish(folder, repo_id="alice/bad")
    assert not hub.repos.exists("alice/bad")


def test_publish_without_token(
    hub: HubServer, model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from deepfx.hub import publish

    monkeypatch.setenv("HF_TOKEN", "hf_wrong")
    with pytest.raises(PublishError, match="hf auth login"):
        publish(model_dir, repo_id="alice/x")


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "deepfx", *args],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        timeout=120,
    )


def test_cli_end_to_end(hub: HubServer, model_dir: Path, tmp_path: Path) -> None:
    hub.repos.commit_folder("hugggof/split", model_dir)
    hub.repos.commit("hugggof/split", {"README.md": readme()})
    out = _cli("models", "search", "--json")
    assert out.returncode == 0, out.stderr
    found = json.loads(out.stdout)["models"]
    assert [m["repo_id"] for m in found if m["sources"] != ["builtin"]] == ["hugggof/split"]
    out = _cli("models", "install", "hugggof/split", "--type", "analyzer")
    assert out.returncode == 5 and "is an effect" in out.stderr and "Traceback" not in out.stderr
    out = _cli("models", "install", "hugggof/split")
    assert out.returncode == 0 and "installed hugggof/split" in out.stdout, out.stderr
    out = _cli("models", "list", "--json")
    (entry,) = json.loads(out.stdout)
    assert entry["name"] == "hugggof/split" and entry["commit"] == hub.repos.head("hugggof/split")
    out = _cli("models", "list")
    assert "hugggof/split" in out.stdout and "effect" in out.stdout
    out = _cli("models", "info", "split")
    assert "16000 Hz" in out.stdout
    out = _cli("models", "add-local", str(model_dir), "--name", "mine")
    assert out.returncode == 0 and "local/mine" in out.stdout, out.stderr
    out = _cli("models", "update", "--json")
    assert json.loads(out.stdout)[0]["changed"] is False
    out = _cli("models", "remove", "local/mine", "--yes")
    assert out.returncode == 0 and "removed local/mine" in out.stdout
    out = _cli("models", "install", "nobody/nothing")
    assert out.returncode == 5 and "no model repo 'nobody/nothing'" in out.stderr
    hub.stop()
    out = _cli("models", "list", "--json")  # offline: installed models still listed
    assert out.returncode == 0 and len(json.loads(out.stdout)) == 1
    out = _cli("models", "search")
    assert out.returncode == 0 and "hugggof/split" in out.stdout  # cached within the TTL


def test_cli_publish(hub: HubServer, model_dir: Path, tmp_path: Path) -> None:
    import shutil

    folder = tmp_path / "fx"
    shutil.copytree(model_dir, folder)
    out = _cli("publish", str(folder), "--repo", "bob/fx")
    assert out.returncode == 0, out.stderr
    assert "published bob/fx" in out.stdout
    assert (
        "audacity"
        in hub.repos.read(
            "bob/fx",
            next(
                e["blob"]
                for e in hub.repos.tree("bob/fx", hub.repos.head("bob/fx"))
                if e["path"] == "README.md"
            ),
        ).decode()
    )


def test_models_list_does_not_import_torch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEEPFX_HOME", str(tmp_path))
    code = (
        "import sys; from deepfx.cli.app import main\n"
        "try:\n    main(['models', 'list', '--json'])\nexcept SystemExit: pass\n"
        "assert 'torch' not in sys.modules, 'torch imported'\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
