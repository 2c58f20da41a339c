"""One model: its card, its folder, and a runner for its network.

:func:`load_model` accepts a model folder (``metadata.json`` + a network file), or the
name of an installed model (looked up in the store). The network is loaded lazily on the
first call, so listing and inspecting models never imports torch.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np

from deepfx.card import CARD_FILENAME, CardWarning, ModelCard, load_card
from deepfx.contract import check_effect_output, check_input, check_labels_output
from deepfx.errors import ContractError, ModelLoadError, UnsafeModelError, first_line
from deepfx.folder import network_file
from deepfx.runners import Runner, open_runner

__all__ = ["Model", "load_model"]


class Model:
    """An installed (or local) model: card + network, with the contract enforced.

    Call :meth:`forward` with float32 ``(channels, samples)`` at ``card.sample_rate``;
    it returns the checked output (see :mod:`deepfx.contract`).
    """

    def __init__(
        self,
        folder: Path,
        card: ModelCard,
        *,
        name: str | None = None,
        device: str = "auto",
        threads: int | None = None,
        fmt: str | None = None,
    ):
        self.folder = Path(folder)
        self.card = card
        self.name = name or card.name or self.folder.name
        self.model_file = network_file(self.folder, card, fmt)
        self._device = device
        self._threads = threads
        self._runner: Runner | None = None

    def __repr__(self) -> str:
        return f"<Model {self.name!r} {self.card.kind} {self.format} at {self.folder}>"

    @property
    def format(self) -> str:
        from deepfx.runners import format_of

        return format_of(self.model_file)

    @property
    def runner(self) -> Runner:
        """The loaded network (loaded on first access)."""
        if self._runner is None:
            try:
                self._runner = open_runner(
                    self.model_file, device=self._device, threads=self._threads
                )
            except UnsafeModelError:
                raise  # never re-worded: a refusal is not a version problem
            except ModelLoadError as exc:
                newer = self.newer_framework()
                if newer is None:
                    raise
                raise ModelLoadError(exc.path, f"{exc.cause}; {newer}") from None
        return self._runner

    def newer_framework(self) -> str | None:
        """A readable note when the card says the network was exported with a newer torch
        than the one installed (the usual reason a TorchScript / .pt2 file fails to load),
        else ``None``. Read from the card alone: nothing is loaded."""
        from deepfx.folder import newer_framework

        return newer_framework(self.card, self.model_file)

    def load(self) -> Model:
        """Load the network now (to fail early, before any audio is read)."""
        _ = self.runner
        return self

    @property
    def device(self) -> str:
        return self.runner.device

    def call_network(self, x: np.ndarray, *, what: str, at_s: float | None = None) -> Any:
        """Call the runner as is; an exception inside the network becomes a
        :class:`ContractError` naming the model, ``what`` it was given and where, so a
        broken model is reported, never a crash of the host."""
        try:
            return self.runner(x)
        except (ModelLoadError, ContractError):
            raise
        except Exception as exc:  # noqa: BLE001 - the network itself failed
            first = first_line(exc)
            raise ContractError(
                f"the network raised {type(exc).__name__} on {what} ({first})",
                model=self.name,
                at_s=at_s,
            ) from exc

    def forward_raw(self, x: np.ndarray) -> Any:
        """Run the network on one block without checking its output."""
        x = check_input(x)
        return self.call_network(x, what=f"a {x.shape[0]}x{x.shape[1]} input")

    def forward(self, x: np.ndarray, *, at_s: float | None = None) -> Any:
        """Run one block and enforce the contract.

        Returns float32 ``(n_outputs, samples)`` for effects, or ``(class_indices,
        timestamps)`` for analyzers with timestamps in seconds from the block's start.
        ``at_s`` (the block's position in the file) only improves error messages.
        """
        try:
            out = self.forward_raw(x)
        except ContractError as exc:
            if exc.at_s is None and at_s is not None:
                raise ContractError(exc.rule, model=self.name, at_s=at_s) from exc.__cause__
            raise
        n = x.shape[-1]
        if self.card.is_effect:
            return check_effect_output(
                out, n_labels=len(self.card.labels), n_samples=n, model=self.name, at_s=at_s
            )
        return check_labels_output(
            out,
            n_labels=len(self.card.labels),
            duration_s=n / self.card.sample_rate,
            model=self.name,
            at_s=at_s,
        )


def load_model(
    model: str | Path | Model,
    *,
    device: str = "auto",
    threads: int | None = None,
    fmt: str | None = None,
    strict_card: bool = False,
) -> Model:
    """Open a model by folder path or installed name.

    Cards are read leniently by default (legacy cards from the wild load with warnings);
    ``deepfx validate`` reads them strictly.
    """
    if isinstance(model, Model):
        return model
    path = Path(model).expanduser()
    if path.is_dir():
        folder, name = path, None
    elif path.is_file() and path.name == CARD_FILENAME:
        folder, name = path.parent, None
    else:
        from deepfx.store import ensure_installed

        folder = ensure_installed(str(model))  # a built-in is built on first use
        name = str(model)
    with warnings.catch_warnings():
        if not strict_card:
            warnings.simplefilter("ignore", CardWarning)
        card = load_card(folder, strict=strict_card)
    return Model(folder, card, name=name, device=device, threads=threads, fmt=fmt)
