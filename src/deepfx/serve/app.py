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
import logging
import threading
from collections.abc import AsyncIterator
from pathlib import Path

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

from deepfx.errors import DeepfxError
from deepfx.serve import controls as ctl
from deepfx.serve import gradio_api, pages
from deepfx.serve.calls import start_call
from deepfx.serve.guard import Guard
from deepfx.serve.jobs import FINAL, Job
from deepfx.serve.protocol import HEARTBEAT_S, POLL_S, sse
from deepfx.serve.queue import queue_cancel, queue_data, queue_join
from deepfx.serve.state import (
    ServedModel,
    ServerState,
    controls_for,
    error,
    json_body,
    origin_of,
    state_of,
    target,
)
from deepfx.serve.uploads import UploadRejected, receive_files

__all__ = ["ServedModel", "ServerState", "create_app"]

log = logging.getLogger("deepfx.serve")


async def model_page(request: Request) -> Response:
    return HTMLResponse(pages.model_page(target(request)))


async def config_route(request: Request) -> Response:
    t = target(request)
    controls = await controls_for(request, t)
    outs = ctl.outputs(t.model.card, t.kept)
    return JSONResponse(
        gradio_api.config(controls, outs, max_file_size=state_of(request).storage.max_upload_bytes)
    )


async def info_route(request: Request) -> Response:
    t = target(request)
    controls = await controls_for(request, t)
    return JSONResponse(gradio_api.api_info(controls, ctl.outputs(t.model.card, t.kept)))


async def upload_route(request: Request) -> Response:
    target(request)
    storage = state_of(request).storage
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
    job = state_of(request).jobs.get(request.path_params["event_id"])
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
    storage = state_of(request).storage
    key = request.path_params["path"]
    taken = storage.take(key)
    if taken is None:
        return error(404, "no such file here (each output can be downloaded once, for a while)")
    path, finished = taken
    after = BackgroundTask(storage.remove_job, finished) if finished is not None else None
    return FileResponse(path, filename=path.name, background=after)


# gradio_client's queue protocol ------------------------------------------------------------


async def index_route(request: Request) -> Response:
    state = state_of(request)
    return HTMLResponse(pages.index_page(origin_of(request), list(state.models.values())))


async def models_route(request: Request) -> Response:
    state = state_of(request)
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
