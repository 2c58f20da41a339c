"""A model folder or .zip on this machine, installed as ``local/<name>``."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deepfx.sources import Origin, StepCallback, slug, step

__all__ = ["LocalSource"]


@dataclass
class LocalSource:
    """Copies ``path`` (checked: no links out, bounded size; :mod:`deepfx.hub.local`)."""

    path: Path
    name: str
    on_step: StepCallback | None = field(default=None, repr=False)
    origin: Origin = "local"
    repo_id: str | None = None
    commit: str | None = None
    revision: str | None = None
    pinned: bool = False

    @classmethod
    def at(
        cls, path: Path | str, *, name: str | None = None, on_step: StepCallback | None = None
    ) -> LocalSource:
        """The source for ``path``, named ``local/<name>`` (default: the folder's name)."""
        path = Path(path).expanduser()
        stem = name or (path.stem if path.suffix.lower() == ".zip" else path.resolve().name)
        return cls(path, f"local/{slug(stem)}", on_step)

    def fetch(self, into: Path) -> list[dict[str, Any]] | None:
        from deepfx.hub.local import copy_local

        step(self.on_step, f"copying {self.path}")
        copy_local(self.path, into)
        return None
