"""Engine options: one validator per numeric option, a frozen options object, a pure plan.

Every face (``deepfx run``, ``validate``, ``audacity apply``, ``demo``, the Python API)
checks an option with the *same* function here, so ``--chunk 0`` or ``--threads -1`` is
the same :class:`~deepfx.errors.UsageError` (exit 2, one line) wherever it is typed, and
never reaches the model as nonsense (NaN, infinity, zero, a billion seconds).

:func:`plan` turns a card, the input's shape and the options into the streaming
decisions (window, overlap, lanes, kept outputs, latency, batch, memory budget) without
loading a model, so it can be tested with a table.

    options (validated) + card + (frames, rate, channels) --plan()--> Plan
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from deepfx.engine.overlap import even_window
from deepfx.errors import MemoryBudgetError, UsageError

if TYPE_CHECKING:
    from deepfx.card import ModelCard

__all__ = [
    "DEFAULT_BATCH",
    "DEFAULT_CHUNK_S",
    "DEFAULT_MEMORY_BUDGET_MB",
    "DEFAULT_OVERLAP_S",
    "DEVICES",
    "MAX_CHUNK_S",
    "EngineOptions",
    "Plan",
    "check_batch",
    "check_chunk_s",
    "check_device",
    "check_stems",
    "check_device_for",
    "check_memory_budget_mb",
    "check_overlap_s",
    "check_sample_rate",
    "check_threads",
    "check_timeout_s",
    "channel_note",
    "plan",
    "runs_per_channel",
    "unique_labels",
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
#: Longest chunk accepted (seconds): longer ones only allocate without end; a model that
#: needs the whole input says so in its card (``whole_input``).
MAX_CHUNK_S = 3600.0
#: Largest memory budget accepted (MB): 1 TB.
MAX_MEMORY_BUDGET_MB = 1024.0 * 1024.0
#: Most CPU threads and batch items accepted.
MAX_THREADS = 1024
MAX_BATCH = 1024
#: Longest wait accepted for one Audacity command (seconds): a day.
MAX_TIMEOUT_S = 86400.0
#: Highest sample rate accepted for in-memory audio (Hz).
MAX_SAMPLE_RATE = 1_536_000
#: Device names every runner understands (``cuda:N`` too).
DEVICES = ("auto", "cpu", "cuda", "mps")


def _number(value: object, option: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise UsageError(f"{option} must be a number, got {value!r}")
    v = float(value)
    if not math.isfinite(v):
        raise UsageError(f"{option} must be a finite number of seconds/units, got {v}")
    return v


def _integer(value: object, option: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise UsageError(f"{option} must be a whole number, got {value!r}")
    v = int(value)
    if not low <= v <= high:
        raise UsageError(f"{option} must be between {low} and {high}, got {v}")
    return v


def check_chunk_s(value: float | None, option: str = "--chunk") -> float | None:
    """Chunk length in seconds: ``None`` (the card's or the default) or 0 < x <= 3600."""
    if value is None:
        return None
    v = _number(value, option)
    if not 0 < v <= MAX_CHUNK_S:
        raise UsageError(
            f"{option} must be more than 0 and at most {MAX_CHUNK_S:g} seconds, got {v:g}"
        )
    return v


def check_overlap_s(value: float | None, option: str = "--overlap") -> float | None:
    """Overlap in seconds: ``None`` or 0 <= x < 3600 (shorter than the chunk: see plan)."""
    if value is None:
        return None
    v = _number(value, option)
    if not 0 <= v < MAX_CHUNK_S:
        raise UsageError(
            f"{option} must be at least 0 and below {MAX_CHUNK_S:g} seconds, got {v:g}"
        )
    return v


def check_threads(value: int | None, option: str = "--threads") -> int | None:
    """CPU threads: ``None`` (the runtime's default) or 1..1024."""
    return None if value is None else _integer(value, option, 1, MAX_THREADS)


def check_batch(value: int | None, option: str = "--batch") -> int | None:
    """Chunks per forward call: ``None`` (the default, 4) or 1..1024."""
    return None if value is None else _integer(value, option, 1, MAX_BATCH)


def check_memory_budget_mb(value: float, option: str = "--memory-budget") -> float:
    """Memory budget in MB: more than 0, at most 1 TB."""
    v = _number(value, option)
    if not 0 < v <= MAX_MEMORY_BUDGET_MB:
        raise UsageError(f"{option} must be more than 0 and at most {MAX_MEMORY_BUDGET_MB:g} MB")
    return v


def check_timeout_s(value: float, option: str = "--timeout") -> float:
    """A wait in seconds: more than 0, at most a day."""
    v = _number(value, option)
    if not 0 < v <= MAX_TIMEOUT_S:
        raise UsageError(f"{option} must be more than 0 and at most {MAX_TIMEOUT_S:g} seconds")
    return v


def check_sample_rate(value: object, what: str = "sample_rate") -> int:
    """A sample rate in Hz: a whole number from 1 to 1,536,000."""
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        value = int(value)
    return _integer(value, what, 1, MAX_SAMPLE_RATE)


def check_device(value: str | None, option: str = "--device") -> str:
    """A device name every runner understands: auto, cpu, cuda, cuda:N or mps.

    Whether the device is *available* for a given model's format is checked when the
    model is opened (the runner, then :func:`deepfx.engine.core` for every format).
    """
    name = (value or "auto").strip().lower()
    if name in DEVICES:
        return name
    if name.startswith("cuda:") and name[5:].isdigit():
        return name
    from deepfx.errors import excerpt

    raise UsageError(
        f"unknown device {excerpt(value, 40)} ({option}): use auto, cpu, cuda, cuda:N or mps"
    )


def check_device_for(fmt: str, device: str) -> str:
    """Check that ``device`` can run a network of format ``fmt`` here, before loading it.

    The same rule every runner applies when it opens a file, for faces that want to fail
    before any work (``deepfx validate``): torch formats through
    :func:`deepfx.runners.base.resolve_device`; ONNX runs on ``cpu``, or ``cuda`` when
    onnxruntime has its CUDA provider, never on ``mps``.
    """
    want = check_device(device)
    if want in ("auto", "cpu"):
        return want
    if fmt != "onnx":
        from deepfx.runners.base import resolve_device

        return resolve_device(want)
    if want.startswith("cuda"):
        try:
            import onnxruntime as ort
        except ImportError:
            return want  # the runner reports the missing backend
        if "CUDAExecutionProvider" in ort.get_available_providers():
            return want
        raise UsageError(
            f"device {want!r} asked for, but onnxruntime has no CUDA provider here; "
            "use --device cpu or auto"
        )
    raise UsageError(f"device {want!r} cannot run ONNX models; use --device cpu, cuda or auto")


def unique_labels(labels: Sequence[str]) -> list[str]:
    """The card's labels made distinct: a repeated label becomes ``"name (2)"``, ...

    A card that lists ``drums`` twice still gets two outputs (nothing is dropped);
    the order and the first occurrence's name are kept.
    """
    seen: set[str] = set()
    out: list[str] = []
    for label in labels:
        name, n = label, 1
        while name in seen:
            n += 1
            name = f"{label} ({n})"
        seen.add(name)
        out.append(name)
    return out


@dataclass(frozen=True)
class EngineOptions:
    """The run's options, validated once when made (each by its ``check_*`` function)."""

    stems: tuple[str, ...] | None = None
    #: ``None`` (default): effects keep the input's channels (a mono model runs once per
    #: channel), analyzers read a mono mix; ``True``/``False`` force either way.
    per_channel: bool | None = None
    #: ``True``: mix the input down to mono for a mono model (``--mono``), the old default.
    mono: bool = False
    chunk_s: float | None = None
    overlap_s: float | None = None
    batch: int | None = None
    memory_budget_mb: float = DEFAULT_MEMORY_BUDGET_MB

    def __post_init__(self) -> None:
        object.__setattr__(self, "chunk_s", check_chunk_s(self.chunk_s, "chunk_s"))
        object.__setattr__(self, "overlap_s", check_overlap_s(self.overlap_s, "overlap_s"))
        object.__setattr__(self, "batch", check_batch(self.batch, "batch"))
        object.__setattr__(
            self,
            "memory_budget_mb",
            check_memory_budget_mb(self.memory_budget_mb, "memory_budget_mb"),
        )
        if self.stems is not None:
            object.__setattr__(self, "stems", tuple(self.stems) or None)
        if self.mono and self.per_channel:
            raise UsageError("--mono and --per-channel contradict each other; give one of them")
        if self.mono:
            object.__setattr__(self, "per_channel", False)


@dataclass(frozen=True)
class Plan:
    """What one input through one model will do, decided before anything runs.

    ``window`` is ``None`` for a whole-input model; ``keep`` are the output names (the
    card's labels made distinct, filtered by ``stems``) and ``keep_idx`` their positions
    in the model's output.
    """

    rate: int
    channels_in: int
    lanes: int
    per_channel: bool
    total: int
    latency: int
    min_len: int
    window: int | None
    overlap: int
    batch: int
    #: chunks start on multiples of this many model-rate samples (``chunking.grid_samples``)
    grid: int = 1
    keep: tuple[str, ...] = field(default_factory=tuple)
    keep_idx: tuple[int, ...] = field(default_factory=tuple)
    #: the labels of every output row the model makes (``card.labels``, or the first
    #: ``rows`` of them for a genuine original-host model that makes fewer)
    made: tuple[str, ...] = field(default_factory=tuple)


def check_stems(
    card: ModelCard, stems: Sequence[str] | None, *, model_name: str = ""
) -> tuple[str, ...] | None:
    """``stems`` (outputs to keep) checked against the card: every name must be one of
    its (distinct) labels, and only effects have outputs to choose. :class:`UsageError`
    otherwise. The one check every face uses (run, process, the Audacity bridge)."""
    if not stems:
        return None
    name = model_name or card.name or "model"
    labels = unique_labels(card.labels)
    unknown = [s for s in stems if s not in labels]
    if unknown:
        raise UsageError(
            f"model {name!r} has no output named {', '.join(map(repr, unknown))}; "
            f"its labels are: {', '.join(labels)}"
        )
    if not card.is_effect:
        raise UsageError("stems only apply to effects; this model is an analyzer")
    return tuple(stems)


def runs_per_channel(card: ModelCard, channels: int, options: EngineOptions) -> bool:
    """Whether a mono model runs once per channel of this input.

    Stereo stays stereo: by default an *effect* keeps the input's channel layout (a mono
    model runs per channel), an *analyzer* reads a mono mix (its labels are about the
    sound, not a channel); ``per_channel=True/False`` (``--per-channel`` / ``--mono``)
    decide explicitly. A multichannel model always takes the channels as its card says.
    """
    if card.multichannel:
        return False
    if options.per_channel is not None:
        return bool(options.per_channel)
    return card.is_effect and channels > 1


def channel_note(card: ModelCard, channels: int, options: EngineOptions, name: str) -> str:
    """One line saying what was done with a multichannel input, or ``""`` when nothing
    needs saying (mono input, or a multichannel model given the channels as they are)."""
    if channels < 2 or card.multichannel:
        return ""
    what = "stereo" if channels == 2 else f"{channels}-channel"
    if runs_per_channel(card, channels, options):
        return f"{what} input: {name} is mono, ran per channel"
    if card.is_effect:
        return f"{what} input: {name} is mono, mixed down to mono as asked (--mono)"
    return ""


def plan(
    card: ModelCard,
    frames: int,
    rate: int,
    channels: int,
    options: EngineOptions,
    *,
    model_name: str = "",
    rows: int | None = None,
    network_batch: int = 1,
) -> Plan:
    """Decide window, overlap, lanes, kept outputs, latency and batch for one input.

    ``rows`` is how many output rows the effect makes for this input's channels, when a
    genuine original-host model makes fewer than its card's labels (see
    :meth:`deepfx.model.Model.output_labels`): only those first labels are made, as the
    original host did. ``network_batch`` > 1: the runner's network is a batched graph
    derived at install (:mod:`deepfx.runners.batched_graph`); an effect's chunks are then
    that many times shorter and run that many at a time, so the audio in flight stays
    what the card's window asks while a recurrent network reads its weights once per
    step for all of them (see :func:`_split_for_batch`). Pure: reads only its arguments.
    Raises :class:`UsageError` for options that cannot work with this card (unknown
    stem, overlap >= chunk) and :class:`MemoryBudgetError` when a whole-input model would
    need more than the budget.
    """
    from deepfx.audio import resampled_length

    name = model_name or card.name or "model"
    model_rate = card.sample_rate
    per_channel = runs_per_channel(card, channels, options)
    labels = unique_labels(card.labels)
    made = labels[:rows] if card.is_effect and rows is not None else labels
    stems = check_stems(card, options.stems, model_name=name)
    if stems:
        missing = [s for s in stems if s not in made]
        if missing:
            raise UsageError(
                f"model {name!r} makes only {', '.join(made)} from this input's channels, "
                f"not {', '.join(map(repr, missing))}"
            )
    keep_idx = tuple(i for i, lb in enumerate(made) if not stems or lb in stems)
    channels_in = channels if (card.multichannel or per_channel) else 1
    lanes = channels if per_channel else 1
    total = resampled_length(frames, rate, model_rate)
    latency = card.latency_samples if card.is_effect else 0
    min_len = int(np.ceil((card.min_input_s or 0.0) * model_rate))
    hints = card.chunking
    grid = hints.grid_samples if hints and hints.grid_samples and not hints.whole_input else 1
    window: int | None
    split = 1
    if hints and hints.whole_input:
        budget = options.memory_budget_mb * 1024 * 1024
        need = (total + latency) * channels_in * 4
        if need > budget:
            raise MemoryBudgetError(
                f"model {name!r} needs the whole input at once: {need / 2**20:.0f} MB "
                f"of audio at {model_rate} Hz, above the memory budget of "
                f"{options.memory_budget_mb:.0f} MB; raise it with --memory-budget MB "
                "(memory_budget_mb=...) or process a shorter excerpt"
            )
        window, overlap = None, 0
    else:
        win_s = options.chunk_s or (hints.window_s if hints and hints.window_s else DEFAULT_CHUNK_S)
        if options.overlap_s is not None:
            ov_s = options.overlap_s
        elif hints and hints.overlap_s is not None:
            ov_s = hints.overlap_s
        else:
            ov_s = min(DEFAULT_OVERLAP_S, win_s / 4)
        if not (math.isfinite(win_s) and math.isfinite(ov_s)) or win_s <= 0 or ov_s < 0:
            raise UsageError("chunk length must be > 0 and overlap >= 0 seconds")
        window = max(int(round(win_s * model_rate)), min_len, 1)
        overlap = int(round(ov_s * model_rate))
        if overlap >= window:
            raise UsageError(
                f"overlap ({ov_s:g} s) must be shorter than the chunk ({win_s:g} s); "
                "lower --overlap or raise --chunk"
            )
        if card.is_effect and (card.model_extra or {}).get("batch") is not True:
            split = _split_for_batch(window, overlap, min_len, grid, network_batch)
            window //= split
        if grid > 1:  # every chunk on the network's grid: the hop a multiple of it
            window = max(window, overlap + grid)
            hop = (window - overlap) // grid * grid
            overlap = window - hop
        # A known length: even chunks, no half-empty last one. Effects only: an analyzer's
        # frames are laid from each chunk's start, and the card's round hop keeps label
        # times on the model's frame grid (an evened hop moved a 1.130 s edge to 1.133 s).
        if total > 0 and card.is_effect:
            evened = even_window(max(total + latency, min_len), window, overlap, grid)
            if evened >= min_len:
                window = evened
    extra = card.model_extra or {}
    batch = (options.batch or DEFAULT_BATCH) if extra.get("batch") is True else split
    return Plan(
        rate=model_rate,
        channels_in=channels_in,
        lanes=lanes,
        per_channel=per_channel,
        total=total,
        latency=latency,
        min_len=min_len,
        window=window,
        overlap=overlap,
        grid=grid,
        batch=batch,
        keep=tuple(made[i] for i in keep_idx),
        keep_idx=keep_idx,
        made=tuple(made),
    )


def _split_for_batch(window: int, overlap: int, min_len: int, grid: int, network_batch: int) -> int:
    """How many shorter chunks replace one card window for a batched derived graph:
    ``network_batch``, or 1 when the shorter chunks would be under four overlaps long
    (the overlap, computed twice, would eat the gain: Demucs v2's 8 s / 0.8 s card runs
    as two 4 s chunks at once), under ``min_input_s``, or under overlap + one grid step."""
    if network_batch <= 1:
        return 1
    short = window // network_batch
    if short < 4 * overlap or short < min_len or short < overlap + grid:
        return 1
    return network_batch
