"""CLI commands: ``deepfx models search|list|info|install|update|remove|add-local|optimize``.
Each command is thin over :mod:`deepfx.store` / :mod:`deepfx.hub`. (``deepfx publish``
is a contributor command: :mod:`deepfx.cli.contrib`.)"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import typer

if TYPE_CHECKING:
    from deepfx.card import Kind

models_app = typer.Typer(
    name="models",
    help="Find, install, update and remove models (hub, local folders, built-ins).",
    no_args_is_help=True,
    rich_markup_mode="rich",
)

_JSON = typer.Option(False, "--json", help="Print JSON (for scripts) instead of a table.")
_KINDS = ("effect", "analyzer")


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.add_typer(models_app, name="models")


def _console(stderr: bool = False) -> Any:
    from rich.console import Console

    return Console(stderr=stderr, highlight=False)


def _emit_json(obj: Any) -> None:
    typer.echo(json.dumps(obj, indent=2, ensure_ascii=False))


def _follows(m: Any) -> str:
    """How a hub model is updated: pinned, or following a branch other than main."""
    if m.pinned:
        return " (pinned)"
    if m.source == "hub" and m.revision not in (None, "main"):
        return f" (follows {m.revision})"
    return ""


def _check_kind(kind: str | None) -> Kind | None:
    if kind is not None and kind not in _KINDS:
        raise typer.BadParameter(f"--type must be one of {', '.join(_KINDS)}")
    return cast("Kind | None", kind)


@models_app.command("search")
def search(
    text: str | None = typer.Argument(
        None, help="Words to look for (name, description, tags, labels)."
    ),
    kind: str | None = typer.Option(None, "--type", help="effect or analyzer."),
    domain: str | None = typer.Option(
        None, "--domain", help="music, speech, environmental, other."
    ),
    refresh: bool = typer.Option(False, "--refresh", help="Ignore the cached listing."),
    as_json: bool = _JSON,
) -> None:
    """Search the curated lists and the hub's `audacity` tag.

    Example: [bold]deepfx models search drums --type effect[/]
    """
    from deepfx.hub import search as hub_search
    from deepfx.store import Store

    result = hub_search(text, kind=_check_kind(kind), domain=domain, refresh=refresh)
    installed = {m.name: m for m in Store().installed()}
    if as_json:
        _emit_json(
            {
                "fetched_at": result.fetched_at,
                "from_cache": result.from_cache,
                "note": result.note,
                "models": [
                    {
                        **m.to_dict(),
                        "installed": installed[m.repo_id].commit
                        if m.repo_id in installed
                        else None,
                    }
                    for m in result.models
                ],
            }
        )
        return
    from rich.table import Table

    table = Table(title=f"Models found ({len(result.models)}): built-ins, curated lists, hub")
    table.add_column("name", no_wrap=True)
    for col in ("type", "domains", "description", "installed"):
        table.add_column(col)
    for m in result.models:
        inst = installed.get(m.repo_id)
        table.add_row(
            m.repo_id,
            m.kind,
            ", ".join(m.domain_tags),
            m.short_description or (f"[red]{m.problem}[/]" if m.problem else ""),
            inst.commit[:12] if inst else ("needs network" if m.needs_network else ""),
        )
    con = _console()
    con.print(table)
    if result.note:
        _console(stderr=True).print(f"[yellow]note:[/] {result.note}")


@models_app.command("list")
def list_models(as_json: bool = _JSON) -> None:
    """List installed models (no network needed)."""
    from deepfx.store import Store, human_size

    store = Store()
    models = store.installed()
    if as_json:
        _emit_json([m.to_dict() for m in models])
        return
    from rich.table import Table

    table = Table(title=f"Installed models ({len(models)}) in {store.root}")
    table.add_column("name", no_wrap=True)
    for col in ("type", "domains", "size", "revision", "source"):
        table.add_column(col)
    for m in models:
        rev = m.commit[:12] + _follows(m)
        table.add_row(
            m.name,
            m.kind,
            ", ".join(m.card.get("domain_tags", [])),
            human_size(m.size),
            rev,
            m.source,
        )
    _console().print(table)


@models_app.command("info")
def info(
    name: str = typer.Argument(..., help="Installed name, or a hub repo id to look up."),
    as_json: bool = _JSON,
) -> None:
    """Show an installed model's card and files (or a hub model's card)."""
    from deepfx.card import load_card
    from deepfx.errors import NotInstalledError
    from deepfx.store import Store, human_size

    try:
        m = Store().info(name)
    except NotInstalledError as exc:
        if name.startswith("builtin/") and not exc.suggestion:
            _builtin_info(name, as_json)
            return
        if "/" not in name or name.startswith("local/") or exc.suggestion:
            raise  # "did you mean ...?", or where to add it: never a command that fails
        from deepfx.hub import remote_card

        remote = remote_card(name)
        if as_json:
            _emit_json({**remote.to_dict(), "installed": False})
            return
        _console().print(
            f"[bold]{remote.repo_id}[/] (not installed)\n"
            f"type: {remote.kind}  domains: {', '.join(remote.domain_tags)}  "
            f"sample rate: {remote.sample_rate} Hz\n"
            f"outputs: {', '.join(remote.labels)}\n"
            f"{remote.long_description or remote.problem or ''}"
        )
        return
    import warnings

    with warnings.catch_warnings():  # the notes are in the manifest, shown below
        warnings.simplefilter("ignore")
        card = load_card(m.folder, strict=False).to_dict()
    if as_json:
        _emit_json({**m.to_dict(), "card": card})
        return
    con = _console()
    con.print(f"[bold]{m.name}[/] ({m.kind}, {m.source}) at {m.folder}")
    con.print(f"revision: {m.commit}" + _follows(m))
    con.print(f"installed: {m.installed_at}   size: {human_size(m.size)}")
    con.print(f"sample rate: {card['sample_rate']} Hz   outputs: {', '.join(card['labels'])}")
    con.print(card["long_description"])
    con.print(m.optimized_line, highlight=False, markup=False)
    for note in m.card_warnings:
        con.print(f"[yellow]card note:[/] {note}")


@models_app.command("optimize")
def optimize(
    name: str = typer.Argument(..., help="Installed model to optimise."),
    as_json: bool = _JSON,
) -> None:
    """Derive a verified ONNX version of a model's network and keep it if it is faster.

    The ONNX file is written beside the original (never replacing it), checked against the
    original on the validation battery (1e-4 relative, labels identical) and timed on a
    chunk; [bold]deepfx run[/] then uses the faster one ([bold]--runner[/] overrides).
    """
    from deepfx.store import Store

    m = _progress_install(
        lambda cb: Store().optimize(name, on_step=cb), f"optimizing {name}", as_json
    )
    if as_json:
        _emit_json({"name": m.name, "optimized": m.optimized})
        return
    rec = m.optimized or {}
    line = f"{m.name}: {m.optimized_line}"
    if rec.get("original_s") and rec.get("onnx_s"):
        line += (
            f" ({rec.get('source_file')}: {rec['original_s']:.3g} s, ONNX: {rec['onnx_s']:.3g} s"
            f" per {rec.get('chunk_s')} s chunk; runner {rec.get('runner')})"
        )
    _console().print(line, highlight=False, markup=False)


def _builtin_info(name: str, as_json: bool) -> None:
    """A built-in not built yet: its card from the package (it is built on first use, or
    by `deepfx models install NAME`, which then works); an unknown one is the same
    "did you mean" error as any other name."""
    from deepfx.errors import ModelNotFoundError, NotInstalledError
    from deepfx.sources.builtin import builtin_spec

    try:
        card = builtin_spec(name).card
    except ModelNotFoundError:
        from deepfx.store import suggest_name

        raise NotInstalledError(name, suggestion=suggest_name(name)) from None
    if as_json:
        _emit_json({"name": name, "installed": False, "card": card.to_dict()})
        return
    con = _console()
    con.print(f"[bold]{name}[/] ({card.kind}, builtin; not built yet: built on first use)")
    con.print(f"sample rate: {card.sample_rate} Hz   outputs: {', '.join(card.labels)}")
    con.print(card.long_description)


def _already(exc: Exception, as_json: bool) -> None:
    """Installing what is installed is a no-op that says so (exit 0)."""
    if as_json:
        _emit_json({"unchanged": True, "message": str(exc)})
    else:
        _console().print(str(exc))


def _progress_install(action: Any, title: str, quiet: bool) -> Any:
    if quiet:
        return action(None)
    con = _console(stderr=True)
    with con.status(title) as status:
        return action(lambda step: status.update(f"{title}: {step}"))


@models_app.command("install")
def install(
    spec: str = typer.Argument(
        ..., help="user/model[@revision], builtin/<name>, or a model folder / .zip."
    ),
    revision: str | None = typer.Option(None, "--revision", help="Branch, tag or commit; pins it."),
    kind: str | None = typer.Option(None, "--type", help="Refuse a model that is not this type."),
    name: str | None = typer.Option(None, "--name", help="Name for a local model."),
    force: bool = typer.Option(False, "--force", help="Reinstall even if installed."),
    as_json: bool = _JSON,
) -> None:
    """Install a model: downloaded, verified (sha256), checked, then moved into place.

    Example: [bold]deepfx models install hugggof/demucs_extra[/]
    """
    from deepfx.errors import AlreadyInstalledError
    from deepfx.store import Store, human_size

    try:
        res = _progress_install(
            lambda cb: Store().install(
                spec,
                revision=revision,
                kind=_check_kind(kind),
                name=name,
                force=force,
                on_step=cb,
            ),
            f"installing {spec}",
            as_json,
        )
    except AlreadyInstalledError as exc:
        _already(exc, as_json)
        return
    if as_json:
        _emit_json(res.model.to_dict())
        return
    m = res.model
    _console().print(
        f"[green]installed[/] {m.name} ({m.kind}, {human_size(m.size)}, revision {m.commit[:12]})"
    )


@models_app.command("add-local")
def add_local(
    path: Path = typer.Argument(..., help="A model folder or a .zip of one."),
    name: str | None = typer.Option(None, "--name", help="Installed as local/<name>."),
    force: bool = typer.Option(False, "--force", help="Replace an installed local model."),
    as_json: bool = _JSON,
) -> None:
    """Install a private model from a folder or .zip; nothing leaves this machine.

    Adding a changed folder again replaces the installed `local/` model and lists what
    changed; an unchanged one is a no-op that says so.
    """
    from deepfx.errors import AlreadyInstalledError
    from deepfx.store import Store, human_size

    try:
        res = _progress_install(
            lambda cb: Store().add_local(path, name=name, force=force, on_step=cb),
            f"adding {path}",
            as_json,
        )
    except AlreadyInstalledError as exc:
        _already(exc, as_json)
        return
    if as_json:
        _emit_json({**res.model.to_dict(), "replaced": res.replaced, "changes": res.changes})
        return
    con = _console()
    if res.replaced:
        con.print(f"{res.model.name} changed since it was added:")
        for line in res.changes or ("(same files, reinstalled)",):
            con.print(f"  {line}")
        verb = "replaced"
    else:
        verb = "added"
    con.print(f"[green]{verb}[/] {res.model.name} ({res.model.kind}, {human_size(res.model.size)})")


@models_app.command("update")
def update(
    names: list[str] = typer.Argument(None, help="Models to update (default: every hub model)."),
    revision: str | None = typer.Option(
        None, "--revision", help="Move to (and pin) this revision."
    ),
    as_json: bool = _JSON,
) -> None:
    """Update hub models to the hub's current commit.

    The old version keeps working until the new one is verified and in place.
    """
    from deepfx.store import Store

    store = Store()
    targets = names or [m.name for m in store.installed() if m.source == "hub"]
    results = []
    for n in targets:
        res = _progress_install(
            lambda cb, n=n: store.update(n, revision=revision, on_step=cb), f"updating {n}", as_json
        )
        results.append(res)
        if not as_json:
            if res.changed:
                _console().print(
                    f"[green]updated[/] {res.name}: {res.old_commit[:12]} -> {res.new_commit[:12]}"
                )
            else:
                _console().print(f"{res.name}: {res.note}")
    if as_json:
        _emit_json([r.__dict__ for r in results])


@models_app.command("remove")
def remove(
    name: str = typer.Argument(..., help="Installed model to remove."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    as_json: bool = _JSON,
) -> None:
    """Remove an installed model (shows what will be freed first)."""
    from deepfx.store import Store, human_size

    plan = Store().remove(name)
    if not yes and not as_json:
        typer.confirm(
            f"remove {plan.name} ({len(plan.paths)} files, "
            f"{human_size(plan.bytes_freed)}) from {plan.folder}?",
            abort=True,
        )
    freed = plan.execute()
    if as_json:
        _emit_json({"name": plan.name, "bytes_freed": freed, "folder": str(plan.folder)})
        return
    _console().print(f"[green]removed[/] {plan.name} ({human_size(freed)} freed)")
