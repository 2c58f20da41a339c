"""`deepfx` command line entry point.

Each command group lives in its own module and registers itself here. Nothing heavy is
imported at module level: `deepfx --help` must start fast (torch is imported only when a
model runs).
"""

from __future__ import annotations

import sys

import typer

from deepfx._version import __version__
from deepfx.errors import first_line
from deepfx.settings import debug

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
    from deepfx.cli import app_cmd, audacity, batch, contrib, demo, models, run, serve

    for module in (run, batch, models, contrib, audacity, demo, serve, app_cmd):
        module.register(app)


_register()


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; map deepfx errors to one-line messages and exit codes.

    Exit codes: 0 ok, 1 validation failed, 2 bad input or usage, 3 bad model, 4 contract
    broken, 5 hub/store, 6 Audacity, 70 internal error, 130 cancelled (Ctrl-C), 143
    terminated (SIGTERM). SIGINT and SIGTERM are handled for every command (see
    :mod:`deepfx.cli._signals`): temp files are removed, a second signal exits at once.
    """
    import warnings

    from click.exceptions import NoArgsIsHelpError
    from click.exceptions import UsageError as ClickUsageError
    from typer.exceptions import TyperException

    from deepfx.cli._signals import Interrupted, SignalGuard
    from deepfx.errors import DeepfxError

    guard = SignalGuard()
    # a warning is one line on the terminal ("warning: ..."), like every other message
    warnings.formatwarning = lambda message, *_args, **_kw: f"warning: {message}\n"
    try:
        with guard:
            rv = app(args=argv, standalone_mode=False)
    except DeepfxError as exc:
        _fail(str(exc), exc.exit_code, exc)
    except Interrupted as exc:
        _fail(exc.message, 128 + exc.signum, None)
    except (KeyboardInterrupt, typer.Abort):
        _fail("cancelled; no output was written", 130, None)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except NoArgsIsHelpError as exc:  # `deepfx` or `deepfx models` alone: show the help
        exc.show()
        sys.exit(exc.exit_code)
    except ClickUsageError as exc:  # typer's own parsing (a missing argument, not a number)
        where = exc.ctx.command_path if exc.ctx is not None else "deepfx"
        _fail(f"{exc.format_message()} (see `{where} --help`)", exc.exit_code, None)
    except TyperException as exc:
        _fail(exc.format_message(), exc.exit_code, None)
    except Exception as exc:  # anything else is a bug in deepfx
        _fail(
            f"internal error: {type(exc).__name__}: {first_line(exc, limit=200)} "
            "(set DEEPFX_DEBUG=1 for details)",
            70,
            exc,
        )
    sys.exit(rv if isinstance(rv, int) else 0)


def _fail(message: str, code: int, exc: BaseException | None) -> None:
    """Print ``error: message`` on stderr as one line, never wrapped (scripts, pipes and
    the window read it), and exit with ``code``."""
    from rich.console import Console

    if exc is not None and debug():
        import traceback

        traceback.print_exception(exc)
    console = Console(stderr=True, soft_wrap=True, highlight=False)
    console.print(f"[bold red]error:[/] {_escape(message)}", markup=True)
    sys.exit(code)


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


if __name__ == "__main__":  # pragma: no cover
    main()
