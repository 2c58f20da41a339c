"""Starting the server: checked options, the served models, the socket, uvicorn."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Sequence
from dataclasses import dataclass

from deepfx.errors import NotInstalledError, UsageError
from deepfx.serve.app import create_app
from deepfx.serve.guard import Guard
from deepfx.serve.state import ServedModel, ServerState
from deepfx.serve.storage import Storage

__all__ = ["ServeOptions", "bind", "build", "is_loopback", "served_models", "shown_origin"]

DEFAULT_PORT = 7865
DEFAULT_MAX_UPLOAD_MB = 500.0


@dataclass(frozen=True)
class ServeOptions:
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    token: str | None = None
    max_upload_mb: float = DEFAULT_MAX_UPLOAD_MB
    device: str = "auto"
    models: tuple[str, ...] = ()
    ttl_s: float = 1800.0


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check(opts: ServeOptions) -> None:
    """Refuse options that cannot work or are unsafe (raises UsageError)."""
    if not is_loopback(opts.host) and not opts.token:
        raise UsageError(
            f"--host {opts.host} serves other machines: add --token T (any long secret; "
            "every request must then send 'Authorization: Bearer T')"
        )
    if opts.token is not None and len(opts.token) < 8:
        raise UsageError("--token must be at least 8 characters; use a long random secret")
    if not 0 < opts.max_upload_mb <= 1024 * 1024:
        raise UsageError("--max-upload-mb must be a positive number of megabytes")
    if not 0 <= opts.port <= 65535:
        raise UsageError("--port must be between 0 and 65535 (0 picks a free port)")
    if opts.device not in ("auto", "cpu", "cuda", "mps"):
        raise UsageError("--device must be auto, cpu, cuda or mps")


def served_models(names: Sequence[str] = ()) -> list[ServedModel]:
    """The installed models to serve (all, or those named); cards read now."""
    from deepfx.card import load_card
    from deepfx.store import Store

    store = Store()
    installed = {m.name: m for m in store.installed()}
    wanted = [store.resolve_name(n) for n in names] if names else list(installed)
    out = []
    for name in wanted:
        if name not in installed:
            raise NotInstalledError(name)
        folder = installed[name].folder
        out.append(ServedModel(name, load_card(folder, strict=False), folder))
    if not out:
        raise UsageError(
            "no models are installed; install one first, e.g. "
            "`deepfx models install builtin/hpss`, then run `deepfx serve` again"
        )
    return out


def bind(host: str, port: int) -> socket.socket:
    """A listening socket (so the real port is known before uvicorn starts)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise UsageError(
            f"cannot listen on {host}:{port} ({exc.strerror or exc}); "
            "choose another --port or stop the program using it"
        ) from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def shown_origin(host: str, port: int) -> str:
    """The origin to print: a wildcard bind shows this machine's LAN address (HARP wants
    an IP address or localhost: ``http://a.b.c.d:port``)."""
    if host in ("0.0.0.0", "::", ""):
        host = _lan_address()
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


def _lan_address() -> str:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.connect(("10.255.255.255", 1))  # UDP connect sends nothing; picks the LAN route
        return str(s.getsockname()[0])
    except OSError:
        return "127.0.0.1"
    finally:
        s.close()


def build(opts: ServeOptions, models: Sequence[ServedModel]) -> tuple[ServerState, Guard]:
    """The state and the ASGI app for ``models`` (nothing listens yet)."""
    storage = Storage(max_upload_bytes=int(opts.max_upload_mb * 2**20), ttl_s=opts.ttl_s)
    state = ServerState(models, storage=storage, device=opts.device)
    app = create_app(state, token=opts.token, loopback_only=is_loopback(opts.host))
    return state, app


def uvicorn_server(app: Guard) -> object:
    """A uvicorn Server for ``app`` (quiet: no access log, so no paths or headers logged)."""
    import uvicorn

    config = uvicorn.Config(
        app, lifespan="on", log_level="warning", access_log=False, timeout_graceful_shutdown=5
    )
    return uvicorn.Server(config)
