"""`deepfx batch MODEL INPUTS -o OUT`: a model over many files on Ray, resumable.

Thin over :func:`deepfx.batch.batch`. The options shared with `deepfx run` are *its*
declarations (read from :func:`deepfx.cli.run.run_command`'s signature), so the two
commands never drift apart; only the batch options are declared here. Ray is imported when
the command runs, never for `--help`.

Exit codes: 0 every input done, 1 the batch finished but some inputs failed (see the table
and the manifest), 2 bad usage or Ray missing, 130 interrupted (finished inputs are kept;
run the same command again to finish the rest).
"""

from __future__ import annotations

import inspect
import signal
from typing import Any

import typer

from deepfx.cli.run import run_command

#: `deepfx run` options reused as they are: parameter name -> deepfx.batch() keyword.
SHARED = {
    "out_dir": "out_dir",
    "stems": "stems",
    "labels_format": "label_format",
    "name_template": "name_template",
    "audio_format": "audio_format",
    "subtype": "subtype",
    "chunk": "chunk_s",
    "overlap": "overlap_s",
    "device": "device",
    "threads": "threads",
    "per_channel": "per_channel",
    "memory_budget": "memory_budget_mb",
    "batch": "forward_batch",
    "quiet": "quiet",
}

HELP = (
    "Run a model over many files on Ray (a local one, or a cluster with --address), "
    "resumably. INPUTS is a folder (recursive), a glob pattern, or a .csv/.jsonl manifest "
    "with a 'path' column (optional 'output'). Outputs mirror the inputs' relative paths; "
    "OUT/deepfx-batch.jsonl records each input. Re-run the same command to finish an "
    "interrupted batch: verified outputs are skipped.\n\n"
    "Examples:\n\n"
    "  deepfx batch builtin/vad archive/ -o vad --labels-format csv\n\n"
    "  deepfx batch builtin/hpss 'lib/**/*.flac' -o stems --workers 4\n\n"
    "  deepfx batch builtin/vad files.csv -o out --address ray://head:10001 --device cuda"
)


def register(app: typer.Typer) -> None:
    """Add `deepfx batch` to the root app."""
    app.command("batch", help=HELP)(batch_command)


def batch_command(**params: Any) -> None:
    """Run MODEL over INPUTS into OUT (the signature is built below)."""
    from rich.console import Console

    from deepfx.batch import batch
    from deepfx.batch.progress import RichBatchProgress
    from deepfx.errors import Cancelled

    kwargs = {SHARED[k]: v for k, v in params.items() if k in SHARED}
    quiet = kwargs.pop("quiet", False)
    stems = kwargs.pop("stems", None)
    console = Console(stderr=True)
    _require_ray(console)
    from deepfx.batch.remote import is_url, open_target

    if is_url(kwargs["out_dir"]):
        open_target(kwargs["out_dir"])  # a bad URL is one line, before any bar is drawn
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        with RichBatchProgress(console, disable=quiet) as bar:
            summary = batch(
                params["model"],
                params["inputs"],
                stems=[s.strip() for s in stems.split(",") if s.strip()] if stems else None,
                workers=params["workers"],
                gpus_per_worker=params["gpus_per_worker"],
                address=params["address"],
                on_progress=bar,
                **kwargs,
            )
    except KeyboardInterrupt:
        raise Cancelled(
            "interrupted; finished inputs are kept (see deepfx-batch.jsonl); run the same "
            "command again to finish the rest"
        ) from None
    finally:
        signal.signal(signal.SIGTERM, previous)
    _print_summary(summary, Console(), console)
    if summary.failed:
        raise typer.Exit(1)


def _require_ray(console: Any) -> None:
    """Say how to install Ray (exit 2) before drawing anything; printed here because the
    root handler's markup would eat the ``[batch]`` of the install command."""
    from rich.markup import escape

    from deepfx.batch.executor import import_ray
    from deepfx.errors import UsageError

    try:
        import_ray()
    except UsageError as exc:
        console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
        raise typer.Exit(2) from None


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _print_summary(summary: Any, out: Any, err: Any) -> None:
    from rich.table import Table

    table = Table(title=f"deepfx batch -> {summary.out_dir}", title_justify="left")
    for col in ("status", "inputs", "audio (h)", "wall (s)"):
        table.add_column(col, justify="left" if col == "status" else "right")
    colour = {"ok": "green", "skipped": "cyan", "failed": "red"}
    for status in ("ok", "skipped", "failed"):
        recs = [r for r in summary.records if r.status == status]
        if recs:
            table.add_row(
                f"[{colour[status]}]{status}[/]",
                str(len(recs)),
                f"{sum(r.audio_s for r in recs) / 3600:.3f}",
                f"{sum(r.wall_s for r in recs):.1f}",
            )
    speed = summary.audio_s / summary.wall_s if summary.wall_s else 0.0
    table.caption = (
        f"{len(summary.records)} inputs in {summary.wall_s:.1f} s ({speed:.1f}x real time); "
        f"manifest: {summary.manifest}"
    )
    out.print(table)
    if summary.failed:
        failed = Table(title="failed inputs", title_justify="left", show_lines=False)
        failed.add_column("input", overflow="fold")
        failed.add_column("error")
        failed.add_column("message", overflow="fold")
        for r in summary.failed:
            failed.add_row(r.input, r.error_class or "", r.error or "")
        err.print(failed)


def _signature() -> inspect.Signature:
    """`deepfx batch`'s parameters: MODEL, INPUTS, the shared `deepfx run` options, and
    the batch options."""
    run_params = inspect.signature(run_command, eval_str=True).parameters
    params = [run_params["model"]]
    params.append(
        inspect.Parameter(
            "inputs",
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
            annotation=str,
            default=typer.Argument(
                ..., help="A folder (recursive), a glob pattern, or a .csv/.jsonl manifest."
            ),
        )
    )
    params += [
        _out_option(p) if name == "out_dir" else p
        for name, p in run_params.items()
        if name in SHARED
    ]
    own: list[tuple[str, Any, Any]] = [
        (
            "workers",
            int | None,
            typer.Option(
                None, "--workers", "-w", help="Actors in the pool (default: fill the cluster)."
            ),
        ),
        (
            "gpus_per_worker",
            float | None,
            typer.Option(
                None,
                "--gpus-per-worker",
                help="GPUs per actor (default 1 with --device cuda, or auto on GPU nodes).",
            ),
        ),
        (
            "address",
            str | None,
            typer.Option(
                None,
                "--address",
                envvar="RAY_ADDRESS",
                help="Ray cluster to join (e.g. ray://head:10001); default: a local Ray.",
            ),
        ),
    ]
    params += [
        inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, annotation=a, default=d)
        for n, a, d in own
    ]
    kinds = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in params]
    return inspect.Signature(kinds)


def _out_option(param: inspect.Parameter) -> inspect.Parameter:
    """`deepfx run`'s -o, as a string: it may be an fsspec URL (a Path would fold its //)."""
    return param.replace(
        annotation=str,
        default=typer.Option(
            ...,
            "-o",
            "--out",
            help="Output folder every node sees, or an fsspec URL (s3://bucket/prefix, ...).",
        ),
    )


batch_command.__signature__ = _signature()  # type: ignore[attr-defined]
batch_command.__annotations__ = {
    p.name: p.annotation
    for p in batch_command.__signature__.parameters.values()  # type: ignore[attr-defined]
}
batch_command.__annotations__["return"] = None
