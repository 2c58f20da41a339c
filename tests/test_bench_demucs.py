"""benchmarks/bench_demucs.py runs end to end (a tiny Demucs, 2.5 s), and its network
wrapper computes what the demucs package's own forward does. No timing asserts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("demucs.demucs", reason="needs the bench extra (demucs, julius, einops)")

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "benchmarks"


def test_scripted_wrapper_matches_demucs_forward() -> None:
    import torch

    sys.path.insert(0, str(BENCH))
    try:
        import demucs_nets
    finally:
        sys.path.remove(str(BENCH))
    net = demucs_nets.demucs_v2(channels=4, depth=4)
    scripted = torch.jit.script(demucs_nets.effect_v2(net))
    for n in (22050, 7001, 5):
        x = torch.randn(1, n)
        with torch.no_grad():
            want = net(x[None])[0].mean(dim=1)
            got = scripted(x)
        assert got.shape == (4, n)
        assert torch.equal(got, want)


@pytest.mark.slow
def test_bench_demucs_tiny_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "result.json"
    proc = subprocess.run(
        [
            sys.executable,
            str(BENCH / "bench_demucs.py"),
            "--tiny",
            "--workdir",
            str(tmp_path / "work"),
            "--json",
            str(out),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = json.loads(out.read_text())
    rows = res["rows"]
    assert set(rows) == {
        "forward",
        "run-ts",
        "run-onnx",
        "cli-onnx",
        "process",
        "apply",
        "host",
        "whole",
    }
    assert res["onnx_vs_ts_rel"] < 1e-4
    for name, row in rows.items():
        assert row["work_s"] > 0 and row["peak_rss_mb"] > 0, name
        if name not in ("forward", "whole"):
            assert 0 <= row["seam"]["max_rel"] < 1.0, name
    # deepfx's TorchScript and ONNX runs give the same audio
    assert abs(rows["run-ts"]["seam"]["max_rel"] - rows["run-onnx"]["seam"]["max_rel"]) < 1e-4
    assert "time_vs_apply" in res and "memory_vs_apply" in res
