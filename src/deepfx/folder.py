"""The model folder: which network files it holds, and where a network may come from.

Layout::

    <model folder>/
        metadata.json   the card (deepfx.card)
        model.pt        TorchScript   } one or more, named by the formats table
        model.pt2       torch.export  } (deepfx.card.FORMATS); never another path
        model.onnx      ONNX          }
        README.md       optional

A network is only ever loaded from ``<folder>/<file of its format>``, and only if that
path is a regular file whose real path (after resolving links) is inside the folder: a
card, a server or a link can never make deepfx load a network from elsewhere.
(Issue 11 moves writing and checking a whole folder here too.)
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from deepfx.card import FORMAT_FILES, FORMATS
from deepfx.errors import CardError, ModelLoadError, UnsafeModelError

if TYPE_CHECKING:
    from deepfx.card import ModelCard

__all__ = ["formats_in", "inside_folder", "network_file"]


def inside_folder(folder: Path, path: Path) -> Path:
    """``path`` (a file of ``folder``) checked to be a regular file whose real path is
    inside the real ``folder``; raises :class:`UnsafeModelError` for a link out."""
    real_folder = Path(folder).resolve()
    real = Path(path).resolve()
    if real_folder not in real.parents:
        raise UnsafeModelError(
            path, path.name, f"{path.name} resolves outside the model folder (a link to {real})"
        )
    return path


def formats_in(folder: Path) -> list[str]:
    """Formats whose network file the folder holds, in preference order."""
    return [f.name for f in FORMATS if (Path(folder) / f.file).is_file()]


def network_file(folder: Path, card: ModelCard | None = None, fmt: str | None = None) -> Path:
    """The network file to load from ``folder``.

    ``fmt`` forces a format; else the card's ``model_file`` (which must be a file name from
    the formats table); else the first of ``model.pt``, ``model.pt2``, ``model.onnx`` that
    exists (TorchScript first: it is what the original host used and loads fastest).
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
        return inside_folder(folder, path)
    if card is not None and card.model_file:
        if card.model_file not in FORMAT_FILES.values():  # cards built without validation
            raise CardError(
                f"model_file must be one of {', '.join(FORMAT_FILES.values())} (a file name "
                "in the model folder, not a path)",
                path=folder,
            )
        path = folder / card.model_file
        if path.is_file():
            return inside_folder(folder, path)
        raise ModelLoadError(path, "the card's model_file does not exist in the model folder")
    for name in FORMAT_FILES.values():
        if (folder / name).is_file():
            return inside_folder(folder, folder / name)
    raise ModelLoadError(
        folder, f"no network file found (expected one of {', '.join(FORMAT_FILES.values())})"
    )
