"""``deepfx validate``: prove a model folder works before anyone downloads it.

:func:`validate` loads the folder exactly as the host does (strict card read, the same
runners, :meth:`deepfx.model.Model.forward` with the contract enforced) and runs every
network file in it on a battery of inputs:

* very short (the card's ``min_input_s``, else 50 ms), about 1 s, long (>= 10 s, or one
  chunk of the card's preferred window), silence, full-scale noise;
* 1 and 2 channels (and 6 when the card says ``multichannel``); for mono models the
  host downmixes, so the check does too;
* determinism: the same input twice gives the same output;
* formats: every format present gives the same output as the first (within 1e-5).

Failures never raise: each one is a failed :class:`Check` whose message says what broke,
so a contributor sees every problem in one run. ``report.ok`` says whether all passed.
"""

from __future__ import annotations

import os
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from deepfx.battery import BatteryInput as _Input
from deepfx.battery import battery as _battery
from deepfx.card import CARD_FILENAME, FORMAT_FILES, ModelCard, load_card
from deepfx.contract import OUTPUT_TOLERANCE, compare_outputs
from deepfx.errors import DeepfxError, ValidationFailed
from deepfx.model import FewerOutputsWarning

__all__ = ["Check", "ValidationReport", "validate"]

#: Largest difference allowed between two formats of one model (the contract's one tolerance).
TOLERANCE = OUTPUT_TOLERANCE


@dataclass(frozen=True)
class Check:
    """One line of the report.

    ``name`` says what was checked, ``ok`` whether it passed, ``message`` what was seen
    (or what to fix), ``seconds`` how long it took, ``format`` which network file ran.
    """

    name: str
    ok: bool
    message: str = ""
    seconds: float | None = None
    format: str | None = None
    #: Passed, but something worth knowing (the model runs, differently from how a
    #: strict reading of the contract would have it, or not in the original host).
    warning: bool = False

    @property
    def status(self) -> str:
        return "FAIL" if not self.ok else "WARN" if self.warning else "PASS"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "ok": self.ok,
            "warning": self.warning,
            "message": self.message,
            "seconds": self.seconds,
            "format": self.format,
        }


@dataclass
class ValidationReport:
    """The outcome of :func:`validate`: every check, timings and peak memory.

    Printable with rich (``console.print(report)``) and as plain text (``str(report)``);
    :meth:`to_dict` gives JSON-ready data.
    """

    path: Path
    name: str
    effect_type: str | None = None
    formats: list[str] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    seconds: float = 0.0
    #: Peak resident memory of this process while validating, in MiB (None if unknown).
    peak_rss_mib: float | None = None

    @property
    def ok(self) -> bool:
        """True when at least one check ran and none failed."""
        return bool(self.checks) and all(c.ok for c in self.checks)

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if not c.ok]

    @property
    def warnings(self) -> list[Check]:
        return [c for c in self.checks if c.ok and c.warning]

    def raise_for_failures(self) -> None:
        """Raise :class:`~deepfx.errors.ValidationFailed` if any check failed."""
        if not self.ok:
            first = self.failures[0] if self.failures else None
            detail = f"; first: {first.name}: {first.message}" if first else ""
            raise ValidationFailed(
                f"{self.path}: {len(self.failures)} of {len(self.checks)} validation checks "
                f"failed{detail}",
                report=self,
            )

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "name": self.name,
            "effect_type": self.effect_type,
            "ok": self.ok,
            "formats": list(self.formats),
            "seconds": round(self.seconds, 4),
            "peak_rss_mib": None if self.peak_rss_mib is None else round(self.peak_rss_mib, 1),
            "checks": [c.to_dict() for c in self.checks],
        }

    def summary(self) -> str:
        n_fail = len(self.failures)
        verdict = "PASSED" if self.ok else f"FAILED ({n_fail} of {len(self.checks)} checks)"
        if self.warnings:
            verdict += f" with {len(self.warnings)} warning(s)"
        mem = f", peak memory {self.peak_rss_mib:.0f} MiB" if self.peak_rss_mib else ""
        return f"{self.name}: {verdict}; {len(self.checks)} checks in {self.seconds:.2f} s{mem}"

    def __str__(self) -> str:
        lines = [f"validation of {self.path}"]
        for c in self.checks:
            t = f" [{_ms(c.seconds)}]" if c.seconds is not None else ""
            lines.append(f"  {c.status}  {c.name}{t}: {c.message}")
        lines.append(self.summary())
        return "\n".join(lines)

    def __rich__(self) -> Any:
        from rich.console import Group
        from rich.table import Table
        from rich.text import Text

        table = Table(title=f"deepfx validate {self.path}", title_justify="left", expand=False)
        table.add_column("check", overflow="fold")
        table.add_column("result", no_wrap=True)
        table.add_column("time", justify="right", no_wrap=True)
        table.add_column("details", overflow="fold")
        for c in self.checks:
            style = {"PASS": "bold green", "WARN": "bold yellow", "FAIL": "bold red"}[c.status]
            result = Text(c.status, style=style)
            table.add_row(
                c.name, result, _ms(c.seconds) if c.seconds is not None else "", c.message
            )
        style = "bold green" if self.ok else "bold red"
        return Group(table, Text(self.summary(), style=style))


def validate(
    path: str | os.PathLike[str],
    *,
    formats: Sequence[str] | None = None,
    long_s: float = 10.0,
    device: str = "cpu",
    threads: int | None = None,
    tolerance: float = TOLERANCE,
    legacy_runtime: str | os.PathLike[str] | None = None,
) -> ValidationReport:
    """Run the validation battery on the model folder at ``path``.

    Parameters
    ----------
    path
        A model folder (``metadata.json`` + ``model.pt`` / ``model.pt2`` / ``model.onnx``)
        or its ``metadata.json``.
    formats
        Check only these formats (``torchscript``, ``torch.export``/``pt2``, ``onnx``);
        each must be present. Default: every format present in the folder.
    long_s
        Length of the long input in seconds (at least 10 s is what the host must handle;
        shorter only for quick experiments).
    device
        Where to run (``cpu`` by default so results are comparable between machines).
    threads
        CPU threads for the runners (None: the runtime's default).
    tolerance
        Largest absolute difference allowed between formats.
    legacy_runtime
        Also load ``model.pt`` in a real torch 1.9 (the original Audacity host's
        runtime) and compare its outputs on the battery with deepfx's: a Python 3.9
        interpreter, with torch 1.9 or to build the runtime from
        (:func:`deepfx.legacy.runtime.ensure_runtime`). Without it, ``model.pt`` is
        checked statically against torch 1.9's operators (a warning when it needs deepfx).

    Returns
    -------
    ValidationReport
        All checks; ``report.ok`` is False if any failed. Nothing is raised for a broken
        model: the report says what is wrong.
    """
    from deepfx.model import Model

    t_start = time.perf_counter()
    folder = Path(path).expanduser()
    if folder.is_file() and folder.name == CARD_FILENAME:
        folder = folder.parent
    report = ValidationReport(path=folder, name=folder.name)

    def finish() -> ValidationReport:
        report.seconds = time.perf_counter() - t_start
        report.peak_rss_mib = _peak_rss_mib()
        return report

    if not folder.is_dir():
        report.checks.append(
            Check("model folder", False, "not a folder; give the path of a model folder")
        )
        return finish()

    card = _read_card(folder, report)
    if card is None:
        return finish()
    fmts = _choose_formats(folder, card, formats, report)
    if not fmts:
        return finish()
    battery = _battery(card, long_s=long_s)
    outputs: dict[str, dict[str, Any]] = {}
    for fmt in fmts:
        outputs[fmt] = _run_format(
            Model, folder, card, fmt, battery, report, device=device, threads=threads
        )
    if "torchscript" in fmts:
        _check_legacy_host(
            folder, card, battery, outputs.get("torchscript", {}), report, legacy_runtime, tolerance
        )
    _compare_formats(outputs, fmts, report, tolerance=tolerance)
    return finish()


def _read_card(folder: Path, report: ValidationReport) -> ModelCard | None:
    """The card, read strictly as for a new upload (``None``: the check failed)."""
    t = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            card = load_card(folder, strict=True)
    except DeepfxError as exc:
        report.checks.append(Check("card (metadata.json)", False, str(exc), _since(t)))
        return None
    report.name = card.name or folder.name
    report.effect_type = card.effect_type
    from deepfx.scaffold import placeholder_fields

    unfilled = placeholder_fields(card)
    if unfilled:
        report.checks.append(
            Check(
                "card filled in",
                False,
                f"metadata.json still holds `deepfx init`'s placeholder text in "
                f"{' and '.join(unfilled)}; say what your model does there",
            )
        )
    report.checks.append(
        Check(
            "card (metadata.json)",
            True,
            f"{card.kind}, {card.sample_rate} Hz, {len(card.labels)} label(s), "
            f"{'multichannel' if card.multichannel else 'mono'}",
            _since(t),
        )
    )
    return card


def _choose_formats(
    folder: Path, card: ModelCard, formats: Sequence[str] | None, report: ValidationReport
) -> list[str]:
    """The formats to run: those asked for (each must be present), else all present."""
    from deepfx.exporting import normalize_formats
    from deepfx.folder import formats_in

    present = formats_in(folder)
    if formats:
        try:
            wanted = normalize_formats(list(formats))
        except DeepfxError as exc:
            report.checks.append(Check("formats", False, str(exc)))
            return []
        missing = [f for f in wanted if f not in present]
        if missing:
            report.checks.append(
                Check(
                    "formats",
                    False,
                    "asked for "
                    + ", ".join(f"{f} ({FORMAT_FILES[f]})" for f in missing)
                    + f" but the folder has only: {', '.join(present) or 'no network file'}",
                )
            )
        fmts = [f for f in wanted if f in present]
    else:
        fmts = present
    if not fmts:
        if not present:
            report.checks.append(
                Check(
                    "formats",
                    False,
                    "no network file: expected one of " + ", ".join(FORMAT_FILES.values()),
                )
            )
        return []
    if card.model_file and not (folder / card.model_file).is_file():
        report.checks.append(
            Check(
                "card model_file",
                False,
                f"the card names model_file {card.model_file!r} but the folder has no such "
                "file; fix model_file or re-export",
            )
        )
    report.formats = fmts
    if not formats or all(f in present for f in fmts):
        report.checks.append(
            Check("formats", True, ", ".join(f"{f} ({FORMAT_FILES[f]})" for f in fmts))
        )
    return fmts


def _compare_formats(
    outputs: dict[str, dict[str, Any]],
    fmts: list[str],
    report: ValidationReport,
    *,
    tolerance: float,
) -> None:
    """Every format agrees with the first, within ``tolerance``."""
    ref_fmt = fmts[0]
    for fmt in fmts[1:]:
        problems = []
        compared = 0
        for name, ref in outputs[ref_fmt].items():
            got = outputs[fmt].get(name)
            if got is None:
                continue
            compared += 1
            problem = compare_outputs(ref, got, tolerance=tolerance)
            if problem:
                problems.append(f"{name}: {problem}")
        if compared == 0:
            report.checks.append(
                Check(f"{fmt}: same output as {ref_fmt}", False, "nothing to compare (runs failed)")
            )
        elif problems:
            report.checks.append(
                Check(
                    f"{fmt}: same output as {ref_fmt}",
                    False,
                    "; ".join(problems[:3])
                    + (f" (+{len(problems) - 3} more)" if len(problems) > 3 else "")
                    + "; re-export both formats from the same module",
                    format=fmt,
                )
            )
        else:
            report.checks.append(
                Check(
                    f"{fmt}: same output as {ref_fmt}",
                    True,
                    f"{compared} inputs agree within {tolerance:g}",
                    format=fmt,
                )
            )


# --- the battery (deepfx.battery: shared with deepfx.optimize) -------------------------


def _run_format(
    model_cls: Any,
    folder: Path,
    card: ModelCard,
    fmt: str,
    battery: list[_Input],
    report: ValidationReport,
    *,
    device: str,
    threads: int | None,
) -> dict[str, Any]:
    """Load one format and run the battery; append checks; return outputs by input name."""
    t = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = model_cls(folder, card, fmt=fmt, device=device, threads=threads).load()
    except (DeepfxError, ValueError) as exc:  # ValueError: an unavailable device
        report.checks.append(Check(f"{fmt}: load", False, str(exc), _since(t), fmt))
        return {}
    report.checks.append(
        Check(f"{fmt}: load", True, f"{FORMAT_FILES[fmt]} on {model.device}", _since(t), fmt)
    )
    outputs: dict[str, Any] = {}
    forward: Callable[[np.ndarray], Any] = model.forward
    for item in battery:
        t = time.perf_counter()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FewerOutputsWarning)  # reported below
                out = forward(item.audio)
        except DeepfxError as exc:
            per_channel = _one_row_per_channel(model, card, item.audio)
            report.checks.append(
                Check(
                    f"{fmt}: {item.name}",
                    per_channel is not None,
                    (per_channel or _rule(exc)) + item.note,
                    _since(t),
                    fmt,
                    warning=per_channel is not None,
                )
            )
            continue
        secs = _since(t)
        outputs[item.name] = out
        msg = _describe_output(card, out) + item.note
        fewer = card.is_effect and np.asarray(out).shape[0] < len(card.labels)
        if fewer:
            rows = np.asarray(out).shape[0]
            msg += (
                f"; {rows} of {len(card.labels)} outputs for {item.audio.shape[0]} channel(s): "
                f"kept as {', '.join(card.labels[:rows])}, as the original host did"
            )
        if item.name.startswith("long"):
            audio_s = item.audio.shape[1] / card.sample_rate
            msg += f"; {audio_s / max(secs, 1e-9):.0f}x real time"
        report.checks.append(Check(f"{fmt}: {item.name}", True, msg, secs, fmt, warning=fewer))

    # determinism: run the 1 s input again, expect the identical output
    first = next((b for b in battery if b.name == "1 s noise, 1 channel"), battery[0])
    if first.name in outputs:
        t = time.perf_counter()
        try:
            again = forward(first.audio)
        except DeepfxError as exc:
            report.checks.append(Check(f"{fmt}: determinism", False, _rule(exc), _since(t), fmt))
        else:
            problem = compare_outputs(outputs[first.name], again, tolerance=0.0)
            report.checks.append(
                Check(
                    f"{fmt}: determinism",
                    problem is None,
                    "two runs on the same input give identical output"
                    if problem is None
                    else f"two runs on the same input differ ({problem}); remove randomness "
                    "(dropout in train mode? torch.rand?) from the forward pass",
                    _since(t),
                    fmt,
                )
            )
    return outputs


def _check_legacy_host(
    folder: Path,
    card: ModelCard,
    battery: list[_Input],
    outputs: dict[str, Any],
    report: ValidationReport,
    legacy_runtime: str | os.PathLike[str] | None,
    tolerance: float,
) -> None:
    """The original host's view of ``model.pt``: a static audit against torch 1.9's
    operators, and with ``legacy_runtime`` a real run in torch 1.9 compared with deepfx's
    outputs. A model only deepfx runs is a warning (it is fine for deepfx), a model that
    torch 1.9 runs *differently* is a failure."""
    from deepfx.exporting import compare_outputs
    from deepfx.legacy.archive import audit_archive

    name = "original host (torch 1.9)"
    t = time.perf_counter()
    try:
        audit = audit_archive(folder / FORMAT_FILES["torchscript"])
    except DeepfxError as exc:
        report.checks.append(Check(name, True, str(exc), _since(t), "torchscript", warning=True))
        return
    if legacy_runtime is None:
        report.checks.append(
            Check(name, True, audit.summary(), _since(t), "torchscript", warning=not audit.ok)
        )
        return
    from deepfx.legacy.runtime import ensure_runtime

    try:
        rt = ensure_runtime(legacy_runtime)
    except DeepfxError as exc:
        report.checks.append(Check(name, False, str(exc), _since(t), "torchscript"))
        return
    items = [b for b in battery if b.name in outputs]
    result = rt.run_model(folder / FORMAT_FILES["torchscript"], [b.audio for b in items])
    if not result.ok:
        hint = "" if audit.ok else f" ({audit.summary()})"
        report.checks.append(
            Check(
                name,
                True,
                result.describe() + hint + "; it runs in deepfx only: publish it without the "
                "`audacity` tag (deepfx publish does that)",
                _since(t),
                "torchscript",
                warning=True,
            )
        )
        return
    problems = []
    for item, got in zip(items, result.outputs, strict=True):
        problem = compare_outputs(
            outputs[item.name], _as_host_output(card, got), tolerance=tolerance
        )
        if problem:
            problems.append(f"{item.name}: {problem}")
    if problems:
        report.checks.append(
            Check(
                name,
                False,
                "torch 1.9 gives different output: " + "; ".join(problems[:3]) + "; re-export "
                "with `deepfx export` (it writes model.pt in the form torch 1.9 reads)",
                _since(t),
                "torchscript",
            )
        )
    else:
        report.checks.append(
            Check(
                name,
                True,
                f"torch 1.9 loads model.pt and gives deepfx's output on {len(items)} inputs "
                f"(within {tolerance:g})",
                _since(t),
                "torchscript",
            )
        )


def _as_host_output(card: ModelCard, out: Any) -> Any:
    """A raw torch 1.9 output in the form deepfx's checked output has, so the two
    compare like for like."""
    if card.is_effect:
        return np.asarray(out, dtype=np.float32)
    idx, ts = out
    return np.asarray(idx).astype(np.int64), np.asarray(ts, dtype=np.float64)


def _one_row_per_channel(model: Any, card: ModelCard, x: np.ndarray) -> str | None:
    """For a multichannel effect that failed on more channels than it has labels: if it
    returns one row per input channel (a channel processor), say so (a warning: it takes
    at most ``len(labels)`` channels), else None (a real failure)."""
    if not (card.is_effect and card.multichannel and x.shape[0] > len(card.labels)):
        return None
    try:
        raw = np.asarray(model.forward_raw(x))
    except DeepfxError:
        return None
    if raw.ndim != 2 or raw.shape[0] != x.shape[0] or raw.shape[1] != x.shape[1]:
        return None
    return (
        f"one output per input channel (a channel processor): {x.shape[0]} channels give "
        f"{x.shape[0]} outputs but the card lists {len(card.labels)}; it takes at most "
        f"{len(card.labels)} channels"
    )


def _describe_output(card: ModelCard, out: Any) -> str:
    if card.is_effect:
        arr = np.asarray(out)
        peak = float(np.max(np.abs(arr))) if arr.size else 0.0
        return f"output {arr.shape[0]}x{arr.shape[1]}, peak {peak:.3g}"
    idx, ts = out
    n = int(len(idx))
    if n == 0:
        return "0 labels"
    classes = sorted({card.labels[int(i)] for i in idx})
    shown = ", ".join(classes[:4]) + (", ..." if len(classes) > 4 else "")
    return f"{n} label(s): {shown}"


def _rule(exc: DeepfxError) -> str:
    rule = getattr(exc, "rule", None)
    return str(rule) if rule else str(exc)


def _since(t: float) -> float:
    return time.perf_counter() - t


def _ms(seconds: float | None) -> str:
    if seconds is None:
        return ""
    return f"{seconds * 1000:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


def _peak_rss_mib() -> float | None:
    """Peak resident set size of this process in MiB (ru_maxrss: KiB on Linux, bytes on macOS)."""
    try:
        import resource
    except ImportError:  # Windows
        try:
            import psutil

            info = psutil.Process().memory_info()
            return float(getattr(info, "peak_wset", info.rss)) / 2**20
        except Exception:  # noqa: BLE001 - memory figures are informative only
            return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024
