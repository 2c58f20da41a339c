"""Find the weight files that ship inside installed PyPI packages, and save built folders.

The built-in models are made from networks carried by other packages (silero-vad,
basic-pitch, ...). Those packages declare heavy dependencies (torchaudio, TensorFlow) that
deepfx does not use, so they are installed with ``--no-deps`` and are **never imported**
here: importing them would pull what was left out. Their files are located through the
import system's metadata instead (``importlib.util.find_spec`` on the top-level package
reads no code from it).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from deepfx.card import ModelCard
from deepfx.errors import ModelLoadError
from deepfx.folder import write_folder

__all__ = [
    "exported_with",
    "package_file",
    "pip_command",
    "reproducible_script",
    "write_torchscript_folder",
]


def pip_command(requirement: str) -> str:
    """The exact command that installs a weight-carrying package without its dependencies."""
    return f"pip install --no-deps {requirement}"


def package_file(package: str, relative: str, *, requirement: str) -> Path:
    """Path of ``relative`` inside the installed top-level ``package``, without importing it.

    Parameters
    ----------
    package
        Import name of the top-level package (``"silero_vad"``).
    relative
        Path of the file inside the package (``"data/silero_vad.jit"``).
    requirement
        The pip requirement that provides it (``"silero-vad==6.2.3"``); named in the error.

    Raises
    ------
    ModelLoadError
        When the package or the file is missing; the message gives the install command.
    """
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        spec = None
    roots = list(spec.submodule_search_locations or []) if spec is not None else []
    for root in roots:
        candidate = Path(root) / relative
        if candidate.is_file():
            return candidate
    where = Path(roots[0]) / relative if roots else Path(package) / relative
    what = "is not installed" if not roots else f"is installed but has no {relative}"
    raise ModelLoadError(
        where,
        f"the package {package} {what}; the built-in model is made from the weights it "
        f"ships: install it with `{pip_command(requirement)}`",
    )


def exported_with(*extra: str) -> dict[str, str]:
    """Versions recorded in a built card: torch and the named distributions.

    Not Python's: the saved network does not depend on it, and a built-in must be the
    same bytes (the same revision) on every machine with the same torch and weights."""
    from importlib import metadata

    import torch

    versions = {"torch": torch.__version__.split("+")[0]}
    for dist in extra:
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return versions


class _SortedSet(set):  # type: ignore[type-arg]
    """A set that iterates in sorted order (by ``repr`` when items do not compare)."""

    def __iter__(self) -> Any:
        items = list(set.__iter__(self))
        try:
            items.sort()
        except TypeError:
            items.sort(key=repr)
        return iter(items)


def reproducible_script(module: Any) -> Any:
    """``torch.jit.script(module)``, made the same on every run and machine.

    TorchScript lists a module's constants (``__constants__`` and ``Final`` attributes)
    in the order of a Python ``set`` of their names, which changes with the string hash
    seed of the process (``PYTHONHASHSEED``): the saved code, and so the bytes and the
    revision of a built-in, differed from one build to the next. While scripting, the
    recursive scripter's ``set`` iterates in sorted order instead (nothing else changes).
    """
    import torch
    import torch.jit._recursive as recursive

    had = "set" in vars(recursive)
    old = vars(recursive).get("set")
    recursive.set = _SortedSet  # type: ignore[attr-defined]
    try:
        return torch.jit.script(module)
    finally:
        if had:
            recursive.set = old  # type: ignore[attr-defined]
        else:
            del recursive.set  # type: ignore[attr-defined]


def _fixed_serialization_id(path: Path) -> None:
    """Replace the archive's ``.data/serialization_id`` (torch writes a random one on
    every save) by one derived from the archive's other records, so the same network
    gives the same bytes on every build."""
    import hashlib

    from deepfx.legacy.archive import _read_members, _write_members

    members = _read_members(path)
    h = hashlib.sha256()
    for name, data in members:
        if not name.endswith(".data/serialization_id"):
            h.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
    d = h.digest()
    sid = f"{int.from_bytes(d[:8], 'big'):020d}{int.from_bytes(d[8:16], 'big'):020d}".encode()
    out = [(n, sid if n.endswith(".data/serialization_id") else b) for n, b in members]
    if out != members:
        _write_members(path, out)


def write_torchscript_folder(
    dest: Path,
    card: ModelCard,
    module: Any,
    *,
    extra_files: Mapping[str, str] | None = None,
) -> None:
    """Write ``dest`` as a complete model folder, atomically.

    ``module`` (a scripted or traced torch module) is saved as ``model.pt`` (rewritten so
    torch 1.9, the original host's runtime, loads it too), the card as
    ``metadata.json``, and ``extra_files`` (name -> text, e.g. a README with the
    attribution) beside them. Everything is written into a temporary folder beside
    ``dest`` which then replaces it in one rename, so an interrupted build never leaves a
    half-made model behind. An existing ``dest`` is replaced.
    """
    import warnings

    import torch

    from deepfx.legacy.archive import make_legacy_compatible

    with write_folder(Path(dest), replace=True, prefix=".build-") as folder:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.jit.save(module, str(folder / "model.pt"))
        # in the form the original host's torch 1.9 loads too (no debug files, 1.9 ops)
        make_legacy_compatible(folder / "model.pt")
        _fixed_serialization_id(folder / "model.pt")  # the same bytes on every build
        card.write(folder / "metadata.json")
        for name, text in (extra_files or {}).items():
            (folder / name).write_text(text, encoding="utf-8")
