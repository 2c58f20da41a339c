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
from typing import Any

from deepfx._version import __version__

#: The public API, the one list of it: name -> ``module:attribute`` (or a module).
#: Nothing is imported until a name is first used.
_LAZY: dict[str, str] = {
    # model card and contract
    "ModelCard": "deepfx.card:ModelCard",
    "load_card": "deepfx.card:load_card",
    "card_json_schema": "deepfx.card:card_json_schema",
    "Label": "deepfx.labels:Label",
    "WaveformToWaveform": "deepfx.nn:WaveformToWaveform",
    "WaveformToLabels": "deepfx.nn:WaveformToLabels",
    # models and running them
    "Model": "deepfx.model:Model",
    "load_model": "deepfx.model:load_model",
    "process": "deepfx.engine:process",
    "run": "deepfx.engine:run",
    "EffectResult": "deepfx.engine:EffectResult",
    "LabelResult": "deepfx.engine:LabelResult",
    "RunOutput": "deepfx.engine:RunOutput",
    "Progress": "deepfx.engine:Progress",
    "CancelToken": "deepfx.engine:CancelToken",
    "batch": "deepfx.batch:batch",
    # contributor tools
    "export": "deepfx.exporting:export",
    "validate": "deepfx.validation:validate",
    # model manager
    "hub": "deepfx.hub",
    "store": "deepfx.store",
    "errors": "deepfx.errors",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    target = _LAZY.get(name)
    if target is None:
        raise AttributeError(f"module 'deepfx' has no attribute {name!r}")
    module, _, attribute = target.partition(":")
    value = importlib.import_module(module)
    if attribute:
        value = getattr(value, attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
