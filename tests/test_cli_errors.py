"""Every ordinary fault through the CLI: one line on stderr, the right exit code, nothing
written, inputs untouched.

The sweep is a table: each :class:`Case` builds what it needs in a fresh folder and
returns the command line; the test runs it in a subprocess and checks the four rules.
Other fault classes (model files, cards, the hub and the store) append their own rows
to ``CASES`` (a ``setup`` that returns ``Argv``; see ``_models`` for shared models).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import resource
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import engine_helpers as h
import numpy as np
import pytest
import soundfile as sf
import torch

from deepfx.card import Chunking

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX file modes and limits")

ROOT = os.geteuid() == 0
_LOCKED: list[Path] = []


def _lock(path: Path, mode: int) -> None:
    """Make ``path`` unwritable: ``chmod`` for a normal user; for root (who ignores modes)
    the immutable attribute, which even root cannot write through."""
    if not ROOT:
        os.chmod(path, mode)
        return
    if subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode != 0:
        pytest.skip("running as root on a file system without chattr +i")
    _LOCKED.append(path)


@dataclasses.dataclass
class Argv:
    """What a case runs: the arguments after ``deepfx``, and how."""

    args: list[str]
    nofile: int | None = None  # RLIMIT_NOFILE for the child
    #: run the child without the capabilities that let root read any file (setpriv)
    no_dac_override: bool = False


@dataclasses.dataclass(frozen=True)
class Case:
    id: str
    setup: Callable[[Path, dict[str, Path]], Argv]
    code: int
    says: str  # a piece of the one error line (case-insensitive)


# --- shared models (built once per module) --------------------------------------------


class Ragged(torch.nn.Module):
    """Claims ``batch: true`` but returns a list of differently sized outputs."""

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return [x[0, :1, :], x[0, :1, :-1]]


def _onnx_half(folder: Path) -> Path:
    import onnx
    from onnx import TensorProto, helper

    folder.mkdir(parents=True)
    half = helper.make_tensor("h", TensorProto.FLOAT, [], [0.5])
    graph = helper.make_graph(
        [helper.make_node("Mul", ["x", "h"], ["y"])],
        "half",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, "n"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, "n"])],
        [half],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(folder / "model.onnx"))
    h.card(labels=["half"], rate=8000, chunking=Chunking(window_s=0.5)).write(
        folder / "metadata.json"
    )
    return folder


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("models")
    chunk = Chunking(window_s=0.25)
    out = {
        "gain": h.save(
            h.Gain([0.5]), base / "gain", h.card(labels=["half"], rate=8000, chunking=chunk)
        ),
        "many": h.save(
            h.Gain([0.5] * 150),
            base / "many",
            h.card(labels=[f"s{i}" for i in range(150)], rate=8000, chunking=chunk),
        ),
        "ragged": h.save(
            Ragged(), base / "ragged", h.card(labels=["a"], rate=8000, batch=True, chunking=chunk)
        ),
        "onnx": _onnx_half(base / "onnx"),
    }
    return out


# --- inputs -----------------------------------------------------------------------------


def _wav(path: Path, *, channels: int = 1, seconds: float = 0.5, rate: int = 8000) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    x = np.random.default_rng(0).uniform(-0.3, 0.3, (int(rate * seconds), channels))
    sf.write(path, x, rate)
    return path


def _run(m: str, *extra: object) -> Callable[[Path, dict[str, Path]], Argv]:
    """`deepfx run MODEL a.wav -o out EXTRA...` on a fresh mono input."""

    def setup(tmp: Path, models: dict[str, Path]) -> Argv:
        src = _wav(tmp / "in" / "a.wav")
        return Argv(
            ["run", str(models[m]), str(src), "-o", str(tmp / "out"), "-q", *map(str, extra)]
        )

    return setup


def _same_folder(tmp: Path, models: dict[str, Path]) -> Argv:
    a = _wav(tmp / "a.wav")
    b = _wav(tmp / "a - half.wav", seconds=0.25)
    # without --overwrite a taken name is never used (the output names its model instead)
    return Argv(["run", str(models["gain"]), str(a), str(b), "-o", str(tmp), "-q", "--overwrite"])


def _read_only(tmp: Path, models: dict[str, Path]) -> Argv:
    src = _wav(tmp / "a.wav")
    out = tmp / "out"
    out.mkdir()
    _lock(out, 0o555)
    return Argv(["run", str(models["gain"]), str(src), "-o", str(out), "-q"])


def _not_ours(tmp: Path, models: dict[str, Path]) -> Argv:
    """An output folder inside a folder the user may not write (permission denied)."""
    src = _wav(tmp / "a.wav")
    locked = tmp / "locked"
    locked.mkdir()
    _lock(locked, 0o500)
    return Argv(["run", str(models["gain"]), str(src), "-o", str(locked / "out"), "-q"])


def _unreadable_input(tmp: Path, models: dict[str, Path]) -> Argv:
    src = _wav(tmp / "a.wav")
    os.chmod(src, 0o000)
    # root reads every file: as root, the child runs without CAP_DAC_OVERRIDE and
    # CAP_DAC_READ_SEARCH, so the file's modes hold for it as for any user
    args = ["run", str(models["gain"]), str(src), "-o", str(tmp / "out"), "-q"]
    return Argv(args, no_dac_override=ROOT)


def _dir_taken(tmp: Path, models: dict[str, Path]) -> Argv:
    src = _wav(tmp / "a.wav")
    (tmp / "out" / "a - half.wav").mkdir(parents=True)
    # --overwrite: without it the taken name is left alone (the output names its model)
    argv = ["run", str(models["gain"]), str(src), "-o", str(tmp / "out"), "-q", "--overwrite"]
    return Argv(argv)


def _out_is_file(tmp: Path, models: dict[str, Path]) -> Argv:
    src = _wav(tmp / "a.wav")
    (tmp / "out").write_text("not a folder")
    return Argv(["run", str(models["gain"]), str(src), "-o", str(tmp / "out"), "-q"])


def _long_folder(tmp: Path, models: dict[str, Path]) -> Argv:
    src = _wav(tmp / "a.wav")
    return Argv(["run", str(models["gain"]), str(src), "-o", str(tmp / ("x" * 300)), "-q"])


def _nofile(tmp: Path, models: dict[str, Path]) -> Argv:
    src = _wav(tmp / "a.wav")
    return Argv(["run", str(models["many"]), str(src), "-o", str(tmp / "out"), "-q"], nofile=100)


def _mp3_8ch(tmp: Path, models: dict[str, Path]) -> Argv:
    src = _wav(tmp / "ch8.wav", channels=8)
    return Argv(
        [
            "run",
            str(models["gain"]),
            str(src),
            "-o",
            str(tmp / "out"),
            "-q",
            "--per-channel",
            "--format",
            "mp3",
        ]
    )


def _truncated_mp3(tmp: Path, models: dict[str, Path]) -> Argv:
    full = tmp / "full.mp3"
    x = (np.sin(np.arange(44100 * 3) * 0.05) * 0.5).astype(np.float32)
    sf.write(full, x, 44100)
    data = full.read_bytes()
    cut = tmp / "cut.mp3"
    cut.write_bytes(data[: len(data) // 2])
    full.unlink()
    return Argv(["run", str(models["gain"]), str(cut), "-o", str(tmp / "out"), "-q"])


def _cmd(*args: str) -> Callable[[Path, dict[str, Path]], Argv]:
    def setup(tmp: Path, models: dict[str, Path]) -> Argv:
        return Argv([a.format(gain=models["gain"], onnx=models["onnx"], tmp=tmp) for a in args])

    return setup


def _no_cuda(
    setup: Callable[[Path, dict[str, Path]], Argv],
) -> Callable[[Path, dict[str, Path]], Argv]:
    """``setup``, on a machine without CUDA only (with CUDA, ``--device cuda`` works)."""

    def wrapped(tmp: Path, models: dict[str, Path]) -> Argv:
        if torch.cuda.is_available():
            pytest.skip("this machine has CUDA")
        return setup(tmp, models)

    return wrapped


CASES: list[Case] = [
    # outputs never destroy inputs or each other
    Case("output-is-an-input", _same_folder, 2, "would overwrite the input"),
    # ordinary file-system faults
    Case("read-only-output-folder", _read_only, 2, "not writable"),
    Case("permission-denied-parent", _not_ours, 2, "not writable"),
    Case("unreadable-input", _unreadable_input, 2, "not readable"),
    Case("output-name-is-a-folder", _dir_taken, 2, "taken by a folder"),
    Case("output-folder-is-a-file", _out_is_file, 2, "is a file"),
    Case("output-folder-name-too-long", _long_folder, 2, "output folder"),
    Case("more-outputs-than-open-files", _nofile, 2, "ulimit -n"),
    Case("mp3-with-8-channels", _mp3_8ch, 2, "formats that can"),
    Case("truncated-mp3", _truncated_mp3, 2, "truncated"),
    # a model breaking its contract
    Case("ragged-batch-output", _run("ragged", "--batch", 4), 4, "different shapes"),
    # numeric options, on every command that takes them
    Case("run-chunk-0", _run("gain", "--chunk", 0), 2, "--chunk"),
    Case("run-chunk-1e9", _run("gain", "--chunk", "1e9"), 2, "--chunk"),
    Case("run-chunk-nan", _run("gain", "--chunk", "nan"), 2, "--chunk"),
    Case("run-chunk-inf", _run("gain", "--chunk", "inf"), 2, "--chunk"),
    Case("run-chunk-not-a-number", _run("gain", "--chunk", "abc"), 2, "--chunk"),
    Case("run-overlap-nan", _run("gain", "--overlap", "nan"), 2, "--overlap"),
    Case("run-overlap-too-long", _run("gain", "--overlap", 1), 2, "overlap"),
    Case("run-threads-negative", _run("gain", "--threads", -1), 2, "--threads"),
    Case("run-threads-zero", _run("gain", "--threads", 0), 2, "--threads"),
    Case("run-memory-budget-nan", _run("gain", "--memory-budget", "nan"), 2, "--memory-budget"),
    Case("run-memory-budget-0", _run("gain", "--memory-budget", 0), 2, "--memory-budget"),
    Case("run-batch-0", _run("gain", "--batch", 0), 2, "--batch"),
    Case("run-device-tpu", _run("gain", "--device", "tpu"), 2, "unknown device"),
    Case("run-device-mps-torchscript", _run("gain", "--device", "mps"), 2, "mps"),
    Case("run-device-mps-onnx", _run("onnx", "--device", "mps"), 2, "mps"),
    Case("validate-device-tpu", _cmd("validate", "{gain}", "--device", "tpu"), 2, "unknown device"),
    Case("validate-device-mps-onnx", _cmd("validate", "{onnx}", "--device", "mps"), 2, "mps"),
    Case("validate-long-s-nan", _cmd("validate", "{gain}", "--long-s", "nan"), 2, "--long-s"),
    Case("apply-device-tpu", _cmd("audacity", "apply", "{gain}", "--device", "tpu"), 2, "device"),
    Case(
        "apply-threads-negative",
        _cmd("audacity", "apply", "{gain}", "--threads", "-1"),
        2,
        "--threads",
    ),
    Case(
        "apply-timeout-nan", _cmd("audacity", "apply", "{gain}", "--timeout", "nan"), 2, "--timeout"
    ),
    Case("status-timeout-0", _cmd("audacity", "status", "--timeout", "0"), 2, "--timeout"),
    Case(
        "demo-device-tpu", _cmd("demo", "-o", "{tmp}/demo", "--device", "tpu"), 2, "unknown device"
    ),
    Case("demo-device-mps", _cmd("demo", "-o", "{tmp}/demo", "--device", "mps"), 2, "mps"),
    # every face that takes --device: a typo and a device this machine lacks are usage
    # errors (exit 2) raised by the runner layer, never an "internal error" (70)
    Case("run-device-cpux", _run("gain", "--device", "cpux"), 2, "unknown device"),
    Case("run-device-cuda", _no_cuda(_run("gain", "--device", "cuda")), 2, "cuda"),
    Case("apply-device-cpux", _cmd("audacity", "apply", "{gain}", "--device", "cpux"), 2, "device"),
    Case(
        "apply-device-cuda",
        _no_cuda(_cmd("audacity", "apply", "{gain}", "--device", "cuda")),
        2,
        "cuda",
    ),
    Case(
        "validate-device-cuda", _no_cuda(_cmd("validate", "{gain}", "--device", "cuda")), 2, "cuda"
    ),
    Case(
        "demo-device-cuda",
        _no_cuda(_cmd("demo", "-o", "{tmp}/demo", "--device", "cuda")),
        2,
        "cuda",
    ),
    Case("run-stems-unknown", _run("gain", "--stems", "vocals"), 2, "vocals"),
    Case("run-threads-not-a-number", _run("gain", "--threads", "many"), 2, "--threads"),
]


# --- the sweep ----------------------------------------------------------------------------


def _snapshot(folder: Path) -> dict[str, tuple[int, str]]:
    """Every path under ``folder``: its size and hash (folders: -1), links not followed."""
    out: dict[str, tuple[int, str]] = {}
    for root, dirs, files in os.walk(folder):
        for name in dirs:
            out[os.path.relpath(Path(root) / name, folder)] = (-1, "")
        for name in files:
            p = Path(root) / name
            try:
                data = p.read_bytes()
            except PermissionError:
                data = b"?"
            out[os.path.relpath(p, folder)] = (len(data), hashlib.sha256(data).hexdigest())
    return out


def _preexec(argv: Argv) -> Callable[[], None] | None:
    nofile = argv.nofile
    if nofile is None:
        return None

    def child() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

    return child


def deepfx(argv: Argv, home: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, DEEPFX_HOME=str(home / "store"), HOME=str(home), COLUMNS="40")
    env.pop("DEEPFX_DEBUG", None)
    drop = ["-dac_override,-dac_read_search"]
    prefix = (
        ["setpriv", "--bounding-set", *drop, "--inh-caps", *drop] if argv.no_dac_override else []
    )
    return subprocess.run(
        [*prefix, sys.executable, "-m", "deepfx", *argv.args],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        preexec_fn=_preexec(argv),  # noqa: PLW1509 - limits and user for this child only
    )


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_fault_is_one_line_right_code_nothing_written(
    case: Case, models: dict[str, Path], tmp_path: Path
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    home = Path(tempfile.mkdtemp(prefix="deepfx-cli-home-"))
    try:
        argv = case.setup(work, models)
        before = _snapshot(work)
        r = deepfx(argv, home)
        after = _snapshot(work)
    finally:
        while _LOCKED:
            subprocess.run(["chattr", "-i", str(_LOCKED.pop())], check=False)
        subprocess.run(["chmod", "-R", "u+rwx", str(work)], check=False)
        subprocess.run(["rm", "-rf", str(home)], check=False)
    lines = r.stderr.splitlines()
    assert r.returncode == case.code, r.stderr
    assert len(lines) == 1, r.stderr  # one line, not wrapped although COLUMNS=40 and a pipe
    assert lines[0].startswith("error: "), r.stderr
    assert case.says.lower() in lines[0].lower(), r.stderr
    assert "internal error" not in r.stderr and "Traceback" not in r.stderr
    assert after == before, "something was written, changed or left behind"
    assert r.stdout == ""
