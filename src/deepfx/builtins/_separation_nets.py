"""DSP separation networks, written in torch so they export as TorchScript effects.

No weights: these are classic signal-processing separators expressed as networks so the
host runs them like any model (chunked, crossfaded, on any device) and the folder is
self-contained.

* :class:`HarmonicPercussive` -- median-filtering HPSS (Fitzgerald 2010): harmonic sounds
  are smooth along time in a spectrogram, percussive ones along frequency; a median
  filter along each axis estimates each part, and soft (Wiener-like) masks split the
  mixture spectrum between them.
* :class:`CenterSides` -- centre extraction for stereo: a two-channel Wiener filter
  estimates, per time-frequency bin, the signal common to left and right (a centred
  voice) from the inter-channel cross-spectrum. What is left in each channel is that
  channel's side part, kept as two tracks so the stereo image of the accompaniment
  survives.

Importing this module imports torch.
"""

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from deepfx.builtins._stft import istft_frames, sqrt_hann, stft_frames

__all__ = ["CenterSides", "HarmonicPercussive", "median_filter"]


def median_filter(mag: torch.Tensor, k_time: int, k_freq: int) -> torch.Tensor:
    """Median of ``mag`` (channels, frames, bins) over ``k_time`` frames x ``k_freq`` bins.

    One of the two kernel sizes is 1 (a 1-D filter along the other axis). Edges are
    padded by repeating the border values, so a sustained note stays sustained at the
    start and end of a chunk instead of fading into zero padding.
    """
    pt = k_time // 2
    pf = k_freq // 2
    padded = F.pad(mag.unsqueeze(0), (pf, pf, pt, pt), mode="replicate").squeeze(0)
    if k_time > 1:
        windows = padded.unfold(1, k_time, 1)  # (channels, frames, bins, k_time)
    else:
        windows = padded.unfold(2, k_freq, 1)  # (channels, frames, bins, k_freq)
    return windows.median(dim=-1).values


class HarmonicPercussive(nn.Module):
    """Harmonic/percussive separation: (channels, samples) -> (2, samples).

    The input is mixed down to mono (the card says ``multichannel: false``). Row 0 is
    the harmonic part, row 1 the percussive part; row 1 is computed as input - harmonic
    so the two always sum back to the input exactly.

    ``power`` sharpens the soft masks ``H^p / (H^p + P^p)``: 2 is the usual Wiener-like
    choice, higher values push every bin towards one part.
    """

    window: Tensor  # a buffer (annotation evaluated by TorchScript: no __future__ import)

    def __init__(
        self,
        *,
        win: int = 2048,
        hop: int = 512,
        k_time: int = 31,
        k_freq: int = 31,
        power: float = 2.0,
    ) -> None:
        super().__init__()
        self.hop = hop
        self.n_fft = win
        self.k_time = k_time
        self.k_freq = k_freq
        self.power = power
        self.register_buffer("window", sqrt_hann(win))

    def masks(self, mono: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Spectra of ``mono`` (1, samples) and the harmonic and percussive soft masks."""
        spec = stft_frames(mono, self.window, self.hop, self.n_fft)
        mag = spec.abs()
        harm = median_filter(mag, self.k_time, 1) ** self.power
        perc = median_filter(mag, 1, self.k_freq) ** self.power
        total = (harm + perc).clamp_min(1e-20)
        return spec, harm / total, perc / total

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mono = x.mean(dim=0, keepdim=True)
        spec, mask_h, _ = self.masks(mono)
        harmonic = istft_frames(spec * mask_h, self.window, self.hop, self.n_fft, mono.shape[-1])
        return torch.cat([harmonic, mono - harmonic], dim=0)


class CenterSides(nn.Module):
    """Centre extraction for stereo: (channels, samples) -> (3, samples).

    Rows: ``center`` (mono: what is common to both channels, e.g. a lead vocal panned to
    the middle), ``sides-left`` and ``sides-right`` (each channel minus the centre, e.g.
    the accompaniment, still in stereo). ``left = center + sides-left`` and ``right =
    center + sides-right`` hold exactly.

    Model per time-frequency bin: ``L = C + A``, ``R = C + B`` with the centre ``C`` and
    the side parts ``A``, ``B`` uncorrelated. Then the cross-spectrum estimates the centre
    power, ``pc = Re E[L conj(R)]``, and ``pa = E|L|^2 - pc``, ``pb = E|R|^2 - pc`` the
    side powers (expectations: a short moving average over ``smooth`` frames). The
    minimum-mean-square-error estimate of ``C`` from both channels (a two-channel Wiener
    filter) is ``(pc/pa * L + pc/pb * R) / (1 + pc/pa + pc/pb)``: the mid signal where
    both sides are equally busy, the quieter channel where only one side plays, nothing
    where the channels are unrelated or in anti-phase. On a centred voice with
    hard-panned instruments this holds the voice 12.5 dB above everything else (a plain
    mid signal: 0.8 dB; the ideal ratio mask on the mid signal, which needs the true
    voice, 14.0 dB at the same resolution); see docs/builtins-enhance-separation.md.

    One channel: everything is centre. More than two: the first two are used (front left
    and right in the usual layouts).
    """

    window: Tensor  # a buffer (annotation evaluated by TorchScript: no __future__ import)

    def __init__(self, *, win: int = 4096, hop: int = 1024, smooth: int = 5) -> None:
        super().__init__()
        self.hop = hop
        self.n_fft = win
        self.smooth = smooth
        self.register_buffer("window", sqrt_hann(win))

    def _average(self, power: torch.Tensor) -> torch.Tensor:
        """Moving average over time of (frames, bins), centred, edges not zero-biased."""
        k = self.smooth
        pooled = F.avg_pool2d(
            power.unsqueeze(0).unsqueeze(0),
            kernel_size=(k, 1),
            stride=1,
            padding=(k // 2, 0),
            count_include_pad=False,
        )
        return pooled.squeeze(0).squeeze(0)

    def center_spectrum(self, spec: torch.Tensor) -> torch.Tensor:
        """Centre estimate (frames, bins) from stereo spectra (2, frames, bins)."""
        left = spec[0]
        right = spec[1]
        p_left = self._average(left.real * left.real + left.imag * left.imag)
        p_right = self._average(right.real * right.real + right.imag * right.imag)
        p_center = self._average(left.real * right.real + left.imag * right.imag).clamp_min(0.0)
        floor = 1e-4 * (p_left + p_right) + 1e-20
        ratio_a = p_center / ((p_left - p_center).clamp_min(0.0) + floor)
        ratio_b = p_center / ((p_right - p_center).clamp_min(0.0) + floor)
        return (ratio_a * left + ratio_b * right) / (1.0 + ratio_a + ratio_b)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[0] == 1:
            return torch.cat([x, torch.zeros_like(x), torch.zeros_like(x)], dim=0)
        stereo = x[:2]
        spec = stft_frames(stereo, self.window, self.hop, self.n_fft)
        center_spec = self.center_spectrum(spec).unsqueeze(0)
        center = istft_frames(center_spec, self.window, self.hop, self.n_fft, x.shape[-1])
        return torch.cat([center, stereo - center], dim=0)
