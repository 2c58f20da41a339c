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
    resampled_length,
)
from deepfx.contract import check_effect_output, check_input
from deepfx.engine._threads import WriteBehind, prefetch, spare_core
from deepfx.engine.events import CancelToken, Progress, Stage
from deepfx.engine.merge import merge_labels
from deepfx.engine.overlap import OverlapAdd
from deepfx.errors import (
    ContractError,
    EmptyAudioError,
    MemoryBudgetError,
    OutputError,
    UsageError,
)
from deepfx.labels import Label
from deepfx.model import Model, load_model
from deepfx.outputs.audio import DEFAULT_TEMPLATE, AudioWriter, audio_format_for, output_name
from deepfx.outputs.labels import LABEL_FORMATS, write_labels

__all__ = [
    "DEFAULT_CHUNK_S",
    "DEFAULT_MEMORY_BUDGET_MB",
    "DEFAULT_OVERLAP_S",
    "EffectResult",
    "LabelResult",
    "RunOutput",
    "process",
    "run",
]

#: Chunk length when neither the card nor the caller says (seconds).
DEFAULT_CHUNK_S = 10.0
#: Overlap between chunks when neither the card nor the caller says (seconds). The
#: crossfade takes the middle half; a quarter on each side is pure context.
DEFAULT_OVERLAP_S = 1.0
#: Largest input handed whole to a ``whole_input`` model (MB of float32 model input).
DEFAULT_MEMORY_BUDGET_MB = 2048.0
#: Chunks (x lanes) per forward call for models whose card says ``"batch": true``.
DEFAULT_BATCH = 4

ProgressCallback = Callable[[Progress], None]


@dataclass
class EffectResult:
    """Output of an effect: one track per kept label.

    ``tracks[label]`` is float32 ``(channels, samples)`` at ``sample_rate`` (the input's
    rate) with exactly the input's length; ``channels`` is 1, or the input's channel count
    when the model ran once per channel.
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
    per_channel: bool = False,
    chunk_s: float | None = None,
    overlap_s: float | None = None,
    batch: int | None = None,
    device: str = "auto",
    threads: int | None = None,
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
    per_channel:
        For mono models: run once per input channel and keep the channels (default:
        average the channels to mono).
    chunk_s, overlap_s:
        Chunk length and overlap in seconds; default the card's hints, else 10 s / 1 s.
    batch:
        Chunks per forward call (only for models whose card has ``"batch": true``).
    device, threads:
        Where to run (``auto``, ``cpu``, ``cuda``, ``mps``) and CPU threads, used when
        ``model`` is not an already loaded :class:`Model`.
    memory_budget_mb:
        Largest input (MB of float32 at the model rate) handed to a ``whole_input`` model.
    on_progress, cancel:
        Progress callback (:class:`Progress` events) and a :class:`CancelToken`.

    Returns
    -------
    EffectResult or LabelResult
    """
    mdl = _load(model, device=device, threads=threads, on_progress=on_progress)
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
    check_finite(x, sample_rate=sample_rate, what="the audio array")
    info = AudioInfo(Path("<array>"), int(sample_rate), x.shape[0], x.shape[1], "WAV", "FLOAT")
    job = _Job(
        mdl,
        info,
        stems=stems,
        per_channel=per_channel,
        chunk_s=chunk_s,
        overlap_s=overlap_s,
        batch=batch,
        memory_budget_mb=memory_budget_mb,
        on_progress=on_progress,
        cancel=cancel,
        name="<array>",
    )
    blocks = (x[:, i : i + DEFAULT_BLOCK] for i in range(0, x.shape[1], DEFAULT_BLOCK))
    if mdl.card.is_effect:
        parts: dict[str, list[np.ndarray]] = {label: [] for label in job.keep}
        for out in job.effect(blocks):
            for label, arr in out.items():
                parts[label].append(arr)
        tracks = {label: np.concatenate(p, axis=1) for label, p in parts.items()}
        return EffectResult(tracks=tracks, sample_rate=int(sample_rate), model=mdl.name)
    return LabelResult(labels=job.labels(blocks), sample_rate=int(sample_rate), model=mdl.name)


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
    per_channel: bool = False,
    chunk_s: float | None = None,
    overlap_s: float | None = None,
    batch: int | None = None,
    device: str = "auto",
    threads: int | None = None,
    memory_budget_mb: float = DEFAULT_MEMORY_BUDGET_MB,
    block_frames: int = DEFAULT_BLOCK,
    on_progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> list[RunOutput]:
    """Run a model on audio files, streamed from disk, writing outputs into ``out_dir``.

    Memory stays bounded whatever the file length (one read block, a couple of chunks and
    the resamplers' state). Effects write one audio file per kept label, named by
    ``name_template`` (fields ``{stem} {label} {ext} {model} {index}``), in the input's
    format and subtype unless ``audio_format`` / ``subtype`` say otherwise. Analyzers
    write one label file per input in ``label_format`` (txt = Audacity labels, csv, json,
    srt, vtt) named with ``label="labels"``.

    Every input is checked (exists, decodes, non-empty) before any model runs. Outputs go
    to temp files renamed when the input is complete; on an error or cancel nothing
    partial is left (outputs of inputs that had already finished stay).

    See :func:`process` for the other parameters. Returns one :class:`RunOutput` per input.
    """
    if label_format.lower() not in LABEL_FORMATS:
        raise OutputError(
            f"unknown label format {label_format!r}; use one of {', '.join(LABEL_FORMATS)}"
        )
    paths = [Path(p) for p in inputs]
    if not paths:
        raise UsageError("no input files given")
    infos = [inspect(p) for p in paths]  # fail fast on bad inputs
    mdl = _load(model, device=device, threads=threads, on_progress=on_progress)
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create output folder {out}: {exc}") from None
    results = []
    for i, info in enumerate(infos):
        t0 = time.monotonic()
        job = _Job(
            mdl,
            info,
            stems=stems,
            per_channel=per_channel,
            chunk_s=chunk_s,
            overlap_s=overlap_s,
            batch=batch,
            memory_budget_mb=memory_budget_mb,
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
            res = _write_effect(
                job, blocks, out, name_template, audio_format=audio_format, subtype=subtype
            )
        else:
            res = _write_labels(job, blocks, out, name_template, label_format.lower())
        res.seconds = time.monotonic() - t0
        res.forward_s = job.forward_s
        job.emit("done", job.total, job.total)
        results.append(res)
    return results


# --- internals ----------------------------------------------------------------------------


def _load(
    model: str | Path | Model,
    *,
    device: str,
    threads: int | None,
    on_progress: ProgressCallback | None,
) -> Model:
    if on_progress is not None:
        on_progress(Progress(stage="loading", input=str(getattr(model, "name", model))))
    mdl = model if isinstance(model, Model) else load_model(model, device=device, threads=threads)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mdl.load()


class _Job:
    """One input through one model: the settings and the streaming pipeline."""

    def __init__(
        self,
        model: Model,
        info: AudioInfo,
        *,
        stems: Sequence[str] | None,
        per_channel: bool,
        chunk_s: float | None,
        overlap_s: float | None,
        batch: int | None,
        memory_budget_mb: float,
        on_progress: ProgressCallback | None,
        cancel: CancelToken | None,
        name: str,
        index: int = 0,
        count: int = 1,
    ):
        card = model.card
        self.model = model
        self.info = info
        self.rate = card.sample_rate
        self.on_progress = on_progress
        self.cancel = cancel
        self.name, self.index, self.count = name, index, count
        self.started = time.monotonic()
        self.per_channel = bool(per_channel) and not card.multichannel
        labels = list(card.labels)
        if card.is_effect:
            # a genuine original-host model may make fewer tracks (one per input channel)
            made = model.output_labels(info.channels if card.multichannel else 1)
        else:
            made = labels
        if stems:
            missing = [s for s in stems if s in labels and s not in made]
            if missing:
                raise UsageError(
                    f"model {model.name!r} makes only {', '.join(made)} from this input's "
                    f"channels, not {', '.join(map(repr, missing))}"
                )
            unknown = [s for s in stems if s not in labels]
            if unknown:
                raise UsageError(
                    f"model {model.name!r} has no output named {', '.join(map(repr, unknown))}; "
                    f"its labels are: {', '.join(labels)}"
                )
            if not card.is_effect:
                raise UsageError("stems only apply to effects; this model is an analyzer")
        self.out_labels = made
        self.keep = [lb for lb in made if not stems or lb in stems]
        self.keep_idx = [labels.index(lb) for lb in self.keep]
        self.channels_in = info.channels if (card.multichannel or self.per_channel) else 1
        self.lanes = info.channels if self.per_channel else 1
        self.total = resampled_length(info.frames, info.sample_rate, self.rate)
        self.latency = card.latency_samples if card.is_effect else 0
        self.min_len = int(np.ceil((card.min_input_s or 0.0) * self.rate))
        hints = card.chunking
        whole = bool(hints and hints.whole_input)
        if whole:
            budget = memory_budget_mb * 1024 * 1024
            need = (self.total + self.latency) * self.channels_in * 4
            if need > budget:
                raise MemoryBudgetError(
                    f"model {model.name!r} needs the whole input at once: {need / 2**20:.0f} MB "
                    f"of audio at {self.rate} Hz, above the memory budget of "
                    f"{memory_budget_mb:.0f} MB; raise it with --memory-budget MB "
                    "(memory_budget_mb=...) or process a shorter excerpt"
                )
            self.window: int | None = None
            self.overlap = 0
        else:
            win_s = chunk_s or (hints.window_s if hints and hints.window_s else DEFAULT_CHUNK_S)
            if overlap_s is not None:
                ov_s = overlap_s
            elif hints and hints.overlap_s is not None:
                ov_s = hints.overlap_s
            else:
                ov_s = min(DEFAULT_OVERLAP_S, win_s / 4)
            if win_s <= 0 or ov_s < 0:
                raise UsageError("chunk length must be > 0 and overlap >= 0 seconds")
            self.window = max(int(round(win_s * self.rate)), self.min_len, 1)
            self.overlap = int(round(ov_s * self.rate))
            if self.overlap >= self.window:
                raise UsageError(
                    f"overlap ({ov_s} s) must be shorter than the chunk ({win_s} s); "
                    "lower --overlap or raise --chunk"
                )
        extra = card.model_extra or {}
        self.batch = max(1, int(batch or DEFAULT_BATCH)) if extra.get("batch") is True else 1
        self.forward_s = 0.0
        self.background_io = spare_core(_compute_threads(model), model.device)

    # -- events -------------------------------------------------------------------------

    def emit(self, stage: Stage, done: int, total: int) -> None:
        if self.on_progress is not None:
            self.on_progress(
                Progress(
                    stage=stage,
                    done=done,
                    total=total,
                    input=self.name,
                    index=self.index,
                    count=self.count,
                    started=self.started,
                )
            )

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
        ola = OverlapAdd(window=self.window, overlap=self.overlap, channels=self.channels_in)
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

        def drain(final: bool) -> Iterator[dict[str, np.ndarray]]:
            nonlocal done
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
            arr = np.asarray(raw)
            if arr.ndim != 3 or arr.shape[0] != len(items):
                raise ContractError(
                    f"with batch: true the output must be (batch, n_outputs, samples), got "
                    f"shape {arr.shape}",
                    model=self.model.name,
                    at_s=items[0][0] / self.rate,
                )
            for (start, a), o in zip(items, arr, strict=True):
                results.append(
                    check_effect_output(
                        o,
                        n_labels=n_labels,
                        n_samples=a.shape[1],
                        model=self.model.name,
                        at_s=start / self.rate,
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
        ola = OverlapAdd(window=self.window, overlap=self.overlap, channels=self.channels_in)
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


def _batches(
    chunks: list[tuple[int, np.ndarray]], batch: int, lanes: int
) -> Iterator[list[tuple[int, np.ndarray]]]:
    """Group chunks so that a group holds about ``batch`` forward items (chunks x lanes)."""
    per = max(1, batch // max(lanes, 1))
    for i in range(0, len(chunks), per):
        yield chunks[i : i + per]


def _write_effect(
    job: _Job,
    blocks: Iterable[np.ndarray],
    out_dir: Path,
    template: str,
    *,
    audio_format: str | None,
    subtype: str | None,
) -> RunOutput:
    info = job.info
    fmt, sub, ext = audio_format_for(
        input_format=info.format,
        input_subtype=info.subtype,
        audio_format=audio_format,
        subtype=subtype,
    )
    dests = {
        lb: out_dir
        / output_name(
            template,
            stem=info.path.stem,
            label=lb,
            ext=ext,
            model=job.model.name,
            index=job.model.card.labels.index(lb),
        )
        for lb in job.keep
    }
    _check_distinct(dests, info.path)
    with contextlib.ExitStack() as stack:
        writers = {
            lb: stack.enter_context(
                AudioWriter(
                    dest, sample_rate=info.sample_rate, channels=job.lanes, format=fmt, subtype=sub
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
    return RunOutput(input=info.path, files=dests, kind="effect", clipped=clipped)


def _write_labels(
    job: _Job, blocks: Iterable[np.ndarray], out_dir: Path, template: str, fmt: str
) -> RunOutput:
    info = job.info
    labels = job.labels(blocks)
    job.check_cancel()
    dest = out_dir / output_name(
        template, stem=info.path.stem, label="labels", ext=LABEL_FORMATS[fmt], model=job.model.name
    )
    _check_distinct({"labels": dest}, info.path)
    job.emit("writing", job.total, job.total)
    write_labels(labels, dest, fmt)
    return RunOutput(input=info.path, files={"labels": dest}, kind="analyzer", labels=labels)


def _check_distinct(dests: dict[str, Path], source: Path) -> None:
    """Refuse to overwrite the input or to write two outputs to one name."""
    seen: dict[Path, str] = {}
    for lb, dest in dests.items():
        if dest.exists() and source.exists() and os.path.samefile(dest, source):
            raise OutputError(
                f"output {dest} would overwrite the input file; choose another -o folder "
                "or --name-template"
            )
        if dest in seen:
            raise OutputError(
                f"outputs {seen[dest]!r} and {lb!r} would both be written to {dest}; "
                "put {label} in --name-template"
            )
        seen[dest] = lb
