"""Short-time Fourier transform helpers written for TorchScript.

The built-in effects put their DSP *inside* the exported network so the model folder is
self-contained: any host (or the original Audacity module) that can run a TorchScript
module gets the whole effect. ``torch.stft`` would do, but framing by hand with
``unfold`` / ``fold`` keeps every step explicit (window, padding, normalisation) so the
frames line up exactly with the reference implementations the built-ins are checked
against (NSNet2 frames its audio from sample 0 on a fixed hop grid).

Importing this module imports torch; only the ``build`` functions of the built-ins and
the tests import it.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

__all__ = ["frame_count", "istft_frames", "sqrt_hann", "stft_frames"]


def sqrt_hann(n: int) -> torch.Tensor:
    """Square root of a periodic Hann window of ``n`` samples.

    Used for analysis *and* synthesis: the product is a Hann window, which sums to a
    constant at 50 % (and 75 %) overlap, so an identity mask reconstructs the input.
    """
    k = torch.arange(n, dtype=torch.float64)
    return torch.sqrt(0.5 - 0.5 * torch.cos(2.0 * math.pi * k / n)).to(torch.float32)


def frame_count(n_samples: int, win: int, hop: int) -> int:
    """Frames needed so every input sample is covered by ``win // hop`` frames."""
    padded = n_samples + 2 * (win - hop)
    return max(1, int(math.ceil((padded - win) / hop)) + 1)


def stft_frames(x: torch.Tensor, window: torch.Tensor, hop: int, n_fft: int) -> torch.Tensor:
    """Complex spectra of ``x`` (channels, samples) -> (channels, frames, n_fft // 2 + 1).

    The signal is padded with ``win - hop`` zeros in front, so frame ``k`` starts at input
    sample ``k * hop - (win - hop)``; the end is zero-padded up to a whole frame.
    """
    win = window.shape[0]
    n = x.shape[-1]
    frames = frame_count(n, win, hop)
    total = (frames - 1) * hop + win
    front = win - hop
    xp = F.pad(x, (front, total - n - front))
    chunks = xp.unfold(-1, win, hop)  # (channels, frames, win)
    return torch.fft.rfft(chunks * window, n=n_fft)


def istft_frames(
    spec: torch.Tensor, window: torch.Tensor, hop: int, n_fft: int, n_samples: int
) -> torch.Tensor:
    """Invert :func:`stft_frames`: (channels, frames, bins) -> (channels, n_samples).

    Weighted overlap-add, divided by the overlap-added squared window so the identity
    round trip is exact (to float precision) whatever the overlap.
    """
    win = window.shape[0]
    channels = spec.shape[0]
    frames = spec.shape[1]
    total = (frames - 1) * hop + win
    chunks = torch.fft.irfft(spec, n=n_fft)[..., :win] * window  # (channels, frames, win)
    ola = F.fold(
        chunks.transpose(1, 2),
        output_size=(1, total),
        kernel_size=(1, win),
        stride=(1, hop),
    ).reshape(channels, total)
    wsq = (window * window).reshape(1, win, 1).expand(1, win, frames)
    norm = F.fold(wsq, output_size=(1, total), kernel_size=(1, win), stride=(1, hop)).reshape(
        1, total
    )
    y = ola / norm.clamp_min(1e-8)
    front = win - hop
    return y[:, front : front + n_samples]
