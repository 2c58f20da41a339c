"""gradio_client's queue protocol (``sse_v3``) over the same jobs as HARP's calls.

``POST queue/join`` ``{"data", "fn_index", "session_hash"}`` starts a call and answers its
``event_id``; ``GET queue/data?session_hash=`` streams ``data: {"msg": ...}`` messages for
every job of the session (``estimation``, ``process_starts``, ``progress``,
``process_completed``) and ends with ``close_stream`` once all of them are delivered.
``POST cancel`` / ``reset`` ``{"event_id"}`` cancel one job.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from deepfx.serve import controls as ctl
from deepfx.serve import gradio_api
from deepfx.serve.calls import start_call
from deepfx.serve.protocol import HEARTBEAT_S, POLL_S, sse_data
from deepfx.serve.state import ServerState, error, json_body, state_of, target

__all__ = ["queue_cancel", "queue_data", "queue_join"]


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
        _queue_events(state_of(request), session),
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
        if all(j.done and cursors.get(j.id, 0) == len(j.items) for j in jobs):  # or none
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
    job = state_of(request).jobs.get(str(body.get("event_id", "")))
    if job is None or job.model != t.model.name:
        return error(404, "unknown event id")
    job.token.cancel()
    return JSONResponse({"success": True})
