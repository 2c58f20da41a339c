"""The engine: run any model on audio of any length, in memory or file to file.

One pipeline serves both :func:`process` (NumPy in, NumPy out) and :func:`run` (files in,
files out, streamed from disk)::

    blocks at file rate -> map channels -> resample to model rate -> chunk (overlap)
      -> model (batched when the card allows) -> overlap-add / label merge
      -> resample back to file rate -> exact input length -> sink (array or temp file)

Nothing is ever written in place: file outputs go to temp files renamed at the very end.
"""

from __future__ import annotations

import contextlib
import os
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from deepfx.audio import (
    DEFAULT_BLOCK,
    AudioInfo,
    StreamResampler,
    check_finite,
    inspect,
    map_channels,
    read_blocks,
)
from deepfx.contract import check_batch_output, check_input
from deepfx.engine._threads import WriteBehind, prefetch, spare_core
from deepfx.engine.events import CancelToken, Progress, Stage
from deepfx.engine.merge import merge_labels
from deepfx.engine.options import (
    DEFAULT_BATCH,
    DEFAULT_CHUNK_S,
    DEFAULT_MEMORY_BUDGET_MB,
    DEFAULT_OVERLAP_S,
    EngineOptions,
    channel_note,
    check_device,
    check_sample_rate,
    check_threads,
    plan,
)
from deepfx.engine.overlap import OverlapAdd
from deepfx.errors import (
    EmptyAudioError,
    OutputError,
    UsageError,
)
from deepfx.labels import Label
from deepfx.model import Model, load_model
from deepfx.outputs.audio import DEFAULT_TEMPLATE, AudioWriter, audio_format_for
from deepfx.outputs.check import (
    ExistingOutputs,
    check_audio_formats,
    check_open_files,
    check_targets,
)
from deepfx.outputs.labels import LABEL_FORMATS, write_labels
from deepfx.outputs.names import OutputNaming, labels_title, plan_names
from deepfx.outputs.temps import forget_made_folders, made_folders

__all__ = [
    "DEFAULT_BATCH",
    "DEFAULT_CHUNK_S",
    "DEFAULT_MEMORY_BUDGET_MB",
    "DEFAULT_OVERLAP_S",
    "EffectResult",
    "EngineOptions",
    "LabelResult",
    "RunOutput",
    "process",
    "run",
]

ProgressCallback = Callable[[Progress], None]


@dataclass
class EffectResult:
    """Output of an effect: one track per kept label.

    ``tracks[label]`` is float32 ``(channels, samples)`` at ``sample_rate`` (the input's
    rate) with exactly the input's length; ``channels`` is the input's channel count (a
    mono model ran once per channel), or 1 with ``mono=True``.
    """

    tracks: dict[str, np.ndarray]
    sample_rate: int
    model: str = ""


@dataclass
class LabelResult:
    """Output of an analyzer: labels with absolute times (seconds), sorted, merged."""

    labels: list[Label]
    sample_rate: int
    model: str = ""


@dataclass
class RunOutput:
    """What :func:`run` produced for one input file.

    ``files`` maps each kept label (effects) or ``"labels"`` (analyzers) to the written
    path; ``clipped`` counts samples clipped per label (integer / lossy formats only);
    ``seconds`` is the wall time for this input and ``forward_s`` the part of it spent
    inside the model's forward calls (the rest is host overhead: I/O, resampling,
    overlap-add).
    """

    input: Path
    files: dict[str, Path]
    kind: str
    labels: list[Label] = field(default_factory=list)
    clipped: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    forward_s: float = 0.0


# --- public API ---------------------------------------------------------------------------


def process(
    model: str | Path | Model,
    audio: np.ndarray,
    sample_rate: int,
    *,
    stems: Sequence[str] | None = None,
    per_channel: bool | None = None,
    mono: bool = False,
    chunk_s: float | None = None,
    overlap_s: float | None = None,
    batch: int | None = None,
    device: str = "auto",
    threads: int | None = None,
    runner: str | None = None,
    memory_budget_mb: float = DEFAULT_MEMORY_BUDGET_MB,
    on_progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> EffectResult | LabelResult:
    """Run a model on audio held in memory.

    Parameters
    ----------
    model:
        A :class:`~deepfx.model.Model`, a model folder, or an installed model's name.
    audio:
        float32 ``(channels, samples)`` at ``sample_rate`` (a 1-D array is one channel).
    sample_rate:
        Rate of ``audio`` in Hz; the engine resamples to the model's rate and back.
    stems:
        Labels to keep (effects); default all. Unknown names raise ``ValueError`` listing
        the model's labels.
    per_channel, mono:
        Stereo stays stereo: by default (``None``) an effect keeps the input's channels (a
        mono model runs once per channel; a multichannel model gets them as its card
        says) and an analyzer reads a mono mix. ``mono=True`` (or ``per_channel=False``)
        mixes a multichannel input down to mono for a mono model; ``per_channel=True``
        runs an analyzer per channel too (labels of all channels merged). What was done is
        told once per input as a ``Progress(stage="note", message=...)`` event.
    chunk_s, overlap_s:
        Longest chunk and overlap in seconds; default the card's hints, else 10 s / 1 s.
        An effect's chunks are evened out to the input's length (same count, shorter).
    batch:
        Chunks per forward call (only for models whose card has ``"batch": true``).
    device, threads:
        Where to run (``auto``, ``cpu``, ``cuda``, ``mps``) and CPU threads (default: the
        thread policy, :mod:`deepfx.runners.threads`), used when ``model`` is not an
        already loaded :class:`Model`.
    runner:
        ``auto`` (default: the store's verified choice, a derived ONNX network when it
        was kept), ``torchscript``, ``pt2`` or ``onnx`` (:func:`deepfx.model.choose_network`).
    memory_budget_mb:
        Largest input (MB of float32 at the model rate) handed to a ``whole_input`` model.
    on_progress, cancel:
        Progress callback (:class:`Progress` events) and a :class:`CancelToken`.

    Returns
    -------
    EffectResult or LabelResult
    """
    opts = EngineOptions(
        stems=tuple(stems) if stems else None,
        per_channel=per_channel,
        mono=mono,
        chunk_s=chunk_s,
        overlap_s=overlap_s,
        batch=batch,
        memory_budget_mb=memory_budget_mb,
    )
    rate = check_sample_rate(sample_rate)
    x = np.asarray(audio, dtype=np.float32)
    if x.ndim == 1:
        x = x[None, :]
    if x.ndim != 2:
        raise UsageError(f"audio must be (channels, samples), got shape {x.shape}")
    if x.shape[1] == 0:
        raise EmptyAudioError("the audio array")
    if x.shape[0] > x.shape[1]:
        raise UsageError(
            f"audio has shape {x.shape}: more channels than samples; pass (channels, samples)"
        )
    check_finite(x, sample_rate=rate, what="the audio array")
    mdl = _load(model, device=device, threads=threads, runner=runner, on_progress=on_progress)
    info = AudioInfo(Path("<array>"), rate, x.shape[0], x.shape[1], "WAV", "FLOAT")
    job = _Job(mdl, info, opts, on_progress=on_progress, cancel=cancel, name="<array>")
    blocks = (x[:, i : i + DEFAULT_BLOCK] for i in range(0, x.shape[1], DEFAULT_BLOCK))
    if mdl.card.is_effect:
        parts: dict[str, list[np.ndarray]] = {label: [] for label in job.keep}
        for out in job.effect(blocks):
            for label, arr in out.items():
                parts[label].append(arr)
        tracks = {label: np.concatenate(p, axis=1) for label, p in parts.items()}
        return EffectResult(tracks=tracks, sample_rate=rate, model=mdl.name)
    return LabelResult(labels=job.labels(blocks), sample_rate=rate, model=mdl.name)


def run(
    model: str | Path | Model,
    inputs: Iterable[str | Path],
    out_dir: str | Path,
    *,
    stems: Sequence[str] | None = None,
    label_format: str = "txt",
    name_template: str = DEFAULT_TEMPLATE,
    audio_format: str | None = None,
    subtype: str | None = None,
    per_channel: bool | None = None,
    mono: bool = False,
    chunk_s: float | None = None,
    overlap_s: float | None = None,
    batch: int | None = None,
    device: str = "auto",
    threads: int | None = None,
    runner: str | None = None,
    memory_budget_mb: float = DEFAULT_MEMORY_BUDGET_MB,
    block_frames: int = DEFAULT_BLOCK,
    overwrite: bool = False,
    on_progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> list[RunOutput]:
    """Run a model on audio files, streamed from disk, writing outputs into ``out_dir``.

    Memory stays bounded whatever the file length (one read block, a couple of chunks and
    the resamplers' state). Effects write one audio file per kept label, named by
    ``name_template`` (fields ``{stem} {label} {ext} {model} {index}``), in the input's
    format and subtype unless ``audio_format`` / ``subtype`` say otherwise. Analyzers
    write one label file per input in ``label_format`` (txt = Audacity labels, csv, json,
    srt, vtt) named with ``label="labels (<model>)"`` (``talk - labels (vad).txt``).

    An input may be a folder: its audio files (the extensions ``deepfx batch`` takes,
    found recursively) are all inputs, and their outputs mirror their paths relative to
    it (``in/a/x.wav`` -> ``out/a/x - vocals.wav``).

    Names say what made them (:mod:`deepfx.outputs.names`): a name already taken in the
    output folder by another model's output gets this model's short name
    (``song - vocals (demucs_extra).wav``), one taken by this model's own earlier output
    a number (``song - vocals (2).wav``); ``overwrite=True`` replaces existing files
    instead. Audio outputs record the model in their ``comment`` tag.

    Every input is checked (exists, decodes, non-empty) before any model runs, and every
    output of the whole run is named and checked before anything is written: no output
    may be one of the inputs (after resolving links) or another output; same-named
    outputs (``d1/x.wav`` and ``d2/x.wav``, repeated labels) get a numbered suffix
    (``x - a (2).wav``); names are made safe and fit in 255 bytes; the format must hold
    the audio. An input given twice is processed once. Outputs go to temp files renamed
    when the input is complete; on an error or cancel nothing partial is left (outputs of
    inputs that had already finished stay).

    See :func:`process` for the other parameters. Returns one :class:`RunOutput` per input.
    """
    opts = EngineOptions(
        stems=tuple(stems) if stems else None,
        per_channel=per_channel,
        mono=mono,
        chunk_s=chunk_s,
        overlap_s=overlap_s,
        batch=batch,
        memory_budget_mb=memory_budget_mb,
    )
    if label_format.lower() not in LABEL_FORMATS:
        raise OutputError(
            f"unknown label format {label_format!r}; use one of {', '.join(LABEL_FORMATS)}"
        )
    found = _expand_inputs(Path(p) for p in inputs)
    if not found:
        raise UsageError("no input files given")
    infos = [inspect(p) for p, _, _ in found]  # fail fast on bad inputs
    places = [(folder, stem) for _, folder, stem in found]
    mdl = _load(model, device=device, threads=threads, runner=runner, on_progress=on_progress)
    out = Path(out_dir)
    targets = _plan_outputs(
        mdl,
        infos,
        opts,
        out,
        template=name_template,
        label_format=label_format.lower(),
        audio_format=audio_format,
        subtype=subtype,
        places=places,
        overwrite=overwrite,
    )
    made = _make_folder(out)
    for sub in sorted({f for f, _ in places if f}, reverse=True):
        made = _make_folder(out / sub) + made
    made_folders(made)
    try:
        return _run_all(
            mdl, infos, targets, opts, label_format.lower(), block_frames, on_progress, cancel
        )
    except BaseException:
        _remove_if_empty(made)
        raise
    finally:
        forget_made_folders(made)


def _make_folder(out: Path) -> list[Path]:
    """Create the output folder (and missing parents); returns the folders made."""
    missing = []
    p = out
    while not p.exists() and p.parent != p:
        missing.append(p)
        p = p.parent
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create output folder {out}: {exc.strerror or exc}") from None
    return missing


def _remove_if_empty(folders: list[Path]) -> None:
    """Undo :func:`_make_folder` after a failure: a run that wrote nothing leaves nothing."""
    for p in folders:  # deepest first
        with contextlib.suppress(OSError):
            p.rmdir()


def _run_all(
    mdl: Model,
    infos: Sequence[AudioInfo],
    targets: Sequence[_Target],
    opts: EngineOptions,
    label_format: str,
    block_frames: int,
    on_progress: ProgressCallback | None,
    cancel: CancelToken | None,
) -> list[RunOutput]:
    results = []
    for i, (info, target) in enumerate(zip(infos, targets, strict=True)):
        t0 = time.monotonic()
        job = _Job(
            mdl,
            info,
            opts,
            on_progress=on_progress,
            cancel=cancel,
            name=info.path.name,
            index=i,
            count=len(infos),
        )
        blocks = prefetch(
            read_blocks(info.path, block_frames=block_frames), background=job.background_io
        )
        if mdl.card.is_effect:
            res = _write_effect(job, blocks, target)
        else:
            res = _write_labels(job, blocks, target, label_format)
        res.seconds = time.monotonic() - t0
        res.forward_s = job.forward_s
        job.emit("done", job.total, job.total)
        results.append(res)
    return results


# --- internals ----------------------------------------------------------------------------


def _expand_inputs(paths: Iterable[Path]) -> list[tuple[Path, str, str]]:
    """``(file, output subfolder, stem)`` per input: a file as it is (no subfolder), a
    folder as its audio files, found as ``deepfx batch`` finds them
    (:func:`deepfx.batch.inputs.collect`), each with its relative folder. A file given
    twice (after resolving links) runs once."""
    from pathlib import PurePosixPath

    out: list[tuple[Path, str, str]] = []
    for p in _unique_inputs(paths):
        if p.is_dir():
            from deepfx.batch.inputs import collect

            for row in collect(p):
                key = PurePosixPath(row.key)
                folder = "" if str(key.parent) == "." else key.parent.as_posix()
                out.append((row.path, folder, key.name))
        else:
            out.append((p, "", p.stem))
    seen: set[str] = set()
    unique = []
    for item in out:
        k = os.path.normcase(os.path.realpath(item[0]))
        if k not in seen:
            seen.add(k)
            unique.append(item)
    return unique


def _unique_inputs(paths: Iterable[Path]) -> list[Path]:
    """The inputs in order, a file given twice (same file after resolving links) once."""
    seen: set[str] = set()
    out = []
    for p in paths:
        key = os.path.normcase(os.path.realpath(p))
        if key not in seen:
            seen.add(key)
            out.append(p)
    return out


def _load(
    model: str | Path | Model,
    *,
    device: str,
    threads: int | None,
    on_progress: ProgressCallback | None,
    runner: str | None = None,
) -> Model:
    want = check_device(device, "device")
    threads = check_threads(threads, "threads")
    if on_progress is not None:
        on_progress(Progress(stage="loading", input=str(getattr(model, "name", model))))
    mdl = (
        model
        if isinstance(model, Model)
        else load_model(model, device=want, threads=threads, runner=runner)
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mdl = mdl.load()
    if not isinstance(model, Model):
        _check_device_used(mdl, want)
    return mdl


def _check_device_used(mdl: Model, want: str) -> None:
    """An explicit device the runner did not use is an error, for every format: a model
    never runs silently somewhere other than where it was asked to."""
    if want == "auto":
        return
    got = mdl.device.split(":")[0]
    if got != want.split(":")[0]:
        raise UsageError(
            f"device {want!r} is not available for {mdl.format} models here (this one would "
            f"run on {mdl.device}); use --device auto or --device {mdl.device}"
        )


@dataclass(frozen=True)
class _Target:
    """One input's planned outputs: ``files`` maps each output name to its path; for audio,
    the format, subtype, channels and rate it is written with."""

    files: dict[str, Path]
    fmt: str = ""
    subtype: str = ""
    channels: int = 0
    rate: int = 0


def _plan_outputs(
    mdl: Model,
    infos: Sequence[AudioInfo],
    opts: EngineOptions,
    out: Path,
    *,
    template: str,
    label_format: str,
    audio_format: str | None,
    subtype: str | None,
    places: Sequence[tuple[str, str]] | None = None,
    overwrite: bool = True,
) -> list[_Target]:
    """Name and check every output of the run before anything is written.

    Runs :func:`plan` for each input (unknown stems, memory budget), names all outputs
    at once (distinct, safe, <= 255 bytes: :func:`deepfx.outputs.names.plan_names`), and
    checks them against the inputs and the file system (:mod:`deepfx.outputs.check`).
    """
    card = mdl.card
    namings: list[OutputNaming] = []
    formats: list[tuple[str, str, int, int]] = []
    places = places or [("", info.path.stem) for info in infos]
    for info, (folder, stem) in zip(infos, places, strict=True):
        p = plan(
            card,
            info.frames,
            info.sample_rate,
            info.channels,
            opts,
            model_name=mdl.name,
            rows=_rows(mdl, info, opts),
        )
        if card.is_effect:
            fmt, sub, ext = audio_format_for(
                input_format=info.format,
                input_subtype=info.subtype,
                audio_format=audio_format,
                subtype=subtype,
            )
            formats.append((fmt, sub, p.lanes, info.sample_rate))
            outs = tuple((key, idx, ext) for key, idx in zip(p.keep, p.keep_idx, strict=True))
        else:
            formats.append(("", "", 0, 0))
            outs = (("labels", 0, LABEL_FORMATS[label_format]),)
        titles = () if card.is_effect else (labels_title(mdl.name),)
        namings.append(OutputNaming(stem=stem, outputs=outs, folder=folder, titles=titles))
    there = None if overwrite else ExistingOutputs(out)
    names = plan_names(
        namings,
        template=template,
        model=mdl.name,
        existing=there.exists if there else None,
        made_by=there.made_by if there else None,
    )
    targets = [
        _Target({k: out / n for k, n in nm.items()}, *fm)
        for nm, fm in zip(names, formats, strict=True)
    ]
    check_targets([p for t in targets for p in t.files.values()], [i.path for i in infos], out)
    if card.is_effect:
        check_open_files(max(len(t.files) for t in targets))
        check_audio_formats(t[:4] for t in formats)
    return targets


def _rows(model: Model, info: AudioInfo, options: EngineOptions) -> int | None:
    """How many output rows the effect makes from this input (``None``: one per label).

    Only a genuine original-host *multichannel* model (one not exported by deepfx, whose
    exports are checked to make one row per label) can make fewer rows than its labels,
    e.g. a channel processor on a mono track (:meth:`Model.output_labels` probes it once
    per channel count). Every other model is never probed: the probe is a forward call.
    """
    card = model.card
    if not (card.is_effect and card.multichannel) or card.exported_with:
        return None
    return len(model.output_labels(info.channels))


class _Job:
    """One input through one model: the plan (see :func:`deepfx.engine.options.plan`)
    and the streaming pipeline that carries it out."""

    def __init__(
        self,
        model: Model,
        info: AudioInfo,
        options: EngineOptions,
        *,
        on_progress: ProgressCallback | None,
        cancel: CancelToken | None,
        name: str,
        index: int = 0,
        count: int = 1,
    ):
        p = plan(
            model.card,
            info.frames,
            info.sample_rate,
            info.channels,
            options,
            model_name=model.name,
            rows=_rows(model, info, options),
            network_batch=int(getattr(model.runner, "chunks_per_call", 1) or 1),
        )
        self.model = model
        self.info = info
        self.plan = p
        self.rate = p.rate
        self.on_progress = on_progress
        self.cancel = cancel
        self.name, self.index, self.count = name, index, count
        self.started = time.monotonic()
        self.per_channel = p.per_channel
        self.out_labels = list(p.made)
        self.keep = list(p.keep)
        self.keep_idx = list(p.keep_idx)
        self.channels_in = p.channels_in
        self.lanes = p.lanes
        self.total = p.total
        self.latency = p.latency
        self.min_len = p.min_len
        self.window = p.window
        self.overlap = p.overlap
        self.grid = p.grid
        self.batch = p.batch
        self.forward_s = 0.0
        self.background_io = spare_core(_compute_threads(model), model.device)
        self.note = channel_note(model.card, info.channels, options, model.name)
        if self.note and on_progress is not None:
            on_progress(
                Progress(stage="note", input=name, index=index, count=count, message=self.note)
            )

    # -- events -------------------------------------------------------------------------

    def emit(self, stage: Stage, done: int, total: int) -> None:
        if self.on_progress is not None:
            chunk, chunks = self._chunk_position(done, total)
            self.on_progress(
                Progress(
                    stage=stage,
                    done=done,
                    total=total,
                    input=self.name,
                    index=self.index,
                    count=self.count,
                    started=self.started,
                    chunk=chunk,
                    chunks=chunks,
                )
            )

    def _chunk_position(self, done: int, total: int) -> tuple[int, int]:
        from deepfx.engine.events import chunk_position

        return chunk_position(done, total, self.window, self.overlap)

    def check_cancel(self) -> None:
        if self.cancel is not None:
            self.cancel.raise_if_cancelled()

    # -- model-rate stream ----------------------------------------------------------------

    def _model_rate(self, blocks: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        """File-rate blocks -> channel-mapped, model-rate blocks (with end padding)."""
        rs = StreamResampler(self.info.sample_rate, self.rate, self.channels_in)
        for block in blocks:
            self.check_cancel()
            mapped = map_channels(
                block, multichannel=self.model.card.multichannel, per_channel=self.per_channel
            )
            y = rs.process(mapped)
            if y.shape[1]:
                yield y
        tail = rs.finish()
        n = rs.produced  # total model-rate samples
        pad = max(self.latency, self.min_len - n, 0)
        if pad:
            tail = np.concatenate([tail, np.zeros((self.channels_in, pad), np.float32)], axis=1)
        if tail.shape[1]:
            yield tail

    def _lane_inputs(self, chunk: np.ndarray) -> list[np.ndarray]:
        if self.per_channel:
            return [chunk[c : c + 1] for c in range(chunk.shape[0])]
        return [chunk]

    # -- effects --------------------------------------------------------------------------

    def effect(self, blocks: Iterable[np.ndarray]) -> Iterator[dict[str, np.ndarray]]:
        """Yield finished output pieces ``{label: (lanes, m)}`` at the file's rate."""
        ola = OverlapAdd(
            window=self.window, overlap=self.overlap, channels=self.channels_in, grid=self.grid
        )
        back = {
            lb: StreamResampler(self.rate, self.info.sample_rate, self.lanes) for lb in self.keep
        }
        want = self.info.frames
        sent = 0
        skip = self.latency  # leading model-rate samples to drop (latency compensation)
        n_model = self.total
        done = 0

        def finished(final: bool) -> dict[str, np.ndarray] | None:
            nonlocal sent, skip
            piece = ola.release()
            pieces: dict[str, np.ndarray] = {}
            if piece is not None and piece.shape[-1]:
                if skip:
                    k = min(skip, piece.shape[-1])
                    piece, skip = piece[..., k:], skip - k
            for j, lb in enumerate(self.keep):
                y = back[lb].process(piece[j]) if piece is not None else None
                if final:
                    tail = back[lb].finish()
                    y = tail if y is None else np.concatenate([y, tail], axis=1)
                pieces[lb] = y if y is not None else np.zeros((self.lanes, 0), np.float32)
            m = next(iter(pieces.values())).shape[1]
            take = min(m, want - sent)
            if final and sent + m < want:  # rounding: pad the last sample(s)
                pad = want - sent - m
                pieces = {lb: np.pad(a, ((0, 0), (0, pad))) for lb, a in pieces.items()}
                take = want - sent
            sent += take
            return {lb: a[:, :take] for lb, a in pieces.items()}

        per_call = _chunks_per_call(self.batch, self.lanes)

        def drain(final: bool) -> Iterator[dict[str, np.ndarray]]:
            nonlocal done
            if not final and per_call > 1 and ola.waiting() < per_call:
                return  # wait for a whole batch of chunks (nothing is released meanwhile)
            chunks = ola.ready()
            for group in _batches(chunks, self.batch, self.lanes):
                self.check_cancel()
                outs = self._forward_effect(group)
                for (start, _), res in zip(group, outs, strict=True):
                    ola.add(start, res)
                    done = max(done, min(start + res.shape[-1], n_model))
                self.emit("processing", done, n_model)
            piece = finished(final)
            if piece is not None and (final or next(iter(piece.values())).shape[1]):
                yield piece

        for y in self._model_rate(blocks):
            ola.push(y)
            yield from drain(False)
        if ola.length == 0:
            raise EmptyAudioError(self.name)
        ola.end()
        # keep only the input's own part of the rate conversion (drop end padding)
        yield from drain(True)

    def _forward_effect(self, group: list[tuple[int, np.ndarray]]) -> list[np.ndarray]:
        """Run chunks; returns, per chunk, ``(n_kept, lanes, len)``."""
        n_labels = len(self.out_labels)
        items: list[tuple[int, np.ndarray]] = []
        for start, chunk in group:
            for lane in self._lane_inputs(chunk):
                items.append((start, lane))
        results: list[np.ndarray] = []
        if self.batch > 1 and len(items) > 1 and len({a.shape for _, a in items}) == 1:
            x = np.stack([check_input(a) for _, a in items])
            t0 = time.perf_counter()
            raw = self.model.call_network(
                x,
                what=f"a batch of shape {x.shape} (card says batch: true)",
                at_s=items[0][0] / self.rate,
            )
            self.forward_s += time.perf_counter() - t0
            results.extend(
                check_batch_output(
                    raw,
                    n_items=len(items),
                    n_labels=n_labels,
                    n_samples=items[0][1].shape[1],
                    model=self.model.name,
                    at_s=items[0][0] / self.rate,
                )
            )
        else:
            for start, a in items:
                t0 = time.perf_counter()
                results.append(self.model.forward(a, at_s=start / self.rate))
                self.forward_s += time.perf_counter() - t0
        per_chunk = []
        lanes = self.lanes
        keep_all = len(self.keep_idx) == n_labels
        for i in range(len(group)):
            outs = [
                o if keep_all else o[self.keep_idx] for o in results[i * lanes : (i + 1) * lanes]
            ]
            # (kept, lanes, len); a view when there is one lane
            per_chunk.append(outs[0][:, None, :] if lanes == 1 else np.stack(outs, axis=1))
        return per_chunk

    # -- analyzers ------------------------------------------------------------------------

    def labels(self, blocks: Iterable[np.ndarray]) -> list[Label]:
        ola = OverlapAdd(
            window=self.window, overlap=self.overlap, channels=self.channels_in, grid=self.grid
        )
        names = self.model.card.labels
        found: list[Label] = []

        def drain() -> None:
            for start, chunk in ola.ready():
                self.check_cancel()
                for lane in self._lane_inputs(chunk):
                    t0 = time.perf_counter()
                    idx, ts = self.model.forward(lane, at_s=start / self.rate)
                    self.forward_s += time.perf_counter() - t0
                    offset = start / self.rate
                    for k, (a, b) in zip(idx.tolist(), ts.tolist(), strict=True):
                        found.append(Label(offset + a, offset + b, names[k]))
                self.emit("processing", min(start + chunk.shape[1], self.total), self.total)

        for y in self._model_rate(blocks):
            ola.push(y)
            drain()
        if ola.length == 0:
            raise EmptyAudioError(self.name)
        ola.end()
        drain()
        duration = self.info.frames / self.info.sample_rate
        clipped = [
            Label(lb.start_s, min(lb.end_s, duration), lb.text)
            for lb in found
            if lb.start_s < duration
        ]
        return merge_labels(clipped)


def _compute_threads(model: Model) -> int:
    """How many CPU threads the model's forward passes use."""
    if model.runner.threads:
        return model.runner.threads
    if model.format == "onnx":  # onnxruntime's default: one per core
        return os.cpu_count() or 1
    import torch

    return torch.get_num_threads()


def _chunks_per_call(batch: int, lanes: int) -> int:
    """Chunks per forward call: ``batch`` items, each chunk giving ``lanes`` of them."""
    return max(1, batch // max(lanes, 1))


def _batches(
    chunks: list[tuple[int, np.ndarray]], batch: int, lanes: int
) -> Iterator[list[tuple[int, np.ndarray]]]:
    """Group chunks so that a group holds about ``batch`` forward items (chunks x lanes)."""
    per = _chunks_per_call(batch, lanes)
    for i in range(0, len(chunks), per):
        yield chunks[i : i + per]


def _write_effect(job: _Job, blocks: Iterable[np.ndarray], target: _Target) -> RunOutput:
    info = job.info
    dests = target.files
    with contextlib.ExitStack() as stack:
        writers = {
            lb: stack.enter_context(
                AudioWriter(
                    dest,
                    sample_rate=target.rate,
                    channels=target.channels,
                    format=target.fmt,
                    subtype=target.subtype,
                    made_by=job.model.name,
                )
            )
            for lb, dest in dests.items()
        }

        def write(piece: dict[str, np.ndarray]) -> None:
            for lb, arr in piece.items():
                writers[lb].write(arr)

        behind: WriteBehind[dict[str, np.ndarray]] = WriteBehind(
            write, background=job.background_io
        )
        try:
            for piece in job.effect(blocks):
                behind.put(piece)
        except BaseException:
            behind.abort()
            raise
        behind.finish()
        job.check_cancel()
        job.emit("writing", job.total, job.total)
        clipped = {lb: w.clipped for lb, w in writers.items() if w.clipped}
    return RunOutput(input=info.path, files=dict(dests), kind="effect", clipped=clipped)


def _write_labels(job: _Job, blocks: Iterable[np.ndarray], target: _Target, fmt: str) -> RunOutput:
    info = job.info
    labels = job.labels(blocks)
    job.check_cancel()
    dest = target.files["labels"]
    job.emit("writing", job.total, job.total)
    write_labels(labels, dest, fmt)
    return RunOutput(input=info.path, files={"labels": dest}, kind="analyzer", labels=labels)
