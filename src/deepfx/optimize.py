"""Derive a faster ONNX network from an installed model's own, verified, or say why not.

ONNX Runtime is often about twice as fast as TorchScript on a CPU, but nearly every
published model ships TorchScript only. :func:`derive` tries to make an ONNX version of
the model's network (TorchScript: torch's TorchScript exporter, then the TorchScript to
torch.export converter and the dynamo exporter; ``.pt2``: the dynamo exporter), with a
dynamic time axis, and keeps it only if

1. it passes deepfx's ONNX trust checks and loads through the normal ONNX runner;
2. it gives the original's output on the validation battery's inputs
   (:mod:`deepfx.battery`): every output within :data:`RELATIVE_TOLERANCE` of the
   original's peak, analyzers' class indices identical;
3. it is faster on a measured chunk (:func:`deepfx.settings.optimize_chunk_s` seconds),
   both runners timed in turn, interleaved, with the thread policy's threads.

The result is an :class:`Optimized` record that the store writes into the model's
manifest (``"optimized"``); the file goes to ``<model folder>/.deepfx-optimized/model.onnx``
beside the original, which is never replaced. Nothing here raises for a model that cannot
be converted: the record says why, in one line (``models info`` shows it).
"""

from __future__ import annotations

import contextlib
import hashlib
import shutil
import statistics
import tempfile
import time
import warnings
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from deepfx.card import ModelCard
from deepfx.contract import compare_outputs
from deepfx.errors import DeepfxError, first_line

__all__ = [
    "DERIVED_DIR",
    "DERIVED_FILE",
    "RELATIVE_TOLERANCE",
    "Optimized",
    "derive",
    "derive_isolated",
    "parity_inputs",
    "parity_problem",
]

#: Folder (inside the model's revision folder) holding the derived network.
DERIVED_DIR = ".deepfx-optimized"
DERIVED_FILE = f"{DERIVED_DIR}/model.onnx"
#: Largest difference allowed, relative to the original output's peak (at least 1).
RELATIVE_TOLERANCE = 1e-4
#: The format of a network file, by its suffix (the record's runner when nothing is kept).
_SOURCE_FORMATS = {".pt": "torchscript", ".pt2": "torch.export", ".onnx": "onnx"}
#: Timed calls per runner (after one warm-up call each).
_REPEATS = 3


@dataclass(frozen=True)
class Optimized:
    """What :func:`derive` found; stored as the manifest's ``"optimized"`` entry.

    ``runner`` is the one deepfx uses by default: ``"onnx"`` when the derived file was
    kept, else the original's format. ``status`` is ``kept``, ``slower``, ``failed``,
    ``skipped`` or ``off``; ``note`` the one line ``models info`` shows.
    """

    status: str
    runner: str
    note: str
    source_file: str = ""
    file: str | None = None
    sha256: str | None = None
    method: str | None = None
    original_s: float | None = None
    onnx_s: float | None = None
    chunk_s: float | None = None
    threads: int | None = None
    seconds_spent: float | None = None
    #: Chunks per call of a batched graph (:mod:`deepfx.runners.batched_graph`), kept
    #: because ``batch_s`` (that many chunks of ``chunk_s / batch`` at once) beat
    #: ``onnx_s``; ``None`` with ``batch_note`` saying why when it was not kept.
    batch: int | None = None
    batch_s: float | None = None
    batch_note: str | None = None

    @property
    def speedup(self) -> float | None:
        if self.original_s and self.onnx_s:
            return self.original_s / self.onnx_s
        return None

    def line(self) -> str:
        """``optimized: 2.1x faster (ONNX Runtime)`` or ``not optimized: <why>``."""
        if self.status == "kept" and self.speedup:
            batched = f", {self.batch} chunks per call" if self.batch else ""
            return f"optimized: {self.speedup:.1f}\u00d7 faster (ONNX Runtime, verified{batched})"
        return f"not optimized: {self.note}"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "speedup": self.speedup}

    @classmethod
    def from_dict(cls, data: Any) -> Optimized | None:
        if not isinstance(data, dict) or "status" not in data:
            return None
        fields = cls.__dataclass_fields__
        try:
            return cls(**{k: v for k, v in data.items() if k in fields})
        except TypeError:
            return None


def derive(folder: Path, card: ModelCard, *, source_file: Path) -> Optimized:
    """Try to derive, verify and time an ONNX network for the model in ``folder``.

    ``source_file`` is the network deepfx would load (``model.pt`` / ``model.pt2``). On
    success ``folder/.deepfx-optimized/model.onnx`` exists (kept or slower); on any
    failure it does not, and the record says why. Never raises for the model's sake.
    """
    started = time.perf_counter()
    rel = source_file.name
    fmt = _SOURCE_FORMATS.get(source_file.suffix, "")

    def record(status: str, note: str, **more: Any) -> Optimized:
        runner = "onnx" if status == "kept" else fmt
        spent = round(time.perf_counter() - started, 3)
        return Optimized(status, runner, note, rel, seconds_spent=spent, **more)

    if fmt == "onnx":
        return record("skipped", "the model ships ONNX already")
    if fmt not in ("torchscript", "torch.export"):
        return record("skipped", f"no converter for {source_file.suffix} files")
    try:
        original = _open(source_file)
    except DeepfxError as exc:
        return record("failed", f"the original does not load ({first_line(exc)})")
    if getattr(original, "device", "cpu") != "cpu":
        return record("skipped", f"runs on {original.device}; ONNX is derived for CPUs only")
    work = Path(tempfile.mkdtemp(prefix=".optimize-", dir=folder))
    try:
        target = work / "model.onnx"
        method, problem = _convert(original, card, target)
        if problem is not None:
            return record("failed", problem)
        try:
            derived = _open(target)
        except DeepfxError as exc:
            return record("failed", f"the derived ONNX does not pass deepfx's checks ({exc})")
        labels_seen = 0
        accepted: list[np.ndarray] = []
        for name, audio in parity_inputs(card):
            try:
                want = original(audio)
            except Exception:  # noqa: BLE001 - the original refuses it (stereo-only net,
                continue  # mono input): nothing to compare on this one
            try:
                got = derived(audio)
            except Exception as exc:  # noqa: BLE001 - e.g. a shape baked into the export
                return record("failed", f"the ONNX export fails on {name} ({_why(exc)})")
            problem = outputs_differ(want, got)
            if problem is not None:
                return record("failed", f"the ONNX export differs on {name}: {problem}")
            accepted.append(audio)
            if not card.is_effect:
                labels_seen += len(np.asarray(want[0]))
        if not accepted:
            return record("failed", "the original network runs on none of the test inputs")
        if card.is_effect and (card.model_extra or {}).get("batch") is True:
            # the engine sends batches of chunks to a "batch": true model
            stack = np.stack([accepted[-1]] * 2)
            try:
                problem = parity_problem(original, derived, stack)
            except Exception as exc:  # noqa: BLE001
                problem = _why(exc)
            if problem is not None:
                return record("failed", f"the ONNX export differs on a batch of chunks: {problem}")
        if not card.is_effect and labels_seen == 0:
            return record(
                "failed",
                "no test input gives a label, so the ONNX export's labels cannot be shown "
                "to match; kept the original",
            )
        from deepfx.settings import optimize_chunk_s

        chunk_s = float(optimize_chunk_s())
        if card.chunking and card.chunking.window_s:
            chunk_s = min(chunk_s, float(card.chunking.window_s))
        t_orig, t_onnx = time_side_by_side(original, derived, card, chunk_s)
        batch_more: dict[str, Any] = {}
        if t_onnx < t_orig and card.is_effect and (card.model_extra or {}).get("batch") is not True:
            cut, batch_more = _try_batched(original, derived, target, accepted, card, chunk_s)
            if cut is not None:
                target = cut  # the batched graph replaces the one-chunk one
        digest = hashlib.sha256(target.read_bytes()).hexdigest()
        out = folder / DERIVED_DIR
        if out.exists():
            shutil.rmtree(out)
        (work / "keep").mkdir()
        target.replace(work / "keep" / "model.onnx")
        (work / "keep").replace(out)
        more = {
            "file": DERIVED_FILE,
            "sha256": digest,
            "method": method,
            "original_s": round(t_orig, 5),
            "onnx_s": round(t_onnx, 5),
            "chunk_s": chunk_s,
            "threads": derived.threads,
            **batch_more,
        }
        if t_onnx < t_orig:
            return record("kept", "ONNX Runtime is faster", **more)
        return record(
            "slower", f"the ONNX version was not faster ({t_orig / t_onnx:.2f}\u00d7)", **more
        )
    except Exception as exc:  # noqa: BLE001 - a failed optimisation never fails an install
        return record("failed", f"{type(exc).__name__}: {first_line(exc)[:200]}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def derive_isolated(
    folder: Path, *, source_file: Path, timeout_s: float | None = None
) -> Optimized:
    """:func:`derive` in a child process, stopped after ``timeout_s`` seconds
    (:func:`deepfx.settings.optimize_timeout_s` by default).

    torch's exporters cannot be interrupted from inside: on a 265 M-parameter Demucs they
    take minutes, and a network that crashes them (or runs the process out of memory)
    would take the install down with it. In a child, the install only loses the
    optimisation: the record says why, nothing half-written is left in ``folder``, and
    the original network is what runs.
    """
    import json
    import os
    import signal
    import subprocess
    import sys

    from deepfx.settings import optimize_timeout_s

    limit = optimize_timeout_s() if timeout_s is None else timeout_s
    started = time.perf_counter()
    fmt = _SOURCE_FORMATS.get(source_file.suffix, "")

    def failed(note: str) -> Optimized:
        _forget_partial(folder)
        spent = round(time.perf_counter() - started, 3)
        return Optimized("failed", fmt, note, source_file.name, seconds_spent=spent)

    cmd = [sys.executable, "-W", "ignore", "-m", "deepfx.optimize", str(folder), str(source_file)]
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        start_new_session=True,  # the exporter's own helpers go with it on a timeout
        text=True,
    )
    try:
        out, err = proc.communicate(timeout=limit)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return failed(
            f"torch's ONNX exporter did not finish within {limit:g} s "
            "(DEEPFX_OPTIMIZE_TIMEOUT); kept the original"
        )
    except BaseException:  # Ctrl-C during an install: stop the child too
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        _forget_partial(folder)
        raise
    lines = [ln for ln in (out or "").splitlines() if ln.startswith("{")]
    record = Optimized.from_dict(json.loads(lines[-1])) if lines else None
    if proc.returncode != 0 or record is None:
        tail = (err or "").strip().splitlines()
        why = tail[-1][:200] if tail else ""
        code = proc.returncode
        died = f"signal {-code}" if code < 0 else f"exit code {code}"
        return failed(f"the ONNX exporter's process failed ({died}{': ' + why if why else ''})")
    return replace(record, seconds_spent=round(time.perf_counter() - started, 3))


def _forget_partial(folder: Path) -> None:
    """Remove what a stopped derivation left: its work folders (never the kept file of an
    earlier, finished one)."""
    for work in folder.glob(".optimize-*"):
        shutil.rmtree(work, ignore_errors=True)


def _main(argv: list[str] | None = None) -> int:
    """``python -m deepfx.optimize FOLDER SOURCE``: :func:`derive`, its record as one JSON
    line on stdout (what :func:`derive_isolated` runs in its child)."""
    import json
    import sys

    from deepfx.card import CardWarning, load_card

    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m deepfx.optimize FOLDER SOURCE_FILE", file=sys.stderr)
        return 2
    folder, source = Path(args[0]), Path(args[1])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CardWarning)
        card = load_card(folder)
    record = derive(folder, card, source_file=source)
    sys.stdout.write(json.dumps(record.to_dict()) + "\n")
    sys.stdout.flush()
    return 0


def parity_inputs(card: ModelCard) -> list[tuple[str, np.ndarray]]:
    """The validation battery's inputs, plus two that make analyzers answer (noise and
    silence give a voice or note detector nothing to say, so an export that lost a branch
    would pass on them): tone bursts with a syllable-rate envelope in noise, and a
    harmonic tone (partials 1-4 at 392 Hz)."""
    from deepfx.battery import battery

    items = [(b.name, b.audio) for b in battery(card, long_s=2.0)]
    sr = card.sample_rate
    rng = np.random.default_rng(99)
    t = np.arange(int(6 * sr)) / sr
    gate = ((t > 1.0) & (t < 4.0)).astype(np.float64)
    voice = 0.4 * np.sin(2 * np.pi * 180 * t) * (1 + np.sin(2 * np.pi * 4 * t)) * gate
    bursts = voice + 0.05 * rng.standard_normal(t.size)
    t2 = np.arange(int(2 * sr)) / sr
    tone = sum(0.25 / k * np.sin(2 * np.pi * 392 * k * t2) for k in range(1, 5))
    for name, x in (("tone bursts in noise, 6 s", bursts), ("harmonic tone, 2 s", tone)):
        mono = np.asarray(x, dtype=np.float32)[None, :]
        items.append((name, np.repeat(mono, 2, axis=0) if card.multichannel else mono))
    return items


def parity_problem(original: Any, derived: Any, x: np.ndarray) -> str | None:
    """``None`` when both runners agree on ``x`` (see :data:`RELATIVE_TOLERANCE`)."""
    return outputs_differ(original(x), derived(x))


def outputs_differ(want: Any, got: Any) -> str | None:
    """``None`` when a derived network's output ``got`` matches the original's ``want``:
    every value within :data:`RELATIVE_TOLERANCE` of the original's peak (at least 1),
    analyzers' class indices identical."""
    if isinstance(want, (tuple, list)):
        if not isinstance(got, (tuple, list)) or len(got) != len(want):
            return "a different number of outputs"
        want, got = tuple(want), tuple(got)
        scale = float(np.max(np.abs(np.asarray(want[1], dtype=np.float64)), initial=1.0))
        return compare_outputs(want, got, tolerance=RELATIVE_TOLERANCE * max(1.0, scale))
    scale = float(np.max(np.abs(np.asarray(want, dtype=np.float64)), initial=1.0))
    return compare_outputs(want, got, tolerance=RELATIVE_TOLERANCE * max(1.0, scale))


def time_side_by_side(
    original: Any, derived: Any, card: ModelCard, chunk_s: float, *, split: int = 1
) -> tuple[float, float]:
    """Median seconds per call of each runner on one chunk, calls interleaved.

    ``split`` > 1: ``derived`` gets the same audio as ``split`` shorter chunks in one
    batch (a batched graph, :mod:`deepfx.runners.batched_graph`)."""
    rng = np.random.default_rng(7)
    channels = 2 if card.multichannel else 1
    n = max(int(chunk_s * card.sample_rate), 16 * split)
    x = (0.3 * rng.standard_normal((channels, n))).astype(np.float32)
    y = x
    if split > 1:
        part = n // split
        y = np.stack([x[:, i * part : (i + 1) * part] for i in range(split)])
    original(x)  # warm-up (first-call compilation, allocations)
    derived(y)
    times: dict[str, list[float]] = {"a": [], "b": []}
    for i in range(_REPEATS):
        for key, runner in (
            (("a", original), ("b", derived))
            if i % 2 == 0
            else (
                ("b", derived),
                ("a", original),
            )
        ):
            t0 = time.perf_counter()
            runner(y if key == "b" else x)
            times[key].append(time.perf_counter() - t0)
    return statistics.median(times["a"]), statistics.median(times["b"])


# --- converting ---------------------------------------------------------------------------


def _try_batched(
    original: Any,
    single: Any,
    target: Path,
    accepted: list[np.ndarray],
    card: ModelCard,
    chunk_s: float,
) -> tuple[Path | None, dict[str, Any]]:
    """Cut the derived graph into a batched one; return it only if it gives the
    original's output on every accepted input and, chunk by chunk, on a batch of
    different chunks, and if ``CHUNKS_PER_CALL`` shorter chunks at once are faster than
    one chunk of the same audio. Otherwise ``None`` and why, in ``batch_note``."""
    from deepfx.runners.batched_graph import CHUNKS_PER_CALL, batch_graph

    cut = target.with_name("batched.onnx")
    kept = False
    try:
        try:
            why = batch_graph(target, cut)
        except Exception as exc:  # noqa: BLE001 - a graph the cut cannot read: no batching
            why = _why(exc)
        if why is not None:
            return None, {"batch_note": f"not batched: {why}"}
        try:
            batched = _open(cut)
        except DeepfxError as exc:
            return None, {"batch_note": f"the batched graph does not load ({first_line(exc)})"}
        try:
            problem = _batch_problem(original, batched, accepted)
            if problem is not None:
                return None, {"batch_note": f"the batched graph differs ({problem})"}
            t_one, t_batch = time_side_by_side(
                single, batched, card, chunk_s, split=CHUNKS_PER_CALL
            )
        except Exception as exc:  # noqa: BLE001 - e.g. a batch size baked into the graph
            return None, {"batch_note": f"the batched graph fails ({_why(exc)})"}
        finally:
            del batched  # one network's memory fewer while the install goes on
        timing = {"batch_s": round(t_batch, 5)}
        if t_batch >= t_one:
            return None, {
                **timing,
                "batch_note": f"a batch was not faster ({t_one / t_batch:.2f}x)",
            }
        kept = True
        return cut, {**timing, "batch": CHUNKS_PER_CALL}
    finally:
        if not kept:
            cut.unlink(missing_ok=True)


def _batch_problem(original: Any, batched: Any, accepted: list[np.ndarray]) -> str | None:
    """Why the batched graph is not the original: on one chunk (every accepted input) or
    on a batch of two different chunks, each against the original on its own."""
    if not getattr(batched, "batched", False):
        return "the cut graph does not take a batch"
    for audio in accepted:
        problem = parity_problem(original, batched, audio)
        if problem is not None:
            return problem
    a = accepted[-1]
    b = np.ascontiguousarray(0.5 * a[..., ::-1])
    got = batched(np.stack([a, b]))
    for i, item in enumerate((a, b)):
        problem = outputs_differ(original(item), got[i])
        if problem is not None:
            return f"chunk {i + 1} of a batch: {problem}"
    return None


def _open(path: Path) -> Any:
    from deepfx.runners import open_runner

    return open_runner(path, device="cpu")


def _convert(original: Any, card: ModelCard, target: Path) -> tuple[str, str | None]:
    """Write ``target`` from the loaded original; ``(method, None)`` or ``(.., why not)``."""
    import torch

    channels = 2 if card.multichannel else 1  # a multichannel card: a stereo example
    noise = np.random.default_rng(3).standard_normal((channels, card.sample_rate))
    x = torch.from_numpy((0.3 * noise).astype(np.float32))
    outputs = ["audio_out"] if card.is_effect else ["class_indices", "timestamps"]
    tried: list[str] = []
    attempts: list[tuple[str, Any]] = []
    if original.format == "torchscript":
        attempts.append(("torchscript exporter", lambda: _ts_legacy(torch, original, x, target)))
        attempts.append(("torch.export + dynamo", lambda: _ts_dynamo(torch, original, x, target)))
    else:
        attempts.append(("dynamo", lambda: _dynamo(torch, original._program, x, target)))
    for method, attempt in attempts:
        target.unlink(missing_ok=True)
        try:
            with _quiet():
                attempt()
        except Exception as exc:  # noqa: BLE001 - the next exporter may manage
            tried.append(f"{method}: {_why(exc)}")
            continue
        if not target.is_file():
            tried.append(f"{method}: wrote no file")
            continue
        if any(target.parent.glob("*.data")):
            return method, "the network is too large for one ONNX file (> 2 GB)"
        with contextlib.suppress(Exception):
            _name_outputs(target, outputs)
        return method, None
    return "", "torch's ONNX exporters could not convert it (" + "; ".join(tried) + ")"


def _ts_legacy(torch: Any, original: Any, x: Any, target: Path) -> None:
    """torch's TorchScript-based exporter: it reads the ScriptModule's graph directly."""
    torch.onnx.export(
        original._module,
        (x,),
        str(target),
        dynamo=False,
        input_names=["audio"],
        dynamic_axes={"audio": {0: "channels", 1: "time"}},
        opset_version=17,
    )


def _ts_dynamo(torch: Any, original: Any, x: Any, target: Path) -> None:
    """TorchScript -> torch.export (torch's converter, dynamic shapes) -> ONNX."""
    from torch._export.converter import TS2EPConverter

    program = TS2EPConverter(original._module, (x,)).convert()
    _dynamo(torch, program, x, target)


def _dynamo(torch: Any, program: Any, x: Any, target: Path) -> None:
    torch.onnx.export(
        program,
        (x,),
        str(target),
        dynamo=True,
        input_names=["audio"],
        external_data=False,
        optimize=True,
        verbose=False,
    )


def _name_outputs(path: Path, names: list[str]) -> None:
    """Readable output names (cosmetic: the runner reads outputs by position)."""
    import onnx

    model = onnx.load(str(path))
    if len(model.graph.output) != len(names):
        return
    rename = {o.name: n for o, n in zip(model.graph.output, names, strict=True)}
    for node in model.graph.node:
        node.output[:] = [rename.get(o, o) for o in node.output]
    for o in model.graph.output:
        o.name = rename[o.name]
    onnx.save(model, str(path))


def _why(exc: BaseException) -> str:
    """The telling line of an exporter's long error."""
    text = str(exc)
    for marker in ("<class", "Unsupported", "No ONNX function", "failed for node"):
        i = text.rfind(marker)
        if i >= 0:
            line = text[i:].splitlines()[0]
            return line[:160]
    return first_line(exc)[:160]


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """The exporters print graphs, progress and warnings (some from C++, to the process's
    own stdout/stderr); an install shows none of it, and ``--json`` output stays JSON."""
    import io
    import logging
    import os
    import sys

    logging.disable(logging.WARNING)
    saved = sys.stdout, sys.stderr
    for stream in saved:
        with contextlib.suppress(Exception):
            stream.flush()
    sys.stdout = sys.stderr = io.StringIO()
    kept: list[tuple[int, int]] = []
    try:
        with open(os.devnull, "w") as null:
            for fd in (1, 2):
                with contextlib.suppress(OSError):
                    kept.append((fd, os.dup(fd)))
                    os.dup2(null.fileno(), fd)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for fd, copy in kept:
            os.dup2(copy, fd)
            os.close(copy)
        sys.stdout, sys.stderr = saved
        logging.disable(logging.NOTSET)


if __name__ == "__main__":
    raise SystemExit(_main())
