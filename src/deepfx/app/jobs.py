"""The run queue: each Apply is a :class:`RunJob` that runs on a worker, one at a time,
through :func:`deepfx.engine.run` (files, exactly as ``deepfx run``) or
:func:`deepfx.audacity.bridge.apply` (Audacity's selection, as ``deepfx audacity apply``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deepfx.app import workers
from deepfx.app.messages import Message

__all__ = ["RunJob", "RunQueue", "output_groups"]

STAGES = {
    "loading": "Loading the model",
    "processing": "Processing",
    "writing": "Writing the results",
    "done": "Finished",
    "reading": "Reading the selection from Audacity",
    "running": "Running the model",
    "adding": "Adding the results to Audacity",
}


@dataclass
class RunJob:
    model: str
    kind: str
    target: str  # "files" or "audacity"
    inputs: list[Path] = field(default_factory=list)
    out_dir: Path | None = None  # None: beside each input
    stems: list[str] | None = None
    per_channel: bool | None = None
    device: str = "auto"
    label_format: str = "txt"
    state: str = "queued"  # queued, running, done, failed, cancelled
    stage: str = ""
    fraction: float = 0.0
    eta_s: float | None = None
    position: str = ""  # "file 2 of 3"
    started: float = 0.0
    result: Any = None
    message: Message | None = None
    task: workers.Task | None = None

    @property
    def title(self) -> str:
        what = (
            "the Audacity selection"
            if self.target == "audacity"
            else (self.inputs[0].name if len(self.inputs) == 1 else f"{len(self.inputs)} files")
        )
        return f"{self.model} on {what}"


def output_groups(inputs: list[Path], out_dir: Path | None) -> dict[Path, list[Path]]:
    """Inputs by output folder: ``out_dir`` for all, or each input's own folder."""
    groups: dict[Path, list[Path]] = {}
    for p in inputs:
        groups.setdefault(out_dir if out_dir is not None else p.parent, []).append(p)
    return groups


class RunQueue(workers.JobQueue):
    jobs: list[RunJob]
    history: list[RunJob]

    def enqueue(self, job: RunJob) -> RunJob:
        self.jobs.append(job)
        self.changed.emit(job)
        self._next()
        return job

    def cancel(self, job: RunJob) -> None:
        if job.state == "queued" and job in self.jobs:
            self.jobs.remove(job)
            job.state = "cancelled"
            self._end(job)
        elif job.task is not None:
            job.task.cancel()

    @property
    def current(self) -> RunJob | None:
        return self.jobs[0] if self.jobs and self.jobs[0].state == "running" else None

    def _starting(self, job: RunJob) -> None:
        job.started, job.stage = time.monotonic(), STAGES["loading"]

    def _work(self, job: RunJob) -> Any:
        return _work(job)

    def _progress(self, job: RunJob, ev: Any) -> None:
        job.stage = STAGES.get(ev.stage, ev.stage)
        if hasattr(ev, "fraction"):  # deepfx.engine.Progress
            job.fraction = ev.fraction if ev.stage == "processing" else job.fraction
            job.eta_s = ev.eta_s
            if ev.count > 1:
                job.position = f"file {ev.index + 1} of {ev.count}: {ev.input}"
            else:
                job.position = ev.input
        else:  # deepfx.audacity.bridge.ApplyProgress
            part = (ev.done / ev.total) if ev.total else 0.0
            job.fraction = min((ev.index + part) / max(ev.count, 1), 1.0)
            job.position = f"track {ev.index + 1} of {ev.count}: {ev.track}"
            if ev.stage == "loading":
                job.position = ev.track
            elif getattr(ev, "chunks", 0) > 1:
                job.position += f", chunk {ev.chunk} of {ev.chunks}"
            el = time.monotonic() - job.started
            job.eta_s = el * (1 - job.fraction) / job.fraction if job.fraction > 0.02 else None
        self.changed.emit(job)

    def _done(self, job: RunJob, result: Any) -> None:
        job.state, job.result, job.fraction, job.eta_s = "done", result, 1.0, 0.0
        job.stage = STAGES["done"]
        self._end(job)


def _work(job: RunJob) -> workers.Work:
    def work(report: Any, cancel: Any) -> Any:
        if job.target == "audacity":
            # the resident worker the CLI uses too: a model applied again is not reloaded
            from deepfx.resident import client

            return client.apply(
                job.model,
                stems=job.stems,
                per_channel=job.per_channel,
                device=job.device,
                on_progress=report,
                cancel=cancel,
            )
        from deepfx.engine import run

        outputs = []
        for out_dir, inputs in output_groups(job.inputs, job.out_dir).items():
            outputs += run(
                job.model,
                inputs,
                out_dir,
                stems=job.stems,
                label_format=job.label_format,
                per_channel=job.per_channel,
                device=job.device,
                on_progress=report,
                cancel=cancel,
            )
        return outputs

    return work
