"""A hostile hub, a hostile local folder: the store never writes or removes outside itself.

Every attack runs against the real huggingface_hub client talking to the tests' own hub
(tests/hub_helpers.py) made hostile, or against real folders, links and zips. Each test
asserts the specific error (and the CLI's exit code and one-line message where a user sees
it) and that nothing is left: no folder outside DEEPFX_HOME, no work folder, the user's
files intact.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hub_helpers import EFFECT_CARD, GitHub, HubServer, hub_env, make_audacitorch_effect, readme

from deepfx.errors import (
    DownloadLimitError,
    NetworkError,
    NotInstalledError,
    StorePathError,
    UnsafeHubAnswerError,
    UnsafeSourceError,
    UsageError,
)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_audacitorch_effect(tmp_path_factory.mktemp("built") / "effect")


@pytest.fixture()
def victim(tmp_path: Path) -> Path:
    """The user's own files beside the store: they must survive every attack."""
    v = tmp_path / "victim"
    v.mkdir()
    (v / "precious.txt").write_text("the user's work")
    return v


@pytest.fixture()
def hub(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, built: Path, victim: Path
) -> Iterator[HubServer]:
    repos = GitHub(tmp_path / "repos")
    repos.commit_folder("hugggof/split", built)
    repos.commit("hugggof/split", {"README.md": readme(), "weights.bin": os.urandom(2048)})
    with HubServer(repos) as server, hub_env(monkeypatch, tmp_path, server):
        yield server


def home(tmp_path: Path) -> Path:
    return tmp_path / "deepfx-home"


def assert_clean(tmp_path: Path, victim: Path, *, models: bool = False) -> None:
    """Nothing outside the store, no work folder left, the user's files intact."""
    h = home(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        n for n in ("deepfx-home", "hf-home", "repos", "victim", "src") if (tmp_path / n).exists()
    )
    assert [p.name for p in victim.iterdir()] == ["precious.txt"]
    assert (victim / "precious.txt").read_text() == "the user's work"
    tmp = h / "tmp"
    assert not tmp.exists() or not any(tmp.iterdir()), list(tmp.iterdir())
    assert not [p for p in h.rglob("*") if p.name.startswith((".install-", ".remove-"))]
    assert not [p for p in h.rglob("*") if p.name.endswith(".incomplete")]
    if not models:
        assert not (h / "models").exists() or not any((h / "models").iterdir())


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "deepfx", *args],
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, "COLUMNS": "40", **(env or {})},
    )


def one_line(res: subprocess.CompletedProcess[str]) -> str:
    """The CLI's error message: exactly one line, even through a pipe at 40 columns."""
    lines = res.stderr.splitlines()
    assert len(lines) == 1, res.stderr
    text = lines[0]
    assert text.startswith("error:"), res.stderr
    assert "internal error" not in text and "Traceback" not in text, res.stderr
    return text


# --- 1. commit ids never name a folder unchecked ------------------------------------------


@pytest.mark.parametrize("kind", ["relative", "absolute", "short-hex", "uppercase"])
def test_commit_id_that_is_a_path_is_refused(
    hub: HubServer, tmp_path: Path, victim: Path, kind: str
) -> None:
    from deepfx.store import Store

    fake = {
        "relative": "../../escaped",
        "absolute": str(victim / "installed-here"),
        "short-hex": "abc123",
        "uppercase": "A" * 40,
    }[kind]
    hub.fake_sha["hugggof/split"] = fake
    with pytest.raises(UnsafeHubAnswerError, match="not a commit id"):
        Store().install("hugggof/split")
    assert not any("/resolve/" in r for r in hub.requests)  # refused before any download
    assert not (home(tmp_path).parent / "escaped").exists()
    assert_clean(tmp_path, victim)


def test_commit_id_refused_by_the_cli(hub: HubServer, tmp_path: Path, victim: Path) -> None:
    hub.fake_sha["hugggof/split"] = "../../escaped"
    res = cli("models", "install", "hugggof/split")
    assert res.returncode == 5
    assert "not a commit id" in one_line(res)
    assert_clean(tmp_path, victim)


def test_remove_never_follows_a_link_out_of_the_store(
    hub: HubServer, tmp_path: Path, victim: Path
) -> None:
    """A model folder replaced by a link to the user's files (planted, or left by an old
    deepfx): remove refuses, the files stay."""
    from deepfx.store import Store

    m = Store().install("hugggof/split").model
    model_dir = m.folder.parent
    (victim / m.commit).mkdir()
    for f in m.folder.iterdir():
        (victim / m.commit / f.name).write_bytes(f.read_bytes())
    (victim / "active.json").write_text(json.dumps({"revision": m.commit}))
    os.rename(model_dir, tmp_path / "moved-away")
    model_dir.symlink_to(victim, target_is_directory=True)
    with pytest.raises(NotInstalledError):
        Store().remove("hugggof/split")
    res = cli("models", "remove", "hugggof/split", "--yes")
    assert res.returncode == 5 and "not installed" in one_line(res)
    assert (victim / "precious.txt").read_text() == "the user's work"
    # writing through the link is refused too (a forced reinstall)
    with pytest.raises(StorePathError, match="outside the store"):
        Store().install("hugggof/split", force=True)
    assert (victim / "precious.txt").read_text() == "the user's work"
    assert sorted(p.name for p in victim.iterdir()) == sorted(
        ["precious.txt", m.commit, "active.json"]
    )


def test_active_revision_that_is_a_path_is_never_followed(
    hub: HubServer, tmp_path: Path, victim: Path
) -> None:
    """An entry whose active.json names ``../../victim`` (an install by an unchecked deepfx)
    is not listed, and removing it removes nothing outside."""
    from deepfx.store import Store

    m = Store().install("hugggof/split").model
    rel = os.path.relpath(victim, m.folder.parent)
    (m.folder.parent / "active.json").write_text(json.dumps({"revision": rel}))
    (victim / ".deepfx-manifest.json").write_text((m.folder / ".deepfx-manifest.json").read_text())
    assert Store().installed() == []
    with pytest.raises(NotInstalledError):
        Store().remove("hugggof/split").execute()
    assert (victim / "precious.txt").read_text() == "the user's work"


# --- 2. downloads: an overall deadline and a size bound --------------------------------------


def test_dripping_server_hits_the_deadline(
    hub: HubServer, tmp_path: Path, victim: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A byte every 0.5 s, well inside every read timeout (huggingface_hub's is 10 s): each
    read is in time, the whole download is not; the overall deadline ends it."""
    from deepfx.store import Store

    monkeypatch.setenv("DEEPFX_HUB_TIMEOUT", "2")
    hub.drip["hugggof/split/model.pt"] = 0.5
    with pytest.raises(DownloadLimitError, match="deadline") as err:
        Store().install("hugggof/split")
    assert "model.pt" in str(err.value) and "DEEPFX_HUB_TIMEOUT" in str(err.value)
    assert_clean(tmp_path, victim)


def test_dripping_file_list_hits_the_deadline(
    hub: HubServer, tmp_path: Path, victim: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from deepfx.store import Store

    monkeypatch.setenv("DEEPFX_HUB_TIMEOUT", "1")
    hub.drip["hugggof/split"] = 0.3
    res = cli("models", "install", "hugggof/split")
    assert res.returncode == 5, res.stderr
    assert "within its deadline" in one_line(res)
    with pytest.raises(DownloadLimitError, match="reading the repo's file list"):
        Store().install("hugggof/split")
    assert_clean(tmp_path, victim)


def test_endless_body_is_cut_at_the_announced_size(
    hub: HubServer, tmp_path: Path, victim: Path
) -> None:
    """weights.bin is announced as 2048 bytes (file list and HEAD); its body never ends."""
    from deepfx.store import Store

    hub.endless.add("hugggof/split/weights.bin")
    with pytest.raises(DownloadLimitError, match="more than the 2048 bytes it announced"):
        Store().install("hugggof/split")
    assert_clean(tmp_path, victim)


def test_endless_body_via_the_cli(hub: HubServer, tmp_path: Path, victim: Path) -> None:
    hub.endless.add("hugggof/split/metadata.json")  # a regular (non-LFS) file too
    res = cli("models", "install", "hugggof/split")
    assert res.returncode == 5, res.stderr
    assert "bytes it announced" in one_line(res)
    assert_clean(tmp_path, victim)


# --- 3. hub errors and hostile file lists ------------------------------------------------


def test_hub_answering_500_to_the_file_list(hub: HubServer, tmp_path: Path, victim: Path) -> None:
    hub.fail["hugggof/split"] = 500
    res = cli("models", "install", "hugggof/split")
    assert res.returncode == 5
    assert "HTTP 500" in one_line(res)
    assert_clean(tmp_path, victim)


def test_hub_answering_500_to_a_file(
    hub: HubServer, tmp_path: Path, victim: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """huggingface_hub retries a failing HEAD, then says "not in the local cache"; deepfx
    names the server's answer instead (and the deadline ends the retries)."""
    from deepfx.store import Store

    monkeypatch.setenv("DEEPFX_HUB_TIMEOUT", "2")
    hub.fail["hugggof/split/model.pt"] = 500
    with pytest.raises((NetworkError, DownloadLimitError), match="HTTP 500"):
        Store().install("hugggof/split")
    assert_clean(tmp_path, victim)


@pytest.mark.parametrize(
    "body",
    [
        b"not json{",
        b"[1, 2]",
        b'{"id": "hugggof/split", "sha": "' + b"a" * 40 + b'", "siblings": 5}',
        b'{"id": "hugggof/split", "sha": "'
        + b"a" * 40
        + b'", "siblings": [{"rfilename": "metadata.json", "size": "big"}]}',
        b'{"id": "hugggof/split", "sha": ["x"], "siblings": []}',
    ],
)
def test_file_list_that_is_not_the_hubs_json(
    hub: HubServer, tmp_path: Path, victim: Path, body: bytes
) -> None:
    from deepfx.store import Store

    hub.garbage["hugggof/split"] = body
    with pytest.raises(UnsafeHubAnswerError):
        Store().install("hugggof/split")
    assert not any("/resolve/" in r for r in hub.requests)
    assert_clean(tmp_path, victim)


@pytest.mark.parametrize(
    "name",
    ["../escaped.txt", "sub/../../escaped.txt", "/etc/cron.d/evil", "a\\..\\evil", "a\0b", ""],
)
def test_unsafe_file_names_in_the_file_list(
    hub: HubServer, tmp_path: Path, victim: Path, name: str
) -> None:
    from deepfx.store import Store

    hub.extra_files["hugggof/split"] = [name]
    with pytest.raises(UnsafeHubAnswerError, match="not a safe file name"):
        Store().install("hugggof/split")
    assert not any("/resolve/" in r for r in hub.requests)  # nothing was downloaded
    assert_clean(tmp_path, victim)


@pytest.mark.parametrize("repo_id", ["user/x--y", "user/x.git", "x.git", "user/" + "a" * 195])
def test_repo_ids_the_hub_refuses_are_usage_errors(
    hub: HubServer, tmp_path: Path, victim: Path, repo_id: str
) -> None:
    from deepfx.store import Store

    with pytest.raises(UsageError, match="not a valid hub repo id"):
        Store().install(repo_id)
    assert hub.requests == []  # before any network
    if repo_id == "user/x--y":  # and the same through the CLI, for install and info
        for cmd in (["install"], ["info"]):
            res = cli("models", *cmd, repo_id)
            assert res.returncode == 2, res.stderr
            assert "not a valid hub repo id" in one_line(res)
    if len(repo_id) > 100:
        res = cli("models", "install", repo_id)
        line = one_line(res)
        assert res.returncode == 2 and "at most 96" in line and len(line) < 300
    assert hub.requests == []
    assert_clean(tmp_path, victim)


@pytest.mark.parametrize(
    ("var", "value"),
    [("DEEPFX_HUB_TIMEOUT", "nan"), ("DEEPFX_HUB_TIMEOUT", "-1"), ("DEEPFX_LOCK_TIMEOUT", "x")],
)
def test_bad_settings_are_usage_errors(
    hub: HubServer, tmp_path: Path, victim: Path, var: str, value: str
) -> None:
    res = cli("models", "install", "hugggof/split", env={var: value})
    assert res.returncode == 2, res.stderr
    assert var in one_line(res)
    assert_clean(tmp_path, victim)


# --- 4. add-local: links, loops, bounds ------------------------------------------------------


@pytest.fixture()
def src(tmp_path: Path, built: Path) -> Path:
    """A local model folder (the user's, to be added)."""
    s = tmp_path / "src"
    s.mkdir()
    for f in built.iterdir():
        (s / f.name).write_bytes(f.read_bytes())
    return s


@pytest.fixture()
def store_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DEEPFX_HOME", str(home(tmp_path)))
    return home(tmp_path)


def test_link_to_a_system_file_is_refused(
    src: Path, store_home: Path, tmp_path: Path, victim: Path
) -> None:
    from deepfx.store import Store

    (src / "weights.bin").symlink_to("/etc/passwd")
    with pytest.raises(UnsafeSourceError, match=r"weights\.bin is a link to /etc/passwd"):
        Store().add_local(src)
    res = cli("models", "add-local", str(src), env={"DEEPFX_HOME": str(store_home)})
    assert res.returncode == 5
    assert "weights.bin" in one_line(res) and "outside the model folder" in res.stderr
    assert_clean(tmp_path, victim)


def test_link_inside_the_folder_is_copied_as_a_file(src: Path, store_home: Path) -> None:
    from deepfx.store import Store

    (src / "sub").mkdir()
    (src / "sub" / "weights.bin").write_bytes(b"w" * 100)
    (src / "weights.bin").symlink_to("sub/weights.bin")
    (src / "more").symlink_to("sub", target_is_directory=True)
    m = Store().add_local(src).model
    for rel in ("weights.bin", "more/weights.bin", "sub/weights.bin"):
        p = m.folder / rel
        assert not p.is_symlink() and not p.parent.is_symlink()
        assert p.read_bytes() == b"w" * 100


@pytest.mark.parametrize("loops", [1, 2])
def test_link_loops_are_refused(
    src: Path, store_home: Path, tmp_path: Path, victim: Path, loops: int
) -> None:
    from deepfx.store import Store

    (src / "loop").symlink_to(".", target_is_directory=True)
    if loops == 2:  # 2^40 paths if followed naively
        (src / "sub").mkdir()
        (src / "sub" / "up").symlink_to("..", target_is_directory=True)
    with pytest.raises(UnsafeSourceError, match="link loop"):
        Store().add_local(src)
    assert_clean(tmp_path, victim)


def test_bounds_on_files_and_bytes(
    src: Path, store_home: Path, tmp_path: Path, victim: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from deepfx.store import Store

    for i in range(5):
        (src / f"extra{i}.bin").write_bytes(b"x" * 1000)
    monkeypatch.setenv("DEEPFX_LOCAL_MAX_FILES", "4")
    with pytest.raises(UnsafeSourceError, match="DEEPFX_LOCAL_MAX_FILES"):
        Store().add_local(src)
    monkeypatch.setenv("DEEPFX_LOCAL_MAX_FILES", "100")
    monkeypatch.setenv("DEEPFX_LOCAL_MAX_BYTES", "3000")
    with pytest.raises(UnsafeSourceError, match="DEEPFX_LOCAL_MAX_BYTES"):
        Store().add_local(src)
    monkeypatch.setenv("DEEPFX_LOCAL_MAX_BYTES", "lots")
    with pytest.raises(UsageError, match="DEEPFX_LOCAL_MAX_BYTES"):
        Store().add_local(src)
    assert_clean(tmp_path, victim)


def _zip_with_link(path: Path, folder: Path, link_name: str, target: str) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for f in folder.iterdir():
            zf.write(f, f"model/{f.name}")
        info = zipfile.ZipInfo(f"model/{link_name}")
        info.external_attr = (0o120777 << 16) | 0x10  # a symlink, as `zip -y` stores it
        info.create_system = 3
        zf.writestr(info, target)
    return path


@pytest.mark.parametrize("target", ["/etc/passwd", "../../victim/precious.txt", "../model"])
def test_zip_links_out_of_the_folder_are_refused(
    src: Path, store_home: Path, tmp_path: Path, victim: Path, target: str
) -> None:
    from deepfx.store import Store

    z = _zip_with_link(tmp_path / "evil.zip", src, "weights.bin", target)
    with pytest.raises(UnsafeSourceError, match="weights.bin"):
        Store().add_local(z)
    z.unlink()
    assert_clean(tmp_path, victim)


def test_zip_link_inside_is_copied_as_a_file(src: Path, store_home: Path, tmp_path: Path) -> None:
    from deepfx.store import Store

    z = _zip_with_link(tmp_path / "ok.zip", src, "copy.pt", "model.pt")
    m = Store().add_local(z).model
    assert not (m.folder / "copy.pt").is_symlink()
    assert (m.folder / "copy.pt").read_bytes() == (src / "model.pt").read_bytes()


def _onnx_with_external_data(folder: Path) -> Path:
    """A tiny ONNX graph whose weight lives in ``weights.data`` (external data)."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.full((1, 1), 0.5, np.float32), name="w")
    graph = helper.make_graph(
        [helper.make_node("Mul", ["x", "w"], ["y"])],
        "halve",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, None])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, None])],
        [w],
    )
    model = helper.make_model(graph)
    folder.mkdir(parents=True, exist_ok=True)
    onnx.save_model(
        model,
        str(folder / "model.onnx"),
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location="weights.data",
        size_threshold=0,
    )
    card = dict(EFFECT_CARD, labels=["half"])
    (folder / "metadata.json").write_text(json.dumps(card))
    return folder


def test_onnx_external_data_link_is_refused(store_home: Path, tmp_path: Path, victim: Path) -> None:
    """The external-data file is a link to a secret outside the folder: never copied."""
    from deepfx.hub.local import copy_local
    from deepfx.store import Store

    folder = _onnx_with_external_data(tmp_path / "src" / "onnx")
    (tmp_path / "plain").mkdir()
    copy_local(folder, tmp_path / "plain")  # the genuine folder copies
    assert (tmp_path / "plain" / "weights.data").stat().st_size == 4
    for p in (tmp_path / "plain").iterdir():
        p.unlink()
    (tmp_path / "plain").rmdir()
    (victim / "precious.txt").chmod(0o644)
    secret = tmp_path / "src" / "secret.bin"  # beside the model folder, not inside it
    secret.write_bytes(b"SECR")
    (folder / "weights.data").unlink()
    (folder / "weights.data").symlink_to(secret)
    with pytest.raises(UnsafeSourceError, match=r"weights\.data is a link"):
        Store().add_local(folder)
    assert_clean(tmp_path, victim)


def test_fifo_is_refused(src: Path, store_home: Path, tmp_path: Path, victim: Path) -> None:
    from deepfx.store import Store

    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs here")
    os.mkfifo(src / "pipe")
    with pytest.raises(UnsafeSourceError, match="not a regular file"):
        Store().add_local(src)
    assert_clean(tmp_path, victim)


def test_limits_apply_only_inside_bounded(hub: HubServer, tmp_path: Path) -> None:
    """The hooks on huggingface_hub's shared client do nothing outside deepfx's own calls:
    another user of huggingface_hub in the same process is not limited."""
    from huggingface_hub import hf_hub_download

    from deepfx.hub._limits import bounded

    def get(dest: Path) -> Path:
        return Path(
            hf_hub_download("hugggof/split", "weights.bin", local_dir=dest, endpoint=hub.url)
        )

    with pytest.raises(DownloadLimitError), bounded("testing", deadline_s=30, max_bytes=100):
        get(tmp_path / "a")
    assert get(tmp_path / "b").stat().st_size == 2048


def test_second_layer_commit_and_work_folder_checks(
    hub: HubServer, tmp_path: Path, victim: Path
) -> None:
    """Defence in depth: a RemoteRevision with a bad commit handed to the store directly is
    refused by the store itself; a work folder planted as a link to the user's files is
    refused before anything is written into it."""
    from deepfx.hub.download import RemoteRevision
    from deepfx.sources.hub import HubSource
    from deepfx.store import Store

    bad = RemoteRevision("hugggof/split", str(victim), [])
    with pytest.raises(UnsafeHubAnswerError, match="not a commit id"):
        HubSource.resolve(
            "hugggof/split",
            revision=None,
            pinned=False,
            work_root=Store().root / "tmp",
            remote=bad,
        )
    home(tmp_path).mkdir()
    (home(tmp_path) / "tmp").symlink_to(victim, target_is_directory=True)
    with pytest.raises(StorePathError, match="outside the store"):
        Store().install("hugggof/split")
    (home(tmp_path) / "tmp").unlink()
    assert_clean(tmp_path, victim)
