"""Starting calls: ``controls``, ``process`` and ``cancel`` as jobs (see :mod:`.jobs`).

Shared by HARP's ``call/<name>`` routes and gradio_client's ``queue/join``.
"""

from __future__ import annotations

from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request

from deepfx.serve import controls as ctl
from deepfx.serve.jobs import Job, acquire, on_progress, run_in_thread
from deepfx.serve.protocol import file_data, label_list
from deepfx.serve.state import ServerState, Target, client_of, controls_for, state_of

__all__ = ["start_call"]


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
    state = state_of(request)
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
