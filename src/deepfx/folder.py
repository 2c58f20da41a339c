"""The model folder: its layout, which network it holds, writing one, checking one.

Layout::

    <model folder>/
        metadata.json   the card (deepfx.card)
        model.pt        TorchScript   } one or more, named by the formats table
        model.pt2       torch.export  } (deepfx.card.FORMATS); never another path
        model.onnx      ONNX          }
        README.md       optional
        .deepfx-manifest.json         only in the store (deepfx.store)

Reading: a network is only ever loaded from ``<folder>/<file of its format>``
(:func:`network_file`), and only if that path is a regular file whose real path (after
resolving links) is inside the folder: a card, a server or a link can never make deepfx
load a network from elsewhere.

Writing: every writer (``deepfx export``, the built-ins, ``deepfx init``, the store)
fills a staging folder and hands it to :func:`write_folder` /
:func:`move_folder_into_place`, which give it ordinary permissions and rename it over the
destination in one step: a reader sees the old folder or the new one, never half of one.

Checking: :func:`check_folder` reads the card (leniently, collecting its notes), checks
the model's kind and loads the network once, as the store does before installing.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from deepfx.card import FORMAT_FILES, FORMATS, CardWarning, load_card
from deepfx.errors import (
    CardError,
    ModelLoadError,
    UnsafeModelError,
    WrongModelTypeError,
)

if TYPE_CHECKING:
    from deepfx.card import Kind, ModelCard

__all__ = [
    "check_folder",
    "check_kind",
    "formats_in",
    "inside_folder",
    "move_folder_into_place",
    "network_file",
    "newer_framework",
    "read_card_notes",
    "write_folder",
]


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


# --- writing ------------------------------------------------------------------------------


@contextlib.contextmanager
def write_folder(
    dest: Path | str, *, replace: bool = False, prefix: str = ".write-"
) -> Iterator[Path]:
    """Yield an empty staging folder beside ``dest``; on success it becomes ``dest``.

    The staging folder is on ``dest``'s filesystem (so the final rename is atomic) and is
    removed whatever happens. An existing ``dest`` is replaced only with ``replace`` (an
    empty folder always may be): it is renamed aside first and deleted only once the new
    folder is in place, so a failure keeps it. Without ``replace`` a non-empty ``dest``
    raises :class:`FileExistsError` (callers check first and say what to do).
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f"{prefix}{dest.name}.", dir=dest.parent))
    try:
        staged = work / "folder"
        staged.mkdir()
        yield staged
        move_folder_into_place(staged, dest, replace=replace, aside=work / "old")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def move_folder_into_place(staged: Path, dest: Path, *, replace: bool, aside: Path) -> None:
    """Give ``staged`` ordinary permissions and rename it to ``dest`` (same filesystem).

    An existing ``dest`` is first renamed to ``aside`` (which the caller deletes) and put
    back if the final rename fails. The one place a model folder's modes are set: staging
    folders come from ``mkdtemp``/``mkstemp`` (0700/0600), a model folder is ordinary data.
    """
    _ordinary_modes(staged)
    moved_aside = False
    if dest.exists() or dest.is_symlink():
        if dest.is_dir() and not dest.is_symlink() and not any(dest.iterdir()):
            dest.rmdir()
        elif not replace:
            raise FileExistsError(f"{dest} exists")
        else:
            os.replace(dest, aside)
            moved_aside = True
    try:
        os.replace(staged, dest)
    except BaseException:
        if moved_aside:
            os.replace(aside, dest)
        raise


def _ordinary_modes(folder: Path) -> None:
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(folder, 0o777 & ~umask)
    for base, dirs, files in os.walk(folder):
        for d in dirs:
            with contextlib.suppress(OSError):
                os.chmod(os.path.join(base, d), 0o777 & ~umask)
        for f in files:
            with contextlib.suppress(OSError):
                os.chmod(os.path.join(base, f), 0o666 & ~umask)


# --- checking -----------------------------------------------------------------------------


def check_kind(card: ModelCard, *, kind: Kind | None, name: str) -> None:
    """:class:`WrongModelTypeError` unless ``card`` is a model of ``kind`` (``None``: any)."""
    if kind is None or card.kind == kind:
        return
    other = (
        "an analyzer (waveform-to-labels: it writes labels)"
        if card.is_analyzer
        else ("an effect (waveform-to-waveform: it writes audio)")
    )
    raise WrongModelTypeError(
        f"{name} is {other}, not an {kind}; use it where {card.kind}s are expected"
    )


def read_card_notes(
    folder: Path, *, kind: Kind | None = None, name: str
) -> tuple[ModelCard, list[str]]:
    """The card read leniently (legacy cards load) with its notes; CardError names the
    field; a model of the wrong ``kind`` is refused before anything else is read."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", CardWarning)
        card = load_card(folder, strict=False)
    check_kind(card, kind=kind, name=name)
    notes = [
        str(w.message).split(": ", 1)[-1] for w in caught if issubclass(w.category, CardWarning)
    ]
    return card, notes


def check_folder(
    folder: Path, *, kind: Kind | None = None, name: str
) -> tuple[ModelCard, list[str]]:
    """Check a complete model folder: its card, its kind, and that its network loads.

    Returns the card and its notes (lenient reading). Raises the error of the first
    check that fails (:class:`CardError`, :class:`WrongModelTypeError`,
    :class:`ModelLoadError` / :class:`UnsafeModelError`).
    """
    from deepfx.runners import open_runner

    card, notes = read_card_notes(folder, kind=kind, name=name)
    path = network_file(folder, card)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            open_runner(path)
        except UnsafeModelError:
            raise  # never re-worded: a refusal is not a version problem
        except ModelLoadError as exc:
            newer = newer_framework(card, path)
            if newer is None:
                raise
            raise ModelLoadError(exc.path, f"{exc.cause}; {newer}") from None
    return card, notes


def newer_framework(card: ModelCard, model_file: Path) -> str | None:
    """A readable note when the card says the network was exported with a newer torch
    than the one installed (the usual reason a TorchScript / .pt2 file fails to load),
    else ``None``. Read from the card alone: nothing is loaded."""
    wanted = (card.exported_with or {}).get("torch")
    if not wanted or Path(model_file).suffix.lower() == ".onnx":
        return None
    try:
        from importlib.metadata import version

        installed = version("torch")
    except Exception:  # noqa: BLE001 - torch missing: the runner says so itself
        return None
    if _version_key(wanted) <= _version_key(installed):
        return None
    return (
        f"it was exported with torch {wanted} but torch {installed} is installed: "
        f"upgrade torch (pip install 'torch>={wanted.split('+')[0]}') or ask the author "
        "for an ONNX export"
    )


def _version_key(v: str) -> tuple[int, ...]:
    """``"2.13.0+cpu"`` -> ``(2, 13, 0)``; non-numeric parts count as 0."""
    parts = []
    for piece in v.split("+")[0].split(".")[:3]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts)
