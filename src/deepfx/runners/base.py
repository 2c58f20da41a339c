"""The runner interface and what all runners share."""

from __future__ import annotations

import zipfile
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from deepfx.errors import BackendMissingError, ModelLoadError, UsageError

__all__ = ["Runner", "resolve_device", "sniff_zip"]

Output = np.ndarray | tuple[np.ndarray, np.ndarray]


class Runner(ABC):
    """A loaded network: call it with float32 ``(channels, samples)``."""

    format: ClassVar[str]
    #: Where it runs: "cpu", "cuda", "mps".
    device: str

    def __init__(self, path: Path, *, device: str = "auto", threads: int | None = None):
        self.path = Path(path)
        #: What the caller asked for (``--threads``); ``None``: the thread policy decides.
        self.requested_threads = threads
        #: The threads the forward passes use (set by :meth:`choose_threads`).
        self.threads = threads
        #: Why that many (:mod:`deepfx.runners.threads`).
        self.threads_why = "asked for (--threads)" if threads else "library default"
        self._ops: frozenset[str] = frozenset()
        self._weight_bytes = 0
        self._checked_at = 0.0

    def choose_threads(self, ops: set[str] | frozenset[str], weight_bytes: int) -> int:
        """Apply the thread policy to this network (its operators and weight size); on
        a CPU it also counts this process as a run sharing the cores."""
        from deepfx.runners.threads import choose_threads, run_lease

        self._ops, self._weight_bytes = frozenset(ops), int(weight_bytes)
        if getattr(self, "device", "cpu") == "cpu" and not self.requested_threads:
            run_lease()
        choice = choose_threads(
            requested=self.requested_threads, ops=self._ops, weight_bytes=self._weight_bytes
        )
        self.threads, self.threads_why = choice.threads, choice.why
        return choice.threads

    def refresh_threads(self, *, every_s: float = 2.0) -> int:
        """Re-apply the policy (at most every ``every_s``): another run may have started
        or ended since, and the cores are shared among the runs at each moment."""
        import time

        now = time.monotonic()
        if self.requested_threads or now - self._checked_at < every_s:
            return int(self.threads or 1)
        self._checked_at = now
        from deepfx.runners.threads import choose_threads

        choice = choose_threads(requested=None, ops=self._ops, weight_bytes=self._weight_bytes)
        self.threads, self.threads_why = choice.threads, choice.why
        return choice.threads

    @abstractmethod
    def __call__(self, x: np.ndarray) -> Any:
        """Run the network on one block; returns an array or a tuple of arrays."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.path.name} on {self.device}>"


def _import_torch(path: Path) -> Any:
    try:
        import torch
    except ImportError:
        raise BackendMissingError(path, "PyTorch", "pip install torch") from None
    return torch


def resolve_device(device: str) -> str:
    """Turn ``auto`` into the best available device; check an explicit one exists.

    ``auto`` never imports torch just to look: it uses torch only if it is installed.
    """
    device = (device or "auto").lower()
    if device not in ("auto", "cpu", "cuda", "mps") and not device.startswith("cuda:"):
        raise UsageError(f"unknown device {device!r}: use auto, cpu, cuda or mps")
    if device == "cpu":
        return "cpu"
    try:
        import torch
    except ImportError:
        if device == "auto":
            return "cpu"
        raise UsageError(f"device {device!r} needs PyTorch with {device} support") from None
    if device == "auto":
        if torch.cuda.is_available():
            return "cuda"
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return "mps"
        return "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise UsageError("device 'cuda' asked for, but no CUDA GPU is available to PyTorch")
    if device == "mps" and not (
        getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()
    ):
        raise UsageError("device 'mps' asked for, but Apple MPS is not available")
    return device


def sniff_zip(path: Path, kind: str) -> zipfile.ZipFile:
    """Open a torch archive as a zip, with a specific error for the usual mistakes.

    Checked *before* handing the file to torch so a pickle, a truncated download or an
    HTML error page gets a clear message and nothing is ever unpickled.
    """
    with open(path, "rb") as fh:
        head = fh.read(8)
    if not head:
        raise ModelLoadError(path, "the file is empty (an interrupted download?)")
    if head[:1] == b"\x80":
        raise ModelLoadError(
            path,
            "this is a raw Python pickle, not a " + kind + " archive; deepfx never unpickles "
            "arbitrary objects (they can run code). Export the model with `deepfx export`",
        )
    if head.lstrip()[:1] in (b"<", b"{"):
        raise ModelLoadError(path, "this is a text/HTML file, not a model (a failed download?)")
    try:
        return zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise ModelLoadError(
            path, f"corrupt or truncated file: not a valid {kind} archive"
        ) from None
