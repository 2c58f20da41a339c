"""The scriptable network of the built-in note transcriber (imports torch).

:class:`BasicPitchNotes` runs basic-pitch's network (traced from its ONNX file, see
:mod:`deepfx.builtins._onnx_torch`) over overlapping windows exactly as basic-pitch's
``run_inference`` does, then turns the note and onset activations into note events with
a port of basic-pitch's ``output_to_notes_polyphonic`` (onset peaks, inferred onsets,
frame threshold with an energy tolerance, minimum length, and the "melodia trick" for
notes without a clear onset). Without ``from __future__ import annotations`` because
TorchScript compiles this class from its source.
"""

from typing import Any

import torch

from deepfx.nn import WaveformToLabels

__all__ = ["BasicPitchNotes"]

SAMPLE_RATE = 22050
WINDOW = 43844  # samples the network takes (2 s minus one hop)
FRAMES = 172  # activation frames it returns per window
HOP = 256  # samples per activation frame
OVERLAP_FRAMES = 30  # basic-pitch overlaps windows by 30 frames and drops 15 at each side
MIDI_OFFSET = 21  # activation bin 0 is A0 (MIDI 21)
N_PITCHES = 88


class BasicPitchNotes(WaveformToLabels):
    """basic-pitch's network plus its note decoding, as one scriptable analyzer.

    ``model`` maps ``(1, 43844, 1)`` audio at 22050 Hz to a tuple of activations;
    ``note_index`` and ``onset_index`` say which elements are the note ``(1, 172, 88)``
    and onset ``(1, 172, 88)`` posteriors. Thresholds are basic-pitch's defaults unless
    changed in :func:`deepfx.builtins.notes.notes_module`.
    """

    def __init__(
        self,
        net: Any,
        *,
        note_index: int,
        onset_index: int,
        onset_threshold: float,
        frame_threshold: float,
        min_note_frames: int,
        energy_tolerance: int,
        melodia_trick: bool,
    ) -> None:
        super().__init__(net)
        self.note_index = note_index
        self.onset_index = onset_index
        self.onset_threshold = float(onset_threshold)
        self.frame_threshold = float(frame_threshold)
        self.min_note_frames = int(min_note_frames)
        self.energy_tolerance = int(energy_tolerance)
        self.melodia_trick = bool(melodia_trick)
        self.sample_rate = SAMPLE_RATE
        self.window = WINDOW
        self.frames = FRAMES
        self.hop = HOP
        self.n_olap = OVERLAP_FRAMES // 2
        self.n_pitches = N_PITCHES
        #: same-pitch notes at most this many frames apart are one note (~35 ms)
        self.merge_gap = 3
        #: semitones above a note where its 2nd, 3rd and 4th partials fall
        self.partials = [12, 19, 24]

    def activations(self, mono: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Note and onset posteriors ``(T, 88)`` and each frame's time in seconds ``(T,)``.

        Windows start every ``window - 30 * hop`` samples over the audio preceded by
        ``15 * hop`` zeros; 15 frames are dropped at each side of each window, so frame
        ``f`` of window ``w`` sits at sample ``w * step - 15 * hop + f * hop``.
        """
        n = mono.shape[0]
        lead = self.n_olap * self.hop
        step = self.window - 2 * lead
        padded = torch.cat([torch.zeros(lead, dtype=torch.float32, device=mono.device), mono])
        total = padded.shape[0]
        notes: list[torch.Tensor] = []
        onsets: list[torch.Tensor] = []
        times: list[torch.Tensor] = []
        keep = torch.arange(
            self.n_olap, self.frames - self.n_olap, dtype=torch.float32, device=mono.device
        )
        start = 0
        while start < total:
            chunk = padded[start : start + self.window]
            if chunk.shape[0] < self.window:
                chunk = torch.cat(
                    [
                        chunk,
                        torch.zeros(
                            self.window - chunk.shape[0], dtype=torch.float32, device=mono.device
                        ),
                    ]
                )
            out = self.model(chunk.reshape(1, self.window, 1))
            notes.append(out[self.note_index][0, self.n_olap : self.frames - self.n_olap])
            onsets.append(out[self.onset_index][0, self.n_olap : self.frames - self.n_olap])
            times.append((start - lead + keep * self.hop) / self.sample_rate)
            start += step
        t = torch.cat(times)
        inside = t < n / self.sample_rate
        return torch.cat(notes)[inside], torch.cat(onsets)[inside], t[inside]

    def infer_onsets(self, onsets: torch.Tensor, frames: torch.Tensor) -> torch.Tensor:
        """basic-pitch's ``get_infered_onsets``: add onsets where frame energy jumps."""
        n_frames = frames.shape[0]
        zero2 = torch.zeros(2, frames.shape[1], dtype=frames.dtype, device=frames.device)
        padded = torch.cat([zero2, frames])
        d1 = padded[2:] - padded[1:-1]
        d2 = padded[2:] - padded[:-2]
        diff = torch.clamp(torch.minimum(d1, d2), min=0.0)
        diff[: min(2, n_frames)] = 0.0
        peak = diff.max()
        if float(peak) > 0.0:
            diff = onsets.max() * diff / peak
        return torch.maximum(onsets, diff)

    def decode(self, frames: torch.Tensor, onsets: torch.Tensor) -> list[tuple[int, int, int]]:
        """Note events ``(start_frame, end_frame, pitch_bin)`` (basic-pitch's algorithm)."""
        n_frames = frames.shape[0]
        events: list[tuple[int, int, int]] = []
        if n_frames < 3:
            return events
        onsets = self.infer_onsets(onsets, frames)
        mid = onsets[1:-1]
        is_peak = (mid > onsets[:-2]) & (mid > onsets[2:]) & (mid >= self.onset_threshold)
        peaks = torch.nonzero(is_peak)
        remaining = frames.clone()
        top = self.n_pitches - 1
        # onset-led notes, latest first (as basic-pitch does)
        for r in range(peaks.shape[0] - 1, -1, -1):
            t0 = int(peaks[r, 0]) + 1
            f = int(peaks[r, 1])
            if t0 >= n_frames - 1:
                continue
            i = t0 + 1
            k = 0
            while i < n_frames - 1 and k < self.energy_tolerance:
                if float(remaining[i, f]) < self.frame_threshold:
                    k += 1
                else:
                    k = 0
                i += 1
            i -= k
            if i - t0 <= self.min_note_frames:
                continue
            lo = max(f - 1, 0)
            hi = min(f + 1, top)
            remaining[t0:i, lo : hi + 1] = 0.0
            events.append((t0, i, f))
        # the melodia trick: notes grown from the strongest remaining frames
        while self.melodia_trick and float(remaining.max()) > self.frame_threshold:
            flat = int(torch.argmax(remaining))
            i_mid = flat // self.n_pitches
            f = flat % self.n_pitches
            lo = max(f - 1, 0)
            hi = min(f + 1, top)
            remaining[i_mid, f] = 0.0
            i = i_mid + 1
            k = 0
            while i < n_frames - 1 and k < self.energy_tolerance:
                if float(remaining[i, f]) < self.frame_threshold:
                    k += 1
                else:
                    k = 0
                remaining[i, lo : hi + 1] = 0.0
                i += 1
            i_end = i - 1 - k
            i = i_mid - 1
            k = 0
            while i > 0 and k < self.energy_tolerance:
                if float(remaining[i, f]) < self.frame_threshold:
                    k += 1
                else:
                    k = 0
                remaining[i, lo : hi + 1] = 0.0
                i -= 1
            i_start = i + 1 + k
            if i_end - i_start <= self.min_note_frames:
                continue
            events.append((i_start, i_end, f))
        return events

    def clean(
        self, events: list[tuple[int, int, int]], frames: torch.Tensor
    ) -> list[tuple[int, int, int]]:
        """Merge same-pitch notes that overlap or nearly touch, then drop harmonic ghosts.

        basic-pitch's decoding reports one held note as several pieces, and the strong
        upper partials of a tone as notes of their own (a tone with partials 1-4 at 392 Hz
        gave G4 plus G5 and G6). A note is a ghost when a note 12, 19 or 24 semitones
        below (its 2nd, 3rd or 4th partial's fundamental) covers at least half of it and
        is more strongly active (mean note posterior over the ghost's frames).
        """
        span = 1 << 24  # more frames than any input has
        ends: dict[int, int] = {}
        for s, e, f in events:  # key: pitch, then start (TorchScript sorts ints, no keys)
            key = f * span + s
            ends[key] = max(ends.get(key, e), e)
        keys = list(ends.keys())
        keys.sort()
        merged: list[tuple[int, int, int]] = []
        for key in keys:
            f = key // span
            s = key % span
            e = ends[key]
            if merged and merged[-1][2] == f and s <= merged[-1][1] + self.merge_gap:
                ps, pe, pf = merged[-1]
                merged[-1] = (ps, max(pe, e), pf)
            else:
                merged.append((s, e, f))
        kept: list[tuple[int, int, int]] = []
        for s, e, f in merged:
            ghost = False
            own = float(frames[s:e, f].mean()) if e > s else 0.0
            for lo_s, lo_e, lo_f in merged:
                if ghost:
                    break
                if (f - lo_f) not in self.partials:
                    continue
                overlap = min(e, lo_e) - max(s, lo_s)
                if overlap * 2 < e - s:
                    continue
                if float(frames[s:e, lo_f].mean()) > own:
                    ghost = True
            if not ghost:
                kept.append((s, e, f))
        return kept

    def do_forward_pass(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        with torch.no_grad():
            duration = x.shape[1] / self.sample_rate
            frames, onsets, times = self.activations(x.to(torch.float32).mean(0))
            times = times.cpu()
            events = self.clean(self.decode(frames, onsets), frames)
            k = len(events)
            idx = torch.zeros(k, dtype=torch.int64)
            stamps = torch.zeros(k, 2, dtype=torch.float64)
            order_key = torch.zeros(k, dtype=torch.int64)
            for j in range(k):
                order_key[j] = events[j][0] * 128 + events[j][2]
            order = torch.argsort(order_key)
            n_frames = times.shape[0]
            for j in range(k):
                s, e, f = events[int(order[j])]
                idx[j] = f
                stamps[j, 0] = float(times[s])
                if e < n_frames:
                    end = float(times[e])
                else:
                    end = float(times[-1]) + self.hop / self.sample_rate
                stamps[j, 1] = min(end, duration)
            return idx, stamps
