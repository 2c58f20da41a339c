"""A built-in model (``builtin/<name>``), built from weights shipped in packages."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deepfx.errors import ModelNotFoundError
from deepfx.sources import Origin, StepCallback, step

__all__ = ["BuiltinSource", "builtin_spec"]


def builtin_spec(full: str) -> Any:
    """The :class:`deepfx.builtins.BuiltinSpec` called ``full``; a deepfx without the
    built-ins package (or with a family module missing) has none."""
    try:
        from deepfx.builtins import catalog

        specs = catalog()
    except ImportError:
        raise ModelNotFoundError(
            f"{full}: no built-in models are available in this installation"
        ) from None
    for spec in specs:
        if spec.name == full:
            return spec
    names = ", ".join(s.name for s in specs) or "none"
    raise ModelNotFoundError(f"no built-in model {full!r}; available: {names}")


@dataclass
class BuiltinSource:
    """Builds the model into the staging folder; its card is known before building."""

    name: str
    spec: Any = field(repr=False)
    on_step: StepCallback | None = field(default=None, repr=False)
    origin: Origin = "builtin"
    repo_id: str | None = None
    commit: str | None = None
    revision: str | None = None
    pinned: bool = False

    @classmethod
    def named(cls, full: str, *, on_step: StepCallback | None = None) -> BuiltinSource:
        """The source for ``builtin/<x>``; :class:`ModelNotFoundError` if there is none."""
        return cls(full, builtin_spec(full), on_step)

    def fetch(self, into: Path) -> list[dict[str, Any]] | None:
        step(self.on_step, f"building {self.name} from packaged weights")
        self.spec.build(into)
        return None
