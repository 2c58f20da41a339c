"""The scriptable network of the built-in voice activity detector (imports torch).

Kept apart from :mod:`deepfx.builtins.vad` so listing the catalog never imports torch,
and without ``from __future__ import annotations`` because TorchScript compiles this
class from its source and needs real annotations.
"""

from typing import Any

import torch

from deepfx.nn import WaveformToLabels

__all__ = ["SileroSpeech"]

SAMPLE_RATE = 16000
FRAME = 512  # samples per decision at 16 kHz (silero's only supported frame size)
CONTEXT = 64  # samples of the previous frame silero prepends at 16 kHz
#: Frames decided per block, and frames of warm-up run before each block from a fresh
#: state (their probabilities discarded): every decision depends on at most the last
#: WARMUP + BLOCK frames of audio, never on where the run started.
BLOCK = 64  # 2.05 s
WARMUP = 32  # 1.02 s


class SileroSpeech(WaveformToLabels):
    """Silero's 16 kHz network plus span decisions, as one scriptable analyzer.

    ``model`` is silero's stateful core (``(x (1, 64 + 512), state) -> (p (1, 1),
    state)``). The frame loop, the context carried between frames and the hysteresis
    mirror ``silero_vad.get_speech_timestamps`` so the labels match silero's own helper;
    lengths are in samples at 16 kHz (see :func:`deepfx.builtins.vad.vad_module`).
    """

    def __init__(
        self,
        net: Any,
        *,
        threshold: float,
        neg_threshold: float,
        min_speech: int,
        min_silence: int,
        pad: int,
        tail_level: float,
        max_tail: int,
    ) -> None:
        super().__init__(net)
        self.frame = FRAME
        self.context = CONTEXT
        self.block = BLOCK
        self.warmup = WARMUP
        self.sample_rate = SAMPLE_RATE
        self.threshold = float(threshold)
        self.neg_threshold = float(neg_threshold)
        self.min_speech = int(min_speech)
        self.min_silence = int(min_silence)
        self.pad = int(pad)
        self.tail_level = float(tail_level)
        self.max_tail = int(max_tail)

    def probabilities(self, mono: torch.Tensor) -> torch.Tensor:
        """Speech probability of each 512-sample frame (the last one zero-padded).

        Silero's recurrent state remembers the whole past, so the same word got another
        probability when the run started elsewhere (a selection from 50 s found speech
        from 55.43 s, the whole file from 58.83 s). Frames are decided in blocks of
        ``block`` frames, each from a fresh state warmed up on the ``warmup`` frames before
        it: a decision depends on at most the last ``warmup + block`` frames, the same
        whatever came before them.
        """
        n = mono.shape[0]
        n_frames = (n + self.frame - 1) // self.frame
        padded = torch.zeros(n_frames * self.frame, dtype=torch.float32, device=mono.device)
        padded[:n] = mono
        probs = torch.zeros(n_frames, dtype=torch.float32, device=mono.device)
        for b in range(0, n_frames, self.block):
            first = max(b - self.warmup, 0)
            state = torch.zeros(0, device=mono.device)
            ctx = torch.zeros(1, self.context, dtype=torch.float32, device=mono.device)
            if first > 0:
                ctx = padded[first * self.frame - self.context : first * self.frame].unsqueeze(0)
            for i in range(first, min(b + self.block, n_frames)):
                chunk = padded[i * self.frame : (i + 1) * self.frame].unsqueeze(0)
                out, state = self.model(torch.cat([ctx, chunk], 1), state)
                if i >= b:
                    probs[i] = out[0, 0].detach()
                ctx = chunk[:, self.frame - self.context :]
        return probs

    def trim_tail(self, probs: list[float], start: int, end: int) -> int:
        """Move a span's end back over the network's decay tail.

        In noise the recurrent state makes the probability fade over a few frames after
        the last word instead of dropping; those frames are not speech. The end moves back
        to just after the last frame at ``tail_level`` or above, by at most ``max_tail``
        samples, and stays put when no such frame is that close.
        """
        last = end // self.frame  # first frame below neg_threshold
        limit = max(start // self.frame, last - self.max_tail // self.frame)
        j = last - 1
        while j > limit and probs[j] < self.tail_level:
            j -= 1
        if j >= 0 and probs[j] >= self.tail_level:
            return min(end, (j + 1) * self.frame)
        return end

    def do_forward_pass(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        n = x.shape[1]
        mono = x.to(torch.float32).mean(0)
        probs: list[float] = self.probabilities(mono).tolist()
        starts: list[int] = []
        ends: list[int] = []
        triggered = False
        start = 0
        temp_end = -1
        for i, p in enumerate(probs):
            pos = i * self.frame
            if p >= self.threshold:
                temp_end = -1
                if not triggered:
                    triggered = True
                    start = pos
            elif p < self.neg_threshold and triggered:
                if temp_end < 0:
                    temp_end = pos
                if pos + self.frame - temp_end >= self.min_silence:
                    end = self.trim_tail(probs, start, temp_end)
                    if end - start >= self.min_speech:
                        starts.append(start)
                        ends.append(end)
                    triggered = False
                    temp_end = -1
        if triggered:
            end = n if temp_end < 0 else self.trim_tail(probs, start, temp_end)
            if end - start >= self.min_speech:
                starts.append(start)
                ends.append(min(end, n))
        # pad, clamp to the input, and never into a neighbour (split the gap instead)
        k = len(starts)
        times = torch.zeros(k, 2, dtype=torch.float32)
        for j in range(k):
            lo = starts[j] - self.pad
            hi = ends[j] + self.pad
            if j > 0:
                lo = max(lo, (ends[j - 1] + starts[j]) // 2)
            if j + 1 < k:
                hi = min(hi, (ends[j] + starts[j + 1]) // 2)
            lo = max(lo, 0)
            hi = min(hi, n)
            times[j, 0] = lo / self.sample_rate
            times[j, 1] = hi / self.sample_rate
        return torch.zeros(k, dtype=torch.int64), times
