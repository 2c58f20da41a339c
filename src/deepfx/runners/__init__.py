"""Runners: one small interface to call a network file, whatever its format.

A runner takes float32 ``(channels, samples)`` NumPy audio and returns what the network
returns, as NumPy: one array (effects) or a pair of arrays (analyzers). It does no
contract checking; :class:`deepfx.model.Model` does that. Which file of a model folder
holds the network is :func:`deepfx.folder.network_file`'s decision, not a runner's.

One file per format; each imports its framework (torch, onnxruntime) only when a model of
that format is opened, so the CLI starts fast and ONNX models run without torch.
"""

from __future__ import annotations

from pathlib import Path

from deepfx.card import FORMATS
from deepfx.errors import ModelLoadError
from deepfx.runners.base import Runner, resolve_device

__all__ = ["Runner", "format_of", "open_runner", "resolve_device"]

_SUFFIX_FORMAT = {f.suffix: f.name for f in FORMATS}


def format_of(path: Path) -> str:
    """The format of a network file, from its suffix."""
    try:
        return _SUFFIX_FORMAT[path.suffix.lower()]
    except KeyError:
        raise ModelLoadError(
            path, f"unknown model file type {path.suffix!r} (expected .pt, .pt2 or .onnx)"
        ) from None


def open_runner(path: Path, *, device: str = "auto", threads: int | None = None) -> Runner:
    """Load a network file with the runner for its format."""
    path = Path(path)
    if not path.is_file():
        raise ModelLoadError(path, "file does not exist")
    fmt = format_of(path)
    if fmt == "torchscript":
        from deepfx.runners.torchscript import TorchScriptRunner

        return TorchScriptRunner(path, device=device, threads=threads)
    if fmt == "torch.export":
        from deepfx.runners.torch_export import TorchExportRunner

        return TorchExportRunner(path, device=device, threads=threads)
    from deepfx.runners.onnx import OnnxRunner

    return OnnxRunner(path, device=device, threads=threads)
