"""One set of real test signals and measures, shared by every test file.

Everything is generated on the spot (espeak-ng from Debian, soxr for resampling); no audio
is shipped. Truth times come from the signals themselves: speech bounds are measured from
the espeak-ng waveform's energy after trimming its own leading/trailing silence. Music-like
parts are synthesised: harmonic tones, a sustained chord, clicks (short decaying noise
bursts). Measures are the usual scale-invariant ones (SI-SDR).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import soxr

from deepfx.model import Model

#: A long sentence (the enhancement and separation tests' speech).
LONG_SENTENCE = (
    "Please call Stella. Ask her to bring these things with her from the store: "
    "six spoons of fresh snow peas and five thick slabs of blue cheese."
)
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


# --- enhancement and separation ---------------------------------------------------------


def espeak(text: str = LONG_SENTENCE, *, sample_rate: int, voice: str = "en-us") -> np.ndarray:
    """espeak-ng speech as float32 mono at ``sample_rate``, peak 0.5; skips if missing."""
    exe = shutil.which("espeak-ng")
    if exe is None:
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng)")
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "speech.wav"
        subprocess.run([exe, "-v", voice, "-w", str(wav), text], check=True, capture_output=True)
        speech, rate = sf.read(wav, dtype="float32")
    if speech.ndim > 1:
        speech = speech.mean(axis=1)
    speech = soxr.resample(speech, rate, sample_rate).astype(np.float32)
    return (0.5 * speech / np.abs(speech).max()).astype(np.float32)


def harmonics(freq: float, seconds: float, sample_rate: int, *, n_harm: int = 6) -> np.ndarray:
    """A steady tone with ``n_harm`` harmonics (1/k amplitudes), short fades at both ends."""
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    tone = sum(np.sin(2 * np.pi * freq * k * t) / k for k in range(1, n_harm + 1))
    fade = min(len(t) // 2, int(0.02 * sample_rate))
    env = np.ones_like(t)
    env[:fade] = np.linspace(0, 1, fade)
    env[len(t) - fade :] = np.linspace(1, 0, fade)
    return (tone * env).astype(np.float32)


def chord(seconds: float, sample_rate: int) -> np.ndarray:
    """A sustained C major triad (C4 E4 G4) of harmonic tones."""
    notes = (261.63, 329.63, 392.0)
    return sum(harmonics(f, seconds, sample_rate) for f in notes).astype(np.float32)


def clicks(seconds: float, sample_rate: int, *, every_s: float = 0.25, seed: int = 0) -> np.ndarray:
    """Clicks: 5 ms exponentially decaying white-noise bursts every ``every_s`` seconds."""
    rng = np.random.default_rng(seed)
    out = np.zeros(int(seconds * sample_rate), dtype=np.float32)
    length = int(0.005 * sample_rate)
    env = np.exp(-np.arange(length) / (0.001 * sample_rate))
    for start in np.arange(0.1, seconds - 0.1, every_s):
        i = int(start * sample_rate)
        out[i : i + length] += (rng.standard_normal(length) * env).astype(np.float32)
    return out


def noise_at_snr(n: int, *, like: np.ndarray, snr_db: float, seed: int = 0) -> np.ndarray:
    """White noise scaled to ``snr_db`` relative to ``like``'s mean power."""
    noise = np.random.default_rng(seed).standard_normal(n).astype(np.float32)
    scale = np.sqrt(np.mean(like.astype(np.float64) ** 2) / np.mean(noise.astype(np.float64) ** 2))
    return (noise * scale * 10 ** (-snr_db / 20)).astype(np.float32)


def si_sdr(estimate: np.ndarray, reference: np.ndarray) -> float:
    """Scale-invariant signal-to-distortion ratio in dB (Le Roux et al. 2019)."""
    est = estimate.astype(np.float64)
    ref = reference.astype(np.float64)
    target = (est @ ref) / (ref @ ref) * ref
    return float(10 * np.log10(np.sum(target**2) / np.sum((est - target) ** 2)))


def own_vs_other_db(output: np.ndarray, own: np.ndarray, other: np.ndarray) -> float:
    """How much more of its own part than of the other part an output holds, in dB.

    The output is projected (least squares) onto the two parts: ``output = a*own +
    b*other + e``. The energy of ``a*own`` is compared with everything else, ``b*other``
    *and* the residual ``e`` (distortion counts against the output, as in SI-SDR), so a
    separator cannot pass by mangling its own part either.
    """
    basis = np.stack([own, other], axis=1).astype(np.float64)
    coef, *_ = np.linalg.lstsq(basis, output.astype(np.float64), rcond=None)
    own_part = coef[0] * basis[:, 0]
    rest = output - own_part
    return float(10 * np.log10(np.sum(own_part**2) / max(np.sum(rest**2), 1e-30)))


def contract_battery(model: Model) -> None:
    """Run ``model`` through the inputs every built-in effect must handle.

    Silence, white noise and a loud full-scale signal; one and two channels; one sample,
    a few milliseconds and 10 s. ``Model.forward`` enforces the contract (shape, length,
    finite values); silence must stay silent.
    """
    rate = model.card.sample_rate
    rng = np.random.default_rng(1)
    for channels in (1, 2):
        for n in (1, 64, rate // 100, 10 * rate):
            silence = np.zeros((channels, n), dtype=np.float32)
            out = model.forward(silence)
            assert out.shape == (len(model.card.labels), n)
            assert np.abs(out).max() < 1e-6, (channels, n, "silence not silent")
            for level in (0.1, 1.0):
                x = np.clip(level * rng.standard_normal((channels, n)), -1, 1)
                out = model.forward(x.astype(np.float32))
                assert out.shape == (len(model.card.labels), n)
                assert out.dtype == np.float32
