"""One input, on a worker: run deepfx's streaming engine, then publish atomically.

:func:`process_one` is what every Ray actor does per row, and it is plain Python (no Ray),
so it is tested directly. The engine writes into a private staging folder (its own temp
files, renamed when complete); the finished outputs are hashed there, then each is moved
to its final place with :func:`os.replace`. A retried task (worker lost, actor restarted)
does the same work again in a new staging folder and replaces the same destinations with
complete files, so an output is never duplicated, never half-written, never under a
second name. With an fsspec URL as the output (:mod:`deepfx.batch.remote`) the staging
folder is a private local one and each hashed file is uploaded under a temp name and moved
into place instead. Any error of one input becomes a ``failed`` record: the batch goes on.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from deepfx.batch.inputs import Row
from deepfx.batch.manifest import OutputFile, Record, file_sha256, input_stamp
from deepfx.batch.remote import Target, is_url, open_target
from deepfx.errors import Cancelled

__all__ = ["STAGING_DIR", "BatchOptions", "Worker", "process_one"]

#: Hidden folder under the output folder where workers stage outputs (same filesystem,
#: so the final rename is atomic); removed by the driver at the start and end of a run.
STAGING_DIR = ".deepfx-batch-tmp"


@dataclass(frozen=True)
class BatchOptions:
    """The :func:`deepfx.engine.run` options a batch passes through unchanged."""

    stems: tuple[str, ...] | None = None
    label_format: str = "txt"
    name_template: str = "{stem} - {label}.{ext}"
    audio_format: str | None = None
    subtype: str | None = None
    per_channel: bool | None = None
    chunk_s: float | None = None
    overlap_s: float | None = None
    batch: int | None = None
    memory_budget_mb: float = 2048.0

    def run_kwargs(self) -> dict[str, Any]:
        kw = asdict(self)
        kw["stems"] = list(self.stems) if self.stems else None
        return kw


class Worker:
    """Loads the model once; then :meth:`process` runs one row at a time.

    A model that fails to load does not crash the actor (Ray would restart it forever):
    the error is kept and every row it is given fails with it.
    """

    def __init__(
        self,
        model: str,
        out_dir: str,
        options: BatchOptions,
        config: str,
        device: str = "auto",
        threads: int | None = None,
    ):
        import warnings

        from deepfx.model import load_model

        self.target: Target | None = open_target(out_dir) if is_url(out_dir) else None
        self.out_dir = Path(out_dir) if self.target is None else Path(tempfile.gettempdir())
        self.options = options
        self.config = config
        self.load_error: BaseException | None = None
        self.model: Any = None
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self.model = load_model(model, device=device, threads=threads).load()
        except Exception as exc:  # reported per row
            self.load_error = exc

    def process(
        self, row: Row, *, node: str | None = None, gpu_ids: list[str] | None = None
    ) -> Record:
        rec = process_one(
            row,
            self.model,
            self.out_dir,
            self.options,
            config=self.config,
            load_error=self.load_error,
            target=self.target,
        )
        rec.node, rec.gpu_ids = node, list(gpu_ids or [])
        return rec


def process_one(
    row: Row,
    model: Any,
    out_dir: Path,
    options: BatchOptions,
    *,
    config: str,
    load_error: BaseException | None = None,
    target: Target | None = None,
) -> Record:
    """Run ``model`` on ``row`` and move its outputs into ``out_dir`` (or, with a
    ``target``, stage them under ``out_dir``, a local folder, and upload them to the
    target); never raises for a bad input (the record says ``failed``), only for a cancel."""
    from deepfx.audio import inspect
    from deepfx.engine import run
    from deepfx.outputs.names import output_name

    t0 = time.monotonic()
    size, mtime = input_stamp(row.path)
    rec = Record(
        input=str(row.path),
        key=row.key,
        status="failed",
        config=config,
        input_size=size,
        input_mtime_ns=mtime,
    )
    staging_root = out_dir / (STAGING_DIR if target is None else f"{STAGING_DIR}-{os.getuid()}")
    stage: Path | None = None
    try:
        if load_error is not None:
            raise load_error
        rec.audio_s = inspect(row.path).duration_s
        staging_root.mkdir(parents=True, exist_ok=True)
        stage = Path(tempfile.mkdtemp(prefix="job-", dir=staging_root))
        (res,) = run(model, [row.path], stage, **options.run_kwargs())
        key = PurePosixPath(row.key)
        labels = list(model.card.labels)
        moves: list[tuple[Path, str]] = []
        for label, staged in res.files.items():
            name = output_name(
                options.name_template,
                stem=key.name,
                label=label,
                ext=staged.suffix.lstrip("."),
                model=model.name,
                index=labels.index(label) if label in labels else 0,
            )
            rel = (key.parent / name).as_posix()
            rec.outputs.append(
                OutputFile(
                    label=label, path=rel, size=staged.stat().st_size, sha256=file_sha256(staged)
                )
            )
            moves.append((staged, rel))
        for staged, rel in moves:
            if target is not None:
                target.upload(staged, rel)
                continue
            dest = out_dir / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staged, dest)
        rec.status = "ok"
    except (Cancelled, KeyboardInterrupt):
        raise
    except Exception as exc:  # one bad input fails alone
        rec.status, rec.outputs = "failed", []
        rec.error_class = type(exc).__name__
        rec.error = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    finally:
        if stage is not None:
            shutil.rmtree(stage, ignore_errors=True)
        rec.wall_s = time.monotonic() - t0
    return rec
