"""Training and test audio for ``builtin/instruments``, rendered here with FluidSynth.

No permissively licensed instrument tagger ships with its weights, so deepfx renders its
own data: General MIDI programs played by FluidSynth from Debian's soundfonts, plus a
"none" class (silence, room noise, espeak-ng speech). Everything is seeded: the same
seed gives the same notes, the same audio and the same augmentations.

Rendering is batched for speed: a whole list of notes becomes one Standard MIDI File
(each clip in its own time slot, one channel per slot so program changes never overlap)
that one ``fluidsynth -F`` call renders; the slots are then cut back out. The MIDI file
is written here (a few lines of the SMF format), so no MIDI library is needed.

Importing this module imports numpy only.
"""

from __future__ import annotations

import io
import math
import shutil
import struct
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from deepfx.errors import DeepfxError

__all__ = [
    "CLASSES",
    "FONTS",
    "SAMPLE_RATE",
    "Clip",
    "Note",
    "font_path",
    "render_clips",
    "speech_clips",
]

#: Rate everything is rendered and analysed at (Hz).
SAMPLE_RATE = 16000
#: Length of each rendered clip (seconds): up to 1.5 s of notes plus their release.
CLIP_S = 2.0


@dataclass(frozen=True)
class InstrumentClass:
    """One label: the GM programs that play it and the MIDI pitch range they cover."""

    name: str
    programs: tuple[int, ...]  # 0-based GM programs; () means the GM drum kit
    low: int
    high: int


#: The 12 instrument labels, in the order of the network's outputs. "none" (silence,
#: noise, speech) is the absence of all of them.
CLASSES: tuple[InstrumentClass, ...] = (
    InstrumentClass("piano", (0, 1, 2, 3), 28, 100),
    InstrumentClass("organ", (16, 17, 18, 19), 36, 96),
    InstrumentClass("acoustic guitar", (24, 25), 40, 84),
    InstrumentClass("electric guitar", (26, 27, 29, 30), 40, 86),
    InstrumentClass("bass", (32, 33, 34, 35), 28, 60),
    InstrumentClass("strings", (40, 41, 48, 49), 52, 96),
    InstrumentClass("cello", (42,), 36, 76),
    InstrumentClass("brass", (56, 57, 60, 61), 42, 82),
    InstrumentClass("saxophone", (64, 65, 66, 67), 40, 84),
    InstrumentClass("flute", (72, 73, 74), 60, 96),
    InstrumentClass("clarinet", (71,), 50, 91),
    InstrumentClass("drums", (), 35, 81),
)
NAMES: tuple[str, ...] = tuple(c.name for c in CLASSES)

#: Soundfont files (Debian packages): the two training fonts and the unseen test font.
FONTS: dict[str, tuple[str, str]] = {
    "fluidr3": ("/usr/share/sounds/sf2/FluidR3_GM.sf2", "fluid-soundfont-gm"),
    "sfgmbank": ("/usr/share/sounds/sf2/sf_GMbank.sf2", "csound-soundfont"),
    "timgm6mb": ("/usr/share/sounds/sf2/TimGM6mb.sf2", "timgm6mb-soundfont"),
}
TRAIN_FONTS = ("fluidr3", "sfgmbank")
TEST_FONT = "timgm6mb"


def font_path(name: str) -> Path:
    """Path of soundfont ``name``; a clear error naming the apt package when it is missing."""
    path, package = FONTS[name]
    if not Path(path).is_file():
        raise DeepfxError(f"soundfont {path} is missing; install it with `apt install {package}`")
    return Path(path)


def fluidsynth_exe() -> str:
    exe = shutil.which("fluidsynth")
    if exe is None:
        raise DeepfxError("fluidsynth is not installed; install it with `apt install fluidsynth`")
    return exe


@dataclass(frozen=True)
class Note:
    """One MIDI note inside a clip: seconds from the clip's start."""

    pitch: int
    velocity: int
    start: float
    end: float


@dataclass(frozen=True)
class Clip:
    """One instrument playing some notes (class index, GM program or -1 for drums)."""

    cls: int
    program: int
    notes: tuple[Note, ...]


def held_out_pitch(pitch: int) -> bool:
    """Pitches kept out of training (every fourth semitone) for the held-out test."""
    return pitch % 4 == 3


def held_out_velocity(velocity: int) -> bool:
    """Velocities kept out of training (every fifth value) for the held-out test."""
    return velocity % 5 == 2


def sample_clip(rng: np.random.Generator, cls: int, *, held_out: bool) -> Clip:
    """A random clip of class ``cls``: 1–3 simultaneous notes, or a short phrase.

    Pitches span the class's range, velocities 30..127, durations 0.1..1.5 s, with
    staccato or legato articulation. ``held_out`` draws only the pitches and velocities
    :func:`held_out_pitch` / :func:`held_out_velocity` reserve; otherwise never those.
    """
    c = CLASSES[cls]
    program = -1 if not c.programs else int(rng.choice(c.programs))
    pitches = [p for p in range(c.low, c.high + 1) if held_out_pitch(p) == held_out]
    velocities = [v for v in range(30, 128) if held_out_velocity(v) == held_out]
    notes: list[Note] = []
    kind = rng.random()
    if kind < 0.5:  # a chord of 1-3 notes held for one duration
        poly = int(rng.integers(1, 4))
        dur = float(rng.uniform(0.3, 1.5))
        start = float(rng.uniform(0.0, 0.1))
        for p in rng.choice(pitches, size=min(poly, len(pitches)), replace=False):
            notes.append(Note(int(p), int(rng.choice(velocities)), start, start + dur))
    else:  # a phrase: 2-6 notes in a row, staccato or legato
        n = int(rng.integers(2, 7))
        step = 1.4 / n
        legato = rng.random() < 0.5
        t = float(rng.uniform(0.0, 0.1))
        p0 = int(rng.choice(pitches))
        for _ in range(n):
            near = [p for p in pitches if abs(p - p0) <= 7] or pitches
            p0 = int(rng.choice(near))
            length = step * (rng.uniform(0.9, 1.05) if legato else rng.uniform(0.25, 0.6))
            notes.append(Note(p0, int(rng.choice(velocities)), t, t + max(0.08, length)))
            t += step
    return Clip(cls, program, tuple(notes))


# -- MIDI writing -------------------------------------------------------------------------

_TICKS = 480  # per quarter note; the default tempo (120 bpm) makes it 960 ticks a second


def _vlq(n: int) -> bytes:
    out = [n & 0x7F]
    n >>= 7
    while n:
        out.append(0x80 | (n & 0x7F))
        n >>= 7
    return bytes(reversed(out))


def midi_file(slots: Sequence[Sequence[Clip]], slot_s: float) -> bytes:
    """A type-0 SMF: slot ``i`` starts at ``i * slot_s``; the clips in a slot play together.

    Each clip gets its own channel (drums on channel 10), its program set shortly before
    the slot; at most 15 melodic clips per slot.
    """
    per_s = 2 * _TICKS
    events: list[tuple[int, int, bytes]] = []  # (tick, order, message)
    for i, slot in enumerate(slots):
        base = i * slot_s
        melodic = [ch for ch in range(16) if ch != 9]
        for clip in slot:
            ch = 9 if clip.program < 0 else melodic.pop(0)
            t0 = int(round((base - 0.05) * per_s)) if i else 0
            if ch != 9:
                events.append((max(0, t0), 0, bytes([0xC0 | ch, clip.program])))
            for n in clip.notes:
                on = int(round((base + n.start) * per_s))
                off = int(round((base + n.end) * per_s))
                events.append((on, 2, bytes([0x90 | ch, n.pitch, n.velocity])))
                events.append((off, 1, bytes([0x80 | ch, n.pitch, 0])))
    events.sort(key=lambda e: (e[0], e[1]))
    track = bytearray()
    now = 0
    for tick, _, msg in events:
        track += _vlq(tick - now) + msg
        now = tick
    end = int(round(len(slots) * slot_s * per_s))
    track += _vlq(max(0, end - now)) + b"\xff\x2f\x00"
    header = b"MThd" + struct.pack(">IHHH", 6, 0, 1, _TICKS)
    return header + b"MTrk" + struct.pack(">I", len(track)) + bytes(track)


def render_slots(
    font: str, slots: Sequence[Sequence[Clip]], *, slot_s: float = CLIP_S, gain: float = 0.6
) -> np.ndarray:
    """Render ``slots`` with soundfont ``font``: float32 (len(slots), slot_s * rate), mono.

    FluidSynth's own reverb and chorus are off (augmentation adds reverb later, varied).
    """
    import soundfile as sf

    exe = fluidsynth_exe()
    sf2 = font_path(font)
    n = int(round(slot_s * SAMPLE_RATE))
    with tempfile.TemporaryDirectory(prefix="deepfx-fluid-") as tmp:
        mid = Path(tmp) / "clips.mid"
        wav = Path(tmp) / "clips.wav"
        mid.write_bytes(midi_file(slots, slot_s))
        cmd = [exe, "-n", "-i", "-q", "-R", "0", "-C", "0", "-g", str(gain)]
        cmd += ["-r", str(SAMPLE_RATE), "-F", str(wav), "-O", "float", str(sf2), str(mid)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0 or not wav.is_file():
            raise DeepfxError(f"fluidsynth failed: {proc.stderr.strip()[-300:]}")
        audio, _ = sf.read(str(wav), dtype="float32", always_2d=True)
    mono = audio.mean(axis=1)
    total = n * len(slots)
    if mono.shape[0] < total:
        mono = np.pad(mono, (0, total - mono.shape[0]))
    return mono[:total].reshape(len(slots), n)


def render_clips(font: str, clips: Sequence[Clip], *, batch: int = 400) -> np.ndarray:
    """Each clip alone, rendered with ``font``: float32 (len(clips), CLIP_S * rate)."""
    out = [
        render_slots(font, [[c] for c in clips[i : i + batch]]) for i in range(0, len(clips), batch)
    ]
    n = int(round(CLIP_S * SAMPLE_RATE))
    return np.concatenate(out) if out else np.zeros((0, n), np.float32)


# -- the "none" class ----------------------------------------------------------------------

_SENTENCES = (
    "The quick brown fox jumps over the lazy dog.",
    "Please call me back when you get this message.",
    "It is going to rain later this afternoon.",
    "Turn left at the second traffic light.",
    "We will meet at the station at nine o'clock.",
    "Recording starts in three, two, one.",
    "This microphone picks up the whole room.",
    "Can you hear me at the back of the hall?",
    "Numbers: seven, forty two, one hundred and six.",
    "Thank you all for coming tonight.",
)
_VOICES = ("en", "en-us", "en+f3", "en+m3", "de", "fr", "es", "en+f5")


def speech_clips(rng: np.random.Generator, count: int) -> np.ndarray:
    """``count`` CLIP_S-second excerpts of espeak-ng speech (zeros if it is not installed)."""
    import soundfile as sf

    n = int(round(CLIP_S * SAMPLE_RATE))
    out = np.zeros((count, n), np.float32)
    exe = shutil.which("espeak-ng")
    if exe is None or count == 0:
        return out
    pieces: list[np.ndarray] = []
    with tempfile.TemporaryDirectory(prefix="deepfx-speech-") as tmp:
        for k in range(min(count, 24)):
            wav = Path(tmp) / f"s{k}.wav"
            text = " ".join(rng.choice(_SENTENCES, size=2, replace=False))
            cmd = [exe, "-v", str(rng.choice(_VOICES)), "-s", str(int(rng.integers(130, 200)))]
            cmd += ["-p", str(int(rng.integers(20, 80))), "-w", str(wav), text]
            if subprocess.run(cmd, capture_output=True).returncode == 0 and wav.is_file():
                audio, rate = sf.read(str(wav), dtype="float32", always_2d=True)
                pieces.append(resample(audio.mean(axis=1), rate, SAMPLE_RATE))
    if not pieces:
        return out
    for k in range(count):
        p = pieces[k % len(pieces)]
        start = int(rng.integers(0, max(1, p.shape[0] - n)))
        seg = p[start : start + n]
        out[k, : seg.shape[0]] = seg * float(rng.uniform(0.3, 1.0)) / (np.abs(seg).max() + 1e-6)
    return out


def noise_clips(rng: np.random.Generator, count: int) -> np.ndarray:
    """Silence, room-like coloured noise and hum: the rest of the "none" class."""
    n = int(round(CLIP_S * SAMPLE_RATE))
    out = np.zeros((count, n), np.float32)
    t = np.arange(n) / SAMPLE_RATE
    for k in range(count):
        kind = k % 4
        if kind == 0:
            level = 10 ** rng.uniform(-5, -3)
            out[k] = rng.normal(0, level, n)
        else:
            white = rng.normal(0, 1, n)
            spec = np.fft.rfft(white)
            f = np.fft.rfftfreq(n, 1 / SAMPLE_RATE)
            slope = rng.uniform(0.0, 2.0)  # 0 white .. 2 brown
            spec = spec / np.maximum(f, 20.0) ** (slope / 2)
            x = np.fft.irfft(spec, n)
            x = x / (np.abs(x).max() + 1e-9) * 10 ** rng.uniform(-3, -1)
            if kind == 3:
                hz = rng.choice([50.0, 60.0])
                x = x + 10 ** rng.uniform(-3, -1.5) * np.sin(2 * math.pi * hz * t)
            out[k] = x
    return out


# -- augmentation --------------------------------------------------------------------------


def resample(x: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """Band-limited resampling of a 1-D signal by FFT (exact for periodic signals)."""
    if rate_in == rate_out:
        return x.astype(np.float32)
    n_out = int(round(x.shape[0] * rate_out / rate_in))
    spec = np.fft.rfft(x)
    keep = min(spec.shape[0], n_out // 2 + 1)
    out = np.zeros(n_out // 2 + 1, np.complex128)
    out[:keep] = spec[:keep]
    return (np.fft.irfft(out, n_out) * (n_out / x.shape[0])).astype(np.float32)


def mp3_round_trip(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Encode to MP3 at a random low bitrate and decode (libsndfile's LAME / mpg123)."""
    import soundfile as sf

    buf = io.BytesIO()
    peak = float(np.abs(x).max())
    scale = 0.9 / peak if peak > 0.9 else 1.0
    sf.write(buf, x * scale, SAMPLE_RATE, format="MP3", compression_level=float(rng.uniform()))
    buf.seek(0)
    y, _ = sf.read(buf, dtype="float32")
    y = y[: x.shape[0]] / scale
    return np.pad(y, (0, x.shape[0] - y.shape[0])).astype(np.float32)


def codec_augment(clips: np.ndarray, rng: np.random.Generator, p: float = 0.4) -> np.ndarray:
    """Offline, once per clip: an MP3 or a resample round trip for a fraction ``p`` of them."""
    out = clips.copy()
    for k in range(clips.shape[0]):
        r = rng.random()
        if r < p / 2:
            out[k] = mp3_round_trip(clips[k], rng)
        elif r < p:
            mid = int(rng.choice([8000, 11025, 12000]))
            y = resample(resample(clips[k], SAMPLE_RATE, mid), mid, SAMPLE_RATE)
            out[k] = np.pad(y, (0, max(0, clips.shape[1] - y.shape[0])))[: clips.shape[1]]
    return out
