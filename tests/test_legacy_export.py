"""deepfx -> original host: what `deepfx export` and the built-ins write loads and runs in
a real torch 1.9 (the original Audacity host's libtorch), with deepfx's output (1e-5).

The runtime is a Python 3.9 venv with torch 1.9.0 (tests/legacy_runtime.py); nothing is
assumed from torch 1.9's documentation: every claim here is a run in it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from legacy_runtime import REPO, legacy_runtime
from torch import nn

from deepfx.builtins import catalog
from deepfx.exporting import ExportNote, compare_outputs, export, load_module_from_spec
from deepfx.legacy import audit_archive
from deepfx.legacy.runtime import LegacyRuntime
from deepfx.model import load_model
from deepfx.modelcard_readme import split_front_matter
from deepfx.nn import WaveformToWaveform

EXAMPLES = REPO / "docs" / "examples"
SR = 16000


@pytest.fixture(scope="module")
def rt() -> LegacyRuntime:
    return legacy_runtime()


def _inputs(channels: int, sample_rate: int) -> list[np.ndarray]:
    rng = np.random.default_rng(7)
    lengths = (sample_rate, sample_rate // 3 + 11, max(sample_rate // 20, 64))
    return [(0.4 * rng.standard_normal((channels, n))).astype(np.float32) for n in lengths]


def _same_in_torch19(rt: LegacyRuntime, folder: Path, channels: int = 1) -> None:
    """Run folder/model.pt in torch 1.9 and in deepfx on the same inputs; equal (1e-5)."""
    model = load_model(folder, device="cpu")
    xs = _inputs(2 if model.card.multichannel else channels, model.card.sample_rate)
    result = rt.run_model(folder / "model.pt", xs)
    assert result.ok, result.describe()
    for x, old in zip(xs, result.outputs, strict=True):
        new = model.forward_raw(x)
        assert compare_outputs(new, old, tolerance=1e-5) is None, (x.shape, new, old)


def _tags(folder: Path) -> list[str]:
    return split_front_matter((folder / "README.md").read_text())[0]["tags"]


def test_operator_table_is_torch19s(rt: LegacyRuntime) -> None:
    """The package's table of torch 1.9 operators is what torch 1.9 itself lists."""
    table = REPO / "src" / "deepfx" / "legacy" / "torch19_ops.txt"
    shipped = [ln for ln in table.read_text().splitlines() if ln and not ln.startswith("#")]
    assert shipped == rt.schemas()


def test_torch2_archive_as_saved_crashes_torch19_and_the_harness_says_so(
    rt: LegacyRuntime, tmp_path: Path
) -> None:
    """Why the rewrite exists: torch 2.x's own file aborts torch 1.9 (the host crashes)."""

    class Checked(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            if x.dim() != 2:
                raise ValueError("2-D please")
            return x * 2

    path = tmp_path / "model.pt"
    torch.jit.save(torch.jit.script(Checked()), str(path))
    audit = audit_archive(path)
    assert not audit.ok and any("debug" in p for p in audit.problems)
    assert any("prim::RaiseException" in p for p in audit.problems)
    result = rt.run_model(path, [np.zeros((1, 100), np.float32)])
    assert result.crashed and result.signal_name == "SIGABRT", result
    assert "crashed (SIGABRT)" in result.describe()


@pytest.mark.parametrize(
    ("module_file", "card_file"),
    [("crossover_effect.py", "crossover_card.json"), ("energy_labeler.py", "energy_card.json")],
)
def test_docs_examples_export_runs_in_torch19(
    rt: LegacyRuntime, tmp_path: Path, module_file: str, card_file: str
) -> None:
    module = load_module_from_spec(f"{EXAMPLES / module_file}:build")
    card = json.loads((EXAMPLES / card_file).read_text())
    with warnings.catch_warnings():
        warnings.simplefilter("error", ExportNote)  # an example needing deepfx would warn
        folder = export(module, card, tmp_path / "m")
    audit = audit_archive(folder / "model.pt")
    assert audit.ok and audit.version is not None and audit.version <= 6, audit.problems
    assert _tags(folder)[:2] == ["audacity", "deepfx"]
    _same_in_torch19(rt, folder)


@pytest.mark.parametrize("spec", catalog(), ids=lambda s: s.name)
def test_builtin_runs_in_torch19(rt: LegacyRuntime, tmp_path: Path, spec) -> None:
    folder = tmp_path / spec.short_name
    spec.build(folder)
    assert audit_archive(folder / "model.pt").ok
    _same_in_torch19(rt, folder)


class _Recurrent(WaveformToWaveform):
    """GRU + LSTM (torch's own forward raises), every padding mode 1.9 has, gelu and
    linspace (operators whose upgraders raise the file version to 10 and 8)."""

    def __init__(self) -> None:
        super().__init__()
        self.gru = nn.GRU(4, 6, batch_first=True)
        self.lstm = nn.LSTM(6, 4, batch_first=True)
        self.proj = nn.Conv1d(1, 4, 5)

    def do_forward_pass(self, x: torch.Tensor) -> torch.Tensor:
        mono = x.mean(dim=0, keepdim=True)
        h = self.proj(F.pad(mono.unsqueeze(0), (2, 2), mode="reflect"))  # (1, 4, n)
        h = F.pad(h, (1, 1), mode="replicate")[:, :, 1:-1]
        h, _ = self.gru(h.transpose(1, 2))
        h, _ = self.lstm(F.gelu(h))
        ramp = torch.linspace(0.5, 1.0, steps=x.shape[-1])
        y = h.mean(dim=2) * ramp + F.pad(mono, (3, 0), value=0.25)[:, :-3]
        return torch.cat([y, mono - y], dim=0)


def test_recurrent_padding_gelu_linspace_network_runs_in_torch19(
    rt: LegacyRuntime, tmp_path: Path
) -> None:
    card = {
        "sample_rate": SR,
        "domain_tags": ["other"],
        "short_description": "A network with the layers torch 1.9 needs rewritten.",
        "long_description": "GRU, LSTM, reflect/replicate/constant padding, gelu, linspace.",
        "tags": [],
        "effect_type": "waveform-to-waveform",
        "multichannel": False,
        "labels": ["a", "b"],
    }
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ExportNote)
        folder = export(_Recurrent(), card, tmp_path / "m")
    audit = audit_archive(folder / "model.pt")
    assert audit.ok and audit.version == 6, audit.problems
    assert "audacity" in _tags(folder)
    _same_in_torch19(rt, folder)


class _TanhGelu(WaveformToWaveform):
    def do_forward_pass(self, x: torch.Tensor) -> torch.Tensor:
        return F.gelu(x.mean(dim=0, keepdim=True), approximate="tanh")


def test_network_torch19_cannot_run_is_named_and_tagged_deepfx_only(
    rt: LegacyRuntime, tmp_path: Path
) -> None:
    card = {
        "sample_rate": SR,
        "domain_tags": ["other"],
        "short_description": "tanh-approximated gelu, which torch 1.9 lacks.",
        "long_description": "Exports, runs in deepfx, and is marked as needing deepfx.",
        "tags": ["audacity"],  # even asked for, the tag is not given
        "effect_type": "waveform-to-waveform",
        "multichannel": False,
        "labels": ["out"],
    }
    with pytest.warns(ExportNote, match="aten::gelu"):
        folder = export(_TanhGelu(), card, tmp_path / "m")
    tags = _tags(folder)
    assert "deepfx" in tags and "audacity" not in tags
    assert "needs deepfx" in (folder / "README.md").read_text()
    result = rt.run_model(folder / "model.pt", [np.zeros((1, 64), np.float32)])
    assert not result.ok and not result.crashed, result  # an error in the host, not a crash


def test_validate_legacy_runtime_cli(rt: LegacyRuntime, tmp_path: Path) -> None:
    """`deepfx validate --legacy-runtime PYTHON` runs the same comparison for a contributor."""
    module = load_module_from_spec(f"{EXAMPLES / 'crossover_effect.py'}:build")
    card = json.loads((EXAMPLES / "crossover_card.json").read_text())
    folder = export(module, card, tmp_path / "m")
    proc = subprocess.run(
        [sys.executable, "-m", "deepfx", "validate", str(folder), "--long-s", "1", "--json"]
        + ["--legacy-runtime", str(rt.python)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    checks = {c["name"]: c for c in json.loads(proc.stdout)["checks"]}
    legacy = checks["original host (torch 1.9)"]
    assert legacy["ok"] and not legacy["warning"] and "within 1e-05" in legacy["message"]
