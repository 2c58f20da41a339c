"""Helpers for the contributor-kit tests: tiny real models written as model folders.

Broken models are real TorchScript modules that break one contract rule each; they are
scripted with plain ``nn.Module`` (not deepfx's base classes, which would catch the
mistake before the host sees it).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import torch
from helpers import card_dict as base_card_dict
from helpers import save_model
from torch import nn

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "docs" / "examples"
SR = 8000


def card_dict(**overrides: Any) -> dict[str, Any]:
    return base_card_dict(rate=SR, **{"license": "mit", **overrides})


def labels_card(**overrides: Any) -> dict[str, Any]:
    return card_dict(effect_type="waveform-to-labels", labels=["a", "b"], **overrides)


def write_scripted(folder: Path, module: nn.Module, card: dict[str, Any]) -> Path:
    """Script ``module`` to ``folder/model.pt`` and write ``card`` as metadata.json."""
    return save_model(module, folder, card)


def import_example(name: str) -> Any:
    """Import a module from docs/examples (the worked examples of the guide)."""
    if str(EXAMPLES) not in sys.path:
        sys.path.insert(0, str(EXAMPLES))
    __import__(name)
    return sys.modules[name]


# --- effects that break the contract -----------------------------------------------------


class Halve(nn.Module):
    """A correct effect: one output, half the input (mono mix)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 0.5 * x.mean(dim=0, keepdim=True)


class WrongRank(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.unsqueeze(0)  # (1, channels, samples): rank 3


class NaNOutput(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x.mean(dim=0, keepdim=True).clone()
        y[0, y.shape[1] // 2] = float("nan")
        return y


class OneOutput(nn.Module):
    """Returns one track; used with a card that lists two labels."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=0, keepdim=True)


class Noisy(nn.Module):
    """Non-deterministic: adds fresh noise on every call."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=0, keepdim=True) + 1e-3 * torch.randn(1, x.shape[1])


# --- analyzers that break the contract ---------------------------------------------------


class GoodLabels(nn.Module):
    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        dur = x.shape[1] / 8000.0
        idx = torch.tensor([0, 1], dtype=torch.long)
        ts = torch.tensor([[0.0, 0.5], [0.5, 1.0]]) * dur
        return idx, ts


class ReversedTimestamps(nn.Module):
    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        dur = x.shape[1] / 8000.0
        idx = torch.tensor([0], dtype=torch.long)
        ts = torch.tensor([[0.75, 0.25]]) * dur
        return idx, ts


class IndexOutOfRange(nn.Module):
    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        dur = x.shape[1] / 8000.0
        idx = torch.tensor([7], dtype=torch.long)
        ts = torch.tensor([[0.0, 0.5]]) * dur
        return idx, ts
