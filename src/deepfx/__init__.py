"""deepfx: run audio deep-learning models locally, from Audacity, the CLI or Python.

The public API is re-exported here lazily, so ``import deepfx`` is fast and torch is only
imported when a model actually runs.

Quick start::

    import deepfx
    result = deepfx.process("builtin/hpss", audio, sample_rate=44100)
    deepfx.run("builtin/vad", ["talk.wav"], out_dir="out")
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from deepfx._version import __version__

# name -> module that defines it
_LAZY: dict[str, str] = {
    # model card and contract
    "ModelCard": "deepfx.card",
    "load_card": "deepfx.card",
    "card_json_schema": "deepfx.card",
    "Label": "deepfx.labels",
    "WaveformToWaveform": "deepfx.nn",
    "WaveformToLabels": "deepfx.nn",
    # models and running them
    "Model": "deepfx.model",
    "load_model": "deepfx.model",
    "process": "deepfx.engine",
    "run": "deepfx.engine",
    "EffectResult": "deepfx.engine",
    "LabelResult": "deepfx.engine",
    "RunOutput": "deepfx.engine",
    "Progress": "deepfx.engine",
    "CancelToken": "deepfx.engine",
    # contributor tools
    "export": "deepfx.exporting",
    "validate": "deepfx.validation",
    # model manager
    "hub": "deepfx.hub",
    "store": "deepfx.store",
    "errors": "deepfx.errors",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'deepfx' has no attribute {name!r}")
    mod = importlib.import_module(module)
    value = mod if name in _MODULES else getattr(mod, name)
    globals()[name] = value
    return value


#: Names above that are modules; every other name is an object inside its module.
_MODULES = frozenset({"hub", "store", "errors"})


def __dir__() -> list[str]:
    return sorted(__all__)


if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    # ruff: noqa: F401
    from deepfx import errors, hub, store
    from deepfx.card import ModelCard, card_json_schema, load_card
    from deepfx.engine import (
        CancelToken,
        EffectResult,
        LabelResult,
        Progress,
        RunOutput,
        process,
        run,
    )
    from deepfx.exporting import export
    from deepfx.labels import Label
    from deepfx.model import Model, load_model
    from deepfx.nn import WaveformToLabels, WaveformToWaveform
    from deepfx.validation import validate
