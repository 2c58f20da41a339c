"""The shared test factories: one card factory and one tiny-model writer.

Topic modules build on these (``engine_helpers`` for engine models, ``contrib_helpers``
for contract breakers, ``audacity_models`` for the bridge, ``signals`` for audio), so a
card field or the way a model folder is written changes in one place.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn

from deepfx.card import ModelCard


def card_dict(
    *,
    labels: list[str] | None = None,
    rate: int = 8000,
    effect: bool = True,
    **fields: Any,
) -> dict[str, Any]:
    """A valid card as a dict; ``fields`` override or add any card field."""
    base: dict[str, Any] = {
        "name": "test-model",
        "short_description": "A test model.",
        "long_description": "A tiny model used by deepfx's tests.",
        "domain_tags": ["other"],
        "tags": ["test"],
        "effect_type": "waveform-to-waveform" if effect else "waveform-to-labels",
        "multichannel": False,
        "labels": labels if labels is not None else ["out"],
        "sample_rate": rate,
    }
    base.update(fields)
    return base


def make_card(**kwargs: Any) -> ModelCard:
    """:func:`card_dict` as a validated :class:`ModelCard`."""
    return ModelCard.model_validate(card_dict(**kwargs))


def save_model(module: nn.Module, folder: Path, card: ModelCard | dict[str, Any]) -> Path:
    """The one tiny-model writer: script ``module`` (eval mode) to ``folder/model.pt`` and
    write ``card`` beside it as ``metadata.json``. Returns ``folder``."""
    import torch

    if not isinstance(card, ModelCard):
        card = ModelCard.model_validate(card)
    folder.mkdir(parents=True, exist_ok=True)
    torch.jit.save(torch.jit.script(module.eval()), str(folder / "model.pt"))
    card.write(folder / "metadata.json")
    return folder
