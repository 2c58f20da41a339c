"""Worked example: an energy-based analyzer that labels each 100 ms frame loud or quiet.

``FrameEnergy`` stands in for "your trained network": it maps audio frames to class
scores. ``EnergyLabeler`` wraps it in deepfx's waveform-to-labels contract: it returns
``(class_indices (n,), timestamps (n, 2))`` with timestamps in seconds.
"""

from __future__ import annotations

import torch
from torch import nn

from deepfx.nn import WaveformToLabels

SAMPLE_RATE = 16000
HOP = 1600  # 100 ms frames


class FrameEnergy(nn.Module):
    """Frame RMS in dB, thresholded: class 1 ("loud") above ``threshold_db`` else 0."""

    def __init__(self, hop: int = HOP, threshold_db: float = -30.0):
        super().__init__()
        self.hop = hop
        self.threshold_db = nn.Parameter(torch.tensor(threshold_db))

    def forward(self, mono: torch.Tensor) -> torch.Tensor:  # (samples,) -> (frames,) int64
        n_frames = mono.shape[0] // self.hop
        frames = mono[: n_frames * self.hop].reshape(n_frames, self.hop)
        rms = frames.pow(2).mean(dim=1).add(1e-10).sqrt()
        db = 20.0 * torch.log10(rms)
        return (db > self.threshold_db).long()


class EnergyLabeler(WaveformToLabels):
    """One label per full 100 ms frame; the host merges neighbouring equal labels."""

    def __init__(self, model: nn.Module, sample_rate: int = SAMPLE_RATE, hop: int = HOP):
        super().__init__(model)
        self.sample_rate = sample_rate
        self.hop = hop

    def do_forward_pass(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mono = x.mean(dim=0)
        classes = self.model(mono)
        starts = torch.arange(classes.shape[0], dtype=torch.float32) * (self.hop / self.sample_rate)
        ends = starts + self.hop / self.sample_rate
        return classes, torch.stack([starts, ends], dim=1)


def build() -> EnergyLabeler:
    """Factory used by ``deepfx export file.py:build``."""
    return EnergyLabeler(FrameEnergy())
