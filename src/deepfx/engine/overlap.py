"""Chunking with overlap, and overlap-add with a raised-cosine crossfade.

Layout (``W`` = window, ``O`` = overlap, hop ``H = W - O``)::

    chunk k     |ctx|~~fade~~|ctx|------------------ W ------------|ctx|~~fade~~|ctx|
    chunk k+1                                       |ctx|~~fade~~|ctx|------- ...
                 O/4   O/2    O/4

Regular chunks start at ``0, H, 2H, ...``; the last chunk ends exactly at the end of the
signal (it starts at ``max(0, N - W)``), so every chunk is real audio, all chunks have the
same length when ``N >= W`` (good for batching), and zeros appear only where the model
would see them anyway: beyond the two ends of the file.

With a ``grid`` (a network that only gives its whole-input output on its own stride
grid: Demucs-like encoders with a total stride of 2,048 samples, padded at the end), every
chunk starts on a multiple of ``grid``: the hop is a multiple of it, and the last chunk
starts at ``N - W`` rounded down to it (so it is up to ``grid - 1`` samples longer).

Each chunk's output is weighted by :func:`crossfade_weights`: zero over the outer quarter
of each overlap (those samples only serve as context), a raised-cosine fade over the
middle half, one elsewhere. Fade-in and fade-out of neighbours sum to exactly one; the
accumulated weights are divided out anyway so the irregular last chunk is handled by
the same arithmetic. Consequence: a model whose receptive field reaches at most ``O/4``
samples to each side gives *the same output chunked as on the whole input*.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "OverlapAdd",
    "chunk_spans",
    "chunk_starts",
    "crossfade_weights",
    "even_window",
    "last_start",
    "overlap_add",
]


def crossfade_weights(
    length: int, overlap: int, *, fade_in: bool = True, fade_out: bool = True
) -> np.ndarray:
    """Weights for one chunk of ``length`` samples (float64, in [0, 1]).

    ``fade_in``/``fade_out`` are False at the file's ends, where there is no neighbour to
    fade to.
    """
    w = np.ones(length, dtype=np.float64)
    margin = overlap // 4
    ramp = overlap - 2 * margin
    if ramp <= 0 or length < overlap:
        return w
    up = np.sin(0.5 * np.pi * (np.arange(ramp) + 0.5) / ramp) ** 2
    if fade_in:
        w[:margin] = 0.0
        w[margin : margin + ramp] = up
    if fade_out:
        w[length - margin :] = 0.0
        w[length - margin - ramp : length - margin] = up[::-1]
    return w


def chunk_starts(n: int, window: int, overlap: int) -> list[int]:
    """Start positions of the chunks covering ``n`` samples (see the module docstring)."""
    return [a for a, _ in chunk_spans(n, window, overlap)]


def last_start(n: int, window: int, grid: int = 1) -> int:
    """Where the last chunk of ``n`` samples starts: ``n - window`` (0 if shorter),
    rounded down to the grid."""
    return max(0, n - window) // grid * grid


def even_window(n: int, window: int, overlap: int, grid: int = 1) -> int:
    """The shortest window, at most ``window``, that covers ``n`` samples in as few chunks
    as ``window`` does (same ``overlap``, hop still a multiple of ``grid``).

    Why: with a fixed window the last chunk takes whatever is left, so on average half a
    hop of audio is computed twice for nothing (42 s through 4 s chunks with 0.8 s of
    overlap: 14 chunks, 56 s of audio; evened out: 14 chunks of 3.8 s, 53 s). Evening the
    chunks out keeps their count and shortens every one. The caller keeps ``window``
    when a model needs a minimum length the shorter window would not give.
    """
    hop = window - overlap
    if n <= window or hop <= 0:
        return window
    count = -(-(n - overlap) // hop)  # chunks needed: count * hop + overlap >= n
    even = -(-(n - overlap) // count)
    even = -(-even // grid) * grid  # back on the grid: still <= hop, hop is on it
    return min(window, even + overlap)


def chunk_spans(n: int, window: int, overlap: int, grid: int = 1) -> list[tuple[int, int]]:
    """``(start, end)`` of the chunks covering ``n`` samples, as :class:`OverlapAdd` cuts
    them (see the module docstring). With ``grid`` > 1, ``window - overlap`` must be a
    multiple of it; the last chunk then runs from its aligned start to ``n`` (it may
    start where a regular chunk started: that one ends before ``n``)."""
    if n <= window:
        return [(0, n)]
    hop = window - overlap
    spans = [(a, a + window) for a in range(0, n - window, hop)]
    spans.append((last_start(n, window, grid), n))
    return spans


def overlap_add(chunks: list[tuple[int, np.ndarray]], n: int, overlap: int) -> np.ndarray:
    """Join processed chunks ``(start, out (..., len))`` into one ``(..., n)`` signal.

    The reference (whole-signal) form of what :class:`OverlapAdd` does in a stream: weight
    each chunk with :func:`crossfade_weights`, sum, divide by the summed weights.
    """
    lead = chunks[0][1].shape[:-1]
    acc = np.zeros((*lead, n), dtype=np.float64)
    wsum = np.zeros(n, dtype=np.float64)
    for start, out in chunks:
        length = out.shape[-1]
        w = crossfade_weights(length, overlap, fade_in=start > 0, fade_out=start + length < n)
        acc[..., start : start + length] += out * w
        wsum[start : start + length] += w
    return (acc / wsum).astype(np.float32)


class OverlapAdd:
    """Streaming form of :func:`overlap_add` over a signal whose length comes at the end.

    Feed input with :meth:`push`; take the chunks that are ready with :meth:`ready`
    (``(start, audio)`` pairs), hand their outputs back with :meth:`add`, and collect
    finished output with :meth:`release`. Call :meth:`end` when the input is complete,
    then drain :meth:`ready` / :meth:`add` / :meth:`release` once more. Memory stays at
    about two windows whatever the signal length.

    ``window=None`` means "whole input": one chunk, made at the end.
    """

    def __init__(self, *, window: int | None, overlap: int, channels: int, grid: int = 1):
        if window is not None and not 0 <= overlap < window:
            raise ValueError("overlap must be shorter than the window")
        if window is not None and grid > 1 and (window - overlap) % grid:
            raise ValueError("with a grid, the hop (window - overlap) must be a multiple of it")
        self.grid = max(1, grid)
        self.window = window
        self.overlap = overlap if window is not None else 0
        self.hop = (window - overlap) if window is not None else 0
        # input buffer (channels, capacity): self._in[:, _in_off:_in_len] holds the
        # samples from absolute position _in_start on
        self._in = np.zeros((channels, 2 * window if window else 65536), dtype=np.float32)
        self._in_off = 0  # buffer index of absolute position self._in_start
        self._in_len = 0
        self._in_start = 0
        self._n_in = 0  # samples pushed so far
        self._next = 0  # next regular chunk start
        self._ended = False
        self._final_done = False
        self._acc: np.ndarray | None = None  # weighted sums, float32 (..., capacity)
        self._wsum = np.zeros(0, dtype=np.float32)
        self._used = 0  # filled part of the buffers
        self._wcache: dict[tuple[int, bool, bool], np.ndarray] = {}
        self._out_start = 0  # absolute position of self._acc[..., 0]
        self._safe = 0  # outputs before this position are final

    @property
    def length(self) -> int:
        """Samples pushed so far (the signal length once :meth:`end` was called)."""
        return self._n_in

    def push(self, block: np.ndarray) -> None:
        n = block.shape[1]
        if self._in_len + n > self._in.shape[1]:
            # compact: move the live part to the front, grow only if still too small
            live = self._in_len - self._in_off
            cap = self._in.shape[1]
            target = (
                self._in
                if live + n <= cap
                else np.zeros((self._in.shape[0], max(2 * cap, live + n)), np.float32)
            )
            target[:, :live] = self._in[:, self._in_off : self._in_len]
            self._in, self._in_off, self._in_len = target, 0, live
        self._in[:, self._in_len : self._in_len + n] = block
        self._in_len += n
        self._n_in += n

    def end(self) -> None:
        self._ended = True

    def waiting(self) -> int:
        """How many regular chunks :meth:`ready` would hand out now (so a caller that
        runs chunks in batches can wait for a whole batch)."""
        if self.window is None or self.hop <= 0:
            return 0
        n = self._n_in
        if self._next + self.window >= n:
            return 0
        return (n - self.window - self._next - 1) // self.hop + 1

    def ready(self) -> list[tuple[int, np.ndarray]]:
        """Chunks whose input is complete, in order, as ``(start, (channels, len))``."""
        out: list[tuple[int, np.ndarray]] = []
        n = self._n_in
        if self.window is not None:
            # a regular chunk runs once audio exists *beyond* it (so it is not the last)
            while self._next + self.window < n:
                out.append((self._next, self._slice(self._next, self._next + self.window)))
                self._safe = self._next + 1
                self._next += self.hop
        if self._ended and not self._final_done:
            self._final_done = True
            start = 0 if self.window is None else last_start(n, self.window, self.grid)
            out.append((start, self._slice(start, n)))  # to the end: never a repeat
            self._safe = n
        self._trim_input()
        return out

    def add(self, start: int, out: np.ndarray) -> None:
        """Accumulate one chunk's output ``(..., len)`` (len == the chunk's length)."""
        length = out.shape[-1]
        fade_out = not self._ended or start + length < self._n_in
        w = self._weights(length, start > 0, fade_out)
        end = start + length
        need = end - self._out_start
        if self._acc is None or need > self._acc.shape[-1]:
            self._grow(out.shape[:-1], need)
        assert self._acc is not None
        a, b = start - self._out_start, end - self._out_start
        self._acc[..., a:b] += np.multiply(out, w, dtype=np.float32)
        self._wsum[a:b] += w
        self._used = max(self._used, b)

    def release(self) -> np.ndarray | None:
        """Finished output since the last call, float32 ``(..., m)`` (None before any add)."""
        if self._acc is None:
            return None
        k = min(self._safe - self._out_start, self._used)
        if k <= 0:
            return np.zeros((*self._acc.shape[:-1], 0), dtype=np.float32)
        done = self._acc[..., :k] / self._wsum[:k]
        # move what is still open to the front of the (fixed-size) buffers
        rest = self._used - k
        self._acc[..., :rest] = self._acc[..., k : self._used]
        self._acc[..., rest : self._used] = 0.0
        self._wsum[:rest] = self._wsum[k : self._used]
        self._wsum[rest : self._used] = 0.0
        self._used = rest
        self._out_start += k
        return done

    def _grow(self, lead: tuple[int, ...], need: int) -> None:
        cap = max(need, 2 * (self.window or need))
        acc = np.zeros((*lead, cap), dtype=np.float32)
        wsum = np.zeros(cap, dtype=np.float32)
        if self._acc is not None:
            acc[..., : self._used] = self._acc[..., : self._used]
            wsum[: self._used] = self._wsum[: self._used]
        self._acc, self._wsum = acc, wsum

    def _weights(self, length: int, fade_in: bool, fade_out: bool) -> np.ndarray:
        key = (length, fade_in, fade_out)
        w = self._wcache.get(key)
        if w is None:
            w = crossfade_weights(length, self.overlap, fade_in=fade_in, fade_out=fade_out)
            w = self._wcache[key] = w.astype(np.float32)
        return w

    def _slice(self, a: int, b: int) -> np.ndarray:
        # a copy: the buffer is compacted in place by later pushes
        base = self._in_off - self._in_start
        return self._in[:, a + base : b + base].copy()

    def _trim_input(self) -> None:
        """Forget input no future chunk needs (keep from the next regular chunk's start,
        and the last ``window`` samples for a possible final chunk); no copy here."""
        if self.window is None:
            return
        last = last_start(self._n_in, self.window, self.grid)  # a final chunk's
        keep_from = max(min(self._next, last), self._in_start)
        self._in_off += keep_from - self._in_start
        self._in_start = keep_from
