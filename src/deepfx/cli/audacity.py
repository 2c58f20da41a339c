"""CLI commands: ``deepfx audacity status`` and ``deepfx audacity apply MODEL``.

Thin over :mod:`deepfx.audacity.bridge`; errors are raised as deepfx errors and mapped
to one line and an exit code by :mod:`deepfx.cli.app`. Nothing heavy is imported until
a command runs.
"""

from __future__ import annotations

import typer

from deepfx.cli._options import DeviceOpt, ThreadsOpt, TimeoutOpt

audacity_app = typer.Typer(
    name="audacity",
    help="Run models on the selection of a running Audacity (needs mod-script-pipe; "
    "see docs/audacity.md).",
    no_args_is_help=True,
)


@audacity_app.command("status")
def status_command(
    timeout: TimeoutOpt = 10.0,
) -> None:
    """Show whether Audacity answers, its tracks and the current selection.

    Example: [bold]deepfx audacity status[/]
    """
    from rich.console import Console
    from rich.table import Table

    from deepfx.audacity import bridge
    from deepfx.errors import AudacityNotRunningError

    st = bridge.status(timeout_s=timeout)
    if not st.connected:
        raise AudacityNotRunningError(st.message)
    console = Console()
    console.print("[green]connected[/] to Audacity through mod-script-pipe")
    if not st.tracks:
        console.print("the project has no tracks: import or record some audio")
        return
    table = Table("#", "track", "kind", "channels", "start (s)", "end (s)", "selected")
    for t in st.tracks:
        table.add_row(
            str(t.index),
            t.name,
            "audio" if t.is_wave else t.kind,
            str(t.channels) if t.is_wave else "",
            f"{t.start_s:.3f}" if t.start_s is not None else "",
            f"{t.end_s:.3f}" if t.end_s is not None else "",
            "yes" if t.selected else "",
        )
    console.print(table)
    sel = st.selection
    if sel is None:
        console.print("selection: none")
    elif sel.duration_s <= 0:
        console.print(f"selection: a cursor at {sel.start_s:.3f} s (empty range)")
    else:
        names = ", ".join(repr(t.name) for t in sel.tracks) or "no audio track"
        console.print(
            f"selection: {sel.start_s:.3f} s to {sel.end_s:.3f} s "
            f"({sel.duration_s:.3f} s) on {names}"
        )


@audacity_app.command("apply")
def apply_command(
    model: str = typer.Argument(..., help="Installed model name (org/name) or model folder."),
    stems: list[str] | None = typer.Option(
        None,
        "--stems",
        help="Effects: keep only these outputs (repeat the option or separate with commas).",
    ),
    per_channel: bool = typer.Option(
        False, "--per-channel", help="Run stereo tracks channel by channel (stereo results)."
    ),
    device: DeviceOpt = "auto",
    threads: ThreadsOpt = None,
    timeout: TimeoutOpt = 30.0,
) -> None:
    """Run MODEL on the selection in Audacity and add the results to the project.

    Effects add one track per output, named "<track> - <output>", at the selection start;
    analyzers add a label track "<model> - labels". On any error the project is left
    as it was.

    Example: [bold]deepfx audacity apply hugggof/demucs_extra --stems vocals,drums[/]
    """
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from deepfx.audacity import bridge
    from deepfx.model import load_model

    wanted = [s.strip() for item in stems for s in item.split(",") if s.strip()] if stems else None
    # loaded before any display starts: a bad model or device is then one error line
    loaded = load_model(model, device=device, threads=threads).load()
    console = Console(stderr=True, soft_wrap=True)  # a path is never broken over lines
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task(f"reading the selection for {loaded.name}", total=None)

        def on_progress(event: bridge.ApplyProgress) -> None:
            which = f"track {event.index + 1}/{event.count}"
            if event.stage == "running" and event.total:
                progress.update(
                    task,
                    description=f"running the model on {which}",
                    completed=event.done,
                    total=event.total,
                )
            else:
                label = {
                    "reading": "reading",
                    "running": "running the model on",
                    "adding": "adding",
                }
                progress.update(
                    task,
                    description=f"{label.get(event.stage, event.stage)} {which}",
                    completed=0,
                    total=None,
                )

        result = bridge.apply(
            loaded,
            stems=wanted,
            per_channel=per_channel,
            device=device,
            threads=threads,
            timeout_s=timeout,
            on_progress=on_progress,
        )
    out = Console()
    span = f"{result.start_s:.3f} s to {result.end_s:.3f} s at {result.sample_rate} Hz"
    out.print(f"ran {result.model} ({result.kind}) on {span}")
    for added in result.added:
        if added.kind == "label":
            out.print(f"  added label track {added.name!r} with {added.labels} label(s)")
        else:
            out.print(
                f"  added track {added.name!r}: {added.channels} channel(s), "
                f"{added.samples} samples at {added.start_s:.3f} s"
            )


def register(app: typer.Typer) -> None:
    """Add ``deepfx audacity ...`` to the root app."""
    app.add_typer(audacity_app, name="audacity")
