"""Runners: one small interface to call a network file, whatever its format.

A runner takes float32 ``(channels, samples)`` NumPy audio and returns what the network
returns, as NumPy: one array (effects) or a pair of arrays (analyzers). It does no
contract checking; :class:`deepfx.model.Model` does that.

One file per format; each imports its framework (torch, onnxruntime) only when a model of
that format is opened, so the CLI starts fast and ONNX models run without torch.
"""

from __future__ import annotations

from pathlib import Path

from deepfx.card import FORMAT_FILES, ModelCard
from deepfx.errors import ModelLoadError
from deepfx.runners.base import Runner, resolve_device

__all__ = ["Runner", "find_model_file", "format_of", "open_runner", "resolve_device"]

_SUFFIX_FORMAT = {".pt": "torchscript", ".pt2": "torch.export", ".onnx": "onnx"}


def format_of(path: Path) -> str:
    """The format of a network file, from its suffix."""
    try:
        return _SUFFIX_FORMAT[path.suffix.lower()]
    except KeyError:
        raise ModelLoadError(
            path, f"unknown model file type {path.suffix!r} (expected .pt, .pt2 or .onnx)"
        ) from None


def find_model_file(folder: Path, card: ModelCard | None = None, fmt: str | None = None) -> Path:
    """Pick the network file of a model folder.

    ``fmt`` forces a format; else the card's ``model_file``; else the first of
    ``model.pt``, ``model.pt2``, ``model.onnx`` that exists (TorchScript first: it is what
    the original host used and loads fastest).
    """
    folder = Path(folder)
    if fmt is not None:
        if fmt not in FORMAT_FILES:
            raise ModelLoadError(
                folder, f"unknown format {fmt!r} (one of {', '.join(FORMAT_FILES)})"
            )
        path = folder / FORMAT_FILES[fmt]
        if not path.is_file():
            raise ModelLoadError(path, f"this model folder has no {fmt} file")
        return path
    if card is not None and card.model_file:
        path = folder / card.model_file
        if path.is_file():
            return path
        raise ModelLoadError(path, "the card's model_file does not exist in the model folder")
    for name in FORMAT_FILES.values():
        if (folder / name).is_file():
            return folder / name
    raise ModelLoadError(
        folder, f"no network file found (expected one of {', '.join(FORMAT_FILES.values())})"
    )


def available_formats(folder: Path) -> list[str]:
    """Formats present in a model folder, in preference order."""
    return [fmt for fmt, name in FORMAT_FILES.items() if (Path(folder) / name).is_file()]


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
