"""CLI commands for model contributors: ``validate``, ``export``, ``init``, ``publish``.

Each command is thin over one library call (:func:`deepfx.validation.validate`,
:func:`deepfx.exporting.export`, :func:`deepfx.scaffold.init_project`,
:func:`deepfx.hub.publish`), imported inside
the command so ``deepfx --help`` never imports torch.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from deepfx.cli._options import DeviceOpt

_FORMAT_HELP = "torchscript (model.pt), torch.export / pt2 (model.pt2) or onnx (model.onnx)"


def _long_s(value: float) -> float:
    from deepfx.engine.options import check_chunk_s

    return float(check_chunk_s(value, "--long-s") or 10.0)


def validate_cmd(
    path: Path = typer.Argument(..., help="Model folder (metadata.json + network file)."),
    fmt: Optional[list[str]] = typer.Option(  # noqa: UP045 - typer needs Optional here
        None,
        "--format",
        "-f",
        help=f"Check only this format; repeat for several. {_FORMAT_HELP}. Default: all present.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    long_s: float = typer.Option(
        10.0, "--long-s", help="Length of the long test input, in seconds.", callback=_long_s
    ),
    device: DeviceOpt = "cpu",
    legacy_runtime: Optional[str] = typer.Option(  # noqa: UP045
        None,
        "--legacy-runtime",
        metavar="PYTHON",
        help="Also run model.pt in a real torch 1.9 (the original Audacity host's runtime) "
        "and compare: a Python 3.9 with torch 1.9, or one to build that runtime from.",
    ),
) -> None:
    """Run the validation battery on a model folder, exactly as the host loads it.

    Checks the card (strictly), loads every network file, runs very short, 1 s, long,
    silent, full-scale, 1-, 2- (and 6-) channel inputs, checks every contract rule,
    determinism and that all formats agree. Exits non-zero if any check fails.

    Example: [bold]deepfx validate ./my-model[/]
    """
    from deepfx.engine.options import check_device_for
    from deepfx.folder import formats_in
    from deepfx.validation import validate

    if path.is_dir():  # an unavailable device is a usage error (exit 2), not a failed check
        for f in fmt or formats_in(path):
            check_device_for(f, device)
    report = validate(
        path, formats=fmt or None, long_s=long_s, device=device, legacy_runtime=legacy_runtime
    )
    if as_json:
        typer.echo(json.dumps(report.to_dict(), indent=2))
    else:
        from rich.console import Console

        Console().print(report)
    report.raise_for_failures()


def export_cmd(
    spec: str = typer.Argument(
        ...,
        help="The module: path/to/file.py:ClassOrFactory (or package.module:Name). "
        "A class or factory is called with no arguments.",
    ),
    out: Path = typer.Option(..., "--out", "-o", help="Model folder to write."),
    card: Optional[Path] = typer.Option(  # noqa: UP045
        None,
        "--card",
        "-c",
        help="The model card (metadata.json). Default: metadata.json beside the module file.",
    ),
    fmt: Optional[list[str]] = typer.Option(  # noqa: UP045
        None, "--format", "-f", help=f"Format to write; repeat for several. {_FORMAT_HELP}."
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing folder."),
    run_validate: bool = typer.Option(
        True, "--validate/--no-validate", help="Run `deepfx validate` on the result."
    ),
) -> None:
    """Export a PyTorch module and its card to a model folder.

    Writes the network (TorchScript by default; .pt2 and single-file .onnx on request,
    both with a dynamic time axis), metadata.json and a README.md for the hub, and
    checks every file reloads and gives the module's output.

    Example: [bold]deepfx export model.py:build -c metadata.json -o dist/my-model
    -f torchscript -f onnx[/]
    """
    import warnings

    from rich.console import Console

    from deepfx.errors import CardError
    from deepfx.exporting import (
        ExportNote,
        check_module_spec,
        export,
        load_module_from_spec,
        normalize_formats,
    )

    console = Console(stderr=True, soft_wrap=True)  # a path is never broken over lines
    check_module_spec(spec)  # `model.py` without `:build` says so, before anything else
    formats = normalize_formats(fmt or ["torchscript"])
    if card is None:
        source = spec.rpartition(":")[0]
        guess = Path(source).expanduser().parent / "metadata.json"
        if not source.endswith(".py") or not guess.is_file():
            raise CardError("no model card given; pass --card path/to/metadata.json")
        card = guess
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ExportNote)
        module = load_module_from_spec(spec)
        folder = export(module, card, out, formats=formats, overwrite=overwrite)
    for w in caught:
        if issubclass(w.category, ExportNote):
            console.print(f"[yellow]note:[/] {w.message}", highlight=False)
    Console().print(
        f"[green]exported[/] {', '.join(formats)} to [bold]{folder}[/]", highlight=False
    )
    if run_validate:
        from deepfx.validation import validate

        report = validate(folder)
        Console().print(report)
        report.raise_for_failures()


def init_cmd(
    name: str = typer.Argument(..., help="Project (and model) name."),
    kind: str = typer.Option(
        "effect", "--type", "-t", help="effect (waveform-to-waveform) or analyzer (labels)."
    ),
    directory: Path = typer.Option(
        Path("."), "--dir", "-d", help="Folder to create the project in."
    ),
    sample_rate: int = typer.Option(44100, "--sample-rate", "-r", help="Model sample rate, Hz."),
    multichannel: Optional[bool] = typer.Option(  # noqa: UP045
        None,
        "--multichannel/--mono",
        help="Does the network take every channel at once (--multichannel) or one channel "
        "(--mono: deepfx runs it once per channel of a stereo input)? Asked when not given "
        "on a terminal; --mono otherwise.",
        show_default=False,
    ),
) -> None:
    """Create a new model project: module template, model card and a test.

    The card's descriptions are placeholders: `deepfx validate` fails (and `deepfx
    publish` refuses) until you fill them in.

    Example: [bold]deepfx init my-denoiser --type effect --sample-rate 48000 --mono[/]
    """
    import sys

    from deepfx.scaffold import ScaffoldError, init_project

    kinds = {
        "effect": "effect",
        "analyzer": "analyzer",
        "labels": "analyzer",
        "labeler": "analyzer",
    }
    if kind.lower() not in kinds:
        raise ScaffoldError(f"--type must be effect or analyzer, got {kind!r}")
    if multichannel is None:
        multichannel = sys.stdin.isatty() and typer.confirm(
            "Does the network take every channel at once (multichannel)? "
            "No: it gets one channel, and deepfx runs it once per channel of a stereo input",
            default=False,
        )
    folder = init_project(
        name,
        parent=directory,
        kind="effect" if kinds[kind.lower()] == "effect" else "analyzer",
        sample_rate=sample_rate,
        multichannel=bool(multichannel),
    )
    typer.echo(f"created {folder} ({'multichannel' if multichannel else 'mono'} model)")
    typer.echo(f"next: cd {folder} && pytest   (exports and validates the model)")
    typer.echo("then describe the model in metadata.json: `deepfx validate` needs it filled in")


def publish_cmd(
    folder: Path = typer.Argument(..., help="The model folder to publish."),
    repo: str = typer.Option(..., "--repo", help="Hub repo id, e.g. yourname/my-model."),
    private: bool = typer.Option(False, "--private", help="Create the repo as private."),
    message: str | None = typer.Option(None, "--message", "-m", help="Commit message."),
) -> None:
    """Validate a model folder, tag its README with `audacity`, and upload it to the hub.

    The token comes from HF_TOKEN or `hf auth login`.
    Example: [bold]deepfx publish my_model/ --repo yourname/my-model[/]
    """
    from rich.console import Console

    from deepfx.hub import publish as hub_publish

    with Console(stderr=True, highlight=False).status(
        f"validating and uploading {folder} to {repo}"
    ):
        res = hub_publish(folder, repo_id=repo, private=private, commit_message=message)
    Console(highlight=False).print(
        f"[green]published[/] {res.repo_id} ({res.url}); install with "
        f"`deepfx models install {res.repo_id}`"
    )


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.command("validate")(validate_cmd)
    app.command("export")(export_cmd)
    app.command("init")(init_cmd)
    app.command("publish")(publish_cmd)
