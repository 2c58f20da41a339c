"""`deepfx` command line entry point.

Each command group lives in its own module and registers itself here. Nothing heavy is
imported at module level: `deepfx --help` must start fast (torch is imported only when a
model runs).
"""

from __future__ import annotations

import os
import sys

import typer

from deepfx import __version__

app = typer.Typer(
    name="deepfx",
    help="Run audio deep-learning models locally: separate, denoise, label. "
    "Works on files for any DAW, inside Audacity, and from Python.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"deepfx {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Show the version and exit."
    ),
) -> None:
    """deepfx: audio deep learning in your DAW, on your machine."""


def _register() -> None:
    from deepfx.cli import audacity, batch, contrib, demo, models, run

    for module in (run, batch, models, contrib, audacity, demo):
        module.register(app)


_register()


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; map deepfx errors to one-line messages and exit codes.

    Exit codes: 0 ok, 1 validation failed, 2 bad input or usage, 3 bad model, 4 contract
    broken, 5 hub/store, 6 Audacity, 70 internal error, 130 cancelled.
    """
    from typer.exceptions import TyperException

    from deepfx.errors import DeepfxError

    try:
        rv = app(args=argv, standalone_mode=False)
    except DeepfxError as exc:
        _fail(str(exc), exc.exit_code, exc)
    except (KeyboardInterrupt, typer.Abort):
        _fail("cancelled; no output was written", 130, None)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except TyperException as exc:  # usage errors (typer's own click): show them like click does
        show = getattr(exc, "show", None)
        if show is not None:
            show()
        else:
            _fail(str(exc), exc.exit_code, None)
        sys.exit(exc.exit_code)
    except Exception as exc:  # anything else is a bug in deepfx
        _fail(
            f"internal error: {type(exc).__name__}: {exc} (set DEEPFX_DEBUG=1 for details)", 70, exc
        )
    sys.exit(rv if isinstance(rv, int) else 0)


def _fail(message: str, code: int, exc: BaseException | None) -> None:
    from rich.console import Console

    if exc is not None and os.environ.get("DEEPFX_DEBUG"):
        import traceback

        traceback.print_exception(exc)
    Console(stderr=True).print(f"[bold red]error:[/] {message}", highlight=False, markup=True)
    sys.exit(code)


if __name__ == "__main__":  # pragma: no cover
    main()
