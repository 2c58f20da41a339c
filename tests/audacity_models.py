"""Small real TorchScript models for the Audacity tests, built with deepfx.nn.

* ``gain_and_invert``: an effect with two outputs, ``half`` (x * 0.5) and ``inverted``
  (-x), of the mono mix;
* ``loudness_labeler``: an analyzer labelling each 0.1 s frame whose mean absolute
  value exceeds 0.2 as ``loud`` (consecutive frames are separate labels);
* ``too_many_outputs``: an effect whose card lists two labels but which returns three
  rows (a contract break the host must catch).
"""

from __future__ import annotations

from pathlib import Path

import torch
from helpers import make_card, save_model

from deepfx.card import ModelCard
from deepfx.nn import WaveformToLabels, WaveformToWaveform

RATE = 44100


class GainAndInvert(WaveformToWaveform):
    def do_forward_pass(self, x: torch.Tensor) -> torch.Tensor:
        mono = x.mean(dim=0, keepdim=True)
        return torch.cat([mono * 0.5, -mono], dim=0)


class TooManyOutputs(WaveformToWaveform):
    def do_forward_pass(self, x: torch.Tensor) -> torch.Tensor:
        mono = x.mean(dim=0, keepdim=True)
        return torch.cat([mono, mono, mono], dim=0)


class LoudnessLabeler(WaveformToLabels):
    def do_forward_pass(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        hop = 4410
        frames = x.shape[1] // hop
        energy = x[:, : frames * hop].abs().mean(dim=0).reshape(frames, hop).mean(dim=1)
        loud = torch.nonzero(energy > 0.2).flatten()
        starts = loud.to(torch.float32) * (hop / 44100.0)
        stamps = torch.stack([starts, starts + hop / 44100.0], dim=1)
        return torch.zeros_like(loud), stamps


def _card(effect_type: str, labels: list[str], name: str) -> ModelCard:
    return make_card(
        name=name,
        author="deepfx-tests",
        short_description=f"test model {name}",
        long_description="A tiny model built by the Audacity tests.",
        effect=effect_type == "waveform-to-waveform",
        labels=labels,
        rate=RATE,
    )


def build(folder: Path, module: torch.nn.Module, card: ModelCard) -> Path:
    return save_model(module, folder, card)


def gain_and_invert(root: Path) -> Path:
    card = _card("waveform-to-waveform", ["half", "inverted"], "gain_and_invert")
    return build(root / "gain_and_invert", GainAndInvert(), card)


def too_many_outputs(root: Path) -> Path:
    card = _card("waveform-to-waveform", ["a", "b"], "too_many_outputs")
    return build(root / "too_many_outputs", TooManyOutputs(), card)


def loudness_labeler(root: Path) -> Path:
    card = _card("waveform-to-labels", ["loud"], "loudness_labeler")
    return build(root / "loudness_labeler", LoudnessLabeler(), card)
