"""Real test signals and measures for the enhancement and separation built-ins.

Speech comes from espeak-ng (Debian package) resampled with soxr; music-like parts are
synthesised: a sustained chord of harmonic tones, clicks (short decaying noise bursts),
hard-panned instruments. Measures are the usual scale-invariant ones.
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

SENTENCE = (
    "Please call Stella. Ask her to bring these things with her from the store: "
    "six spoons of fresh snow peas and five thick slabs of blue cheese."
)


def espeak(text: str = SENTENCE, *, sample_rate: int, voice: str = "en-us") -> np.ndarray:
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


def harmonic_tone(freq: float, seconds: float, sample_rate: int, *, n_harm: int = 6) -> np.ndarray:
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
    return sum(harmonic_tone(f, seconds, sample_rate) for f in notes).astype(np.float32)


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


def white_noise(n: int, *, like: np.ndarray, snr_db: float, seed: int = 0) -> np.ndarray:
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
