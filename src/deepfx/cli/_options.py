"""CLI options declared once: one annotated type per option, one help text, one check.

Every command that takes ``--device``, ``--threads``, ``--chunk``, ``--overlap``,
``--memory-budget``, ``--batch`` or ``--timeout`` declares it with the type here, so the
same check (the engine's ``check_*`` function in :mod:`deepfx.engine.options`) runs on
every face and a bad value is the same one-line :class:`~deepfx.errors.UsageError`
(exit 2) everywhere. The callbacks import only the light options module, so
``deepfx --help`` stays fast.

    def command(device: DeviceOpt = "auto", threads: ThreadsOpt = None): ...
"""

from __future__ import annotations

from typing import Annotated

import typer

__all__ = [
    "BatchOpt",
    "ChunkOpt",
    "DeviceOpt",
    "MemoryBudgetOpt",
    "OverlapOpt",
    "RunnerOpt",
    "ThreadsOpt",
    "TimeoutOpt",
]


def _device(value: str | None) -> str | None:
    from deepfx.engine.options import check_device

    return None if value is None else check_device(value, "--device")


def _threads(value: int | None) -> int | None:
    from deepfx.engine.options import check_threads

    return check_threads(value, "--threads")


def _runner(value: str | None) -> str | None:
    from deepfx.errors import UsageError

    choices = ("auto", "torchscript", "pt2", "onnx")  # deepfx.model.RUNNERS (no torch here)
    if value is None:
        return None
    if value.strip().lower() not in choices:
        raise UsageError(f"--runner {value!r} is not one of {', '.join(choices)}")
    return value.strip().lower()


def _chunk(value: float | None) -> float | None:
    from deepfx.engine.options import check_chunk_s

    return check_chunk_s(value, "--chunk")


def _overlap(value: float | None) -> float | None:
    from deepfx.engine.options import check_overlap_s

    return check_overlap_s(value, "--overlap")


def _memory(value: float) -> float:
    from deepfx.engine.options import check_memory_budget_mb

    return check_memory_budget_mb(value, "--memory-budget")


def _batch(value: int | None) -> int | None:
    from deepfx.engine.options import check_batch

    return check_batch(value, "--batch")


def _timeout(value: float) -> float:
    from deepfx.engine.options import check_timeout_s

    return check_timeout_s(value, "--timeout")


DeviceOpt = Annotated[
    str,
    typer.Option(
        "--device",
        "-d",
        help="Where the model runs: auto, cpu, cuda, cuda:N or mps.",
        callback=_device,
    ),
]
ThreadsOpt = Annotated[
    int | None,
    typer.Option("--threads", help="CPU threads for the model (1-1024).", callback=_threads),
]
RunnerOpt = Annotated[
    str | None,
    typer.Option(
        "--runner",
        help=(
            "Which network runs: auto (default: the verified ONNX version derived at "
            "install when it was faster), torchscript, pt2 or onnx."
        ),
        callback=_runner,
    ),
]
ChunkOpt = Annotated[
    float | None,
    typer.Option(
        "--chunk",
        help="Longest chunk in seconds (0-3600); chunks are evened out to the input.",
        callback=_chunk,
    ),
]
OverlapOpt = Annotated[
    float | None,
    typer.Option("--overlap", help="Chunk overlap in seconds.", callback=_overlap),
]
MemoryBudgetOpt = Annotated[
    float,
    typer.Option(
        "--memory-budget", help="MB of audio a whole-input model may receive.", callback=_memory
    ),
]
BatchOpt = Annotated[
    int | None,
    typer.Option(
        "--batch",
        help="Chunks per forward call (models whose card says batch: true; 1-1024).",
        callback=_batch,
    ),
]
TimeoutOpt = Annotated[
    float,
    typer.Option("--timeout", help="Seconds each Audacity command may take.", callback=_timeout),
]
