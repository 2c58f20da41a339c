"""Small real TorchScript model folders for the engine tests (built, not mocked)."""

from __future__ import annotations

from pathlib import Path

import torch
from helpers import make_card, save_model
from torch import nn

from deepfx.card import Chunking, ModelCard
from deepfx.nn import WaveformToLabels, WaveformToWaveform


class ConvSep(WaveformToWaveform):
    """A tiny conv net: ``(channels, n)`` -> ``(n_out, n)``; receptive field +-12 samples."""

    def __init__(self, in_ch: int = 1, n_out: int = 2, seed: int = 0) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.in_ch = in_ch
        self.net = nn.Sequential(
            nn.Conv1d(in_ch, 8, 9, padding=4),
            nn.Tanh(),
            nn.Conv1d(8, 8, 9, padding=4),
            nn.Tanh(),
            nn.Conv1d(8, n_out, 9, padding=4),
        )

    def do_forward_pass(self, x: torch.Tensor) -> torch.Tensor:
        if self.in_ch == 1 and x.shape[0] != 1:
            x = x.mean(dim=0, keepdim=True)
        return self.net(x.unsqueeze(0)).squeeze(0)


class Gain(WaveformToWaveform):
    """Outputs ``x * g`` per label: an exactly predictable effect."""

    def __init__(self, gains: list[float]) -> None:
        super().__init__()
        self.register_buffer("g", torch.tensor(gains).unsqueeze(1))

    def do_forward_pass(self, x: torch.Tensor) -> torch.Tensor:
        return self.g * x[:1]


class BatchGain(nn.Module):
    """Accepts (batch, channels, n) as well (card ``batch: true``)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x[..., :1, :] * 0.5, x[..., :1, :] * 2.0], dim=-2)


class BreaksAt(WaveformToWaveform):
    """Returns a wrong number of samples once the input is shorter than ``n_ok``."""

    def __init__(self, n_ok: int) -> None:
        super().__init__()
        self.n_ok = n_ok

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.abs().max() > 0.9:
            return x[:1, :-1]
        return x[:1]


class Strided(WaveformToWaveform):
    """A stride-``g`` network in miniature: each sample gets the mean of its ``g``-sample
    block, blocks counted from the input's start, padded at the end only. Cut anywhere
    but on multiples of ``g`` its chunks see other blocks than the whole input does."""

    def __init__(self, g: int) -> None:
        super().__init__()
        self.g = g

    def do_forward_pass(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[1]
        pad = (self.g - n % self.g) % self.g
        xp = torch.nn.functional.pad(x[:1], (0, pad))
        blocks = xp.reshape(1, -1, self.g).mean(dim=2, keepdim=True)
        y = x[:1] + blocks.expand(-1, -1, self.g).reshape(1, -1)[:, :n]
        return torch.cat([y, 0.5 * y], dim=0)


class Loud(WaveformToLabels):
    """Labels 10 ms frames whose peak exceeds 0.5 as "loud" (timestamps per frame)."""

    def __init__(self, rate: int) -> None:
        super().__init__()
        self.hop = rate // 100
        self.rate = rate

    def do_forward_pass(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        n = x.shape[1] // self.hop
        frames = x[0, : n * self.hop].reshape(n, self.hop).abs().amax(dim=1)
        idx = torch.nonzero(frames > 0.5).flatten()
        starts = idx.to(torch.float32) * self.hop / self.rate
        ts = torch.stack([starts, starts + self.hop / self.rate], dim=1)
        return torch.zeros_like(idx), ts


def card(
    *,
    labels: list[str],
    rate: int,
    effect: bool = True,
    multichannel: bool = False,
    chunking: Chunking | None = None,
    **extra: object,
) -> ModelCard:
    return make_card(
        labels=labels,
        rate=rate,
        effect=effect,
        multichannel=multichannel,
        chunking=chunking,
        **{
            "short_description": "test",
            "long_description": "A model built by the engine tests.",
            **extra,
        },
    )


save = save_model


def conv_model(
    folder: Path,
    *,
    rate: int = 16000,
    chunk_s: float = 0.5,
    overlap_s: float = 0.05,
    multichannel: bool = False,
    in_ch: int = 1,
) -> Path:
    return save(
        ConvSep(in_ch=in_ch),
        folder,
        card(
            labels=["a", "b"],
            rate=rate,
            multichannel=multichannel,
            chunking=Chunking(window_s=chunk_s, overlap_s=overlap_s),
        ),
    )


class NeedsLong(WaveformToWaveform):
    """Breaks the contract (drops a sample) on inputs shorter than ``n_min`` samples."""

    def __init__(self, n_min: int) -> None:
        super().__init__()
        self.n_min = n_min

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] < self.n_min:
            return x[:1, :-1]
        return x[:1] * 2.0
