"""`deepfx serve`: every installed model as a local HARP-compatible server.

Thin over :mod:`deepfx.serve`; imported lazily so `deepfx --help` stays fast. Prints the
table of models and the URL to paste into HARP, then serves until Ctrl-C (which cancels
running jobs and deletes the server's temp folder).
"""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this module's command to the root app."""
    app.command(
        "serve",
        help=(
            "Serve the installed models to HARP (and any Gradio API client) on this machine.\n\n"
            "Paste a printed URL into HARP's model box. Binds 127.0.0.1 unless --host says "
            "otherwise; any other host needs --token.\n\n"
            "Examples:\n\n"
            "  deepfx serve\n\n"
            '  deepfx serve --host 0.0.0.0 --token "$DEEPFX_SERVE_TOKEN" --port 7865'
        ),
    )(serve_command)


def serve_command(
    port: int = typer.Option(7865, "--port", help="Port to listen on (0 picks a free one)."),
    host: str = typer.Option(
        "127.0.0.1", "--host", help="Address to bind; 0.0.0.0 serves the LAN (needs --token)."
    ),
    token: str | None = typer.Option(
        None,
        "--token",
        envvar="DEEPFX_SERVE_TOKEN",
        help="Secret every request must send as 'Authorization: Bearer T' "
        "(also read from DEEPFX_SERVE_TOKEN).",
        show_default=False,
    ),
    max_upload_mb: float = typer.Option(500.0, "--max-upload-mb", help="Largest upload (MB)."),
    device: str = typer.Option("auto", "--device", help="Default device: auto, cpu, cuda, mps."),
    model: list[str] = typer.Option(
        [], "--model", "-m", help="Serve only this installed model (repeatable)."
    ),
) -> None:
    from rich.console import Console
    from rich.table import Table

    from deepfx.serve import server
    from deepfx.serve.pages import model_urls

    opts = server.ServeOptions(
        host=host,
        port=port,
        token=token or None,
        max_upload_mb=max_upload_mb,
        device=device,
        models=tuple(model),
    )
    server.check(opts)
    models = server.served_models(opts.models)
    sock = server.bind(opts.host, opts.port)
    real_port = sock.getsockname()[1]
    origin = server.shown_origin(opts.host, real_port)
    state, app = server.build(opts, models)

    console = Console()
    table = Table(title=f"deepfx serve on {origin}  (index: {origin}/)", title_justify="left")
    table.add_column("model")
    table.add_column("type")
    table.add_column("outputs")
    table.add_column("URL for HARP", overflow="fold")
    for m in models:
        urls = model_urls(origin, m)
        outs = ", ".join(m.card.labels) if m.card.is_effect else "labels + input audio"
        extra = "".join(f"\n  only {s}: {u}" for s, u in urls.items() if s != "all")
        table.add_row(m.name, m.card.kind, outs, urls["all"] + extra)
    console.print(table)
    if opts.token:
        console.print("Every request must send [bold]Authorization: Bearer <token>[/].")
    console.print(f"Temp folder (private, removed on exit): {state.storage.root}", highlight=False)
    console.print("Press Ctrl-C to stop.", highlight=False)

    srv = server.uvicorn_server(app)
    try:
        srv.run(sockets=[sock])  # type: ignore[attr-defined]
    except KeyboardInterrupt:  # uvicorn re-raises the Ctrl-C it handled: the normal way out
        pass
    finally:
        sock.close()
        state.storage.close()  # also when uvicorn stopped before its lifespan ran
    console.print("stopped; running jobs were cancelled and the temp folder removed.")
