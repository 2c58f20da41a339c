"""Base classes for contributors: wrap a PyTorch network in one of the two contracts.

Subclass :class:`WaveformToWaveform` (effects) or :class:`WaveformToLabels` (analyzers)
and implement ``do_forward_pass``. ``forward`` checks the input and output shapes the
same way audacitorch's ``WaveformToWaveformBase`` / ``WaveformToLabelsBase`` did, so
mistakes surface while you develop. The host re-checks every output anyway
(:mod:`deepfx.contract`), whatever the format, so exported graphs may drop these checks.

Importing this module imports torch.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["WaveformToLabels", "WaveformToWaveform"]


def _require(ok: bool, message: str) -> None:
    """Raise ``ValueError(message)`` unless ``ok``.

    Scripted, it is an ``assert``: torch 2.x scripts ``raise`` as a two-argument
    ``prim::RaiseException`` that torch 1.9 (the original Audacity host) cannot load,
    while ``assert`` keeps the one-argument form both read. The message is the same.
    """
    if torch.jit.is_scripting():
        assert ok, message
    elif not ok:
        raise ValueError(message)


def _check_waveform(x: torch.Tensor, what: str) -> None:
    _require(x.dim() == 2, what + " must have two dimensions (channels, samples)")


class _Base(nn.Module):
    def __init__(self, model: nn.Module | None = None) -> None:
        super().__init__()
        if model is not None:
            model.eval()
            self.model = model


class WaveformToWaveform(_Base):
    """An effect: ``(channels, samples)`` in, ``(n_outputs, samples)`` out.

    ``n_outputs`` must equal ``len(card.labels)``; row ``i`` becomes the track named
    ``labels[i]``.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_waveform(x, "input")
        y = self.do_forward_pass(x)
        _check_waveform(y, "output")
        _require(y.shape[-1] == x.shape[-1], "output must have as many samples as the input")
        return y

    def do_forward_pass(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError("implement do_forward_pass(x) -> (n_outputs, samples)")


class WaveformToLabels(_Base):
    """An analyzer: ``(channels, samples)`` in, ``(class_indices (n,), timestamps (n, 2))``
    out, timestamps in seconds from the start of the input."""

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        _check_waveform(x, "input")
        out = self.do_forward_pass(x)
        indices, timestamps = out[0], out[1]
        _require(indices.dim() == 1, "class_indices must be one dimensional (n,)")
        _require(
            timestamps.dim() == 2 and timestamps.shape[1] == 2, "timestamps must have shape (n, 2)"
        )
        _require(
            indices.shape[0] == timestamps.shape[0],
            "class_indices and timestamps must have the same length",
        )
        return indices, timestamps

    def do_forward_pass(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError(
            "implement do_forward_pass(x) -> (class_indices (n,), timestamps (n, 2))"
        )
