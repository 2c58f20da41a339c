"""The network of ``builtin/instruments`` and its scripted analyzer (imports torch).

:class:`InstrumentNet` maps 1 s windows at 16 kHz to one logit per instrument: a log-mel
spectrogram computed inside the network with ``torch.stft`` (so the exported folder is
self-contained), then a small VGG-style CNN with frequency-max / time-mean pooling.
:class:`InstrumentLabeller` slides it over any length of audio and emits one label per
present instrument per hop; the engine joins touching labels into spans.

No ``from __future__ import annotations``: TorchScript compiles these classes from
their source and needs real annotations.
"""

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from deepfx.nn import WaveformToLabels

__all__ = ["InstrumentLabeller", "InstrumentNet", "mel_filterbank"]

SAMPLE_RATE = 16000
WINDOW = 16000  # samples the network sees at once (1 s)
N_FFT = 1024
HOP_FFT = 512
N_MELS = 64
F_MIN = 30.0
F_MAX = 8000.0


def mel_filterbank(n_fft: int = N_FFT, n_mels: int = N_MELS, rate: int = SAMPLE_RATE) -> np.ndarray:
    """Slaney-style triangular mel filters (HTK mel scale): (n_fft // 2 + 1, n_mels)."""

    def hz_to_mel(f: np.ndarray) -> np.ndarray:
        return 2595.0 * np.log10(1.0 + f / 700.0)

    def mel_to_hz(m: np.ndarray) -> np.ndarray:
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)

    freqs = np.linspace(0.0, rate / 2, n_fft // 2 + 1)
    edges = mel_to_hz(
        np.linspace(hz_to_mel(np.array(F_MIN)), hz_to_mel(np.array(F_MAX)), n_mels + 2)
    )
    fb = np.zeros((freqs.shape[0], n_mels), np.float32)
    for m in range(n_mels):
        lo, mid, hi = edges[m], edges[m + 1], edges[m + 2]
        up = (freqs - lo) / (mid - lo)
        down = (hi - freqs) / (hi - mid)
        fb[:, m] = np.maximum(0.0, np.minimum(up, down)) * (2.0 / (hi - lo))
    return fb


def _block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(),
    )


class InstrumentNet(nn.Module):
    """(batch, 16000) float32 at 16 kHz -> (batch, n_classes) logits.

    ``width`` scales the channels (24 -> 48 -> 96 -> 192 at width 24: 0.56 M parameters;
    1.0 M at 32). The log-mel front end is fixed (1024-point Hann STFT every 512 samples,
    64 HTK mel bands 30 Hz..8 kHz, log(power + 1e-6)); a batch norm on the input learns
    the level.
    """

    window: torch.Tensor
    mel: torch.Tensor

    def __init__(self, n_classes: int, width: int = 24, dropout: float = 0.2) -> None:
        super().__init__()
        w = int(width)
        self.register_buffer("window", torch.hann_window(N_FFT))
        self.register_buffer("mel", torch.from_numpy(mel_filterbank()))
        self.n_fft = N_FFT
        self.hop = HOP_FFT
        self.norm = nn.BatchNorm2d(1)
        self.features = nn.Sequential(
            _block(1, w),
            nn.AvgPool2d(2),
            _block(w, 2 * w),
            nn.AvgPool2d(2),
            _block(2 * w, 4 * w),
            nn.AvgPool2d(2),
            _block(4 * w, 8 * w),
            nn.AvgPool2d(2),
            _block(8 * w, 8 * w),
        )
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(16 * w, n_classes)

    def logmel(self, x: torch.Tensor) -> torch.Tensor:
        """(batch, samples) -> (batch, 1, mels, frames) log power."""
        # centred frames, padded here: torch.stft's own `center` is an argument torch 1.9
        # (the original Audacity host) does not know
        half = self.n_fft // 2
        spec = torch.ops.aten.stft(
            F.pad(x, (half, half)),
            self.n_fft,
            self.hop,
            self.n_fft,
            self.window,
            False,
            True,
            True,
        )
        power = spec.real * spec.real + spec.imag * spec.imag  # (batch, bins, frames)
        mel = torch.matmul(power.transpose(1, 2), self.mel).transpose(1, 2)
        return torch.log(mel + 1e-6).unsqueeze(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.features(self.norm(self.logmel(x)))  # (batch, c, mels', frames')
        h = h.max(dim=2)[0]  # strongest band per frame
        pooled = torch.cat([h.mean(dim=2), h.max(dim=2)[0]], dim=1)
        return self.head(self.drop(pooled))


class InstrumentLabeller(WaveformToLabels):
    """Slides :class:`InstrumentNet` over the input and labels the instruments it hears.

    Window ``k`` (1 s) is centred on the hop ``[k * hop, (k + 1) * hop)``; an instrument
    whose probability reaches ``threshold`` there gets one label for that hop. Where a
    run of such hops reaches into silence (a window still hears a note that ended up to
    half a window away), the run's ends are moved to the first and last frames louder
    than ``gate_db`` below the run's loudest frame, so spans start and end with the
    sound rather than with the window. A dip of at most ``bridge`` hops between two runs
    of the same instrument (a 1 s window straddling a note change hears two half notes
    and may score each lower) is filled first, and gated runs that end up at most that far
    apart join, so one passage gives one span.
    """

    def __init__(
        self,
        net: nn.Module,
        *,
        hop: int,
        threshold: float,
        gate_db: float,
        frame: int = 160,
        batch: int = 32,
        bridge: int = 2,
    ) -> None:
        super().__init__(net)
        self.window = WINDOW
        self.hop = int(hop)
        self.threshold = float(threshold)
        self.gate = float(10.0 ** (gate_db / 20.0))
        self.frame = int(frame)
        self.batch = int(batch)
        self.bridge = int(bridge)
        self.sample_rate = SAMPLE_RATE
        self.floor = 1e-4  # absolute level (about -80 dBFS) under which a frame is silence

    def probabilities(self, mono: torch.Tensor) -> torch.Tensor:
        """(n_hops, n_classes) probabilities, window k centred on hop k."""
        n = mono.shape[0]
        n_hops = max(1, (n + self.hop - 1) // self.hop)
        front = (self.window - self.hop) // 2
        total = (n_hops - 1) * self.hop + self.window
        back = total - n - front
        padded = F.pad(mono, (front, 0))
        if n > back:
            # mirrored, not zeros, past the end: the network never heard sound stop dead
            # into digital silence under noise, and reads that as a drum hit (zeros before
            # the start are fine: a mirrored attack reads as a swell)
            padded = torch.cat([padded, mono[n - 1 - back : n - 1].flip(0)])
        else:
            padded = F.pad(padded, (0, back))
        windows = padded.unfold(0, self.window, self.hop)  # (n_hops, window)
        outs: list[torch.Tensor] = []
        for i in range(0, n_hops, self.batch):
            outs.append(torch.sigmoid(self.model(windows[i : i + self.batch])))
        return torch.cat(outs, 0)

    def frame_levels(self, mono: torch.Tensor) -> torch.Tensor:
        """RMS of each ``frame``-sample frame (the last one zero-padded)."""
        n = mono.shape[0]
        n_frames = (n + self.frame - 1) // self.frame
        padded = F.pad(mono, (0, n_frames * self.frame - n))
        return padded.reshape(n_frames, self.frame).pow(2).mean(1).sqrt()

    def trim(self, levels: list[float], lo: int, hi: int) -> tuple[int, int]:
        """Frames ``[lo, hi)`` of a run, reduced to those above the gate (or kept)."""
        peak = 0.0
        for j in range(lo, hi):
            peak = max(peak, levels[j])
        limit = max(self.floor, peak * self.gate)
        a = lo
        while a < hi and levels[a] < limit:
            a += 1
        b = hi
        while b > a and levels[b - 1] < limit:
            b -= 1
        if b <= a:
            return lo, hi
        return a, b

    def bridge_gaps(self, on: list[float]) -> list[float]:
        """``on`` (1.0/0.0 per hop) with gaps of at most ``bridge`` hops between runs filled."""
        out = list(on)
        last = -1  # index of the last "on" hop seen
        for k in range(len(on)):
            if on[k] >= 0.5:
                if last >= 0 and 0 < k - last - 1 <= self.bridge:
                    for j in range(last + 1, k):
                        out[j] = 1.0
                last = k
        return out

    def do_forward_pass(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        n = x.shape[1]
        mono = x.to(torch.float32).mean(0)
        probs = self.probabilities(mono)
        raw: list[list[float]] = (probs >= self.threshold).to(torch.float32).t().tolist()
        on: list[list[float]] = [self.bridge_gaps(row) for row in raw]
        levels: list[float] = self.frame_levels(mono).tolist()
        n_frames = len(levels)
        n_hops = probs.shape[0]
        per_hop = self.hop // self.frame
        reach = (self.window - self.hop) // 2 // self.frame  # frames a window sees past its hop
        classes: list[int] = []
        starts: list[float] = []
        ends: list[float] = []
        gap = self.bridge * per_hop  # frames between two runs that still make one span
        for c in range(len(on)):
            runs: list[list[int]] = []  # [first frame, end frame) of each gated run
            k = 0
            while k < n_hops:
                if on[c][k] < 0.5:
                    k += 1
                    continue
                k1 = k
                while k1 + 1 < n_hops and on[c][k1 + 1] >= 0.5:
                    k1 += 1
                # the run's hops, widened by what its windows could hear, then gated
                lo = max(0, k * per_hop - reach)
                hi = min(n_frames, (k1 + 1) * per_hop + reach)
                a, b = self.trim(levels, lo, hi)
                if len(runs) > 0 and a - runs[-1][1] <= gap:
                    # a window that heard the next note early, gated to that note: one span
                    runs[-1][0] = min(runs[-1][0], a)
                    runs[-1][1] = max(runs[-1][1], b)
                else:
                    runs.append([a, b])
                k = k1 + 1
            for run in runs:
                s = run[0]
                while s < run[1]:
                    e = min(run[1], (s // per_hop + 1) * per_hop)  # one label per hop
                    classes.append(c)
                    starts.append(min(s * self.frame, n) / self.sample_rate)
                    ends.append(min(e * self.frame, n) / self.sample_rate)
                    s = e
        times = torch.zeros(len(classes), 2, dtype=torch.float32)
        for i in range(len(classes)):
            times[i, 0] = starts[i]
            times[i, 1] = ends[i]
        return torch.tensor(classes, dtype=torch.int64), times


def parameter_count(net: nn.Module) -> int:
    return int(sum(p.numel() for p in net.parameters()))
