"""`deepfx run MODEL INPUT... -o DIR`: run a model on audio files.

Thin over :func:`deepfx.engine.run`. torch and the engine are imported inside the
command so `deepfx --help` stays fast. Ctrl-C (or SIGTERM) cancels cleanly: the first one
asks the engine to stop (it does so between chunks, removing partial outputs) and the
command exits with status 130 (143 for SIGTERM); a second one ends the process at once,
even inside a long forward call, still removing the temporary files
(:mod:`deepfx.cli._signals`).
"""

from __future__ import annotations

from pathlib import Path

import typer

from deepfx.cli._options import (
    BatchOpt,
    ChunkOpt,
    DeviceOpt,
    MemoryBudgetOpt,
    OverlapOpt,
    RunnerOpt,
    ThreadsOpt,
)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.command(
        "run",
        help=(
            "Run a model on audio files. MODEL is an installed model name "
            "(e.g. builtin/vad) or a model folder.\n\n"
            "Examples:\n\n"
            "  deepfx run hugggof/demucs_extra song.flac -o stems --stems vocals,drums\n\n"
            "  deepfx run ./my-model talk.wav -o labels --labels-format srt"
        ),
    )(run_command)


def run_command(
    model: str = typer.Argument(..., help="Installed model name or model folder."),
    inputs: list[Path] = typer.Argument(
        ...,
        help="Audio files (wav, flac, ogg, mp3, aiff) or folders (searched recursively; "
        "outputs mirror the files' relative paths).",
    ),
    out_dir: Path = typer.Option(..., "-o", "--out", help="Folder for the outputs."),
    stems: str | None = typer.Option(
        None, "--stems", help="Comma-separated outputs to keep, e.g. vocals,drums."
    ),
    labels_format: str = typer.Option(
        "txt", "--labels-format", help="Analyzer output: txt (Audacity), csv, json, srt, vtt."
    ),
    name_template: str = typer.Option(
        "{stem} - {label}.{ext}",
        "--name-template",
        help="Output file names; fields {stem} {label} {ext} {model} {index}.",
    ),
    audio_format: str | None = typer.Option(
        None, "--format", help="Output audio format (wav, flac, ogg, mp3, aiff); default: input's."
    ),
    subtype: str | None = typer.Option(
        None, "--subtype", help="Output subtype (PCM_16, PCM_24, FLOAT...); default: input's."
    ),
    chunk: ChunkOpt = None,
    overlap: OverlapOpt = None,
    device: DeviceOpt = "auto",
    threads: ThreadsOpt = None,
    runner: RunnerOpt = None,
    per_channel: bool | None = typer.Option(
        None,
        "--per-channel/--mono",
        help=(
            "Stereo stays stereo: by default an effect keeps the input's channels (a mono "
            "model runs once per channel) and an analyzer reads a mono mix. --mono mixes "
            "down to mono; --per-channel runs analyzers per channel too."
        ),
        show_default=False,
    ),
    memory_budget: MemoryBudgetOpt = 2048.0,
    batch: BatchOpt = None,
    overwrite: bool = typer.Option(
        False,
        "--overwrite",
        help="Replace existing output files (default: a new name, "
        "'x - vocals (2).wav', or one with the model when another model made the file).",
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Run MODEL on each INPUT and write the outputs into the -o folder."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        Progress,
        TaskID,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from deepfx.cli._signals import cancel_with
    from deepfx.engine import CancelToken, run
    from deepfx.engine import Progress as Event

    console = Console(stderr=True, soft_wrap=True)  # a path is never broken over lines
    token = CancelToken()
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=quiet,
        transient=False,
    )
    tasks: dict[int, TaskID] = {}

    def on_progress(ev: Event) -> None:
        if ev.stage == "note":
            if not quiet:
                console.print(ev.message, highlight=False)
            return
        if ev.stage == "loading":
            if not quiet:
                console.print(f"loading model {ev.input}", highlight=False)
            return
        desc = f"[{ev.index + 1}/{ev.count}] {ev.input}"
        if ev.index not in tasks:
            tasks[ev.index] = bar.add_task(desc, total=max(ev.total, 1))
        bar.update(tasks[ev.index], completed=ev.done, total=max(ev.total, 1))

    with cancel_with(token), bar:
        results = run(
            model,
            inputs,
            out_dir,
            stems=[s.strip() for s in stems.split(",") if s.strip()] if stems else None,
            label_format=labels_format,
            name_template=name_template,
            audio_format=audio_format,
            subtype=subtype,
            per_channel=per_channel,
            chunk_s=chunk,
            overlap_s=overlap,
            batch=batch,
            device=device,
            threads=threads,
            runner=runner,
            memory_budget_mb=memory_budget,
            overwrite=overwrite,
            on_progress=on_progress,
            cancel=token,
        )
    out = Console(soft_wrap=True)  # one line per output: scripts read it
    for res in results:
        for label, path in res.files.items():
            out.print(f"{res.input.name} -> {path}", highlight=False)
            if res.clipped.get(label):
                console.print(
                    f"[yellow]warning:[/] {res.clipped[label]} samples of {label!r} clipped "
                    f"to [-1, 1] in {path.name}; use --subtype FLOAT to keep them",
                    highlight=False,
                )
