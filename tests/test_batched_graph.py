"""A derived one-chunk ONNX network cut into a batched one (deepfx.runners.batched_graph),
verified at install, and run by the engine two shorter chunks at a time.

Real torch exports, real onnxruntime. No timing asserts: whether the batched graph was
kept is whatever the install measured; the tests check what each choice means.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from engine_helpers import card
from torch import nn

from deepfx.card import Chunking
from deepfx.engine.options import EngineOptions, plan
from deepfx.runners.batched_graph import BATCHED_KEY, batch_graph
from deepfx.runners.onnx import OnnxRunner

RATE = 8000


class Recurrent(nn.Module):
    """The original contributors' shape: ``(channels, samples)`` in, a batch axis of one
    added for the network and taken off again, two stems out. A conv front end and a
    bidirectional LSTM (the layer batching helps)."""

    def __init__(self, hard_batch: bool = False) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv1d(1, 8, 5, padding=2)
        self.lstm = nn.LSTM(8, 8, bidirectional=True)
        self.out = nn.Conv1d(16, 2, 1)
        self.hard_batch = hard_batch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mono = x.mean(dim=0, keepdim=True).unsqueeze(0)  # (1, 1, n)
        h = torch.tanh(self.conv(mono))  # (1, 8, n)
        if self.hard_batch:  # a wrapper that folds the batch axis away: batch 1 only
            h = h.reshape(8, -1).reshape(1, 8, -1) + h.reshape(-1)[:1].reshape(1, 1, 1)
        y = self.lstm(h.permute(2, 0, 1))[0].permute(1, 2, 0)  # (1, 16, n)
        return self.out(y)[0]  # (2, n)


class NoBatchAxis(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x[:1] * 0.5, x[:1] * -0.5], dim=0)


def _export(module: nn.Module, path: Path) -> Path:
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module.eval(),
            (torch.zeros(1, 4000),),
            str(path),
            dynamo=False,
            input_names=["audio"],
            output_names=["stems"],
            dynamic_axes={"audio": {0: "channels", 1: "samples"}, "stems": {1: "samples"}},
            opset_version=17,
        )
    return path


def _audio(seed: int, n: int = 3000, channels: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-0.5, 0.5, (channels, n)).astype(np.float32)


def test_cut_gives_each_chunk_of_a_batch_its_own_output(tmp_path: Path) -> None:
    one = _export(Recurrent(), tmp_path / "one.onnx")
    assert batch_graph(one, tmp_path / "batched.onnx") is None
    single = OnnxRunner(one, threads=1, cache=False)
    batched = OnnxRunner(tmp_path / "batched.onnx", threads=1, cache=False)
    assert not single.batched and single.chunks_per_call == 1
    assert batched.batched and batched.chunks_per_call == 2
    chunks = [_audio(i) for i in range(3)]
    got = batched(np.stack(chunks))
    assert got.shape == (3, 2, 3000)
    for i, chunk in enumerate(chunks):  # different chunks: nothing leaks between them
        np.testing.assert_allclose(got[i], single(chunk), atol=1e-5)
    # one chunk is a batch of one; the wrapper's own first step (a channel mean) still
    # runs per chunk, on stereo too
    np.testing.assert_allclose(batched(chunks[0]), single(chunks[0]), atol=1e-5)
    stereo = _audio(5, channels=2)
    np.testing.assert_allclose(batched(stereo[None])[0], single(stereo), atol=1e-5)


def test_cut_refuses_a_graph_without_the_wrapper_axis(tmp_path: Path) -> None:
    path = _export(NoBatchAxis(), tmp_path / "plain.onnx")
    why = batch_graph(path, tmp_path / "out.onnx")
    assert why is not None and "batch axis" in why
    assert not (tmp_path / "out.onnx").exists()


def test_a_core_that_bakes_in_batch_one_is_caught_by_the_check(tmp_path: Path) -> None:
    """The cut cannot see that a reshape folds the batch axis away; the install's check
    (each chunk of a batch against the original) does, and keeps the one-chunk graph."""
    from deepfx.optimize import _try_batched

    one = _export(Recurrent(hard_batch=True), tmp_path / "one.onnx")
    single = OnnxRunner(one, threads=1, cache=False)
    c = card(labels=["a", "b"], rate=RATE, chunking=Chunking(window_s=1.0, overlap_s=0.1))
    cut, info = _try_batched(single, single, one, [_audio(1)], c, 0.5)
    assert cut is None and "batch" not in info
    assert info["batch_note"].startswith(("the batched graph differs", "the batched graph fails"))
    assert not (tmp_path / "batched.onnx").exists()


def test_plan_halves_the_window_for_a_batched_graph() -> None:
    c = card(labels=["a", "b"], rate=RATE, chunking=Chunking(window_s=2.0, overlap_s=0.2))
    base = plan(c, 10 * RATE, RATE, 1, EngineOptions())
    two = plan(c, 10 * RATE, RATE, 1, EngineOptions(), network_batch=2)
    assert base.batch == 1 and two.batch == 2
    assert two.window is not None and base.window is not None
    assert two.window <= RATE < base.window and two.overlap == base.overlap  # 2 s / 2
    # chunks that would be under four overlaps long: one at a time, the card's window
    tight = card(labels=["a", "b"], rate=RATE, chunking=Chunking(window_s=1.0, overlap_s=0.2))
    kept = plan(tight, 10 * RATE, RATE, 1, EngineOptions(), network_batch=2)
    assert (
        kept.batch == 1 and kept.window == plan(tight, 10 * RATE, RATE, 1, EngineOptions()).window
    )
    # analyzers never: their labels are laid on the card's hop
    vad = card(
        labels=["speech"], rate=RATE, effect=False, chunking=Chunking(window_s=2.0, overlap_s=0.2)
    )
    assert plan(vad, 10 * RATE, RATE, 1, EngineOptions(), network_batch=2).batch == 1


def test_engine_runs_a_batched_model_two_chunks_per_call(tmp_path: Path) -> None:
    """A model folder whose ONNX file is a batched graph: the engine sends two shorter
    chunks per call, and the result is the one-chunk graph's run on the same chunks."""
    import soundfile as sf

    from deepfx.engine import run
    from deepfx.model import load_model

    folder = tmp_path / "batched-model"
    folder.mkdir()
    one = _export(Recurrent(), tmp_path / "one.onnx")
    assert batch_graph(one, folder / "model.onnx") is None
    c = card(labels=["a", "b"], rate=RATE, chunking=Chunking(window_s=2.0, overlap_s=0.2))
    c.model_copy(update={"model_file": "model.onnx", "model_format": "onnx"}).write(
        folder / "metadata.json"
    )
    x = np.random.default_rng(3).uniform(-0.5, 0.5, 9 * RATE + 123).astype(np.float32)
    src = tmp_path / "in.wav"
    sf.write(str(src), x, RATE, subtype="FLOAT")
    model = load_model(folder, device="cpu").load()
    shapes: list[tuple[int, ...]] = []
    call = model.runner._session.run

    def counting(names: object, feeds: dict[str, np.ndarray]) -> object:
        shapes.append(next(iter(feeds.values())).shape)
        return call(names, feeds)

    model.runner._session.run = counting
    out = run(model, [src], tmp_path / "out", overwrite=True)
    assert any(s[0] == 2 for s in shapes), shapes  # two chunks in one call
    assert all(s[0] <= 2 for s in shapes)
    got = sf.read(str(out[0].files["a"]), dtype="float32")[0]
    assert got.shape == x.shape and np.isfinite(got).all()
    # the same chunks through the one-chunk graph, one by one: the same audio
    p = plan(model.card, x.size, RATE, 1, EngineOptions(), network_batch=2)
    from deepfx.engine import chunk_spans

    assert p.window is not None
    single = OnnxRunner(one, threads=1, cache=False)
    spans = chunk_spans(x.size, p.window, p.overlap, p.grid)
    assert len(spans) >= 4
    from deepfx.engine.overlap import overlap_add

    ref = overlap_add([(a, single(x[None, a:b])) for a, b in spans], x.size, p.overlap)
    np.testing.assert_allclose(got, ref[0], atol=1e-5)


def test_batched_marker_is_in_the_metadata(tmp_path: Path) -> None:
    import onnx

    one = _export(Recurrent(), tmp_path / "one.onnx")
    assert batch_graph(one, tmp_path / "b.onnx") is None
    meta = {p.key: p.value for p in onnx.load(str(tmp_path / "b.onnx")).metadata_props}
    assert meta[BATCHED_KEY] == "chunks"


@pytest.mark.parametrize("seed", [0])
def test_parity_inputs_through_a_batched_graph(tmp_path: Path, seed: int) -> None:
    """Odd lengths (the battery's), silence and a one-sample chunk: the batched graph
    agrees with the one-chunk graph on each."""
    one = _export(Recurrent(), tmp_path / "one.onnx")
    assert batch_graph(one, tmp_path / "b.onnx") is None
    single = OnnxRunner(one, threads=1, cache=False)
    batched = OnnxRunner(tmp_path / "b.onnx", threads=1, cache=False)
    for n in (1, 17, 8001):
        x = _audio(seed + n, n=n)
        np.testing.assert_allclose(batched(x), single(x), atol=1e-5)
    z = np.zeros((1, 500), np.float32)
    np.testing.assert_allclose(batched(z), single(z), atol=1e-6)
