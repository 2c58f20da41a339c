"""Real test signals for the built-in analyzers: espeak-ng speech, harmonic tones, noise.

Everything is generated on the spot (espeak-ng from Debian, soxr for resampling); no audio
is shipped. Truth times come from the signals themselves: speech bounds are measured from
the espeak-ng waveform's energy after trimming its own leading/trailing silence.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

SENTENCE = "The quick brown fox jumps over the lazy dog, and then it runs far away."


def have_espeak() -> bool:
    return shutil.which("espeak-ng") is not None


def espeak_speech(sample_rate: int, text: str = SENTENCE) -> np.ndarray:
    """Mono float32 speech from espeak-ng at ``sample_rate``, trimmed to its voiced extent.

    espeak-ng pads its output with silence; the energy trim removes it so the caller knows
    exactly where speech starts (sample 0) and ends (the last sample).
    """
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "speech.wav"
        subprocess.run(["espeak-ng", "-w", str(wav), text], check=True, capture_output=True)
        audio, sr = sf.read(wav, dtype="float32", always_2d=True)
    mono = audio.mean(axis=1)
    if sr != sample_rate:
        mono = soxr.resample(mono, sr, sample_rate).astype(np.float32)
    start, end = energy_bounds(mono, sample_rate)
    speech = mono[start:end]
    return (0.5 * speech / np.max(np.abs(speech))).astype(np.float32)


def energy_bounds(x: np.ndarray, sample_rate: int, *, floor_db: float = -40.0) -> tuple[int, int]:
    """First and last sample of 10 ms frames whose energy is within ``floor_db`` of the peak."""
    hop = sample_rate // 100
    n = len(x) // hop
    frames = x[: n * hop].reshape(n, hop)
    db = 10 * np.log10(np.mean(frames**2, axis=1) + 1e-12)
    loud = np.flatnonzero(db > db.max() + floor_db)
    return int(loud[0] * hop), int(min((loud[-1] + 1) * hop, len(x)))


def with_silence(x: np.ndarray, sample_rate: int, *, before_s: float, after_s: float) -> np.ndarray:
    pre = np.zeros(int(round(before_s * sample_rate)), np.float32)
    post = np.zeros(int(round(after_s * sample_rate)), np.float32)
    return np.concatenate([pre, x.astype(np.float32), post])


def add_white_noise(
    x: np.ndarray, snr_db: float, *, reference: np.ndarray, seed: int = 0
) -> np.ndarray:
    """``x`` plus white noise whose power is ``snr_db`` below ``reference``'s power."""
    rng = np.random.default_rng(seed)
    power = float(np.mean(reference.astype(np.float64) ** 2))
    noise = rng.standard_normal(len(x)) * np.sqrt(power / 10 ** (snr_db / 10))
    return (x + noise).astype(np.float32)


def white_noise(seconds: float, sample_rate: int, *, rms: float = 0.1, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rms * rng.standard_normal(int(seconds * sample_rate))).astype(np.float32)


def sine(freq: float, seconds: float, sample_rate: int, *, amp: float = 0.3) -> np.ndarray:
    t = np.arange(int(round(seconds * sample_rate))) / sample_rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def harmonic_tone(
    freq: float,
    seconds: float,
    sample_rate: int,
    *,
    amp: float = 0.3,
    n_harmonics: int = 6,
    rolloff: float = 2.0,
) -> np.ndarray:
    """A tone whose k-th harmonic has amplitude 1/k**rolloff, with 10 ms fades."""
    t = np.arange(int(round(seconds * sample_rate))) / sample_rate
    y = np.zeros_like(t)
    for k in range(1, n_harmonics + 1):
        if k * freq < sample_rate / 2:
            y += np.sin(2 * np.pi * k * freq * t) / k**rolloff
    fade = min(int(0.01 * sample_rate), len(t) // 2)
    env = np.ones_like(t)
    env[:fade] = np.linspace(0, 1, fade)
    env[len(t) - fade :] = np.linspace(1, 0, fade)
    y = y * env
    return (amp * y / np.max(np.abs(y))).astype(np.float32)


def midi_to_hz(midi: int) -> float:
    return 440.0 * 2 ** ((midi - 69) / 12)
