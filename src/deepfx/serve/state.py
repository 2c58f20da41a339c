"""What the routes share: the served models, the server state, the request's target.

A request's URL names a model (``/m/<org>/<name>``, optionally ``/stems/<a>+<b>``);
:func:`target` resolves it (404 with a message otherwise) and gives the absolute base URL
that results' download URLs are built on.
"""

from __future__ import annotations

import functools
import json
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import anyio
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse

from deepfx.card import ModelCard
from deepfx.model import Model, load_model
from deepfx.serve import controls as ctl
from deepfx.serve.jobs import JobRegistry, ModelCache
from deepfx.serve.storage import Storage

__all__ = ["ServedModel", "ServerState", "Target", "error", "target"]


@dataclass(frozen=True)
class ServedModel:
    """An installed model this server serves (card read once at start). ``folder`` is its
    installed folder, found at start: the server serves the store it was started on, even
    if ``DEEPFX_HOME`` changes later in the process."""

    name: str
    card: ModelCard
    folder: Path | None = None

    @property
    def path(self) -> str:
        return "/m/" + self.name


class ServerState:
    """Everything the routes share: models, storage, jobs, the model cache."""

    def __init__(
        self,
        models: Sequence[ServedModel],
        *,
        storage: Storage,
        device: str = "auto",
        loader: Callable[[str, str], Model] | None = None,
        devices: Callable[[], list[str]] | None = None,
    ):
        self.models = {m.name: m for m in models}
        self.storage = storage
        self.device = device
        self.jobs = JobRegistry(ttl_s=storage.ttl_s)
        self.cache = ModelCache(loader or functools.partial(_load, self.models))
        self._devices_fn = devices or detect_accelerators
        self._devices: list[str] | None = None
        self._devices_lock = threading.Lock()
        self.session_cursors: dict[str, dict[str, int]] = {}

    def accelerators(self) -> list[str]:
        """Accelerators present (``cuda``, ``mps``), found once (imports torch: call it
        off the event loop)."""
        with self._devices_lock:
            if self._devices is None:
                self._devices = self._devices_fn()
            return self._devices

    def device_choices(self) -> list[str]:
        acc = self.accelerators()
        return ["auto", "cpu", *acc] if acc else []


def _load(models: dict[str, ServedModel], name: str, device: str) -> Model:
    served = models.get(name)
    if served is not None and served.folder is not None:
        return Model(served.folder, served.card, name=name, device=device).load()
    return load_model(name, device=device).load()


def detect_accelerators() -> list[str]:
    try:
        import torch
    except Exception:  # noqa: BLE001 - no torch: ONNX models still run on the CPU
        return []
    found = []
    if torch.cuda.is_available():
        found.append("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        found.append("mps")
    return found


def error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


# --- request helpers ------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """The model (and kept stems) a request's URL names, and its URLs."""

    model: ServedModel
    stems: tuple[str, ...] | None
    base: str  # absolute base URL for this model (what to paste into HARP)

    @property
    def api(self) -> str:
        return self.base + "/gradio_api"

    @property
    def kept(self) -> list[str]:
        return list(self.stems) if self.stems else list(self.model.card.labels)


def state_of(request: Request) -> ServerState:
    state: ServerState = request.app.state.deepfx
    return state


def origin_of(request: Request) -> str:
    return f"{request.url.scheme}://{request.headers.get('host', request.url.netloc)}"


def target(request: Request) -> Target:
    p = request.path_params
    name = f"{p['org']}/{p['name']}"
    model = state_of(request).models.get(name)
    if model is None:
        raise HTTPException(404, f"no model {name!r} is served here; see / for the list")
    base = origin_of(request) + model.path
    stems: tuple[str, ...] | None = None
    if "stems" in p:
        card = model.card
        if not card.is_effect:
            raise HTTPException(404, f"{name} is an analyzer: it has no stems to choose")
        wanted = [unquote(s) for s in p["stems"].split("+") if s]
        unknown = [s for s in wanted if s not in card.labels]
        if not wanted or unknown:
            raise HTTPException(
                404,
                f"{name} has no stem {', '.join(map(repr, unknown)) or '(none given)'}; "
                f"its stems are: {', '.join(card.labels)}",
            )
        stems = tuple(s for s in card.labels if s in wanted)
        base += "/stems/" + "+".join(quote(s, safe="") for s in stems)
    return Target(model, stems, base)


async def controls_for(request: Request, t: Target) -> list[ctl.Control]:
    state = state_of(request)
    choices = await anyio.to_thread.run_sync(state.device_choices)
    return ctl.build_controls(t.model.card, devices=choices, device=state.device)


async def json_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    try:
        body = json.loads(raw or b"null")
    except (ValueError, UnicodeDecodeError):
        raise HTTPException(400, 'the body must be JSON: {"data": [...]}') from None
    if not isinstance(body, dict) or not isinstance(body.get("data", []), list):
        raise HTTPException(400, 'the body must be a JSON object {"data": [...]}')
    return body


def client_of(request: Request) -> str:
    return request.client.host if request.client else "?"
