"""The thread policy: how many CPU threads one model's forward passes get.

Why one place decides: torch and onnxruntime default to one thread per core, and that is
the worst choice for two common cases, measured on a busy 2-core machine
(``benchmarks/bench_threads.py``, figures in docs/engine.md):

* recurrent networks (LSTM/GRU cells, loops over frames: ``builtin/vad``,
  ``builtin/enhance``) compute one small time step after another; a second thread only
  spins waiting for the first, and on cores other processes also use the waits grow:
  ``builtin/vad`` ran 20-30x slower with 2 threads than with 1;
* several runs (or batch workers) at once, each with one thread per core, oversubscribe
  the machine (two ``deepfx run`` at once took 2.4x the time of running them in turn).

But a recurrent layer inside a *large* network is another matter: Demucs v2 (1 GB of
weights, one BLSTM in its bottleneck between convolutional levels) ran a 4 s chunk in
1.37 s with 2 threads against 2.67 s with 1 (ONNX Runtime; TorchScript 2.04 vs 3.48 s),
because its convolutions and its 2048-wide LSTM steps are big enough to split. On the
same quiet machine ``builtin/enhance`` (25 MB, a GRU) gained only 1.11x from a second
thread, which a busy machine turns into a loss.

So: an explicit ``threads`` (``--threads``) always wins; else a small network, or a
recurrent one under :data:`LARGE_WEIGHT_BYTES`, gets one thread; a large one gets the
budget: the cores, divided by the number of deepfx runs on CPU at that moment (each holds
a lease file, see :func:`run_lease`), or ``DEEPFX_THREAD_BUDGET`` (batch actors get
``cores // actors``).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

__all__ = [
    "LARGE_WEIGHT_BYTES",
    "RECURRENT_OPS",
    "SMALL_WEIGHT_BYTES",
    "ThreadChoice",
    "busy",
    "choose_threads",
    "cores",
    "live_runs",
    "run_lease",
]

#: Operators of a recurrent network (TorchScript ``aten::`` names, ONNX op types).
RECURRENT_OPS = frozenset(
    {
        "aten::lstm",
        "aten::gru",
        "aten::rnn_tanh",
        "aten::rnn_relu",
        "aten::lstm_cell",
        "aten::gru_cell",
        "aten::rnn_tanh_cell",
        "aten::rnn_relu_cell",
        "prim::Loop",
        "LSTM",
        "GRU",
        "RNN",
        "Loop",
        "Scan",
    }
)
#: Convolutions: what makes a network worth several threads.
CONV_OPS = frozenset(
    {"aten::conv1d", "aten::conv2d", "aten::_convolution", "aten::convolution"}
    | {"aten::conv_transpose1d", "aten::conv_transpose2d", "Conv", "ConvTranspose"}
)
#: A network with fewer weight bytes than this and no convolution is "small".
SMALL_WEIGHT_BYTES = 1 << 20
#: A recurrent network with at least this many weight bytes gets the budget: its
#: steps' matrix products (and the convolutions around them) are big enough to split.
LARGE_WEIGHT_BYTES = 64 << 20


@dataclass(frozen=True)
class ThreadChoice:
    """The threads chosen and why (shown by ``models info`` and the benchmark)."""

    threads: int
    why: str


def cores() -> int:
    """CPU cores this process may run on (its affinity mask, else the machine's)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def choose_threads(
    *,
    requested: int | None,
    ops: Iterable[str] = (),
    weight_bytes: int = 0,
    budget: int | None = None,
) -> ThreadChoice:
    """Threads for one model: ``requested`` if given, else by the network's kind.

    ``ops`` are the operator names its graph uses (the runners collect them while checking
    the graph), ``weight_bytes`` the size of its weights, ``budget`` the threads this run
    may use (default :func:`budget_now`).
    """
    if requested:
        return ThreadChoice(int(requested), "asked for (--threads)")
    names = set(ops)
    recurrent = sorted(names & RECURRENT_OPS)
    if recurrent and weight_bytes < LARGE_WEIGHT_BYTES:
        return ThreadChoice(1, f"recurrent network ({recurrent[0]}): one thread")
    if weight_bytes < SMALL_WEIGHT_BYTES and not names & CONV_OPS:
        return ThreadChoice(1, "small network: one thread")
    total = max(1, budget if budget is not None else budget_now())
    if recurrent:
        size = f"{weight_bytes / 1e6:.0f} MB"
        return ThreadChoice(total, f"large network ({size}, {recurrent[0]}): {total} of {cores()}")
    return ThreadChoice(total, f"convolutional network: {total} of {cores()}")


def budget_now() -> int:
    """Threads a large network may use now: ``DEEPFX_THREAD_BUDGET``, else the cores
    shared among the deepfx runs holding a lease (this one included)."""
    from deepfx.settings import thread_budget

    fixed = thread_budget()
    if fixed is not None:
        return min(fixed, cores())
    return max(1, cores() // max(1, live_runs()))


# --- leases: how many deepfx processes run models on the CPU now -----------------------------

#: A lease whose process has not run a forward call for this long is not counted: a
#: process that loaded a model and then waits (the resident worker between applies, the
#: window, a benchmark's parent) must not halve the threads of the run that works.
IDLE_AFTER_S = 10.0

_HELD: list[IO[bytes]] = []


def _lease_dir() -> Path:
    uid = os.getuid() if hasattr(os, "getuid") else 0
    return Path(tempfile.gettempdir()) / f"deepfx-runs-{uid}"


def run_lease() -> None:
    """Count this process as a deepfx run on the CPU until it exits (idempotent).

    A lease is a file locked by its process; the lock goes with the process (crash and
    ``kill -9`` included), so a stale file is recognised and removed by the next count.
    Its size says whether a forward call is running (1 byte) and its modification time
    when the last one ended (:func:`busy`), so idle holders are not counted.
    """
    if _HELD:
        return
    try:
        import fcntl
    except ImportError:  # Windows: no leases, each run uses the policy alone
        return
    folder = _lease_dir()
    with contextlib.suppress(OSError):
        folder.mkdir(mode=0o700, exist_ok=True)
        fh = open(folder / f"{os.getpid()}.lease", "wb")  # noqa: SIM115 - held until exit
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        _HELD.append(fh)


@contextlib.contextmanager
def busy() -> Iterator[None]:
    """Mark this process's lease as running a forward call for the ``with`` block.

    Two system calls on each side (a truncate and a time stamp): microseconds, against
    forward calls of milliseconds or more.
    """
    _mark(True)
    try:
        yield
    finally:
        _mark(False)


def _mark(running: bool) -> None:
    if not _HELD:
        return
    with contextlib.suppress(OSError, ValueError):
        fd = _HELD[0].fileno()
        os.ftruncate(fd, 1 if running else 0)
        os.utime(fd)


def _counts(path: Path, now: float) -> bool:
    """Whether a held lease is a run working now (in a call, or one ended recently)."""
    try:
        st = path.stat()
    except OSError:
        return False
    return st.st_size > 0 or now - st.st_mtime < IDLE_AFTER_S


def live_runs() -> int:
    """How many processes run models now (this one included when it holds a lease; idle
    holders are not counted, stale files are removed); at least 1."""
    try:
        import fcntl
    except ImportError:
        return 1
    import time

    count = 0
    now = time.time()
    own = {f"{os.getpid()}.lease"} if _HELD else set()
    try:
        entries = list(_lease_dir().glob("*.lease"))
    except OSError:
        return 1
    for path in entries:
        if path.name in own:
            count += 1
            continue
        try:
            with open(path, "rb") as fh:
                try:
                    fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:
                    count += _counts(path, now)  # held: a live run, if it works
                    continue
                path.unlink(missing_ok=True)  # nobody holds it: a run that ended
        except OSError:
            continue
    return max(1, count)
