"""Audio in: open, inspect, read in blocks, check, resample (streaming) and map channels.

Everything here works on float32 NumPy arrays shaped ``(channels, samples)`` (the
project-wide convention; soundfile's ``(samples, channels)`` is transposed at the edge).

* :func:`inspect` reads only the header, with a specific error for each way a file can be
  bad (missing, not audio / corrupt, zero length).
* :func:`read_blocks` streams a file in fixed-size blocks so a 2-hour recording never sits
  in memory; every block is checked for NaN/Inf and the error says where (time, channel).
* :class:`StreamResampler` wraps ``soxr.ResampleStream`` (high quality) and guarantees an
  exact total output length, so a round trip file-rate -> model-rate -> file-rate gives
  back exactly as many samples as went in (sample-accurate outputs).
* :func:`map_channels` applies the card's channel rule (mono downmix by averaging, one run
  per channel, or pass-through for multichannel models).
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from deepfx.errors import (
    AudioDecodeError,
    AudioFileNotFoundError,
    AudioPermissionError,
    EmptyAudioError,
    NonFiniteAudioError,
)

__all__ = [
    "AudioInfo",
    "StreamResampler",
    "check_finite",
    "inspect",
    "map_channels",
    "read",
    "read_blocks",
    "resampled_length",
]

#: Samples per block when streaming from disk (per channel). About 1.5 s at 44.1 kHz.
DEFAULT_BLOCK = 65536
#: A file that decodes to fewer samples than its header announces is truncated (a cut
#: download, a full disk) and is refused like a truncated FLAC, instead of being padded
#: with digital silence. Decoders may round the announced length by a few MP3 frames
#: (1152 samples each); a shortfall within this many samples is such rounding.
TRUNCATION_SLACK = 4 * 1152

_stderr_lock = threading.Lock()


@contextlib.contextmanager
def _quiet_decoder(path: Path) -> Iterator[None]:
    """Silence libmpg123's own stderr warnings ("Xing stream size off...") while an MP3 is
    opened: deepfx reports a truncated file itself, as one line."""
    if path.suffix.lower() != ".mp3" or sys.platform == "win32":
        yield
        return
    with _stderr_lock:
        try:
            saved = os.dup(2)
        except OSError:
            yield
            return
        try:
            with open(os.devnull, "wb") as null:
                os.dup2(null.fileno(), 2)
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


@dataclass(frozen=True)
class AudioInfo:
    """What the header of an audio file says.

    ``frames`` is the length in samples per channel; ``format``/``subtype`` are
    soundfile's names (``"WAV"``, ``"PCM_16"``...), used to write outputs alike.
    """

    path: Path
    sample_rate: int
    channels: int
    frames: int
    format: str
    subtype: str

    @property
    def duration_s(self) -> float:
        return self.frames / self.sample_rate


def inspect(path: Path | str) -> AudioInfo:
    """Read an audio file's header.

    Raises
    ------
    AudioFileNotFoundError
        The path does not exist (or is a folder).
    AudioDecodeError
        The file is not audio soundfile can decode, or is corrupt.
    EmptyAudioError
        The file decodes but holds zero samples.
    """
    p = Path(path)
    if not p.is_file():
        raise AudioFileNotFoundError(p)
    if p.stat().st_size == 0:
        raise EmptyAudioError(f"{p} (a 0-byte file)")
    if not os.access(p, os.R_OK):
        raise AudioPermissionError(p)
    try:
        with _quiet_decoder(p):
            info = sf.info(str(p))
    except (sf.LibsndfileError, RuntimeError, TypeError) as exc:
        raise AudioDecodeError(p, _cause(exc)) from None
    if info.frames <= 0 or info.samplerate <= 0 or info.channels <= 0:
        raise EmptyAudioError(str(p))
    return AudioInfo(
        path=p,
        sample_rate=int(info.samplerate),
        channels=int(info.channels),
        frames=int(info.frames),
        format=str(info.format),
        subtype=str(info.subtype),
    )


def read_blocks(
    path: Path | str, *, block_frames: int = DEFAULT_BLOCK, check: bool = True
) -> Iterator[np.ndarray]:
    """Yield the file as float32 ``(channels, n)`` blocks of at most ``block_frames``.

    Memory stays at one block whatever the file length. With ``check`` each block is
    checked for NaN/Inf (:class:`NonFiniteAudioError` gives the time and channel). A file
    that fails to decode mid-way raises :class:`AudioDecodeError`.
    """
    info = inspect(path)
    offset = 0
    try:
        with _quiet_decoder(info.path):
            fh = sf.SoundFile(str(info.path))
        with fh:
            while True:
                try:
                    data = fh.read(block_frames, dtype="float32", always_2d=True)
                except (sf.LibsndfileError, RuntimeError) as exc:
                    raise AudioDecodeError(
                        info.path, f"decoding failed after {offset} samples: {_cause(exc)}"
                    ) from None
                if data.shape[0] == 0:
                    break
                block = np.ascontiguousarray(data.T)
                if check:
                    check_finite(
                        block, sample_rate=info.sample_rate, offset=offset, what=str(info.path)
                    )
                offset += block.shape[1]
                yield block
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise AudioDecodeError(info.path, _cause(exc)) from None
    if offset == 0:
        raise EmptyAudioError(str(info.path))
    if offset < info.frames - TRUNCATION_SLACK:
        raise AudioDecodeError(
            info.path,
            f"the file is truncated: it decodes to {offset / info.sample_rate:.2f} s, but its "
            f"header announces {info.duration_s:.2f} s; repair or re-encode it "
            "(nothing is padded with silence)",
        )


def read(path: Path | str) -> tuple[np.ndarray, int]:
    """Read a whole file: ``(audio (channels, samples) float32, sample_rate)``.

    For short files and tests; the engine streams with :func:`read_blocks`.
    """
    info = inspect(path)
    blocks = list(read_blocks(path))
    return np.concatenate(blocks, axis=1), info.sample_rate


def check_finite(
    audio: np.ndarray, *, sample_rate: int, offset: int = 0, what: str = "the input"
) -> None:
    """Raise :class:`NonFiniteAudioError` naming the first NaN/Inf (time and channel).

    ``offset`` is the position of ``audio``'s first sample in the whole signal, so the time
    reported is absolute.
    """
    # fast path: the float64 sum of finite audio is finite (no temporary bool array)
    if np.isfinite(np.add.reduce(audio, axis=None, dtype=np.float64)):
        return
    finite = np.isfinite(audio)
    if finite.all():
        return
    bad = np.argwhere(~finite)
    # first in time, then lowest channel
    order = np.lexsort((bad[:, 0], bad[:, 1]))
    channel, sample = (int(v) for v in bad[order[0]])
    raise NonFiniteAudioError(what, at_s=(offset + sample) / sample_rate, channel=channel)


def resampled_length(n: int, from_rate: int, to_rate: int) -> int:
    """Length of ``n`` samples at ``from_rate`` once resampled to ``to_rate`` (rounded)."""
    if from_rate == to_rate:
        return n
    return (n * to_rate + from_rate // 2) // from_rate


class StreamResampler:
    """Streaming high-quality resampler with an exact total output length.

    Feed blocks with :meth:`process`; call :meth:`finish` once at the end. The sum of all
    returned lengths is exactly ``resampled_length(total_in, from_rate, to_rate)`` (soxr
    already compensates its own delay; the last few samples are padded or trimmed to the
    rounded length). With equal rates it passes blocks through untouched.
    """

    def __init__(self, from_rate: int, to_rate: int, channels: int):
        self.from_rate = int(from_rate)
        self.to_rate = int(to_rate)
        self.channels = int(channels)
        self._in = 0
        self._out = 0
        self._stream = (
            None
            if self.from_rate == self.to_rate
            else soxr.ResampleStream(
                self.from_rate, self.to_rate, self.channels, dtype="float32", quality="HQ"
            )
        )

    @property
    def produced(self) -> int:
        """Samples returned so far (per channel)."""
        return self._out

    def process(self, block: np.ndarray) -> np.ndarray:
        """Resample a ``(channels, n)`` block; returns ``(channels, m)`` (m may be 0)."""
        self._in += block.shape[1]
        if self._stream is None:
            self._out += block.shape[1]
            return block
        y = self._stream.resample_chunk(np.ascontiguousarray(block.T), last=False)
        return self._emit(y)

    def finish(self) -> np.ndarray:
        """Flush the resampler; returns the remaining ``(channels, m)`` samples."""
        want = resampled_length(self._in, self.from_rate, self.to_rate)
        if self._stream is None:
            tail = np.zeros((self.channels, 0), np.float32)
        else:
            y = self._stream.resample_chunk(np.zeros((0, self.channels), np.float32), last=True)
            tail = np.ascontiguousarray(y.T)
        room = want - self._out
        if tail.shape[1] > room:
            tail = tail[:, : max(room, 0)]
        elif tail.shape[1] < room:
            tail = np.pad(tail, ((0, 0), (0, room - tail.shape[1])))
        self._out += tail.shape[1]
        return tail

    def _emit(self, y: np.ndarray) -> np.ndarray:
        out = np.ascontiguousarray(y.T)
        self._out += out.shape[1]
        return out


def map_channels(audio: np.ndarray, *, multichannel: bool, per_channel: bool) -> np.ndarray:
    """Apply the card's channel rule to a ``(channels, n)`` block.

    * ``multichannel`` model: channels pass through unchanged.
    * mono model, ``per_channel=False``: channels are averaged to one (averaging, not
      summing, keeps the level of a stereo mix).
    * mono model, ``per_channel=True``: channels pass through; the engine then runs the
      model once per channel and keeps the channels in the output.
    """
    if multichannel or per_channel or audio.shape[0] == 1:
        return audio
    return audio.mean(axis=0, keepdims=True, dtype=np.float32)


def _cause(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]
