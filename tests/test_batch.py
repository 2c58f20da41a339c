"""`deepfx batch` without a cluster: inputs and keys, the worker's atomic publish, the
manifest and resume checks, pool planning, the CLI's shape and its missing-Ray message."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from batch_helpers import files_under, make_inputs, same_output
from engine_helpers import conv_model

from deepfx.batch.executor import plan_pool
from deepfx.batch.inputs import collect
from deepfx.batch.manifest import Manifest, Record, input_stamp, verified
from deepfx.batch.worker import STAGING_DIR, BatchOptions, Worker, process_one
from deepfx.engine import run
from deepfx.errors import UsageError


def test_folder_keys_mirror_relative_paths_and_same_stems_keep_their_extension(
    tmp_path: Path,
) -> None:
    for rel in ("a/song.wav", "b/song.wav", "b/song.flac", "c/d/x.ogg", "notes.txt"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"")
    keys = {r.key for r in collect(tmp_path)}
    assert keys == {"a/song", "b/song.wav", "b/song.flac", "c/d/x"}
    glob_keys = {r.key for r in collect(str(tmp_path / "**" / "*.wav"))}
    assert glob_keys == {"a/song", "b/song"}


def test_manifests_csv_and_jsonl_with_optional_output(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    for n in ("one.wav", "two.wav"):
        (tmp_path / "in" / n).write_bytes(b"")
    csv = tmp_path / "list.csv"
    csv.write_text("path,output\nin/one.wav,show/ep1\nin/two.wav,\n")
    rows = collect(csv)
    assert [(r.path.name, r.key) for r in rows] == [("one.wav", "show/ep1"), ("two.wav", "two")]
    jl = tmp_path / "list.jsonl"
    jl.write_text(json.dumps({"path": str(tmp_path / "in" / "one.wav")}) + "\n")
    assert [r.key for r in collect(jl)] == ["one"]
    for bad in ("../escape", "/abs/x", "a/../../b"):
        jl.write_text(json.dumps({"path": "in/one.wav", "output": bad}) + "\n")
        with pytest.raises(UsageError, match="relative path inside the output folder"):
            collect(jl)
    csv.write_text("file\nin/one.wav\n")
    with pytest.raises(UsageError, match="no 'path' column"):
        collect(csv)
    csv.write_text("path,output\nin/one.wav,same\nin/two.wav,same\n")
    with pytest.raises(UsageError, match="same output"):
        collect(csv)
    with pytest.raises(UsageError, match="matches no files"):
        collect(str(tmp_path / "*.nothing"))


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return conv_model(tmp_path_factory.mktemp("m") / "conv")


def test_worker_publishes_what_deepfx_run_writes_and_a_retry_changes_nothing(
    tmp_path: Path, model_dir: Path
) -> None:
    paths = make_inputs(tmp_path / "in", 5, broken=1)
    rows = {r.path: r for r in collect(tmp_path / "in")}
    out = tmp_path / "out"
    worker = Worker(str(model_dir), str(out), BatchOptions(), config="c1", device="cpu")
    good = paths[:4]
    for _attempt in range(2):  # the second pass is what a Ray task retry does
        for p in paths:
            rec = worker.process(rows[p])
            assert rec.status == ("ok" if p in good else "failed")
        assert not any((out / STAGING_DIR).iterdir())
    expected = {o.path for p in good for o in worker.process(rows[p]).outputs}
    assert files_under(out) == expected  # each output once, nothing else
    for p in good:
        ref = run(str(model_dir), [p], tmp_path / "ref" / rows[p].key, device="cpu")[0]
        rec = worker.process(rows[p])
        for o in rec.outputs:
            assert same_output(out / o.path, ref.files[o.label])
            assert (out / o.path).stat().st_size == o.size
    bad = process_one(rows[paths[-1]], worker.model, out, BatchOptions(), config="c1")
    assert bad.status == "failed" and bad.error_class == "AudioDecodeError"
    assert "broken0.wav" in (bad.error or "") and not bad.outputs


def test_a_model_that_cannot_load_fails_each_row_not_the_actor(tmp_path: Path) -> None:
    (tmp_path / "x.wav").write_bytes(b"")
    worker = Worker(str(tmp_path / "no-model"), str(tmp_path / "o"), BatchOptions(), "c")
    rec = worker.process(collect(tmp_path / "x.wav")[0])
    assert rec.status == "failed" and rec.error_class == "NotInstalledError"


def test_manifest_survives_a_torn_line_and_verification_catches_tampering(
    tmp_path: Path, model_dir: Path
) -> None:
    (p,) = make_inputs(tmp_path / "in", 1)
    row = collect(p)[0]
    out = tmp_path / "out"
    worker = Worker(str(model_dir), str(out), BatchOptions(), config="c1", device="cpu")
    rec = worker.process(row)
    m = Manifest(out)
    m.append(rec)
    m.close()
    with m.path.open("a") as fh:
        fh.write('{"input": "torn')  # a driver killed mid-line
    loaded = Manifest(out).load()
    assert list(loaded) == [row.key]
    stamp = input_stamp(p)
    assert verified(loaded[row.key], out, config="c1", stamp=stamp)
    assert not verified(loaded[row.key], out, config="other-options", stamp=stamp)
    target = out / rec.outputs[0].path
    data = bytearray(target.read_bytes())
    data[-1] ^= 1  # same size, different content
    target.write_bytes(bytes(data))
    assert not verified(loaded[row.key], out, config="c1", stamp=stamp)
    m2 = Manifest(out)
    m2.load()
    m2.append(Record(input=str(p), key="other", status="failed", error="x"))
    m2.compact()
    lines = m2.path.read_text().splitlines()
    assert len(lines) == 2 and all(json.loads(line) for line in lines)


def test_pool_reserves_gpus_from_the_device_option() -> None:
    gpu_cluster = {"CPU": 8.0, "GPU": 2.0}
    assert (
        plan_pool(
            device="cuda", workers=None, threads=None, gpus_per_worker=None, cluster=gpu_cluster
        ).num_gpus
        == 1.0
    )
    auto = plan_pool(
        device="auto", workers=None, threads=None, gpus_per_worker=0.5, cluster=gpu_cluster
    )
    assert (auto.num_gpus, auto.workers) == (0.5, 4)
    cpu = plan_pool(
        device="cpu", workers=None, threads=2, gpus_per_worker=None, cluster=gpu_cluster
    )
    assert (cpu.num_gpus, cpu.num_cpus, cpu.workers) == (0.0, 2.0, 4)
    with pytest.raises(UsageError, match="no GPUs"):
        plan_pool(
            device="cuda", workers=2, threads=None, gpus_per_worker=None, cluster={"CPU": 4.0}
        )
    with pytest.raises(UsageError, match="at least 1"):
        plan_pool(device="cpu", workers=0, threads=None, gpus_per_worker=None, cluster={})


def test_batch_help_shares_run_options_and_imports_neither_ray_nor_torch() -> None:
    code = (
        "import sys\n"
        "from deepfx.cli.app import main\n"
        "try:\n    main(['batch', '--help'])\n"
        "except SystemExit:\n    pass\n"
        "assert 'ray' not in sys.modules and 'torch' not in sys.modules, 'heavy import'\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    for opt in (
        "--stems",
        "--labels-format",
        "--format",
        "--chunk",
        "--overlap",
        "--device",
        "--per-channel",
        "--name-template",
        "--workers",
        "--address",
    ):
        assert opt in res.stdout


def test_without_ray_batch_says_how_to_install_it(tmp_path: Path, model_dir: Path) -> None:
    (p,) = make_inputs(tmp_path / "in", 1)
    code = (
        "import sys\n"
        "class NoRay:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'ray' or name.startswith('ray.'):\n"
        "            raise ImportError('No module named ray')\n"
        "sys.meta_path.insert(0, NoRay())\n"
        "from deepfx.cli.app import main\n"
        f"main(['batch', {str(model_dir)!r}, {str(p)!r}, '-o', {str(tmp_path / 'o')!r}])\n"
    )
    res = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert res.returncode == 2, res.stderr
    assert "pip install 'deepfx[batch]'" in res.stderr
    assert not (tmp_path / "o").exists()


@pytest.mark.slow
def test_cli_on_a_private_local_ray_leaves_nothing_behind(tmp_path: Path, model_dir: Path) -> None:
    """No --address: a local Ray starts and stops with the command; HOME stays empty, no
    Ray process or temp folder outlives it; a broken file fails alone (exit 1, table)."""
    make_inputs(tmp_path / "in", 4, broken=1, formats=("wav", "flac"))
    home = tmp_path / "home"
    home.mkdir()
    before = {p.name for p in Path("/tmp").glob("dfx-ray-*")}
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    env.update(HOME=str(home), COLUMNS="200")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "deepfx",
            "batch",
            str(model_dir),
            str(tmp_path / "in"),
            "-o",
            str(tmp_path / "out"),
            "--workers",
            "1",
            "--device",
            "cpu",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    listening: set[str] = set()  # every address a Ray process of the command listens on
    while proc.poll() is None:
        with contextlib.suppress(psutil.Error):
            for child in psutil.Process(proc.pid).children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    for conn in child.connections(kind="inet"):
                        if conn.status == psutil.CONN_LISTEN:
                            listening.add(conn.laddr.ip)
        time.sleep(0.2)
    stdout, stderr = proc.communicate()
    res = subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)
    assert listening and listening <= {"127.0.0.1", "::ffff:127.0.0.1", "::1"}, listening
    assert res.returncode == 1, res.stderr
    assert "ok" in res.stdout and "failed" in res.stdout
    assert "AudioDecodeError" in res.stderr and "broken0.wav" in res.stderr
    assert not any(home.iterdir()), list(home.rglob("*"))
    assert {p.name for p in Path("/tmp").glob("dfx-ray-*")} == before

    def ray_processes() -> list[int]:
        return [
            p.pid
            for p in psutil.process_iter(["cmdline"])
            if any("dfx-ray-" in part for part in (p.info["cmdline"] or []))
        ]

    for _ in range(100):  # Ray's processes exit with their parent, within moments
        if not ray_processes():
            break
        time.sleep(0.1)
    assert not ray_processes()
    records = Manifest(tmp_path / "out").load()
    assert sorted(r.status for r in records.values()) == ["failed", "ok", "ok", "ok"]


def test_deepfx_batch_is_the_function_whatever_was_imported_first() -> None:
    import deepfx
    import deepfx.batch as pkg
    from deepfx.batch import batch

    assert callable(deepfx.batch) and callable(pkg)
    assert "deepfx.batch" in repr(deepfx.batch) or deepfx.batch is batch
