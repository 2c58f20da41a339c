"""Models built with the real audacitorch 0.0.4 and saved with its own save_model load,
run and validate in deepfx unchanged."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

audacitorch = pytest.importorskip("audacitorch")
from audacitorch.utils import save_model  # noqa: E402

from deepfx.model import load_model  # noqa: E402
from deepfx.validation import validate  # noqa: E402

SR = 16000


class _Split(nn.Module):
    """Two sources: the input scaled up and down (stand-in for a separator network)."""

    def __init__(self) -> None:
        super().__init__()
        self.gains = nn.Parameter(torch.tensor([0.25, 0.75]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.gains.unsqueeze(1) * x.mean(dim=0, keepdim=True)


class AudacitorchSeparator(audacitorch.WaveformToWaveformBase):
    def do_forward_pass(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class _Frames(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.abs().mean(dim=0)


class AudacitorchLabeler(audacitorch.WaveformToLabelsBase):
    """Marks the first and second half of the input as "start" and "end"."""

    def do_forward_pass(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        n = self.model(x).shape[0]
        dur = float(n) / 16000.0
        labels = torch.tensor([0, 1], dtype=torch.long)
        timestamps = torch.tensor([[0.0, 0.5 * dur], [0.5 * dur, dur]])
        return labels, timestamps


# the metadata dict exactly as an audacitorch user would write it (original schema only)
SEPARATOR_META = {
    "sample_rate": SR,
    "domain_tags": ["music"],
    "short_description": "Splits audio into quiet and loud copies.",
    "long_description": "A test separator built with audacitorch 0.0.4.",
    "tags": ["separation"],
    "labels": ["quiet", "loud"],
    "effect_type": "waveform-to-waveform",
    "multichannel": False,
}
LABELER_META = {
    "sample_rate": SR,
    "domain_tags": ["other"],
    "short_description": "Labels the two halves of the input.",
    "long_description": "A test labeler built with audacitorch 0.0.4.",
    "tags": ["labeler"],
    "labels": ["start", "end"],
    "effect_type": "waveform-to-labels",
    "multichannel": False,
}


def test_audacitorch_is_the_real_package() -> None:
    import importlib.metadata

    assert importlib.metadata.version("audacitorch") == "0.0.4"


def test_audacitorch_effect_saved_with_save_model_validates_and_runs(tmp_path: Path) -> None:
    model = AudacitorchSeparator(_Split())
    folder = tmp_path / "separator"
    save_model(torch.jit.script(model), SEPARATOR_META, folder)
    assert sorted(p.name for p in folder.iterdir()) == ["metadata.json", "model.pt"]

    report = validate(folder, long_s=10.0)
    assert report.ok, str(report)

    loaded = load_model(folder)
    assert loaded.format == "torchscript" and loaded.card.is_effect
    x = np.random.default_rng(0).uniform(-0.5, 0.5, (1, SR)).astype(np.float32)
    y = loaded.forward(x)
    np.testing.assert_allclose(y, np.stack([0.25 * x[0], 0.75 * x[0]]), atol=1e-6)


def test_audacitorch_labeler_saved_with_save_model_validates_and_runs(tmp_path: Path) -> None:
    model = AudacitorchLabeler(_Frames())
    folder = tmp_path / "labeler"
    save_model(torch.jit.script(model), LABELER_META, folder)

    report = validate(folder, long_s=10.0)
    assert report.ok, str(report)

    loaded = load_model(folder)
    idx, ts = loaded.forward(np.zeros((1, 2 * SR), dtype=np.float32))
    assert [loaded.card.labels[i] for i in idx] == ["start", "end"]
    np.testing.assert_allclose(ts, [[0.0, 1.0], [1.0, 2.0]], atol=1e-6)


def test_audacitorch_module_exports_to_every_format(tmp_path: Path) -> None:
    """deepfx export accepts audacitorch modules unchanged, including .pt2 and ONNX."""
    from deepfx.exporting import export

    folder = export(
        AudacitorchSeparator(_Split()),
        SEPARATOR_META,
        tmp_path / "sep",
        formats=("torchscript", "torch.export", "onnx"),
    )
    report = validate(folder, long_s=1.0)
    assert report.ok, str(report)


def test_legacy_capitalised_card_loads_leniently_but_fails_strict_validation(
    tmp_path: Path,
) -> None:
    meta = dict(SEPARATOR_META, domain_tags=["Music"])
    del meta["tags"]
    folder = tmp_path / "legacy"
    save_model(torch.jit.script(AudacitorchSeparator(_Split())), meta, folder)
    model = load_model(folder)  # what the host does with cards found in the wild
    assert model.card.domain_tags == ["music"]
    assert model.forward(np.zeros((1, 100), dtype=np.float32)).shape == (2, 100)
    report = validate(folder, long_s=0.5)
    assert not report.ok
    assert "domain_tags.0: must be one of" in report.failures[0].message
