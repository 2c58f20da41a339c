"""The Starlette app: one Gradio/HARP API per installed model under ``/m/<org>/<name>``.

Routes under each model's base URL (and under ``/m/<org>/<name>/stems/<a>+<b>``, the same
model keeping only those stems)::

    GET  /                                       this model's page (HARP's "open in browser")
    GET  /config                                 Gradio config (for gradio_client)
    GET  /gradio_api/info                        named endpoints (for gradio_client)
    POST /gradio_api/upload                      multipart "files" -> ["<server path>", ...]
    POST /gradio_api/call/{controls|process|cancel}   {"data": [...]} -> {"event_id": ...}
    GET  /gradio_api/call/{name}/{event_id}      event stream, ends in complete or error
    GET  /gradio_api/file=<path>                 a published output
    POST /gradio_api/queue/join, GET /gradio_api/queue/data, POST /gradio_api/cancel|reset
                                                 gradio_client's queue protocol

plus ``GET /`` (index page: every model and the URL to paste into HARP) and
``GET /models`` (the same as JSON). Every error is JSON ``{"error": "<one line>"}`` with a
4xx status (a 500 names the exception, never a traceback).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import anyio
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Mount, Route

from deepfx.card import ModelCard
from deepfx.errors import DeepfxError
from deepfx.model import Model, load_model
from deepfx.serve import controls as ctl
from deepfx.serve import gradio_api, pages
from deepfx.serve.guard import Guard
from deepfx.serve.jobs import (
    FINAL,
    Job,
    JobRegistry,
    ModelCache,
    acquire,
    on_progress,
    run_in_thread,
)
from deepfx.serve.protocol import file_data, label_list, sse, sse_data
from deepfx.serve.storage import Storage
from deepfx.serve.uploads import UploadRejected, receive_files

__all__ = ["ServedModel", "ServerState", "create_app"]

log = logging.getLogger("deepfx.serve")

#: Seconds between heartbeats on an idle event stream (HARP reads with a 10 s timeout),
#: and between polls of a job.
HEARTBEAT_S = 5.0
POLL_S = 0.05


@dataclass(frozen=True)
class ServedModel:
    """An installed model this server serves (card read once at start)."""

    name: str
    card: ModelCard

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
        self.cache = ModelCache(loader or _load)
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


def _load(name: str, device: str) -> Model:
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


def _state(request: Request) -> ServerState:
    state: ServerState = request.app.state.deepfx
    return state


def origin_of(request: Request) -> str:
    return f"{request.url.scheme}://{request.headers.get('host', request.url.netloc)}"


def target(request: Request) -> Target:
    p = request.path_params
    name = f"{p['org']}/{p['name']}"
    model = _state(request).models.get(name)
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
    state = _state(request)
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


# --- starting jobs --------------------------------------------------------------------------


def start_controls(state: ServerState, t: Target, client: str, session: str | None) -> Job:
    job = state.jobs.add(Job("controls", t.model.name, client, session))

    def work() -> list[Any]:
        choices = state.device_choices()
        inputs = ctl.build_controls(t.model.card, devices=choices, device=state.device)
        card = t.model.card
        return [
            {
                "card": ctl.card_dict(card, t.model.name),
                "inputs": [c.harp for c in inputs],
                "outputs": ctl.outputs(card, t.kept),
            }
        ]

    run_in_thread(job, work)
    return job


def start_process(
    state: ServerState, t: Target, args: ctl.ProcessArgs, client: str, session: str | None
) -> Job:
    """Claim the upload, then run the model in a worker thread (see :mod:`.jobs`)."""
    from deepfx.engine import run

    storage = state.storage
    folder = storage.new_job()
    try:
        src, original = storage.claim_upload(args.audio_path, folder)
    except KeyError:
        storage.remove_job(folder)
        raise ctl.RequestError(
            "the audio path is not a file this server's upload handed out (or it was already "
            "processed); upload the file first and pass the path upload returned"
        ) from None
    job = state.jobs.add(Job("process", t.model.name, client, session))
    card = t.model.card
    api = t.api

    def work() -> list[Any]:
        job.progress("loading")
        model = state.cache.get(t.model.name, args.device)
        lock = state.cache.run_lock(t.model.name, args.device)
        acquire(lock, job.token, lambda: job.progress("queued"))
        try:
            job.token.raise_if_cancelled()
            (out,) = run(
                model,
                [src],
                folder.output_dir,
                stems=list(t.stems) if t.stems else None,
                per_channel=args.per_channel,
                chunk_s=args.chunk_s,
                on_progress=on_progress(job),
                cancel=job.token,
            )
        finally:
            lock.release()
        job.token.raise_if_cancelled()
        storage.finish(folder)
        if card.is_effect:
            return [
                file_data(api, out.files[s], storage.publish(folder, out.files[s])) for s in t.kept
            ]
        return [
            file_data(api, src, storage.publish(folder, src)),
            label_list(out.labels, card.labels, t.model.name),
        ]

    def scrub(message: str) -> str:
        return message.replace(str(src), original).replace(str(storage.root), "<server temp>")

    run_in_thread(job, work, cleanup=lambda: storage.remove_job(folder), scrub=scrub)
    return job


def start_cancel(
    state: ServerState, t: Target, which: list[Job], client: str, session: str | None
) -> Job:
    """Cancel ``which``; the cancel job completes once they have stopped and cleaned up."""
    job = state.jobs.add(Job("cancel", t.model.name, client, session))
    for j in which:
        j.token.cancel()

    def work() -> list[Any]:
        for j in which:
            j.stopped.wait(timeout=120)
        return []

    run_in_thread(job, work)
    return job


def cancel_targets(state: ServerState, t: Target, client: str, data: list[Any]) -> list[Job]:
    """What ``call/cancel`` stops: the event ids in ``data`` if any (a deepfx extension),
    else, as pyharp's cancel button does, this client's running jobs on this model."""
    ids = [d for d in data if isinstance(d, str)]
    if ids:
        found = [state.jobs.get(i) for i in ids]
        return [
            j for j in found if j is not None and j.model == t.model.name and j.kind == "process"
        ]
    return [j for j in state.jobs.running() if j.model == t.model.name and j.client == client]


async def start_call(
    request: Request, t: Target, fn: str, data: list[Any], session: str | None
) -> Job:
    state = _state(request)
    client = client_of(request)
    if fn == "controls":
        return start_controls(state, t, client, session)
    if fn == "process":
        controls = await controls_for(request, t)
        args = ctl.parse_process(controls, data, device=state.device)
        return start_process(state, t, args, client, session)
    if fn == "cancel":
        return start_cancel(state, t, cancel_targets(state, t, client, data), client, session)
    raise HTTPException(404, f"no endpoint {fn!r}; this server has controls, process and cancel")


# --- routes ---------------------------------------------------------------------------------


async def model_page(request: Request) -> Response:
    return HTMLResponse(pages.model_page(target(request)))


async def config_route(request: Request) -> Response:
    t = target(request)
    controls = await controls_for(request, t)
    outs = ctl.outputs(t.model.card, t.kept)
    return JSONResponse(
        gradio_api.config(controls, outs, max_file_size=_state(request).storage.max_upload_bytes)
    )


async def info_route(request: Request) -> Response:
    t = target(request)
    controls = await controls_for(request, t)
    return JSONResponse(gradio_api.api_info(controls, ctl.outputs(t.model.card, t.kept)))


async def upload_route(request: Request) -> Response:
    target(request)
    storage = _state(request).storage
    try:
        files = await receive_files(
            storage,
            request.headers.get("content-type"),
            request.headers.get("content-length"),
            request.stream(),
        )
    except UploadRejected as exc:
        return error(exc.status, exc.message)
    paths = []
    for path, original in files:
        problem = await anyio.to_thread.run_sync(_audio_problem, path)
        if problem is not None:
            for p, _ in files:
                storage.drop_upload_file(p)
            return error(
                415,
                f"{original!r} is not audio deepfx can read ({problem}); upload wav, flac, "
                "ogg, mp3 or aiff",
            )
        paths.append(storage.add_upload(path, original))
    return JSONResponse(paths)


def _audio_problem(path: Path) -> str | None:
    from deepfx.audio import inspect

    try:
        inspect(path)
    except DeepfxError as exc:
        cause = getattr(exc, "cause", None)
        return str(cause) if cause else "no audio samples"
    return None


async def call_route(request: Request) -> Response:
    t = target(request)
    body = await json_body(request)
    try:
        job = await start_call(request, t, request.path_params["fn"], body.get("data", []), None)
    except ctl.RequestError as exc:
        return error(exc.status, str(exc))
    return JSONResponse({"event_id": job.id})


async def stream_route(request: Request) -> Response:
    t = target(request)
    job = _state(request).jobs.get(request.path_params["event_id"])
    if job is None or job.kind != request.path_params["fn"] or job.model != t.model.name:
        return error(404, "unknown event id; POST to call/<name> first and use its event_id")
    return StreamingResponse(
        _call_events(job),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def _call_events(job: Job) -> AsyncIterator[bytes]:
    cursor, idle = 0, 0.0
    while True:
        items = job.since(cursor)
        cursor += len(items)
        for event, data in items:
            yield sse(event, data)
            if event in FINAL:
                return
        if items:
            idle = 0.0
        elif idle >= HEARTBEAT_S:
            idle = 0.0
            yield sse("heartbeat", None)
        await asyncio.sleep(POLL_S)
        idle += POLL_S


async def file_route(request: Request) -> Response:
    target(request)
    storage = _state(request).storage
    key = request.path_params["path"]
    taken = storage.take(key)
    if taken is None:
        return error(404, "no such file here (each output can be downloaded once, for a while)")
    path, finished = taken
    after = BackgroundTask(storage.remove_job, finished) if finished is not None else None
    return FileResponse(path, filename=path.name, background=after)


# gradio_client's queue protocol ------------------------------------------------------------


async def queue_join(request: Request) -> Response:
    t = target(request)
    body = await json_body(request)
    fn_index = body.get("fn_index")
    session = body.get("session_hash")
    if not isinstance(fn_index, int) or not 0 <= fn_index < len(gradio_api.FN_NAMES):
        return error(400, "fn_index must be 0 (controls), 1 (process) or 2 (cancel)")
    if not isinstance(session, str) or not session:
        return error(400, "session_hash is required")
    try:
        fn = gradio_api.FN_NAMES[fn_index]
        job = await start_call(request, t, fn, body.get("data", []), session)
    except ctl.RequestError as exc:
        return error(422, str(exc))
    return JSONResponse({"event_id": job.id})


async def queue_data(request: Request) -> Response:
    target(request)
    session = request.query_params.get("session_hash", "")
    if not session:
        return error(400, "session_hash is required")
    return StreamingResponse(
        _queue_events(_state(request), session),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def _queue_events(state: ServerState, session: str) -> AsyncIterator[bytes]:
    cursors = state.session_cursors.setdefault(session, {})
    idle = 0.0
    while True:
        jobs = state.jobs.session(session)
        sent = False
        for job in jobs:
            if job.id not in cursors:
                cursors[job.id] = 0
                yield sse_data(
                    {"msg": "estimation", "event_id": job.id, "rank": 0, "queue_size": 1}
                )
                yield sse_data({"msg": "process_starts", "event_id": job.id})
            items = job.since(cursors[job.id])
            cursors[job.id] += len(items)
            for event, data in items:
                sent = True
                msg = _queue_message(job.id, event, data)
                if msg is not None:
                    yield sse_data(msg)
        if jobs and all(j.done and cursors.get(j.id, 0) == len(j.items) for j in jobs):
            yield sse_data({"msg": "close_stream"})
            return
        if sent:
            idle = 0.0
        elif idle >= HEARTBEAT_S:
            idle = 0.0
            yield sse_data({"msg": "heartbeat"})
        await asyncio.sleep(POLL_S)
        idle += POLL_S


def _queue_message(event_id: str, event: str, data: Any) -> dict[str, Any] | None:
    if event == "progress":
        unit = {
            "index": data["done"],
            "length": data["total"] or None,
            "unit": data["unit"],
            "progress": data["fraction"],
            "desc": data["stage"],
        }
        return {"msg": "progress", "event_id": event_id, "progress_data": [unit]}
    if event == "complete":
        return {
            "msg": "process_completed",
            "event_id": event_id,
            "output": {"data": data},
            "success": True,
        }
    if event == "error":
        return {
            "msg": "process_completed",
            "event_id": event_id,
            "output": {"error": data},
            "success": False,
        }
    return None


async def queue_cancel(request: Request) -> Response:
    """gradio_client's ``/cancel`` and ``/reset``: ``{"event_id": ...}``."""
    t = target(request)
    body = await json_body(request)
    job = _state(request).jobs.get(str(body.get("event_id", "")))
    if job is None or job.model != t.model.name:
        return error(404, "unknown event id")
    job.token.cancel()
    return JSONResponse({"success": True})


# --- the app --------------------------------------------------------------------------------


async def index_route(request: Request) -> Response:
    state = _state(request)
    return HTMLResponse(pages.index_page(origin_of(request), list(state.models.values())))


async def models_route(request: Request) -> Response:
    state = _state(request)
    origin = origin_of(request)
    return JSONResponse([pages.model_entry(origin, m) for m in state.models.values()])


def _model_routes() -> list[Route]:
    return [
        Route("/", model_page, methods=["GET"]),
        Route("/config", config_route, methods=["GET"]),
        Route("/gradio_api/info", info_route, methods=["GET"]),
        Route("/gradio_api/upload", upload_route, methods=["POST"]),
        Route("/gradio_api/call/{fn}", call_route, methods=["POST"]),
        Route("/gradio_api/call/{fn}/{event_id}", stream_route, methods=["GET"]),
        Route("/gradio_api/file={path:path}", file_route, methods=["GET"]),
        Route("/gradio_api/queue/join", queue_join, methods=["POST"]),
        Route("/gradio_api/queue/data", queue_data, methods=["GET"]),
        Route("/gradio_api/cancel", queue_cancel, methods=["POST"]),
        Route("/gradio_api/reset", queue_cancel, methods=["POST"]),
    ]


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    detail = exc.detail
    if exc.status_code == 404 and detail == "Not Found":
        detail = f"no route {request.url.path}; see / for the models and their URLs"
    elif exc.status_code == 405:
        detail = f"{request.method} is not allowed on {request.url.path}"
    return error(exc.status_code, str(detail))


async def _internal_error(request: Request, exc: Exception) -> Response:
    log.error("internal error on %s: %s: %s", request.url.path, type(exc).__name__, exc)
    return error(500, f"internal error: {type(exc).__name__}: {exc}")


async def _janitor(state: ServerState, every_s: float = 30.0) -> None:
    while True:
        await asyncio.sleep(every_s)
        state.storage.sweep()
        state.jobs.sweep()
        live = {j.id for s in list(state.session_cursors) for j in state.jobs.session(s)}
        for s, cur in list(state.session_cursors.items()):
            if not any(k in live for k in cur):
                state.session_cursors.pop(s, None)


def create_app(state: ServerState, *, token: str | None, loopback_only: bool) -> Guard:
    """The ASGI app (Starlette behind :class:`~deepfx.serve.guard.Guard`)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # find the accelerators now (imports torch) so the first `controls` answers at once
        threading.Thread(target=state.accelerators, daemon=True).start()
        task = asyncio.create_task(_janitor(state))
        try:
            yield
        finally:
            task.cancel()
            running = state.jobs.cancel_all()
            await anyio.to_thread.run_sync(lambda: [j.stopped.wait(30) for j in running])
            state.storage.close()

    routes = _model_routes()
    app = Starlette(
        routes=[
            Route("/", index_route, methods=["GET"]),
            Route("/models", models_route, methods=["GET"]),
            Mount("/m/{org}/{name}/stems/{stems}", routes=routes),
            Mount("/m/{org}/{name}", routes=routes),
        ],
        exception_handlers={HTTPException: _http_error, Exception: _internal_error},
        lifespan=lifespan,
    )
    app.state.deepfx = state
    return Guard(app, token=token, loopback_only=loopback_only)
