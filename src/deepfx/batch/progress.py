"""Batch progress: one event type for the API, one rich bar for the command line.

The driver emits a :class:`BatchProgress` when the batch starts and after every input.
Throughput is audio hours per wall-clock hour (x real time) over the inputs run in this
batch (skipped ones cost nothing and do not count), and the time left is the audio still to
do at that pace.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from deepfx.batch.manifest import Record

__all__ = ["BatchProgress", "BatchProgressCallback", "RichBatchProgress"]


@dataclass(frozen=True)
class BatchProgress:
    """Where a batch stands.

    Attributes
    ----------
    files_done, files_total:
        Inputs finished (ok, failed or skipped) and all inputs.
    failed, skipped:
        How many of the finished inputs failed / were already done.
    audio_s_done, audio_s_total:
        Seconds of audio finished and in the whole batch (from the file headers; an input
        whose header cannot be read counts 0).
    run_audio_s:
        Seconds of audio finished by this run (not skipped).
    started:
        ``time.monotonic()`` when the batch started running files.
    last:
        The record that triggered this event (None for the first event).
    """

    files_done: int
    files_total: int
    failed: int = 0
    skipped: int = 0
    audio_s_done: float = 0.0
    audio_s_total: float = 0.0
    run_audio_s: float = 0.0
    started: float = field(default_factory=time.monotonic)
    last: Record | None = None

    @property
    def elapsed_s(self) -> float:
        return time.monotonic() - self.started

    @property
    def speed(self) -> float:
        """Audio hours per hour (x real time) so far in this run; 0 before any input."""
        el = self.elapsed_s
        return self.run_audio_s / el if el > 0 and self.run_audio_s > 0 else 0.0

    @property
    def eta_s(self) -> float | None:
        """Seconds left at the current speed, or None before anything ran."""
        if self.files_done >= self.files_total:
            return 0.0
        if not self.speed:
            return None
        return max(self.audio_s_total - self.audio_s_done, 0.0) / self.speed


BatchProgressCallback = Callable[[BatchProgress], None]


class RichBatchProgress:
    """Two rich bars (files; audio hours with speed and time left); a context manager."""

    def __init__(self, console: Any, *, disable: bool = False):
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        self.bar = Progress(
            TextColumn("{task.description:<7}"),
            BarColumn(),
            TextColumn("{task.fields[count]}"),
            TimeElapsedColumn(),
            TextColumn("{task.fields[extra]}"),
            console=console,
            disable=disable,
            transient=False,
        )
        self.files = self.bar.add_task("files", total=1, count="", extra="")
        self.hours = self.bar.add_task("audio", total=1, count="", extra="")

    def __enter__(self) -> RichBatchProgress:
        self.bar.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.__exit__(None, None, None)

    def __call__(self, ev: BatchProgress) -> None:
        notes = []
        if ev.skipped:
            notes.append(f"{ev.skipped} skipped")
        if ev.failed:
            notes.append(f"[red]{ev.failed} failed[/]")
        self.bar.update(
            self.files,
            completed=ev.files_done,
            total=max(ev.files_total, 1),
            count=f"{ev.files_done}/{ev.files_total}",
            extra=", ".join(notes),
        )
        eta = ev.eta_s
        left = "" if eta is None else f", {_hms(eta)} left"
        self.bar.update(
            self.hours,
            completed=ev.audio_s_done,
            total=max(ev.audio_s_total, 1e-9),
            count=f"{ev.audio_s_done / 3600:.2f}/{ev.audio_s_total / 3600:.2f} h",
            extra=f"{ev.speed:.1f} h/h{left}",
        )


def _hms(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"
