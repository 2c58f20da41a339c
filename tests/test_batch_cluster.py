"""`deepfx batch` on a real Ray cluster on 127.0.0.1: a head and two worker nodes
(``ray.cluster_utils.Cluster``), each with one logical GPU so GPU scheduling is checked on
CPU. One cluster serves the module; Ray's session files, token and HOME live in a temp
folder, and the teardown checks that nothing is left running or written to HOME."""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from batch_helpers import files_under, make_inputs, same_output
from engine_helpers import conv_model

import deepfx
from deepfx.batch import MANIFEST_NAME, BatchProgress
from deepfx.batch.manifest import Manifest
from deepfx.batch.worker import STAGING_DIR
from deepfx.engine import run
from deepfx.model import load_model

if importlib.util.find_spec("ray") is None:  # not imported here: env must be set first
    pytest.skip("needs deepfx[batch] (Ray)", allow_module_level=True)

pytestmark = pytest.mark.slow

NODE = {
    "node_ip_address": "127.0.0.1",
    "num_cpus": 1,
    "num_gpus": 1,  # logical: nothing uses CUDA, Ray only schedules by it
    "object_store_memory": 80 * 1024 * 1024,
    "include_dashboard": False,
}


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    from deepfx.batch.executor import local_token

    base = Path(tempfile.mkdtemp(prefix="dfxt-", dir="/tmp"))  # short: Unix socket paths
    home = base / "home"
    home.mkdir()
    (base / "ray").mkdir()
    saved = dict(os.environ)
    os.environ.update(
        HOME=str(home),
        RAY_AUTH_MODE="token",
        # deepfx's own token for this process: Ray's driver keeps the first token it reads,
        # and later local sessions in this process (other test modules) use deepfx's
        RAY_AUTH_TOKEN=local_token(),
        RAY_USAGE_STATS_ENABLED="0",
        RAY_TMPDIR=str(base),
        # Ray maps 127.0.0.1 in an address to the machine's IP unless told the cluster is
        # local-only; every node here is on 127.0.0.1 (read when Ray is first imported)
        RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0",
    )
    from ray._raylet import Config
    from ray.cluster_utils import Cluster

    Config.initialize("")  # re-read RAY_AUTH_MODE, as Ray does when it turns token auth on

    c = Cluster(initialize_head=True, head_node_args={**NODE, "temp_dir": str(base / "ray")})
    workers = [c.add_node(**NODE) for _ in range(2)]
    c.wait_for_nodes()
    c.deepfx_workers = workers  # type: ignore[attr-defined]
    try:
        yield c
    finally:
        import ray

        if ray.is_initialized():
            ray.shutdown()
        c.shutdown()
        time.sleep(1)
        left = [
            p.pid
            for p in psutil.process_iter(["cmdline"])
            if str(base) in " ".join(p.info["cmdline"] or [])
        ]
        os.environ.clear()
        os.environ.update(saved)
        in_home = list(home.iterdir())
        shutil.rmtree(base, ignore_errors=True)
        assert not left, f"Ray processes left running: {left}"
        assert not in_home, f"written to HOME: {in_home}"


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return conv_model(tmp_path_factory.mktemp("m") / "conv")


def _reference(model_dir: Path, inputs: list[Path], dest: Path) -> dict[Path, dict[str, Path]]:
    """What `deepfx run` writes for each input (files by label); one `deepfx run` command
    for the uniquely named inputs, the engine call it wraps for the same-named pair."""
    unique = [p for p in inputs if p.stem != "dup"]
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "deepfx",
            "run",
            str(model_dir),
            *map(str, unique),
            "-o",
            str(dest / "run"),
            "-q",
            "--device",
            "cpu",
        ],
        capture_output=True,
        text=True,
    )
    assert res.returncode == 0, res.stderr
    mdl = load_model(model_dir, device="cpu")
    ref: dict[Path, dict[str, Path]] = {}
    for p in unique:
        ref[p] = {lb: dest / "run" / f"{p.stem} - {lb}{p.suffix}" for lb in mdl.card.labels}
    for i, p in enumerate(x for x in inputs if x.stem == "dup"):
        (out,) = run(mdl, [p], dest / f"dup{i}")
        ref[p] = out.files
    return ref


def test_fifty_files_on_three_nodes_survive_losing_a_worker_node(
    cluster: Any, model_dir: Path, tmp_path: Path
) -> None:
    paths = make_inputs(tmp_path / "in", 50, broken=2)
    good, broken = paths[:48], paths[48:]
    out = tmp_path / "out"
    workers = {n.node_id: n for n in cluster.deepfx_workers}
    killed: dict[str, Any] = {}
    events: list[BatchProgress] = []

    def on_progress(ev: BatchProgress) -> None:
        events.append(ev)
        rec = ev.last
        if rec is not None and not killed and rec.node in workers and ev.files_done < 40:
            cluster.remove_node(workers[rec.node], allow_graceful=False)
            killed.update(node=rec.node, at=ev.files_done)

    summary = deepfx.batch(
        model_dir,
        tmp_path / "in",
        out,
        address=cluster.address,
        workers=2,
        on_progress=on_progress,
    )
    assert killed, "no worker node was killed mid-batch"
    by_input = {Path(r.input): r for r in summary.records}
    assert len(summary.records) == 50 and set(by_input) == set(paths)
    for p in broken:
        rec = by_input[p]
        assert rec.status == "failed" and rec.error_class == "AudioDecodeError", rec
        assert p.name in (rec.error or "")
    ref = _reference(model_dir, good, tmp_path / "ref")
    expected: set[str] = {MANIFEST_NAME, ".deepfx-batch.lock"}
    for p in good:
        rec = by_input[p]
        assert rec.status == "ok", rec
        assert rec.key == p.relative_to(tmp_path / "in").with_suffix("").as_posix()
        assert len(rec.gpu_ids) == 1  # one logical GPU reserved per actor
        for o in rec.outputs:
            expected.add(o.path)
            assert same_output(out / o.path, ref[p][o.label]), o.path
    assert files_under(out) == expected  # every output exactly once, nothing partial
    lines = Manifest(out).load()
    assert len(lines) == 50 and len(out.joinpath(MANIFEST_NAME).read_text().splitlines()) == 50
    assert {r.status for r in lines.values()} == {"ok", "failed"}
    assert events[-1].files_done == 50 and events[-1].failed == 2
    assert events[-1].audio_s_done == pytest.approx(events[-1].audio_s_total)


def _start_and_stop(cmd: list[str], manifest: Path, lines: int, sig: int) -> int:
    """Start the CLI, let the manifest reach ``lines`` lines, send ``sig``; its exit code."""
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        if manifest.exists() and len(manifest.read_text().splitlines()) >= lines:
            break
        time.sleep(0.05)
    assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=180)
    if sig == signal.SIGINT:
        assert "interrupted; finished inputs are kept" in err, err
    return proc.returncode


def test_ctrl_c_then_driver_killed_then_a_rerun_finishes_only_the_rest(
    cluster: Any, model_dir: Path, tmp_path: Path
) -> None:
    paths = make_inputs(tmp_path / "in", 16, seed=1, formats=("wav", "flac"))
    out = tmp_path / "out"
    manifest = out / MANIFEST_NAME
    cmd = [
        sys.executable,
        "-m",
        "deepfx",
        "batch",
        str(model_dir),
        str(tmp_path / "in"),
        "-o",
        str(out),
        "--address",
        cluster.address,
        "--workers",
        "2",
        "-q",
        "--device",
        "cpu",
    ]
    # Ctrl-C: exit 130, manifest compacted (one line per finished input), no staging left
    assert _start_and_stop(cmd, manifest, 2, signal.SIGINT) == 130
    first = Manifest(out).load()
    assert 2 <= len(first) < 16
    assert len(manifest.read_text().splitlines()) == len(first)
    assert not (out / STAGING_DIR).exists()
    # SIGKILL of the driver of the re-run, a few inputs later
    # (it appends a "skipped" line per finished input first, then one per new input)
    lines = 2 * len(first) + 2
    assert _start_and_stop(cmd, manifest, lines, signal.SIGKILL) == -signal.SIGKILL
    done = {k for k, r in Manifest(out).load().items() if r.status in ("ok", "skipped")}
    assert len(first) + 2 <= len(done) < 16
    for rel in files_under(out):  # whatever is in place is whole
        if rel.endswith((".wav", ".flac")) and not rel.startswith(STAGING_DIR):
            import soundfile as sf

            sf.read(out / rel)
    summary = deepfx.batch(
        model_dir, tmp_path / "in", out, address=cluster.address, workers=2, device="cpu"
    )
    assert {r.key for r in summary.skipped} == done
    assert {r.key for r in summary.ok} == {r.key for r in summary.records} - done
    assert not summary.failed and len(summary.records) == 16
    assert not (out / STAGING_DIR).exists()
    ref = _reference(model_dir, paths, tmp_path / "ref")
    by_input = {Path(r.input): r for r in summary.records}
    for p in paths:
        for o in by_input[p].outputs:
            assert same_output(out / o.path, ref[p][o.label])
    again = deepfx.batch(model_dir, tmp_path / "in", out, address=cluster.address, device="cpu")
    assert len(again.skipped) == 16
