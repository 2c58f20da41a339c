"""benchmarks/bench_demucs.py runs end to end (tiny Demucs v2 and HTDemucs nets, 2.5 s),
and its network wrappers compute what the demucs package's own forward does. No timing
asserts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("demucs.demucs", reason="needs the bench extra (demucs, julius, einops)")

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "benchmarks"


def _nets() -> object:
    sys.path.insert(0, str(BENCH))
    try:
        import demucs_nets
    finally:
        sys.path.remove(str(BENCH))
    return demucs_nets


def test_scripted_wrapper_matches_demucs_forward() -> None:
    import torch

    demucs_nets = _nets()
    net = demucs_nets.demucs_v2(channels=4, depth=4)
    centre = torch.jit.script(demucs_nets.effect_v2(net, pad="centre"))
    end = torch.jit.script(demucs_nets.effect_v2(net, pad="end"))
    core = demucs_nets.DemucsV2Core(net)
    for n in (22050, 7001, 5, core.valid_length(9000)):
        x = torch.randn(1, n)
        with torch.no_grad():
            want = net(x[None])[0].mean(dim=1)
            got = centre(x)
            at_end = end(x)
        assert got.shape == at_end.shape == (4, n)
        assert torch.equal(got, want)
        if core.valid_length(n) == n:  # nothing to pad: both paddings are the same
            assert torch.equal(at_end, want)


def test_chunks_on_the_stride_grid_match_the_whole_input(tmp_path: Path) -> None:
    """Issue 17's seam goal on a small Demucs: padded at the end and cut on its grid
    (``chunking.grid_samples``), deepfx's chunked output is the whole-input forward's
    to <= 1e-4 of the peak; off the grid it is not."""
    import numpy as np
    import torch

    from deepfx import process
    from deepfx.model import load_model

    demucs_nets = _nets()
    net = demucs_nets.demucs_v2(channels=4, depth=4)
    grid = demucs_nets.grid_samples(net)
    assert grid == 128
    rng = np.random.default_rng(0)
    x = (0.2 * rng.standard_normal((1, int(2.7 * demucs_nets.RATE)))).astype(np.float32)
    errors = {}
    for name, g in (("off", None), ("on", grid)):
        folder = tmp_path / name
        folder.mkdir()
        torch.jit.save(torch.jit.script(demucs_nets.effect_v2(net)), str(folder / "model.pt"))
        card = demucs_nets.card("small", window_s=1.0, overlap_s=0.25, grid=g)
        card.write(folder / "metadata.json")
        model = load_model(folder, device="cpu")
        whole = np.asarray(model.forward(x))
        res = process(model, x, demucs_nets.RATE)
        y = np.stack([res.tracks[k][0] for k in demucs_nets.STEMS])
        errors[name] = float(np.max(np.abs(y - whole)) / np.max(np.abs(whole)))
    print("seam max rel (off / on the grid):", errors)
    assert errors["on"] <= 1e-4, errors
    assert errors["off"] > 10 * errors["on"], errors


def _run_bench(tmp_path: Path, *args: str) -> dict[str, Any]:
    """``bench_demucs.py ARGS`` in a child process; its ``--json`` result."""
    out = tmp_path / "result.json"
    proc = subprocess.run(
        [
            sys.executable,
            str(BENCH / "bench_demucs.py"),
            *args,
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
    result: dict[str, Any] = json.loads(out.read_text())
    return result


@pytest.mark.slow
def test_bench_demucs_tiny_end_to_end(tmp_path: Path) -> None:
    res = _run_bench(tmp_path, "--tiny")
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


def test_traced_htdemucs_matches_eager_on_its_segment() -> None:
    import torch

    nets: Any = _nets()
    net = nets.htdemucs(seed=0, segment=1.0, tiny=True)
    traced = nets.traced_ht(net)
    x = 0.1 * torch.randn(1, nets.RATE)
    with torch.no_grad():
        want = nets.effect_ht(net)(x)
        got = traced(x)
        assert want.shape == (4, nets.RATE)
        assert torch.equal(got, want)
        with pytest.raises(RuntimeError):  # a fixed-length file: other lengths are refused
            traced(x[:, : nets.RATE // 2])


@pytest.mark.slow
def test_bench_htdemucs_tiny_end_to_end(tmp_path: Path) -> None:
    """--net ht: the traced file installs (its ONNX derivation fails quietly: STFT of
    complex values), deepfx runs it in whole segments; no ONNX, host or whole rows."""
    res = _run_bench(tmp_path, "--net", "ht", "--tiny")
    assert set(res["rows"]) == {"forward", "run-ts", "apply"}
    assert res["optimized"]["status"] == "failed"
    assert res["ours"] == "run-ts" and res["time_vs_apply"] > 0
    for name, row in res["rows"].items():
        assert row["work_s"] > 0 and row["peak_rss_mb"] > 0, name
