"""`deepfx batch -o URL`: outputs on an fsspec filesystem (``file://`` and ``memory://``
here, both real fsspec filesystems): the upload step without Ray, the URL errors, and one
small batch on a private local Ray compared with the same batch into a plain folder."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from batch_helpers import files_under, make_inputs, same_output
from engine_helpers import conv_model

from deepfx.batch.inputs import collect
from deepfx.batch.manifest import MANIFEST_NAME, Manifest, input_stamp, verified
from deepfx.batch.remote import TMP_MARK, is_url, open_target
from deepfx.batch.worker import BatchOptions, Worker
from deepfx.errors import UsageError


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return conv_model(tmp_path_factory.mktemp("m") / "conv")


def test_only_protocol_urls_are_urls() -> None:
    assert is_url("s3://bucket/prefix") and is_url("file:///abs") and is_url("gs://b")
    assert not is_url("out") and not is_url("/abs/out") and not is_url(Path("s3://x"))


def test_worker_uploads_what_the_folder_publish_writes_and_a_retry_changes_nothing(
    tmp_path: Path, model_dir: Path
) -> None:
    """The upload step without Ray: stage locally, hash, put under a temp name, move."""
    paths = make_inputs(tmp_path / "in", 3, formats=("wav", "flac"))
    rows = [collect(tmp_path / "in")[i] for i in range(len(paths))]
    plain = Worker(str(model_dir), str(tmp_path / "plain"), BatchOptions(), "c1", device="cpu")
    url = (tmp_path / "bucket" / "pre").as_uri()
    remote = Worker(str(model_dir), url, BatchOptions(), "c1", device="cpu")
    assert remote.target is not None
    for _attempt in range(2):  # the second pass is what a Ray task retry does
        for row in rows:
            a, b = plain.process(row), remote.process(row)
            assert a.status == b.status == "ok"
            assert a.outputs == b.outputs  # same names, sizes and hashes
    bucket = tmp_path / "bucket" / "pre"
    assert files_under(bucket) == files_under(tmp_path / "plain") - {
        p for p in files_under(tmp_path / "plain") if p.startswith(".deepfx-batch-tmp")
    }
    for rel in files_under(bucket):
        assert TMP_MARK not in rel
        assert same_output(bucket / rel, tmp_path / "plain" / rel)
    rec = remote.process(rows[0])
    stamp = input_stamp(rows[0].path)
    assert verified(rec, tmp_path, config="c1", stamp=stamp, target=remote.target)
    target = bucket / rec.outputs[0].path
    data = bytearray(target.read_bytes())
    data[-1] ^= 1  # same size (fs.info agrees), different bytes: the read-back hash catches it
    target.write_bytes(bytes(data))
    assert not verified(rec, tmp_path, config="c1", stamp=stamp, target=remote.target)


def test_upload_to_an_object_store_like_filesystem_and_leftovers(tmp_path: Path) -> None:
    src = tmp_path / "x.bin"
    src.write_bytes(b"abc" * 1000)
    t = open_target("memory://dfx-test-bucket/run")
    t.upload(src, "a/b/x.bin")
    import hashlib

    sha = hashlib.sha256(src.read_bytes()).hexdigest()
    assert t.size("a/b/x.bin") == 3000 and t.matches("a/b/x.bin", 3000, sha)
    assert not t.matches("a/b/x.bin", 3000, "0" * 64) and t.size("nope") == -1
    t.fs.pipe(t.path(f"a/.y{TMP_MARK}dead"), b"torn")  # what a killed upload leaves
    t.write_text(MANIFEST_NAME, "{}\n")
    t.remove_leftovers()
    names = sorted(p.rpartition("/")[2] for p in t.fs.find(t.root))
    assert names == [MANIFEST_NAME, "x.bin"] and t.read_text(MANIFEST_NAME) == "{}\n"
    t.fs.rm(t.root, recursive=True)


def test_a_missing_filesystem_package_is_named() -> None:
    if importlib.util.find_spec("s3fs") is not None:
        pytest.skip("s3fs is installed here")
    with pytest.raises(UsageError, match=r"pip install s3fs"):
        open_target("s3://bucket/prefix")


def test_cli_unknown_protocol_is_exit_2_with_one_line(tmp_path: Path, model_dir: Path) -> None:
    (p,) = make_inputs(tmp_path / "in", 1)
    res = subprocess.run(
        [sys.executable, "-m", "deepfx", "batch", str(model_dir), str(p), "-o", "nosuch://x"],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert res.returncode == 2, res.stderr
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "unknown protocol 'nosuch'" in lines[0], res.stderr
    assert not res.stdout.strip()


@pytest.fixture(scope="module")
def local_ray() -> Iterator[Any]:
    """One private local Ray with one CPU for the module (deepfx's own session)."""
    if importlib.util.find_spec("ray") is None:
        pytest.skip("needs deepfx[batch] (Ray)")
    from deepfx.batch.executor import ray_session

    with ray_session(None, num_cpus=1) as ray:
        yield ray


@pytest.mark.slow
def test_batch_to_a_file_url_equals_a_folder_batch_and_resumes(
    tmp_path: Path, model_dir: Path, local_ray: Any
) -> None:
    import deepfx

    make_inputs(tmp_path / "in", 3, formats=("wav", "flac"))
    kw: dict[str, Any] = {"workers": 1, "device": "cpu"}
    plain = deepfx.batch(str(model_dir), tmp_path / "in", tmp_path / "plain", **kw)
    url = (tmp_path / "bucket").as_uri() + "/deep/prefix"
    bucket = tmp_path / "bucket" / "deep" / "prefix"
    first = deepfx.batch(str(model_dir), tmp_path / "in", url, **kw)
    assert [r.status for r in first.records] == ["ok"] * 3
    assert first.manifest == f"{url}/{MANIFEST_NAME}" and first.out_dir == url
    outputs = {o.path for r in plain.records for o in r.outputs}
    assert files_under(bucket) == outputs | {MANIFEST_NAME}  # nothing else: no temp names
    for rel in outputs:
        assert same_output(bucket / rel, tmp_path / "plain" / rel)
    records = Manifest(bucket).load()
    assert sorted(records) == sorted(r.key for r in plain.records)
    assert all(r.status == "ok" and r.outputs for r in records.values())
    lines = (bucket / MANIFEST_NAME).read_text().splitlines()
    assert len(lines) == 3 and all(json.loads(line) for line in lines)

    again = deepfx.batch(str(model_dir), tmp_path / "in", url, **kw)
    assert [r.status for r in again.records] == ["skipped"] * 3

    gone = first.records[1].outputs[0].path
    (bucket / gone).unlink()
    redo = deepfx.batch(str(model_dir), tmp_path / "in", url, **kw)
    assert [r.status for r in redo.records] == ["skipped", "ok", "skipped"]
    assert same_output(bucket / gone, tmp_path / "plain" / gone)
    assert files_under(bucket) == outputs | {MANIFEST_NAME}
    assert {r.status for r in Manifest(bucket).load().values()} == {"ok", "skipped"}
