"""ConvSep: a realistic convolutional music-separation network for benchmarks.

A Conv-TasNet-style design (learned encoder, temporal convolutional network of dilated
depthwise-separable blocks predicting masks, learned decoder) with a coarse encoder
stride so it runs on a laptop CPU. About 2-3 million parameters with the defaults;
random weights (timing and memory do not depend on training). Stereo in, one mono
track per stem out, 44.1 kHz, like the original host's published demucs models.

Accepts ``(channels, samples)`` (the deepfx contract) and also ``(batch, channels,
samples)`` so the engine can batch chunks (the card says ``"batch": true``).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

STEMS = ["drums", "bass", "other", "vocals"]


class _Block(nn.Module):
    def __init__(self, ch: int, hidden: int, dilation: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv1d(ch, hidden, 1),
            nn.PReLU(),
            nn.GroupNorm(1, hidden),
            nn.Conv1d(hidden, hidden, 3, padding=dilation, dilation=dilation, groups=hidden),
            nn.PReLU(),
            nn.GroupNorm(1, hidden),
            nn.Conv1d(hidden, ch, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.net(x)


class ConvSep(nn.Module):
    def __init__(
        self,
        *,
        channels: int = 2,
        n_stems: int = 4,
        filters: int = 256,
        kernel: int = 512,
        stride: int = 256,
        bottleneck: int = 192,
        hidden: int = 384,
        blocks: int = 6,
        repeats: int = 2,
    ) -> None:
        super().__init__()
        self.stride = stride
        self.kernel = kernel
        self.n_stems = n_stems
        self.filters = filters
        self.encoder = nn.Conv1d(channels, filters, kernel, stride=stride, padding=kernel // 2)
        self.bottleneck = nn.Conv1d(filters, bottleneck, 1)
        self.tcn = nn.Sequential(
            *[_Block(bottleneck, hidden, 2**b) for _ in range(repeats) for b in range(blocks)]
        )
        self.masks = nn.Conv1d(bottleneck, n_stems * filters, 1)
        self.decoder = nn.ConvTranspose1d(filters, 1, kernel, stride=stride, padding=kernel // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batched = x.dim() == 3
        if not batched:
            x = x.unsqueeze(0)
        b, n = x.shape[0], x.shape[-1]
        pad = (self.stride - n % self.stride) % self.stride
        x = nn.functional.pad(x, (0, pad))
        z = torch.relu(self.encoder(x))  # (b, F, T)
        m = torch.sigmoid(self.masks(self.tcn(self.bottleneck(z))))
        m = m.reshape(b, self.n_stems, self.filters, z.shape[-1])
        y = (m * z.unsqueeze(1)).reshape(b * self.n_stems, self.filters, z.shape[-1])
        out = self.decoder(y).reshape(b, self.n_stems, -1)[..., :n]
        if out.shape[-1] < n:
            out = nn.functional.pad(out, (0, n - out.shape[-1]))
        return out if batched else out.squeeze(0)


def build(
    folder: Path,
    *,
    quick: bool = False,
    stride: int = 64,
    window_s: float = 10.0,
    overlap_s: float = 1.0,
) -> Path:
    """Write a deepfx model folder (TorchScript ``model.pt`` + ``metadata.json``).

    ``stride`` is the encoder hop in samples: smaller is closer to published Conv-TasNets
    (which use 8-20) and costs proportionally more compute per second of audio.
    """
    from deepfx.card import Chunking, ModelCard

    torch.manual_seed(0)
    kernel = 2 * stride
    net = (
        ConvSep(bottleneck=128, hidden=256, blocks=5, stride=stride, kernel=kernel)
        if quick
        else ConvSep(stride=stride, kernel=kernel)
    )
    folder.mkdir(parents=True, exist_ok=True)
    torch.jit.save(torch.jit.script(net.eval()), str(folder / "model.pt"))
    card = ModelCard.model_validate(
        {
            "name": "bench/convsep",
            "short_description": "Benchmark separation net (random weights)",
            "long_description": "Conv-TasNet-like network used by benchmarks/bench_engine.py.",
            "domain_tags": ["music"],
            "tags": ["benchmark"],
            "effect_type": "waveform-to-waveform",
            "multichannel": True,
            "labels": STEMS,
            "sample_rate": 44100,
            "chunking": Chunking(window_s=window_s, overlap_s=overlap_s),
            "batch": True,
        }
    )
    card.write(folder / "metadata.json")
    return folder


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
