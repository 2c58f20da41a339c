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
        self.threads = threads

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
