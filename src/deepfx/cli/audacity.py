"""CLI commands: ``deepfx audacity status`` and ``deepfx audacity apply MODEL``.

Thin over :mod:`deepfx.audacity.bridge`; errors are raised as deepfx errors and mapped
to one line and an exit code by :mod:`deepfx.cli.app`. Nothing heavy is imported until
a command runs.
"""

from __future__ import annotations

import threading

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
    per_channel: bool | None = typer.Option(
        None,
        "--per-channel/--mono",
        help=(
            "Stereo stays stereo: by default an effect keeps the track's channels (a mono "
            "model runs once per channel). --mono mixes down; --per-channel runs analyzers "
            "per channel too."
        ),
        show_default=False,
    ),
    device: DeviceOpt = "auto",
    threads: ThreadsOpt = None,
    timeout: TimeoutOpt = 30.0,
) -> None:
    """Run MODEL on the selection in Audacity and add the results to the project.

    Effects add one track per output, named "<track> - <output>", at the selection start;
    analyzers add a label track "<model> - labels". No time range (a click): the
    selected tracks, whole. On any error the project is left as it was. The model stays
    loaded in a resident worker, so applying it again starts at once
    (DEEPFX_RESIDENT_IDLE).

    Example: [bold]deepfx audacity apply hugggof/demucs_extra --stems vocals,drums[/]
    """
    from rich.console import Console

    from deepfx.cli._signals import cancel_with
    from deepfx.engine import CancelToken
    from deepfx.resident import client

    wanted = [s.strip() for item in stems for s in item.split(",") if s.strip()] if stems else None
    _check_first(model, device, threads)
    console = Console(stderr=True, soft_wrap=True)  # a path is never broken over lines
    token = CancelToken()
    with cancel_with(token), ApplyDisplay(console, model) as display:
        result = client.apply(
            model,
            stems=wanted,
            per_channel=per_channel,
            device=device,
            threads=threads,
            timeout_s=timeout,
            on_progress=display.update,
            cancel=token,
        )
    out = Console()
    span = f"{result.start_s:.3f} s to {result.end_s:.3f} s at {result.sample_rate} Hz"
    out.print(f"ran {result.model} ({result.kind}) on {span}")
    if not result.added:
        out.print("  the model found nothing to label: no label track added")
    for added in result.added:
        if added.kind == "label":
            out.print(f"  added label track {added.name!r} with {added.labels} label(s)")
        else:
            out.print(
                f"  added track {added.name!r}: {added.channels} channel(s), "
                f"{added.samples} samples at {added.start_s:.3f} s"
            )


def _check_first(model: str, device: str, threads: int | None) -> None:
    """What can be wrong without Audacity is said first, in this process: the options, a
    model name that is not installed, a device this machine lacks for the model."""
    from deepfx.engine.options import check_device, check_device_for, check_threads
    from deepfx.model import load_model

    want = check_device(device)
    check_threads(threads)
    found = load_model(model)  # the card only: cheap
    if want not in ("auto", "cpu"):
        check_device_for("onnx" if found.model_file.suffix == ".onnx" else "torch", want)


class ApplyDisplay:
    """The progress line of ``deepfx audacity apply``: on screen at once (before Audacity
    or the model answer), one stage at a time, with a bar and a time left while the model
    runs. Between the engine's events (one per forward call) a ticker moves the bar at
    the measured pace (:class:`deepfx.engine.events.Pace`), so a long chunk never looks
    stuck."""

    def __init__(self, console: object, model: str):
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        from deepfx.engine.events import Pace

        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.percentage:>3.0f}%"),
            TimeElapsedColumn(),
            TextColumn("{task.fields[left]}"),
            console=console,  # type: ignore[arg-type]
            transient=True,
            refresh_per_second=8,
        )
        self.task = self.progress.add_task(
            f"connecting to Audacity for {model}", total=None, left=""
        )
        self.pace = Pace()
        self.running = False
        self.stop = threading.Event()
        self.ticker = threading.Thread(target=self._tick, daemon=True)

    def __enter__(self) -> ApplyDisplay:
        self.progress.__enter__()
        self.ticker.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.ticker.join(timeout=1)
        self.progress.__exit__(None, None, None)

    def _tick(self) -> None:
        while not self.stop.wait(0.25):
            if self.running and self.pace.total:
                self.progress.update(
                    self.task,
                    completed=self.pace.estimate(),
                    left=_left(self.pace.eta_s()),
                )

    def update(self, event: object) -> None:
        stage = getattr(event, "stage", "")
        which = f"track {getattr(event, 'index', 0) + 1}/{getattr(event, 'count', 1)}"
        self.running = stage == "running" and bool(getattr(event, "total", 0))
        if self.running:
            done, total = float(getattr(event, "done", 0)), float(getattr(event, "total", 0))
            self.pace.update(done, total)
            chunk, chunks = getattr(event, "chunk", 0), getattr(event, "chunks", 0)
            where = f": chunk {chunk} of {chunks}" if chunks > 1 else ""
            self.progress.update(
                self.task,
                description=f"running the model on {which}{where}",
                completed=done,
                total=total,
                left=_left(self.pace.eta_s()),
            )
            return
        text = {
            "loading": f"loading the model {getattr(event, 'track', '')}",
            "reading": f"reading {which} from Audacity",
            "running": f"running the model on {which}",
            "adding": "adding the results to Audacity",
        }.get(stage, str(stage))
        self.progress.update(self.task, description=text, completed=0, total=None, left="")


def _left(eta_s: float | None) -> str:
    if eta_s is None:
        return "estimating time left"
    m, s = divmod(int(round(eta_s)), 60)
    return f"{m}:{s:02d} left"


def register(app: typer.Typer) -> None:
    """Add ``deepfx audacity ...`` to the root app."""
    app.add_typer(audacity_app, name="audacity")
