"""Worked example: a two-band crossover effect (low band, high band) as a deepfx model.

``TwoBand`` stands in for "your trained network": a plain ``nn.Module`` with parameters
(a learnable FIR low-pass kernel and a gain per band). ``CrossoverEffect`` wraps it in
deepfx's waveform-to-waveform contract. Export and validate it with::

    deepfx export docs/examples/crossover_effect.py:build --card docs/examples/crossover_card.json \
        -o crossover --format torchscript --format torch.export --format onnx
    deepfx validate crossover
"""

from __future__ import annotations

import math

import torch
from torch import nn

from deepfx.nn import WaveformToWaveform


class TwoBand(nn.Module):
    """Split mono audio into a low band and the rest with a windowed-sinc FIR filter."""

    def __init__(self, sample_rate: int = 16000, cutoff_hz: float = 800.0, taps: int = 63):
        super().__init__()
        n = torch.arange(taps, dtype=torch.float64) - (taps - 1) / 2
        fc = cutoff_hz / sample_rate
        sinc = torch.where(
            n == 0, torch.tensor(2 * fc), torch.sin(2 * math.pi * fc * n) / (math.pi * n)
        )
        window = torch.hamming_window(taps, periodic=False, dtype=torch.float64)
        kernel = sinc * window
        kernel = kernel / kernel.sum()
        # (out_channels, in_channels, taps) for conv1d; a Parameter, as after training
        self.kernel = nn.Parameter(kernel.float().view(1, 1, taps))
        self.gains = nn.Parameter(torch.ones(2))
        self.pad = taps // 2

    def forward(self, mono: torch.Tensor) -> torch.Tensor:  # (1, samples) -> (2, samples)
        low = nn.functional.conv1d(mono.unsqueeze(0), self.kernel, padding=self.pad)[0]
        high = mono - low
        return torch.cat([low * self.gains[0], high * self.gains[1]], dim=0)


class CrossoverEffect(WaveformToWaveform):
    """(channels, samples) -> (2, samples): rows are the card's labels ["low", "high"]."""

    def do_forward_pass(self, x: torch.Tensor) -> torch.Tensor:
        mono = x.mean(dim=0, keepdim=True)  # the card says multichannel: false
        return self.model(mono)


def build() -> CrossoverEffect:
    """Factory used by ``deepfx export file.py:build``: load weights here in a real model."""
    net = TwoBand(sample_rate=16000)
    # net.load_state_dict(torch.load("weights.pth", weights_only=True))  # your training output
    return CrossoverEffect(net)
