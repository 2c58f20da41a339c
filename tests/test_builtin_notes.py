"""builtin/notes: basic-pitch's real network, ported to TorchScript, on real tones."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from signals import harmonic_tone, midi_to_hz, white_noise, with_silence

from deepfx.card import load_card

pytest.importorskip("torch")
pytest.importorskip("onnx")
SR = 22050


@pytest.fixture(scope="module")
def notes_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from deepfx.builtins.notes import SPECS

    dest = tmp_path_factory.mktemp("builtins") / "notes"
    SPECS[0].build(dest)
    return dest


@pytest.fixture(scope="module")
def notes(notes_folder: Path):  # noqa: ANN201
    from deepfx.model import load_model

    return load_model(notes_folder, strict_card=True)


def _labels(model, x: np.ndarray) -> list[tuple[str, float, float]]:  # noqa: ANN001
    idx, ts = model.forward(np.atleast_2d(x).astype(np.float32))
    return [(model.card.labels[i], float(a), float(b)) for i, (a, b) in zip(idx, ts, strict=True)]


def test_card(notes_folder: Path) -> None:
    assert sorted(p.name for p in notes_folder.iterdir()) == ["metadata.json", "model.pt"]
    card = load_card(notes_folder, strict=True)
    assert card.name == "builtin/notes"
    assert card.effect_type == "waveform-to-labels"
    assert card.sample_rate == SR
    assert len(card.labels) == 88 and card.labels[0] == "A0" and card.labels[-1] == "C8"
    assert card.labels[69 - 21] == "A4" and card.labels[60 - 21] == "C4"
    assert card.license == "Apache-2.0"
    assert card.authors and "Rachel M. Bittner" in card.authors
    assert card.citation and "Polyphonic Note Transcription" in card.citation


def test_port_matches_onnxruntime() -> None:
    """The traced torch graph computes what basic-pitch's ONNX file computes."""
    import onnxruntime as ort
    import torch

    from deepfx.builtins._notes_net import WINDOW
    from deepfx.builtins._onnx_torch import trace_onnx
    from deepfx.builtins.notes import onnx_path

    path = str(onnx_path())
    rng = np.random.default_rng(0)
    t = np.arange(WINDOW) / SR
    inputs = [
        (0.3 * np.sin(2 * np.pi * 440 * t) + 0.01 * rng.standard_normal(WINDOW)),
        harmonic_tone(261.63, WINDOW / SR, SR),
        0.2 * rng.standard_normal(WINDOW),
        np.zeros(WINDOW),
    ]
    traced = trace_onnx(path, torch.zeros(1, WINDOW, 1))
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    worst = 0.0
    for x in inputs:
        batch = np.asarray(x, np.float32).reshape(1, WINDOW, 1)
        ref = session.run(None, {name: batch})
        with torch.no_grad():
            out = traced(torch.from_numpy(batch))
        for r, o in zip(ref, out, strict=True):
            assert r.shape == tuple(o.shape)
            worst = max(worst, float(np.abs(r - o.numpy()).max()))
    assert worst < 1e-3, worst


def test_a4_tone_gives_one_a4(notes) -> None:  # noqa: ANN001
    for before in (1.0, 2.5):
        clip = with_silence(harmonic_tone(440.0, 1.0, SR), SR, before_s=before, after_s=1.0)
        labels = _labels(notes, clip)
        assert [name for name, _, _ in labels] == ["A4"], labels
        _, start, end = labels[0]
        assert abs(start - before) <= 0.1, (start, before)
        assert abs(end - (before + 1.0)) <= 0.1, (end, before + 1.0)


def test_c_major_scale_in_order(notes) -> None:  # noqa: ANN001
    scale = [60, 62, 64, 65, 67, 69, 71, 72]
    parts = [np.zeros(int(0.5 * SR), np.float32)]
    onsets = []
    pos = 0.5
    for midi in scale:
        onsets.append(pos)
        parts += [harmonic_tone(midi_to_hz(midi), 0.4, SR), np.zeros(int(0.1 * SR), np.float32)]
        pos += 0.5
    labels = _labels(notes, np.concatenate(parts))
    assert [n for n, _, _ in labels] == ["C4", "D4", "E4", "F4", "G4", "A4", "B4", "C5"], labels
    for (_, start, end), onset in zip(labels, onsets, strict=True):
        assert abs(start - onset) <= 0.1
        assert abs(end - (onset + 0.4)) <= 0.1


def test_long_input_spans_several_windows(notes) -> None:  # noqa: ANN001
    """A note that crosses the network's 2 s windows stays one note at the right times."""
    clip = with_silence(harmonic_tone(midi_to_hz(57), 3.0, SR), SR, before_s=1.5, after_s=0.5)
    labels = _labels(notes, clip)
    assert [n for n, _, _ in labels] == ["A3"], labels
    assert abs(labels[0][1] - 1.5) <= 0.1 and abs(labels[0][2] - 4.5) <= 0.1


@pytest.mark.parametrize(
    "signal",
    [np.zeros(2 * SR, np.float32), white_noise(2.0, SR, rms=0.1), np.zeros(10, np.float32)],
    ids=["silence", "noise", "tiny"],
)
def test_nothing_on_silence_or_noise(notes, signal: np.ndarray) -> None:  # noqa: ANN001
    assert _labels(notes, signal) == []


def test_stereo_equals_mono(notes) -> None:  # noqa: ANN001
    tone = with_silence(harmonic_tone(440.0, 0.5, SR), SR, before_s=0.3, after_s=0.3)
    assert _labels(notes, np.stack([tone, tone])) == _labels(notes, tone)


def _partials_tone(f0: float, seconds: float, partials: int = 4) -> np.ndarray:
    """A decaying tone with partials 1..``partials`` at amplitudes 1/k (a plucked string)."""
    t = np.arange(int(seconds * SR)) / SR
    env = np.minimum(1.0, t / 0.01) * np.exp(-1.5 * t)
    wave = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, partials + 1))
    return (0.3 * env * wave).astype(np.float32)


def test_harmonics_are_not_extra_notes(notes) -> None:  # noqa: ANN001
    """Issue 16: partials 1-4 at 392 Hz gave G4 (in two pieces), G5 and G6; now one G4."""
    labels = _labels(notes, _partials_tone(392.0, 2.0))
    assert [name for name, _, _ in labels] == ["G4"], labels


def test_a_melody_gets_about_one_label_per_note(notes) -> None:  # noqa: ANN001
    """A 30 s melody of 4-partial notes (C4..C5): 102 labels, up to G6, before the fix;
    now about one per note played, none above the highest partial-free range, and no
    two labels of one pitch overlap."""
    rng = np.random.default_rng(0)
    x = np.zeros(30 * SR, np.float32)
    t, played = 0.0, 0
    while t < 29:
        d = float(rng.choice([0.25, 0.5, 0.75]))
        tone = _partials_tone(
            midi_to_hz(int(rng.choice([60, 62, 64, 65, 67, 69, 71, 72]))), d + 0.1
        )
        i = int(t * SR)
        x[i : i + len(tone)] += tone[: len(x) - i]
        t, played = t + d, played + 1
    labels = _labels(notes, x)
    assert len(labels) <= 1.15 * played, (len(labels), played)
    assert not any(name in ("G6", "C7") for name, _, _ in labels)
    by_name: dict[str, list[tuple[float, float]]] = {}
    for name, start, end in labels:
        by_name.setdefault(name, []).append((start, end))
    for spans in by_name.values():
        spans.sort()
        assert all(b[0] >= a[1] for a, b in zip(spans, spans[1:], strict=False)), spans
    print(f"melody: {played} notes played, {len(labels)} labels")
