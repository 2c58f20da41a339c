"""Chunking, crossfade, overlap-add and label merging: the maths, then with real models."""

from __future__ import annotations

import warnings

import engine_helpers as h
import numpy as np
import pytest
import soxr

from deepfx.card import Chunking
from deepfx.engine import (
    CancelToken,
    EffectResult,
    LabelResult,
    chunk_spans,
    chunk_starts,
    crossfade_weights,
    merge_labels,
    overlap_add,
    process,
)
from deepfx.errors import Cancelled, MemoryBudgetError, UsageError
from deepfx.labels import Label
from deepfx.model import load_model

warnings.simplefilter("ignore", DeprecationWarning)


def rel_rms(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.sqrt(np.mean((a - b) ** 2) / np.mean(b**2)))


# --- the maths -------------------------------------------------------------------------


@pytest.mark.parametrize("overlap", [4, 100, 101, 800])
def test_neighbour_fades_sum_to_one(overlap):
    w = 2000
    a = crossfade_weights(w, overlap)
    b = crossfade_weights(w, overlap)
    np.testing.assert_allclose(a[w - overlap :] + b[:overlap], 1.0, atol=1e-12)
    ends = crossfade_weights(w, overlap, fade_in=False, fade_out=False)
    assert (ends == 1).all()


def test_chunk_starts_cover_and_end_flush():
    assert chunk_starts(50, 100, 10) == [0]
    assert chunk_starts(100, 100, 10) == [0]
    starts = chunk_starts(1000, 100, 20)
    assert starts[:3] == [0, 80, 160] and starts[-1] == 900
    assert all(b - a <= 80 for a, b in zip(starts, starts[1:], strict=False))


def test_overlap_add_of_identity_is_identity():
    x = np.random.default_rng(0).standard_normal((2, 1003)).astype(np.float32)
    chunks = [(s, x[:, s : s + 100]) for s in chunk_starts(1003, 100, 40)]
    np.testing.assert_allclose(overlap_add(chunks, 1003, 40), x, atol=1e-6)


def test_merge_labels_joins_seams_and_drops_duplicates():
    labels = [
        Label(4.0, 5.0, "speech"),  # same event seen by two windows
        Label(4.0, 5.0, "speech"),
        Label(5.0, 6.5, "speech"),  # touches at the seam
        Label(6.2, 7.0, "speech"),  # overlaps
        Label(9.0, 9.5, "speech"),  # separate
        Label(4.5, 5.5, "music"),  # other text never merges with speech
        Label(0.0, 1.0, "music"),
    ]
    assert merge_labels(labels) == [
        Label(0.0, 1.0, "music"),
        Label(4.0, 7.0, "speech"),
        Label(4.5, 5.5, "music"),
        Label(9.0, 9.5, "speech"),
    ]
    assert merge_labels([]) == []


# --- chunked == whole, with a real conv net (receptive field +-12 samples) --------------


@pytest.fixture(scope="module")
def conv(tmp_path_factory):
    folder = h.conv_model(tmp_path_factory.mktemp("m") / "conv")
    return load_model(folder, device="cpu")


@pytest.fixture(scope="module")
def conv_stereo(tmp_path_factory):
    folder = h.conv_model(tmp_path_factory.mktemp("m") / "conv2", multichannel=True, in_ch=2)
    return load_model(folder, device="cpu")


def noise(channels: int, n: int, seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal((channels, n)) * 0.3).astype(np.float32)


def test_chunked_equals_whole_same_rate(conv):
    x = noise(1, 16000 * 3 + 321)
    res = process(conv, x, 16000)
    assert isinstance(res, EffectResult)
    whole = conv.forward(x)
    for i, label in enumerate(["a", "b"]):
        assert res.tracks[label].shape == (1, x.shape[1])
        assert rel_rms(res.tracks[label][0], whole[i]) <= 1e-4


def test_too_small_overlap_is_visible(conv):
    """Control: with a context shorter than the receptive field the seams show."""
    x = noise(1, 16000 * 2)
    res = process(conv, x, 16000, overlap_s=0.001)
    assert rel_rms(res.tracks["a"][0], conv.forward(x)[0]) > 1e-4


def test_chunked_equals_whole_across_resampling(conv):
    x = noise(2, 22050 * 3 + 77, seed=1)
    res = process(conv, x, 22050, mono=True)
    xm = soxr.resample(x.mean(axis=0), 22050, 16000, quality="HQ")[None].astype(np.float32)
    ref = soxr.resample(conv.forward(xm).T, 16000, 22050, quality="HQ").T
    for i, label in enumerate(["a", "b"]):
        y = res.tracks[label]
        assert y.shape == (1, x.shape[1])
        n = min(ref.shape[1], y.shape[1])
        assert rel_rms(y[0, :n], ref[i, :n]) <= 1e-4


def test_chunk_spans_on_a_grid_cover_and_end_flush():
    for n in (5000, 8000, 8001, 23456, 100_000):
        spans = chunk_spans(n, 8000, 832, grid=64)  # hop 7168 = 112 x 64
        assert all(a % 64 == 0 for a, _ in spans)
        assert spans[0][0] == 0 and spans[-1][1] == n
        assert all(b <= n and b - a >= min(n, 8000) for a, b in spans)
        assert all(spans[i + 1][0] < spans[i][1] for i in range(len(spans) - 1))  # overlap
    assert chunk_spans(30, 10, 2) == [(0, 10), (8, 18), (16, 26), (20, 30)]  # no grid: as before
    assert chunk_starts(30, 10, 2) == [0, 8, 16, 20]


def test_even_window_keeps_the_count_and_wastes_less():
    from deepfx.engine.overlap import even_window

    for n, window, overlap, grid in [
        (42 * 44100, 176400, 37136, 2048),  # the Demucs benchmark: 56 s -> 53.4 s computed
        (30, 10, 2, 1),
        (100_000, 8000, 832, 64),
        (8001, 8000, 832, 64),
        (5000, 8000, 832, 64),  # shorter than a window: untouched
    ]:
        even = even_window(n, window, overlap, grid)
        assert even <= window and (even - overlap) % grid == 0 or even == window
        before, after = chunk_spans(n, window, overlap, grid), chunk_spans(n, even, overlap, grid)
        assert len(after) == len(before)
        assert after[0][0] == 0 and after[-1][1] == n
        assert sum(b - a for a, b in after) <= sum(b - a for a, b in before)
    assert chunk_spans(30, even_window(30, 10, 2), 2) == [(0, 9), (7, 16), (14, 23), (21, 30)]
    spans = chunk_spans(42 * 44100, even_window(42 * 44100, 176400, 37136, 2048), 37136, 2048)
    assert sum(b - a for a, b in spans) < 54 * 44100


def test_plan_evens_chunks_out_for_a_known_length():
    from deepfx.engine.options import EngineOptions, plan

    card = h.card(labels=["out"], rate=16000, chunking=Chunking(window_s=1.0, overlap_s=0.1))
    p = plan(card, int(2.5 * 16000), 16000, 1, EngineOptions())
    assert p.window is not None and p.window < 16000  # 3 chunks of 0.9 s, not 1 + 1 + 0.7 s
    assert len(chunk_spans(p.total, p.window, p.overlap)) == 3
    long_min = card.model_copy(update={"min_input_s": 1.0})
    assert plan(long_min, int(2.5 * 16000), 16000, 1, EngineOptions()).window == 16000
    analyzer = h.card(
        labels=["x"], rate=16000, effect=False, chunking=Chunking(window_s=1.0, overlap_s=0.1)
    )  # labels stay on the card's round hop
    assert plan(analyzer, int(2.5 * 16000), 16000, 1, EngineOptions()).window == 16000


@pytest.mark.parametrize("seconds", [2.0, 3.1234])
def test_strided_network_matches_whole_only_on_its_grid(tmp_path, seconds):
    """A stride-64 network: chunks cut off its grid show seams; with ``grid_samples``
    every chunk starts on it and the result equals the whole-input forward."""
    x = noise(1, int(16000 * seconds))
    results = {}
    for grid in (None, 64):
        chunking = Chunking(window_s=0.5, overlap_s=0.05, grid_samples=grid)
        folder = h.save(
            h.Strided(64),
            tmp_path / f"s{grid}",
            h.card(labels=["a", "b"], rate=16000, chunking=chunking),
        )
        model = load_model(folder, device="cpu")
        whole = model.forward(x)
        res = process(model, x, 16000)
        results[grid] = max(
            float(np.max(np.abs(res.tracks[lb][0] - whole[i]))) / float(np.max(np.abs(whole[i])))
            for i, lb in enumerate(["a", "b"])
        )
    assert results[None] > 1e-3  # control: off the grid the seams show
    assert results[64] <= 1e-6


def test_per_channel_keeps_channels(conv):
    x = noise(6, 16000 * 2 + 5, seed=2)
    res = process(conv, x, 16000, per_channel=True, stems=["b"])
    assert list(res.tracks) == ["b"]
    assert res.tracks["b"].shape == (6, x.shape[1])
    for c in range(6):
        assert rel_rms(res.tracks["b"][c], conv.forward(x[c : c + 1])[1]) <= 1e-4


def test_multichannel_model_gets_all_channels(conv_stereo):
    x = noise(2, 16000 * 2 + 9, seed=3)
    res = process(conv_stereo, x, 16000)
    assert res.tracks["a"].shape == (1, x.shape[1])
    assert rel_rms(res.tracks["a"][0], conv_stereo.forward(x)[0]) <= 1e-4


def test_batched_forward(tmp_path):
    folder = h.save(
        h.BatchGain(),
        tmp_path / "bg",
        h.card(labels=["half", "double"], rate=8000, batch=True, chunking=Chunking(window_s=0.25)),
    )
    mdl = load_model(folder, device="cpu")
    x = noise(1, 8000 * 3 + 17)
    res = process(mdl, x, 8000, batch=3)
    np.testing.assert_allclose(res.tracks["half"], x * 0.5, atol=1e-6)
    np.testing.assert_allclose(res.tracks["double"], x * 2.0, atol=1e-6)


def test_stem_subset_and_unknown_stem(conv):
    x = noise(1, 8000)
    assert list(process(conv, x, 16000, stems=["b"]).tracks) == ["b"]
    with pytest.raises(UsageError, match="its labels are: a, b"):
        process(conv, x, 16000, stems=["vocals"])


def test_whole_input_model_and_memory_budget(tmp_path):
    folder = h.save(
        h.ConvSep(),
        tmp_path / "whole",
        h.card(labels=["a", "b"], rate=16000, chunking=Chunking(whole_input=True)),
    )
    mdl = load_model(folder, device="cpu")
    calls = []
    x = noise(1, 16000 * 4)
    res = process(mdl, x, 16000, on_progress=calls.append)
    assert rel_rms(res.tracks["a"][0], mdl.forward(x)[0]) == 0.0
    assert sum(1 for c in calls if c.stage == "processing") == 1
    with pytest.raises(MemoryBudgetError, match="--memory-budget"):
        process(mdl, x, 16000, memory_budget_mb=0.1)


def test_latency_is_compensated(tmp_path):
    class Delay(h.WaveformToWaveform):
        def do_forward_pass(self, x):
            return h.torch.nn.functional.pad(x[:1], (7, 0))[:, : x.shape[1]]

    folder = h.save(Delay(), tmp_path / "d", h.card(labels=["out"], rate=8000, latency_samples=7))
    x = noise(1, 8000 * 3)
    res = process(load_model(folder), x, 8000, chunk_s=0.5, overlap_s=0.1)
    np.testing.assert_allclose(res.tracks["out"], x, atol=1e-6)


def test_progress_and_cancel(conv):
    x = noise(1, 16000 * 4)
    events = []
    process(conv, x, 16000, on_progress=events.append)
    proc = [e for e in events if e.stage == "processing"]
    assert events[0].stage == "loading"
    assert [e.done for e in proc] == sorted(e.done for e in proc)
    assert proc[-1].done == proc[-1].total == x.shape[1]
    assert proc[-1].eta_s == 0.0 and proc[-1].fraction == 1.0

    token = CancelToken()

    def stop_half_way(ev):
        if ev.stage == "processing" and ev.fraction > 0.3:
            token.cancel()

    with pytest.raises(Cancelled):
        process(conv, x, 16000, on_progress=stop_half_way, cancel=token)


# --- analyzers -------------------------------------------------------------------------


def test_analyzer_labels_merge_across_seams(tmp_path):
    rate = 8000
    folder = h.save(
        h.Loud(rate),
        tmp_path / "loud",
        h.card(
            labels=["loud"], rate=rate, effect=False, chunking=Chunking(window_s=1.0, overlap_s=0.2)
        ),
    )
    x = np.zeros((1, rate * 5), np.float32)
    x[0, int(0.7 * rate) : int(2.9 * rate)] = 0.8  # spans two window seams
    x[0, int(4.0 * rate) : int(4.5 * rate)] = 0.8
    res = process(folder, x, rate)
    assert isinstance(res, LabelResult)
    assert [lb.text for lb in res.labels] == ["loud", "loud"]
    a, b = res.labels
    assert a.start_s == pytest.approx(0.7, abs=0.011) and a.end_s == pytest.approx(2.9, abs=0.011)
    assert b.start_s == pytest.approx(4.0, abs=0.011) and b.end_s == pytest.approx(4.5, abs=0.011)
    # same file at another rate: times stay absolute
    x2 = soxr.resample(x[0], rate, 11025)[None].astype(np.float32)
    res2 = process(folder, x2, 11025)
    assert len(res2.labels) == 2
    assert res2.labels[0].start_s == pytest.approx(0.7, abs=0.011)


def test_min_input_is_padded_and_cut(tmp_path):
    folder = h.save(
        h.NeedsLong(4000),
        tmp_path / "long",
        h.card(labels=["x"], rate=8000, min_input_s=0.5, chunking=Chunking(window_s=0.25)),
    )
    x = noise(1, 800)  # 0.1 s
    res = process(folder, x, 8000)
    np.testing.assert_allclose(res.tracks["x"], 2 * x, atol=1e-6)
