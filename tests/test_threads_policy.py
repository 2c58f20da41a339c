"""The thread policy (deepfx.runners.threads) and the tuned ONNX runner's graph cache."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from engine_helpers import ConvSep, card, save
from torch import nn

from deepfx.runners import open_runner
from deepfx.runners.threads import (
    LARGE_WEIGHT_BYTES,
    SMALL_WEIGHT_BYTES,
    budget_now,
    choose_threads,
    cores,
    live_runs,
    run_lease,
)


def test_explicit_threads_always_win() -> None:
    c = choose_threads(requested=3, ops={"aten::lstm"}, weight_bytes=10)
    assert (c.threads, c.why) == (3, "asked for (--threads)")


def test_recurrent_networks_get_one_thread() -> None:
    for op in ("aten::lstm", "aten::gru_cell", "prim::Loop", "LSTM", "Scan"):
        c = choose_threads(requested=None, ops={op, "aten::conv1d"}, weight_bytes=25_000_000)
        assert c.threads == 1 and "recurrent" in c.why


def test_a_large_network_with_a_recurrent_layer_gets_the_budget() -> None:
    """Demucs v2 (1 GB, a BLSTM between conv levels) ran 1.95x faster on 2 threads; the
    25 MB GRU of builtin/enhance stays on one (its ``why`` names size and layer)."""
    demucs = choose_threads(
        requested=None, ops={"LSTM", "Conv"}, weight_bytes=1_063_000_000, budget=2
    )
    assert demucs.threads == 2 and demucs.why.startswith("large network (1063 MB, LSTM)")
    edge = choose_threads(requested=None, ops={"aten::gru"}, weight_bytes=LARGE_WEIGHT_BYTES)
    assert edge.threads >= 1 and "large" in edge.why
    below = choose_threads(
        requested=None, ops={"aten::gru"}, weight_bytes=LARGE_WEIGHT_BYTES - 1, budget=2
    )
    assert below.threads == 1


def test_small_networks_get_one_thread_large_conv_ones_the_budget() -> None:
    small = choose_threads(requested=None, ops={"aten::mul"}, weight_bytes=1000)
    assert small.threads == 1 and "small" in small.why
    big = choose_threads(
        requested=None, ops={"aten::conv1d"}, weight_bytes=SMALL_WEIGHT_BYTES * 4, budget=5
    )
    assert big.threads == 5 and "convolutional" in big.why
    assert choose_threads(requested=None, ops={"Conv"}, weight_bytes=0, budget=2).threads == 2


def test_budget_setting_caps_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEEPFX_THREAD_BUDGET", "1")
    assert budget_now() == 1
    monkeypatch.setenv("DEEPFX_THREAD_BUDGET", "0")
    from deepfx.errors import UsageError

    with pytest.raises(UsageError, match="DEEPFX_THREAD_BUDGET"):
        budget_now()


def test_runs_at_once_share_the_cores(tmp_path: Path) -> None:
    """A second process holding a lease halves the budget; when it ends, it is back."""
    code = (
        "import sys, time; from deepfx.runners.threads import run_lease; run_lease(); "
        "print('ready', flush=True); sys.stdin.readline()"
    )
    run_lease()  # this process counts as one run, as a runner on the CPU makes it
    before = live_runs()
    child = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        assert live_runs() == before + 1
        assert budget_now() == max(1, cores() // live_runs())
    finally:
        assert child.stdin is not None
        child.stdin.close()
        child.wait(timeout=60)
    deadline = time.monotonic() + 10
    while live_runs() > before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert live_runs() == before


def test_an_idle_lease_holder_does_not_halve_the_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    """A process that loaded a model and waits (the resident worker, the window, a
    benchmark's parent) is not counted; inside a forward call, or just after one, it is."""
    from deepfx.runners import threads

    monkeypatch.setattr(threads, "IDLE_AFTER_S", 0.5)
    code = (
        "import sys; from deepfx.runners import threads as t; t.run_lease(); "
        "print('ready', flush=True)\n"
        "for line in sys.stdin:\n"
        "    t._mark(line.strip() == 'busy'); print('ok', flush=True)"
    )
    run_lease()
    before = live_runs()
    child = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert child.stdin is not None and child.stdout is not None

    def say(word: str) -> None:
        assert child.stdin is not None and child.stdout is not None
        child.stdin.write(word + "\n")
        child.stdin.flush()
        assert child.stdout.readline().strip() == "ok"

    try:
        assert child.stdout.readline().strip() == "ready"
        assert live_runs() == before + 1  # just loaded: counted
        time.sleep(0.8)
        assert live_runs() == before  # idle since: not counted
        say("busy")
        time.sleep(0.8)
        assert live_runs() == before + 1  # inside a long call: counted however long
        say("idle")
        assert live_runs() == before + 1  # a call just ended: still counted
        time.sleep(0.8)
        assert live_runs() == before
    finally:
        child.stdin.close()
        child.wait(timeout=60)


def test_runners_apply_the_policy(tmp_path: Path) -> None:
    class Rec(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.rnn = nn.LSTM(1, 4, batch_first=True)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y, _ = self.rnn(x[:1].unsqueeze(-1))
            return y[..., 0]

    rec = save(Rec(), tmp_path / "rec", card(labels=["a"], rate=8000))
    r = open_runner(rec / "model.pt", device="cpu")
    assert r.threads == 1 and "recurrent" in r.threads_why
    r(np.zeros((1, 100), dtype=np.float32))
    assert torch.get_num_threads() == 1
    asked = open_runner(rec / "model.pt", device="cpu", threads=2)
    assert asked.threads == 2
    asked(np.zeros((1, 100), dtype=np.float32))
    assert torch.get_num_threads() == 2


def _onnx_folder(tmp_path: Path) -> Path:
    from deepfx.exporting import export

    return export(
        ConvSep(),
        card(labels=["a", "b"], rate=8000),
        tmp_path / "onnx-model",
        formats=("onnx",),
    )


def test_onnx_optimised_graph_is_cached_in_the_store_and_reused(tmp_path: Path) -> None:
    import shutil

    folder = _onnx_folder(tmp_path)
    cache = Path(os.environ["DEEPFX_HOME"]) / "cache" / "onnx"
    shutil.rmtree(cache, ignore_errors=True)  # export's own check loaded it once already
    before = sorted(p.name for p in folder.iterdir())
    first = open_runner(folder / "model.onnx", device="cpu")
    assert first.cached_from is None
    files = list(cache.glob("*.onnx"))
    assert len(files) == 1
    assert sorted(p.name for p in folder.iterdir()) == before  # never in the model's folder
    second = open_runner(folder / "model.onnx", device="cpu")
    assert second.cached_from == files[0]
    x = np.random.default_rng(0).uniform(-0.5, 0.5, (1, 3001)).astype(np.float32)
    assert float(np.max(np.abs(first(x) - second(x)))) <= 1e-5
    # a broken cache is deleted and the original used
    files[0].write_bytes(b"not onnx")
    third = open_runner(folder / "model.onnx", device="cpu")
    assert third.cached_from is None and third(x).shape == (2, 3001)


def test_onnx_session_is_tuned(tmp_path: Path) -> None:
    folder = _onnx_folder(tmp_path)
    r = open_runner(folder / "model.onnx", device="cpu")
    assert "convolutional" in r.threads_why  # Conv nodes: the budget, not one thread
    opts = r._session.get_session_options()
    assert opts.intra_op_num_threads == r.threads >= 1
    assert opts.enable_cpu_mem_arena is True and opts.enable_mem_pattern is False


def test_batch_actor_gets_its_share_of_the_cores(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each Ray actor reserves ``num_cpus``; its models' threads are capped to that share
    (the executor passes ``cores // actors``), unless --threads was given."""
    from deepfx.batch.executor import _RayWorker
    from deepfx.batch.worker import BatchOptions

    monkeypatch.setenv("DEEPFX_THREAD_BUDGET", "")  # restored after the test
    big = nn.Sequential(nn.Conv1d(1, 512, 9, padding=4), nn.Conv1d(512, 1, 9, padding=4))

    class Big(ConvSep):
        def __init__(self) -> None:
            super().__init__()
            self.net = big

    folder = save(Big(), tmp_path / "big", card(labels=["a"], rate=8000))
    actor = _RayWorker(
        thread_budget=1,
        model=str(folder),
        out_dir=str(tmp_path / "o"),
        options=BatchOptions(),
        config="",
        device="cpu",
    )
    assert budget_now() == 1
    assert actor.worker.model.runner.threads == 1
    assert "convolutional" in actor.worker.model.runner.threads_why
