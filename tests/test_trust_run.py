"""Trust, the run's part: outputs never destroy inputs or each other, names are safe,
options are checked once, truncated files are refused, signals leave nothing behind."""

from __future__ import annotations

import hashlib
import math
import signal
import subprocess
import sys
import time
from pathlib import Path

import engine_helpers as h
import numpy as np
import pytest
import soundfile as sf
import torch

from deepfx.card import Chunking
from deepfx.engine import process, run
from deepfx.engine.options import (
    EngineOptions,
    check_chunk_s,
    check_device,
    check_memory_budget_mb,
    check_overlap_s,
    check_threads,
    plan,
    unique_labels,
)
from deepfx.errors import (
    AudioDecodeError,
    ContractError,
    OutputConflictError,
    OutputError,
    UsageError,
    excerpt,
)
from deepfx.outputs.names import OutputNaming, fit_name, output_name, plan_names, safe_component
from deepfx.outputs.temps import TEMP_PREFIX

RATE = 8000


@pytest.fixture(scope="module")
def gain(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return h.save(
        h.Gain([0.5]),
        tmp_path_factory.mktemp("g") / "gain",
        h.card(labels=["half"], rate=RATE, chunking=Chunking(window_s=0.25)),
    )


def _wav(path: Path, seconds: float = 0.5, seed: int = 0, channels: int = 1) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    x = np.random.default_rng(seed).uniform(-0.4, 0.4, (int(RATE * seconds), channels))
    sf.write(path, x.astype(np.float32), RATE, subtype="FLOAT")
    return path


def _tree(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


# --- pure rules, as tables ------------------------------------------------------------------

SAFE = [
    ("vocals", "vocals"),
    ("a/b", "a_b"),
    ("..", "_"),
    (".", "_"),
    ("", "_"),
    (".hidden", "_hidden"),
    ("nul\x00byte", "nul_byte"),
    ("line\nbreak", "line_break"),
    ("CON", "_CON"),
    ("com1.txt", "_com1.txt"),
    ("trailing. ", "trailing"),
    ('a:b*c?"d<e>f|g\\h', "a_b_c__d_e_f_g_h"),
    ("Grüße", "Grüße"),
]


@pytest.mark.parametrize(("text", "safe"), SAFE)
def test_safe_component(text: str, safe: str) -> None:
    assert safe_component(text) == safe


@pytest.mark.parametrize(
    ("name", "limit"),
    [
        ("a" * 300 + ".wav", 255),
        ("é" * 200 + ".flac", 255),
        ("🎵" * 100 + ".wav", 255),
        ("x.wav", 5),
    ],
)
def test_fit_name_keeps_the_extension_and_whole_characters(name: str, limit: int) -> None:
    out = fit_name(name, limit)
    assert len(out.encode("utf-8")) <= limit
    assert out.endswith("." + name.rsplit(".", 1)[1])
    out.encode("utf-8").decode("utf-8")  # no cut character


def test_output_name_is_safe_and_short() -> None:
    name = output_name("{stem} - {label}.{ext}", stem="s" * 400, label="../../etc", ext="wav")
    assert "/" not in name and len(name.encode()) <= 255 and name.endswith(".wav")
    with pytest.raises(OutputError, match="unknown field"):
        output_name("{label.__class__}", stem="a", label="b", ext="wav")
    with pytest.raises(OutputError, match="field width"):
        output_name("{label:>100000000}", stem="a", label="b", ext="wav")


PLANS = [
    # same-named inputs from different folders
    (
        [("x", [("half", 0, "wav")]), ("x", [("half", 0, "wav")])],
        "{stem} - {label}.{ext}",
        [{"half": "x - half.wav"}, {"half": "x - half (2).wav"}],
    ),
    # duplicate labels in a card (made distinct by unique_labels first)
    (
        [("a", [("d", 0, "wav"), ("d (2)", 1, "wav")])],
        "{stem} - {label}.{ext}",
        [{"d": "a - d.wav", "d (2)": "a - d (2).wav"}],
    ),
    # labels equal once made safe
    (
        [("a", [("x/y", 0, "wav"), ("x_y", 1, "wav")])],
        "{stem} - {label}.{ext}",
        [{"x/y": "a - x_y.wav", "x_y": "a - x_y (2).wav"}],
    ),
    # a template without {stem}; case-insensitive clash
    (
        [("A", [("v", 0, "wav")]), ("b", [("V", 0, "wav")])],
        "{label}.{ext}",
        [{"v": "v.wav"}, {"V": "V (2).wav"}],
    ),
]


@pytest.mark.parametrize(("inputs", "template", "want"), PLANS)
def test_plan_names(inputs: list, template: str, want: list) -> None:
    namings = [OutputNaming(stem=s, outputs=tuple(o)) for s, o in inputs]
    assert plan_names(namings, template=template) == want


def test_plan_names_shortened_names_stay_distinct() -> None:
    long = "é" * 300
    namings = [OutputNaming(stem=long, outputs=(("a", 0, "wav"),))] * 3
    names = [p["a"] for p in plan_names(namings, template="{stem} {label}.{ext}")]
    assert len(set(names)) == 3
    assert all(len(n.encode()) <= 255 and n.endswith(".wav") for n in names)


def test_unique_labels() -> None:
    assert unique_labels(["a", "b", "a", "a"]) == ["a", "b", "a (2)", "a (3)"]


BAD_OPTIONS = [
    (check_chunk_s, 0.0),
    (check_chunk_s, -1.0),
    (check_chunk_s, 1e9),
    (check_chunk_s, math.nan),
    (check_chunk_s, math.inf),
    (check_overlap_s, math.nan),
    (check_overlap_s, -0.5),
    (check_threads, -1),
    (check_threads, 0),
    (check_threads, 2.5),
    (check_memory_budget_mb, math.nan),
    (check_memory_budget_mb, 0.0),
    (check_device, "tpu"),
    (check_device, "cuda:x"),
]


@pytest.mark.parametrize(("check", "value"), BAD_OPTIONS)
def test_each_option_has_one_validator(check, value) -> None:  # noqa: ANN001
    with pytest.raises(UsageError):
        check(value)


def test_options_object_is_validated_and_frozen() -> None:
    with pytest.raises(UsageError):
        EngineOptions(chunk_s=math.nan)
    opts = EngineOptions(chunk_s=1.0)
    with pytest.raises(AttributeError):
        opts.chunk_s = 2.0  # type: ignore[misc]


PLAN_TABLE = [
    # (card kwargs, frames, rate, channels, options, expected fields)
    # stereo stays stereo: a mono effect runs per channel by default; --mono mixes down
    (dict(labels=["a", "b"]), 16000, RATE, 2, EngineOptions(), dict(window=80000, lanes=2)),
    (dict(labels=["a", "b"]), 16000, RATE, 2, EngineOptions(mono=True), dict(lanes=1)),
    (dict(labels=["a"], effect=False), 16000, RATE, 2, EngineOptions(), dict(lanes=1)),
    (dict(labels=["a"], multichannel=True), 16000, RATE, 2, EngineOptions(), dict(lanes=1)),
    (
        dict(labels=["a", "b"]),
        16000,
        RATE,
        2,
        EngineOptions(per_channel=True, chunk_s=1.0, overlap_s=0.1),
        # --chunk is the longest chunk: 2 s in 3 even chunks of 0.73 s, not 1 + 1 + 0.2 s
        dict(window=5867, overlap=800, lanes=2, channels_in=2),
    ),
    (
        dict(labels=["a", "a"]),
        100,
        RATE,
        1,
        EngineOptions(),
        dict(keep=("a", "a (2)"), keep_idx=(0, 1)),
    ),
    (
        dict(labels=["a", "b"]),
        100,
        16000,
        1,
        EngineOptions(stems=("b",)),
        dict(keep=("b",), total=50),
    ),
    (dict(labels=["a"], batch=True), 100, RATE, 1, EngineOptions(batch=3), dict(batch=3)),
]


@pytest.mark.parametrize(("card_kw", "frames", "rate", "channels", "opts", "want"), PLAN_TABLE)
def test_plan_table(card_kw, frames, rate, channels, opts, want) -> None:  # noqa: ANN001
    card = h.card(rate=RATE, **card_kw)
    p = plan(card, frames, rate, channels, opts)
    for key, value in want.items():
        assert getattr(p, key) == value, key


def test_excerpt() -> None:
    assert excerpt("short") == "'short'"
    long = excerpt("x" * 10_000_000)
    assert len(long) < 120 and "10000000 characters" in long
    assert "\n" not in excerpt("a\nb" * 100)


# --- the engine on files ----------------------------------------------------------------------


def test_output_equal_to_an_input_is_refused_before_anything_is_written(
    gain: Path, tmp_path: Path
) -> None:
    a = _wav(tmp_path / "a.wav", seed=1)
    b = _wav(tmp_path / "a - half.wav", seed=2)
    before = _tree(tmp_path)
    with pytest.raises(OutputConflictError, match="would overwrite the input"):
        run(gain, [a, b], tmp_path, overwrite=True)
    assert _tree(tmp_path) == before
    # without --overwrite the taken name is never used: the output names its model
    [ra, _] = run(gain, [a, b], tmp_path)
    assert ra.files["half"].name == "a - half (test-model).wav"
    assert _tree(tmp_path)[str(b.relative_to(tmp_path))] == before[str(b.relative_to(tmp_path))]


def test_output_through_a_link_to_an_input_is_refused(gain: Path, tmp_path: Path) -> None:
    src = _wav(tmp_path / "in" / "a - half.wav")
    (tmp_path / "out").symlink_to(tmp_path / "in")
    other = _wav(tmp_path / "x" / "a.wav")
    with pytest.raises(OutputConflictError):
        run(gain, [other, tmp_path / "out" / "a - half.wav"], tmp_path / "in", overwrite=True)
    assert src.exists()


def test_same_named_inputs_get_distinct_outputs(gain: Path, tmp_path: Path) -> None:
    x1 = _wav(tmp_path / "d1" / "x.wav", seed=1)
    x2 = _wav(tmp_path / "d2" / "x.wav", seed=2)
    res = run(gain, [x1, x2], tmp_path / "out", device="cpu")
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == ["x - half (2).wav", "x - half.wav"]
    for src, r in zip((x1, x2), res, strict=True):
        got, _ = sf.read(r.files["half"], dtype="float32")
        want, _ = sf.read(src, dtype="float32")
        np.testing.assert_allclose(got, want * 0.5, atol=1e-6)


def test_duplicate_and_unsafe_labels_keep_every_output(tmp_path: Path) -> None:
    labels = ["d", "d", "a/b", "..", "CON", "z" * 300, ".hidden"]
    folder = h.save(
        h.Gain([0.1 * (i + 1) for i in range(len(labels))]),
        tmp_path / "m",
        h.card(labels=labels, rate=RATE, chunking=Chunking(window_s=0.25)),
    )
    src = _wav(tmp_path / "in" / "s.wav")
    out = tmp_path / "out"
    (res,) = run(folder, [src], out, device="cpu")
    files = sorted(out.iterdir())
    assert len(files) == len(labels) == len(res.files)
    assert all(p.parent == out and not p.name.startswith(".") for p in files)
    assert all(len(p.name.encode()) <= 255 for p in files)
    x, _ = sf.read(src, dtype="float32")
    for i, path in enumerate(res.files.values()):
        got, _ = sf.read(path, dtype="float32")
        np.testing.assert_allclose(got, x * 0.1 * (i + 1), atol=1e-5)


def test_long_input_name_is_shortened_to_255_bytes(gain: Path, tmp_path: Path) -> None:
    src = _wav(tmp_path / ("é" * 125 + ".wav"))  # 254 bytes: its output would be 261
    (res,) = run(gain, [src], tmp_path / "out", device="cpu")
    name = res.files["half"].name
    assert len(name.encode()) <= 255 and name.endswith(" - half.wav")  # the label is kept
    assert res.files["half"].is_file()


def test_8_channels_as_mp3_fails_before_anything_is_written(gain: Path, tmp_path: Path) -> None:
    src = _wav(tmp_path / "ch8.wav", channels=8)
    with pytest.raises(OutputError, match="formats that can: wav, flac"):
        run(gain, [src], tmp_path / "out", per_channel=True, audio_format="mp3")
    assert not (tmp_path / "out").exists()


def test_truncated_mp3_is_refused_not_padded(gain: Path, tmp_path: Path) -> None:
    full = tmp_path / "full.mp3"
    sf.write(full, (np.sin(np.arange(44100 * 3) * 0.05) * 0.5).astype(np.float32), 44100)
    cut = tmp_path / "cut.mp3"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    with pytest.raises(AudioDecodeError, match="truncated"):
        run(gain, [cut], tmp_path / "out", device="cpu")
    assert not (tmp_path / "out").exists()
    (ok,) = run(gain, [full], tmp_path / "ok", device="cpu")  # the whole file still runs
    assert sf.info(ok.files["half"]).frames == sf.info(full).frames


def test_process_rejects_sample_rate_zero(gain: Path) -> None:
    with pytest.raises(UsageError, match="sample_rate"):
        process(gain, np.zeros((1, 100), np.float32), 0)


class _Ragged(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return [x[0, :1, :], x[0, :1, :-1]]


def test_ragged_batch_output_is_a_contract_error(tmp_path: Path) -> None:
    folder = h.save(
        _Ragged(),
        tmp_path / "r",
        h.card(labels=["a"], rate=RATE, batch=True, chunking=Chunking(window_s=0.1)),
    )
    with pytest.raises(ContractError, match="different shapes"):
        process(folder, np.zeros((1, RATE), np.float32), RATE, batch=4)


# --- signals ----------------------------------------------------------------------------------


class _Slow(torch.nn.Module):
    """A forward call that stays in TorchScript's C++ interpreter for a long time."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x[:1] * 0.0
        for _ in range(20_000_000):
            y = y * 0.5
        return y + x[:1]


@pytest.fixture(scope="module")
def slow(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return h.save(
        _Slow(),
        tmp_path_factory.mktemp("s") / "slow",
        h.card(labels=["y"], rate=RATE, chunking=Chunking(whole_input=True)),
    )


def _start(model: Path, src: Path, out: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "deepfx", "run", str(model), str(src), "-o", str(out), "-q"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for_temp(proc: subprocess.Popen[str], out: Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if out.exists() and any(p.name.startswith(TEMP_PREFIX) for p in out.iterdir()):
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    proc.kill()
    pytest.fail("the run never started writing")


def test_sigterm_removes_temp_files_and_exits_143(tmp_path: Path) -> None:
    conv = h.conv_model(tmp_path / "conv", chunk_s=0.1, overlap_s=0.04)
    src = tmp_path / "long.wav"
    sf.write(src, np.random.default_rng(1).standard_normal((16000 * 300, 1)) * 0.2, 16000)
    out = tmp_path / "out"
    proc = _start(conv, src, out)
    _wait_for_temp(proc, out)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    assert err.count("\n") == 1 and "terminated" in err
    assert not out.exists()  # the run made it and removed it: no hidden .part file either


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_second_signal_exits_at_once_inside_a_long_forward_call(
    slow: Path, tmp_path: Path, sig: int
) -> None:
    src = _wav(tmp_path / "a.wav", seconds=0.1)
    out = tmp_path / "out"
    proc = _start(slow, src, out)
    _wait_for_temp(proc, out)
    time.sleep(0.5)  # inside the forward call (it runs for minutes)
    proc.send_signal(sig)
    time.sleep(0.3)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)  # not minutes: the watcher ended it
    assert proc.returncode == 128 + sig, err
    assert "stopped at once" in err and err.count("\n") == 1
    assert not out.exists() or list(out.iterdir()) == []  # temp files (and the folder) removed
    assert src.exists()
