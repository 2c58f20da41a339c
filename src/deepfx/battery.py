"""The validation battery's inputs: one list, used by ``deepfx validate`` and by the
parity check of a derived (optimised) network (:mod:`deepfx.optimize`).

Very short (the card's ``min_input_s``, else 50 ms), 1 s of noise on 1 and 2 channels
(6 when the card says ``multichannel``), silence, full-scale noise, and a long sweep (one
chunk of the card's preferred window when that is shorter); mono models get the host's
downmix.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from deepfx.card import ModelCard

__all__ = ["BatteryInput", "battery"]


@dataclass(frozen=True)
class BatteryInput:
    name: str
    audio: np.ndarray  # what the host hands the model (after downmix for mono models)
    note: str = ""


def battery(card: ModelCard, *, long_s: float) -> list[BatteryInput]:
    sr = card.sample_rate
    rng = np.random.default_rng(1234)

    def noise(channels: int, seconds: float, level: float = 0.5) -> np.ndarray:
        n = max(int(round(seconds * sr)), channels + 1)
        return (rng.uniform(-level, level, size=(channels, n))).astype(np.float32)

    def host_view(x: np.ndarray) -> tuple[np.ndarray, str]:
        if card.multichannel or x.shape[0] == 1:
            return x, ""
        return x.mean(axis=0, keepdims=True), f" (downmixed from {x.shape[0]} channels)"

    short_s = max(card.min_input_s or 0.0, 0.05)
    short_n = max(int(math.ceil(short_s * sr)), 8)
    long_note = ""
    long_len = max(long_s, 0.1)
    if card.chunking and card.chunking.window_s and not card.chunking.whole_input:
        if card.chunking.window_s < long_len:
            long_len = card.chunking.window_s
            long_note = f" (one {long_len:g} s chunk: the card's preferred window)"
    t = np.arange(int(round(long_len * sr)), dtype=np.float64) / sr
    sweep = 0.5 * np.sin(2 * np.pi * (50.0 * t + (sr / 8) * t * t / (2 * max(long_len, 1e-3))))
    long_audio = (sweep + rng.normal(0, 0.05, size=t.shape)).astype(np.float32)[None, :]

    items: list[tuple[str, np.ndarray]] = [
        (f"short ({short_n} samples)", noise(1, short_n / sr)),
        ("1 s noise, 1 channel", noise(1, 1.0)),
        ("1 s noise, 2 channels", noise(2, 1.0)),
    ]
    if card.multichannel:
        items.append(("1 s noise, 6 channels", noise(6, 1.0)))
    items += [
        ("silence, 1 s", np.zeros((1, sr), dtype=np.float32)),
        ("full-scale noise, 1 s", noise(1, 1.0, level=1.0)),
        (f"long ({long_len:g} s sweep)", long_audio),
    ]
    out = []
    for name, audio in items:
        view, note = host_view(audio)
        out.append(BatteryInput(name, view, note + (long_note if name.startswith("long") else "")))
    return out
