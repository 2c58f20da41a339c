# ruff: noqa: UP006, UP035, E501
"""Build 2021-era model folders the way the original contributors did.

Runs INSIDE the legacy runtime (Python 3.9, torch 1.9.0, audacitorch 0.0.4), never in
deepfx's venv: ``python build_genuine.py OUT_DIR``. Each model subclasses audacitorch's
base classes, is scripted (or traced) by torch 1.9 and saved with
``audacitorch.utils.save_model`` - byte for byte what the original host's users
downloaded. Written into a temporary folder by the tests; nothing here is committed
except this source. (No ``from __future__ import annotations``: TorchScript 1.9 needs
real annotations, and ``typing.Tuple``, which it understands.)
"""

import sys
from pathlib import Path
from typing import Tuple

import torch
from audacitorch import WaveformToLabelsBase, WaveformToWaveformBase
from audacitorch.utils import save_model
from torch import nn


def meta(sr, labels, effect="waveform-to-waveform", multichannel=False, what="test"):
    return {
        "sample_rate": sr,
        "domain_tags": ["music"],
        "short_description": "A genuine audacitorch 0.0.4 model: " + what,
        "long_description": "Built with torch 1.9 and audacitorch 0.0.4 as contributors did.",
        "tags": ["compat"],
        "effect_type": effect,
        "multichannel": multichannel,
        "labels": labels,
    }


# --- a 2-output effect --------------------------------------------------------------------
class TwoOut(nn.Module):
    def __init__(self):
        super().__init__()
        self.drive = nn.Parameter(torch.tensor(3.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shaped = torch.tanh(self.drive * x)
        return torch.cat([shaped, x - 0.5 * shaped], dim=0)


class TwoOutEffect(WaveformToWaveformBase):
    def do_forward_pass(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


# --- a multichannel channel processor: one output row per input channel --------------------
class PerChannel(nn.Module):
    """Soft-clips each channel on its own: as many output rows as input channels."""

    def __init__(self):
        super().__init__()
        self.drive = nn.Parameter(torch.tensor(2.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.drive * x) / self.drive


class ChannelProcessor(WaveformToWaveformBase):
    def do_forward_pass(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


# --- a frame-level labeller ---------------------------------------------------------------
class FrameEnergy(nn.Module):
    def __init__(self, hop: int):
        super().__init__()
        self.hop = hop
        self.threshold = nn.Parameter(torch.tensor(0.2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mono = x.mean(dim=0)
        n = mono.shape[0] // self.hop
        frames = mono[: n * self.hop].reshape(n, self.hop)
        return (frames.abs().mean(dim=1) > self.threshold).long()


class FrameLabeller(WaveformToLabelsBase):
    def __init__(self, model: nn.Module, sr: int, hop: int):
        super().__init__(model)
        self.sr = sr
        self.hop = hop

    def do_forward_pass(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        classes = self.model(x)
        starts = torch.arange(classes.shape[0]).float() * (float(self.hop) / float(self.sr))
        ends = starts + float(self.hop) / float(self.sr)
        return classes, torch.stack([starts, ends], dim=1)


# --- a small Conv-TasNet-like separator ---------------------------------------------------
class TCNBlock(nn.Module):
    def __init__(self, ch: int, hidden: int, dilation: int):
        super().__init__()
        self.inp = nn.Conv1d(ch, hidden, 1)
        self.act1 = nn.PReLU()
        self.norm1 = nn.GroupNorm(1, hidden)
        self.depth = nn.Conv1d(
            hidden, hidden, 3, padding=dilation, dilation=dilation, groups=hidden
        )
        self.act2 = nn.PReLU()
        self.norm2 = nn.GroupNorm(1, hidden)
        self.out = nn.Conv1d(hidden, ch, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.norm1(self.act1(self.inp(x)))
        y = self.norm2(self.act2(self.depth(y)))
        return x + self.out(y)


class TasNet(nn.Module):
    def __init__(self, n_src: int = 2, basis: int = 32, kernel: int = 16):
        super().__init__()
        self.stride = kernel // 2
        self.kernel = kernel
        self.n_src = n_src
        self.basis = basis
        self.encoder = nn.Conv1d(1, basis, kernel, stride=self.stride, bias=False)
        self.blocks = nn.Sequential(
            TCNBlock(basis, 48, 1), TCNBlock(basis, 48, 2), TCNBlock(basis, 48, 4)
        )
        self.mask = nn.Conv1d(basis, basis * n_src, 1)
        self.decoder = nn.ConvTranspose1d(basis, 1, kernel, stride=self.stride, bias=False)

    def forward(self, mono: torch.Tensor) -> torch.Tensor:  # (1, n) -> (n_src, n)
        n = mono.shape[-1]
        rest = (n - self.kernel) % self.stride
        pad = self.kernel + (self.stride - rest) % self.stride
        x = nn.functional.pad(mono.unsqueeze(0), [self.stride, pad])
        w = torch.relu(self.encoder(x))  # (1, basis, frames)
        masks = torch.sigmoid(self.mask(self.blocks(w))).view(self.n_src, self.basis, -1)
        y = self.decoder(masks * w)  # (n_src, 1, len)
        return y[:, 0, self.stride : self.stride + n]


class Separator(WaveformToWaveformBase):
    def do_forward_pass(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x.mean(dim=0, keepdim=True))


# --- an STFT-mask model, in the current and in the pre-1.8 layout ----------------------------
class StftMask(nn.Module):
    def __init__(self, n_fft: int = 512, hop: int = 128):
        super().__init__()
        self.n_fft = n_fft
        self.hop = hop
        self.register_buffer("window", torch.hann_window(n_fft))
        self.scale = nn.Parameter(torch.linspace(2.0, 0.5, n_fft // 2 + 1).unsqueeze(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        spec = torch.stft(x, self.n_fft, self.hop, window=self.window, return_complex=True)
        mask = torch.sigmoid(self.scale * spec.abs() - 1.0)
        return torch.istft(
            spec * mask, self.n_fft, self.hop, window=self.window, length=x.shape[-1]
        )


class OldStftMask(StftMask):
    """Written for torch < 1.8: real (..., 2) spectra in and out of stft/istft."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        spec = torch.stft(x, self.n_fft, self.hop, window=self.window, return_complex=False)
        mag = torch.sqrt(spec[..., 0] ** 2 + spec[..., 1] ** 2)
        mask = torch.sigmoid(self.scale * mag - 1.0).unsqueeze(-1)
        return torch.istft(
            spec * mask, self.n_fft, self.hop, window=self.window, length=x.shape[-1]
        )


class Masker(WaveformToWaveformBase):
    def do_forward_pass(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x.mean(dim=0, keepdim=True))


# --- a traced model ---------------------------------------------------------------------------
class Smoother(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(1, 1, 9, padding=4, bias=False)
        with torch.no_grad():
            self.conv.weight.copy_(torch.hann_window(9, periodic=False).view(1, 1, 9) / 5.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x.mean(dim=0, keepdim=True).unsqueeze(0))[0]


class Traced(WaveformToWaveformBase):
    def do_forward_pass(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


def main(out: Path) -> None:
    torch.manual_seed(0)
    built = {
        "two-output": (torch.jit.script(TwoOutEffect(TwoOut())), meta(16000, ["shaped", "rest"])),
        "channel-processor": (
            torch.jit.script(ChannelProcessor(PerChannel())),
            meta(16000, ["left", "right"], multichannel=True, what="per-channel gain"),
        ),
        "frame-labeller": (
            torch.jit.script(FrameLabeller(FrameEnergy(1600), 16000, 1600)),
            meta(16000, ["quiet", "loud"], effect="waveform-to-labels"),
        ),
        "convtasnet": (
            torch.jit.script(Separator(TasNet())),
            meta(8000, ["source-0", "source-1"], what="Conv-TasNet-like"),
        ),
        "stft-mask": (torch.jit.script(Masker(StftMask())), meta(16000, ["masked"])),
        "stft-mask-old": (torch.jit.script(Masker(OldStftMask())), meta(16000, ["masked"])),
        "traced": (
            torch.jit.trace(Traced(Smoother()), torch.randn(1, 16000), check_trace=False),
            meta(16000, ["smoothed"]),
        ),
    }
    for name, (module, metadata) in built.items():
        save_model(module, metadata, out / name)
    print("built", ", ".join(built), "with torch", torch.__version__)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
