"""``deepfx.batch(...)``: one model over many files, resumable, on Ray.

The driver (this module) plans, skips what is verifiably done, hands the rest to the Ray
actor pool, writes the manifest and reports progress. Workers only run files and publish
outputs (:mod:`deepfx.batch.worker`). A lock file keeps two batches from writing into one
output folder at once. With an fsspec URL as the output (:mod:`deepfx.batch.remote`) the
driver keeps its working copy of the manifest in a private local folder, and writes it to
the URL whole (temp name, then moved) every half minute and at the end.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from deepfx.batch.executor import import_ray, plan_pool, ray_session, run_rows
from deepfx.batch.inputs import Row, collect, keyed
from deepfx.batch.manifest import MANIFEST_NAME, Manifest, Record, input_stamp, verified
from deepfx.batch.progress import BatchProgress, BatchProgressCallback
from deepfx.batch.remote import Target, is_url, open_target
from deepfx.batch.worker import STAGING_DIR, BatchOptions
from deepfx.errors import OutputError, UsageError

__all__ = ["BatchSummary", "batch"]

LOCK_NAME = ".deepfx-batch.lock"

#: Seconds between uploads of the manifest to a URL output during a run.
MANIFEST_UPLOAD_S = 30.0


@dataclass
class BatchSummary:
    """What a batch did: one :class:`~deepfx.batch.manifest.Record` per input, in input
    order, and where the manifest is."""

    records: list[Record]
    out_dir: Path | str  # a str when the output is an fsspec URL
    manifest: Path | str
    wall_s: float = 0.0
    pool: dict[str, float] = field(default_factory=dict)

    def _with(self, status: str) -> list[Record]:
        return [r for r in self.records if r.status == status]

    @property
    def ok(self) -> list[Record]:
        return self._with("ok")

    @property
    def failed(self) -> list[Record]:
        return self._with("failed")

    @property
    def skipped(self) -> list[Record]:
        return self._with("skipped")

    @property
    def audio_s(self) -> float:
        """Audio seconds run by this batch (not counting skipped inputs)."""
        return sum(r.audio_s for r in self.ok)

    @property
    def succeeded(self) -> bool:
        return not self.failed


def batch(
    model: str | Path,
    inputs: str | Path | Sequence[str | Path],
    out_dir: str | Path,
    *,
    stems: Sequence[str] | None = None,
    label_format: str = "txt",
    name_template: str = "{stem} - {label}.{ext}",
    audio_format: str | None = None,
    subtype: str | None = None,
    per_channel: bool | None = None,
    chunk_s: float | None = None,
    overlap_s: float | None = None,
    forward_batch: int | None = None,
    device: str = "auto",
    threads: int | None = None,
    memory_budget_mb: float = 2048.0,
    workers: int | None = None,
    gpus_per_worker: float | None = None,
    address: str | None = None,
    on_progress: BatchProgressCallback | None = None,
) -> BatchSummary:
    """Run ``model`` over every input with Ray; return the :class:`BatchSummary`.

    Parameters
    ----------
    model:
        Installed model name or model folder (each Ray node must see it: install it on
        every node, or put the folder on a shared path).
    inputs:
        A folder (recursive), a glob pattern, a ``.csv``/``.jsonl`` manifest with a
        ``path`` column (and optional ``output``), or a list of files.
    out_dir:
        Output folder, shared by every node, or an fsspec URL (``s3://bucket/prefix``,
        ``gs://...``, ``file:///abs/path``; a ``str``) every node can write to. Outputs
        mirror the inputs' relative paths; ``out_dir/deepfx-batch.jsonl`` records every
        input's result.
    stems ... memory_budget_mb:
        As for :func:`deepfx.engine.run` (``forward_batch`` is its ``batch``).
    workers:
        Actors in the pool (default: as many as the cluster's CPUs/GPUs allow).
    gpus_per_worker:
        GPUs each actor reserves (default 1 when ``device`` is ``cuda``, or ``auto`` on a
        cluster with GPUs).
    address:
        Ray cluster to join (default ``RAY_ADDRESS``); without one a private local Ray
        starts and stops with the call.
    on_progress:
        Called with a :class:`~deepfx.batch.progress.BatchProgress` at the start and after
        every input.

    Re-running the same call skips inputs whose outputs are complete and verified (sizes
    and SHA-256 in the manifest, same model and options, unchanged input) and redoes the
    rest. A failed input does not stop the batch; check :attr:`BatchSummary.failed`.
    """
    import_ray()  # fail first, and say how to install it
    target = open_target(str(out_dir)) if is_url(out_dir) else None
    t0 = time.monotonic()
    rows = _rows(inputs)
    options = BatchOptions(
        stems=tuple(stems) if stems else None,
        label_format=label_format.lower(),
        name_template=name_template,
        audio_format=audio_format,
        subtype=subtype,
        per_channel=per_channel,
        chunk_s=chunk_s,
        overlap_s=overlap_s,
        batch=forward_batch,
        memory_budget_mb=memory_budget_mb,
    )
    model_ref, config = _check_model(model, options, device)
    if target is None:
        out = Path(out_dir).expanduser().resolve()
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"cannot create output folder {out}: {exc}") from None
        lock_path = out / LOCK_NAME
    else:  # the manifest's working copy; the lock is per machine (object stores have none)
        out = Path(tempfile.mkdtemp(prefix="dfx-batch-"))
        url_hash = hashlib.sha256(target.url.rstrip("/").encode()).hexdigest()[:16]
        lock_path = Path(tempfile.gettempdir()) / f"deepfx-batch-{url_hash}.lock"
    where = target.url if target is not None else out
    try:
        local_out = out if target is None else target.local_root
        if local_out is not None:
            _refuse_inputs_inside(rows, local_out)

        from filelock import FileLock, Timeout

        lock = FileLock(str(lock_path))
        try:
            lock.acquire(timeout=0)
        except Timeout:
            raise UsageError(
                f"another deepfx batch is writing into {where}; wait for it or use another "
                "-o folder"
            ) from None
    except BaseException:
        if target is not None:
            shutil.rmtree(out, ignore_errors=True)
        raise
    manifest = Manifest(out)
    staging = out / STAGING_DIR
    uploaded = time.monotonic()
    try:
        shutil.rmtree(staging, ignore_errors=True)  # leftovers of a killed run
        if target is not None:
            target.remove_leftovers()
            text = target.read_text(MANIFEST_NAME)
            if text is not None:
                manifest.path.write_text(text, encoding="utf-8")
        previous = manifest.load()
        todo, results = _plan(rows, previous, out, config, manifest, target)
        audio = _durations(todo)
        total_audio = sum(audio.values()) + sum(r.audio_s for r in results.values())
        state = BatchProgress(
            files_done=len(results),
            files_total=len(rows),
            skipped=len(results),
            audio_s_done=sum(r.audio_s for r in results.values()),
            audio_s_total=total_audio,
        )
        if on_progress is not None:
            on_progress(state)
        pool_info: dict[str, float] = {}
        if todo:
            with ray_session(address, num_cpus=_local_cpus(workers, threads)) as ray:
                pool = plan_pool(
                    device=device,
                    workers=workers,
                    threads=threads,
                    gpus_per_worker=gpus_per_worker,
                    cluster=dict(ray.cluster_resources()),
                )
                pool_info = asdict(pool)
                records = run_rows(
                    ray,
                    todo,
                    model=model_ref,
                    out_dir=out if target is None else target.url,
                    options=options,
                    config=config,
                    device=device,
                    threads=threads,
                    pool=pool,
                )
                for rec in records:
                    if rec.key in results:  # a retried task's second answer: keep the first
                        continue
                    rec = _check_published(rec, out, target)
                    results[rec.key] = rec
                    manifest.append(rec)
                    if target is not None and time.monotonic() - uploaded > MANIFEST_UPLOAD_S:
                        target.write_text(MANIFEST_NAME, manifest.text())
                        uploaded = time.monotonic()
                    state = replace(
                        state,
                        files_done=state.files_done + 1,
                        failed=state.failed + (rec.status == "failed"),
                        audio_s_done=state.audio_s_done + audio.get(rec.key, rec.audio_s),
                        run_audio_s=state.run_audio_s + rec.audio_s,
                        last=rec,
                    )
                    if on_progress is not None:
                        on_progress(state)
            for row in todo:
                if row.key not in results:  # defensive: Ray returned no answer for it
                    rec = Record(
                        input=str(row.path),
                        key=row.key,
                        status="failed",
                        config=config,
                        error_class="Lost",
                        error="the cluster returned no result; run the batch again",
                    )
                    results[row.key] = rec
                    manifest.append(rec)
    finally:
        try:
            manifest.compact()
            if target is not None:
                target.write_text(MANIFEST_NAME, manifest.text())
                target.remove_leftovers()
        finally:
            shutil.rmtree(staging, ignore_errors=True)
            if target is not None:
                shutil.rmtree(out, ignore_errors=True)
            lock.release()
    return BatchSummary(
        records=[results[r.key] for r in rows],
        out_dir=out if target is None else target.url,
        manifest=manifest.path if target is None else target.display(MANIFEST_NAME),
        wall_s=time.monotonic() - t0,
        pool=pool_info,
    )


def _rows(inputs: str | Path | Sequence[str | Path]) -> list[Row]:
    if isinstance(inputs, (str, Path)):
        return collect(inputs)
    paths = [Path(p).expanduser().resolve() for p in inputs]
    if not paths:
        raise UsageError("no input files given")
    return keyed([(p, None) for p in paths], None)


def _check_model(model: str | Path, options: BatchOptions, device: str) -> tuple[str, str]:
    """Check the model and options once, on the driver, before any cluster starts;
    return what workers load it by and the config fingerprint."""
    from deepfx.card import CARD_FILENAME
    from deepfx.model import load_model
    from deepfx.outputs.audio import audio_format_for
    from deepfx.outputs.labels import LABEL_FORMATS
    from deepfx.outputs.names import output_name

    if device not in ("auto", "cpu", "cuda", "mps"):
        raise UsageError(f"unknown device {device!r}; use auto, cpu, cuda or mps")
    if options.label_format not in LABEL_FORMATS:
        raise OutputError(
            f"unknown label format {options.label_format!r}; use one of {', '.join(LABEL_FORMATS)}"
        )
    mdl = load_model(model, device="cpu")
    card = mdl.card
    labels = list(card.labels)
    if options.stems:
        unknown = [s for s in options.stems if s not in labels]
        if unknown:
            raise UsageError(
                f"model {mdl.name!r} has no output named {', '.join(map(repr, unknown))}; "
                f"its labels are: {', '.join(labels)}"
            )
        if not card.is_effect:
            raise UsageError("stems only apply to effects; this model is an analyzer")
    output_name(options.name_template, stem="x", label="y", ext="wav", model=mdl.name)
    if options.audio_format or options.subtype:
        audio_format_for(audio_format=options.audio_format, subtype=options.subtype)
    path = Path(model).expanduser()
    ref = str(path.resolve()) if path.exists() else str(model)
    try:
        card_hash = hashlib.sha256((mdl.folder / CARD_FILENAME).read_bytes()).hexdigest()
        weights = mdl.model_file.stat().st_size
    except OSError:
        card_hash, weights = "", -1
    blob = json.dumps(
        {"model": mdl.name, "card": card_hash, "weights": weights, "options": asdict(options)},
        sort_keys=True,
    )
    return ref, hashlib.sha256(blob.encode()).hexdigest()[:16]


def _refuse_inputs_inside(rows: list[Row], out: Path) -> None:
    """Outputs go beside nothing the batch reads: an input inside the output folder would
    be picked up again by the next run of a folder batch, or overwritten."""
    for row in rows:
        if row.path == out or out in row.path.parents:
            raise UsageError(
                f"input {row.path} is inside the output folder {out}; choose an -o folder "
                "outside the inputs"
            )


def _plan(
    rows: list[Row],
    previous: dict[str, Record],
    out: Path,
    config: str,
    manifest: Manifest,
    target: Target | None = None,
) -> tuple[list[Row], dict[str, Record]]:
    """Split rows into those to run and those verifiably done (recorded as skipped)."""
    todo: list[Row] = []
    done: dict[str, Record] = {}
    for row in rows:
        prev = previous.get(row.key)
        stamp = input_stamp(row.path)
        if (
            prev is not None
            and prev.input == str(row.path)
            and verified(prev, out, config=config, stamp=stamp, target=target)
        ):
            rec = replace(prev, status="skipped", wall_s=0.0)
            done[row.key] = rec
            manifest.append(rec)
        else:
            todo.append(row)
    return todo, done


def _durations(rows: list[Row]) -> dict[str, float]:
    """Audio seconds per input from its header (0 when it cannot be read: the worker
    will report the error)."""
    from deepfx.audio import inspect

    out: dict[str, float] = {}
    for row in rows:
        try:
            out[row.key] = inspect(row.path).duration_s
        except Exception:
            out[row.key] = 0.0
    return out


def _local_cpus(workers: int | None, threads: int | None) -> int | None:
    """CPUs a local Ray offers: enough for the pool asked for, else the machine's."""
    return workers * (threads or 1) if workers else None


def _check_published(rec: Record, out: Path, target: Target | None = None) -> Record:
    """An ``ok`` record whose outputs are not in place (size differs, file missing) is a
    failure, not a success: the shared folder is not shared, or something removed them."""
    if rec.status != "ok":
        return rec
    for o in rec.outputs:
        if target is not None:
            size = target.size(o.path)
        else:
            try:
                size = (out / o.path).stat().st_size
            except OSError:
                size = -1
        if size != o.size:
            return replace(
                rec,
                status="failed",
                outputs=[],
                error_class="OutputError",
                error=f"output {o.path} is not in {target.url if target else out} as the "
                "worker wrote it; is -o a folder every Ray node shares at the same path?",
            )
    return rec
