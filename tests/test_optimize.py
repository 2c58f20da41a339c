"""Verified ONNX derivation at install and ``deepfx models optimize``; ``--runner``.

Real models (TorchScript conv nets built here, the built-in VAD), real exporters, real
onnxruntime. No timing asserts: whether the ONNX version was faster is whatever was
measured; the tests check that the choice follows the record.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from engine_helpers import ConvSep, card, save
from torch import nn

from deepfx.card import Chunking
from deepfx.model import load_model
from deepfx.optimize import DERIVED_FILE, Optimized, parity_problem
from deepfx.runners import open_runner
from deepfx.store import MANIFEST_NAME, Store


class Wide(ConvSep):
    """A conv net wide enough that onnxruntime's kernels matter."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.net = nn.Sequential(
            nn.Conv1d(1, 32, 9, padding=4),
            nn.Tanh(),
            nn.Conv1d(32, 32, 9, padding=4),
            nn.Tanh(),
            nn.Conv1d(32, 2, 9, padding=4),
        )


class Median(ConvSep):
    """A median filter: ``Tensor.unfold`` + ``median``, which neither ONNX exporter has."""

    def do_forward_pass(self, x: torch.Tensor) -> torch.Tensor:
        y = nn.functional.pad(x[:1].unsqueeze(0), (4, 4), mode="reflect").squeeze(0)
        m = y.unfold(1, 9, 1).median(dim=-1).values
        return torch.cat([m, x[:1] - m], dim=0)


class Dither(Wide):
    """Adds fresh noise on every call: any export of it differs from the original, so it
    stands for a network whose ONNX version does not compute the same thing."""

    def do_forward_pass(self, x: torch.Tensor) -> torch.Tensor:
        y = self.net(x[:1].unsqueeze(0)).squeeze(0)
        return y + 0.01 * torch.rand_like(y)


def _folder(tmp_path: Path, module: nn.Module, name: str) -> Path:
    chunking = Chunking(window_s=1.0, overlap_s=0.1)
    return save(module, tmp_path / name, card(labels=["a", "b"], rate=8000, chunking=chunking))


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run(
        [sys.executable, "-m", "deepfx", *args],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, **(env or {})},
    )


@pytest.fixture
def optimize_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEEPFX_OPTIMIZE", "1")
    monkeypatch.setenv("DEEPFX_OPTIMIZE_CHUNK_S", "0.5")


def test_install_derives_verifies_and_records(tmp_path: Path, optimize_on: None) -> None:
    src = _folder(tmp_path, Wide(), "wide")
    original = (src / "model.pt").read_bytes()
    m = Store().install(src, name="wide").model
    rec = Optimized.from_dict(m.optimized)
    assert rec is not None and rec.status in ("kept", "slower"), m.optimized
    assert rec.method and rec.original_s and rec.onnx_s and rec.chunk_s == 0.5
    derived = m.folder / DERIVED_FILE
    assert derived.is_file() and (m.folder / "model.pt").read_bytes() == original
    assert not any(f["path"].startswith(".deepfx-optimized") for f in m.files)
    # the derived file passes the ONNX trust checks and loads through the normal runner
    assert open_runner(derived, device="cpu").format == "onnx"
    auto = load_model("local/wide", device="cpu")
    assert auto.format == ("onnx" if rec.status == "kept" else "torchscript")
    assert load_model("local/wide", runner="torchscript").format == "torchscript"
    assert load_model("local/wide", runner="onnx").model_file == derived
    # and gives the original's output
    x = np.random.default_rng(0).uniform(-0.5, 0.5, (1, 4000)).astype(np.float32)
    ts = load_model("local/wide", runner="torchscript", device="cpu").forward(x)
    ox = load_model("local/wide", runner="onnx", device="cpu").forward(x)
    assert float(np.max(np.abs(ts - ox))) <= 1e-4
    info = _cli("models", "info", "local/wide")
    assert info.returncode == 0, info.stderr
    assert rec.line() in info.stdout
    if rec.status == "kept":
        assert "optimized: " in info.stdout and "\u00d7 faster" in info.stdout


def test_conversion_failure_is_a_quiet_line_not_an_install_failure(
    tmp_path: Path, optimize_on: None
) -> None:
    src = _folder(tmp_path, Median(), "median")
    m = Store().install(src, name="median").model
    assert m.optimized is not None and m.optimized["status"] == "failed"
    assert m.optimized["runner"] == "torchscript"
    assert not (m.folder / ".deepfx-optimized").exists()
    assert load_model("local/median").format == "torchscript"
    info = _cli("models", "info", "local/median")
    lines = [ln for ln in info.stdout.splitlines() if "optimized" in ln]
    assert len(lines) == 1 and lines[0].startswith("not optimized: torch's ONNX exporters")
    with pytest.raises(Exception, match="no ONNX network"):
        load_model("local/median", runner="onnx")


def test_an_exporter_past_its_time_is_stopped_and_the_original_kept(
    tmp_path: Path, optimize_on: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The exporters run in a child process under DEEPFX_OPTIMIZE_TIMEOUT: a derivation
    that does not finish in time is stopped, the install succeeds with the original."""
    monkeypatch.setenv("DEEPFX_OPTIMIZE_TIMEOUT", "0.2")
    m = Store().install(_folder(tmp_path, Wide(), "slow"), name="slow").model
    assert m.optimized is not None and m.optimized["status"] == "failed", m.optimized
    assert "did not finish within 0.2 s (DEEPFX_OPTIMIZE_TIMEOUT)" in m.optimized["note"]
    assert not (m.folder / ".deepfx-optimized").exists()
    assert not list(m.folder.glob(".optimize-*"))
    assert load_model("local/slow").format == "torchscript"


def test_parity_failure_keeps_the_original(tmp_path: Path, optimize_on: None) -> None:
    """A network whose ONNX export converts but computes something else: the original is
    kept and the reason recorded (quietly; the install itself succeeds)."""
    m = Store().install(_folder(tmp_path, Dither(), "dither"), name="dither").model
    assert m.optimized is not None
    assert m.optimized["status"] == "failed", m.optimized
    assert "differs" in m.optimized["note"] or "fails on" in m.optimized["note"]
    assert load_model("local/dither").format == "torchscript"
    assert not (m.folder / ".deepfx-optimized").exists()


def test_builtin_vad_stays_torchscript(optimize_on: None) -> None:
    """The built-in VAD (a stateful loop over 2 s blocks) does not convert: it keeps its
    TorchScript network and `models info` can say why."""
    m = Store().install("builtin/vad").model
    assert m.optimized is not None and m.optimized["status"] == "failed", m.optimized
    assert load_model("builtin/vad").format == "torchscript"
    assert not (m.folder / ".deepfx-optimized").exists()


def test_parity_problem_is_relative_and_labels_exact(tmp_path: Path) -> None:
    from engine_helpers import Gain

    a = open_runner(save(Gain([1.0]), tmp_path / "a", card(labels=["x"], rate=8000)) / "model.pt")
    b = open_runner(
        save(Gain([1.00001]), tmp_path / "b", card(labels=["x"], rate=8000)) / "model.pt"
    )
    c = open_runner(save(Gain([1.01]), tmp_path / "c", card(labels=["x"], rate=8000)) / "model.pt")
    x = np.full((1, 100), 0.9, dtype=np.float32)
    assert parity_problem(a, b, x) is None
    assert parity_problem(a, c, x) is not None


def test_optimize_command_and_setting_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEEPFX_OPTIMIZE", "0")
    monkeypatch.setenv("DEEPFX_OPTIMIZE_CHUNK_S", "0.5")
    src = _folder(tmp_path, Wide(), "wide")
    m = Store().install(src, name="wide").model
    assert m.optimized is not None and m.optimized["status"] == "off"
    assert not (m.folder / ".deepfx-optimized").exists()
    assert "not optimized: DEEPFX_OPTIMIZE is off" in m.optimized_line
    res = _cli("models", "optimize", "local/wide")
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("local/wide: ")
    man = json.loads((m.folder / MANIFEST_NAME).read_text())
    assert man["optimized"]["status"] in ("kept", "slower")
    assert (m.folder / DERIVED_FILE).is_file()
    # --runner on `deepfx run`: every runner gives the same audio
    import soundfile as sf

    wav = tmp_path / "in.wav"
    sf.write(wav, np.random.default_rng(1).uniform(-0.5, 0.5, 8000).astype(np.float32), 8000)
    outs = {}
    for runner in ("torchscript", "onnx", "auto"):
        out = tmp_path / f"out-{runner}"
        r = _cli("run", "local/wide", str(wav), "-o", str(out), "--runner", runner)
        assert r.returncode == 0, r.stderr
        outs[runner] = sf.read(sorted(out.glob("*.wav"))[0], dtype="float32")[0]
    assert np.max(np.abs(outs["torchscript"] - outs["onnx"])) <= 1e-4
    bad = _cli("run", "local/wide", str(wav), "-o", str(tmp_path / "x"), "--runner", "tflite")
    assert bad.returncode == 2 and "--runner 'tflite' is not one of" in bad.stderr


def test_a_tampered_derived_file_is_not_used(tmp_path: Path, optimize_on: None) -> None:
    src = _folder(tmp_path, Wide(), "wide")
    m = Store().install(src, name="wide").model
    derived = m.folder / DERIVED_FILE
    derived.write_bytes(derived.read_bytes() + b"\0")
    assert load_model("local/wide").format == "torchscript"
    with pytest.raises(Exception, match="no ONNX network"):
        load_model("local/wide", runner="onnx")


def test_python_api_runner_argument(tmp_path: Path, optimize_on: None) -> None:
    import deepfx

    src = _folder(tmp_path, Wide(), "wide")
    Store().install(src, name="wide")
    x = np.random.default_rng(2).uniform(-0.5, 0.5, (1, 8000)).astype(np.float32)
    a = deepfx.process("local/wide", x, 8000, runner="torchscript", device="cpu")
    b = deepfx.process("local/wide", x, 8000, runner="onnx", device="cpu")
    for label in a.tracks:
        assert np.max(np.abs(a.tracks[label] - b.tracks[label])) <= 1e-4
