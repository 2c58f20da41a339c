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
from deepfx.errors import ContractError, ModelLoadError, UnsafeModelError
from deepfx.folder import network_file
from deepfx.runners import Runner, open_runner

__all__ = ["RUNNERS", "FewerOutputsWarning", "Model", "load_model", "network_cause"]

#: What ``runner=`` (``--runner``) accepts: ``auto`` is the store's verified choice (a
#: derived ONNX network when it was kept, else the card's network); the others force one.
RUNNERS = ("auto", "torchscript", "pt2", "onnx")
_RUNNER_FORMAT = {"torchscript": "torchscript", "pt2": "torch.export", "onnx": "onnx"}


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
        runner: str | None = None,
    ):
        self.folder = Path(folder)
        self.card = card
        self.name = name or card.name or self.folder.name
        self.model_file = choose_network(self.folder, card, fmt=fmt, runner=runner, device=device)
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
            raise ContractError(
                f"the network raised {type(exc).__name__} on {what} ({network_cause(exc)})",
                model=self.name,
                at_s=at_s,
            ) from exc

    def output_labels(self, channels: int) -> list[str]:
        """The labels of the tracks this effect makes from ``channels``-channel input.

        Normally ``card.labels``. A genuine original-host model may return fewer rows
        (e.g. a channel processor, one row per input channel, on a mono track); the
        original host then made ``min(len(labels), rows)`` tracks named by the first
        labels, and so does deepfx, with one warning. Found by running the network once
        on a short silent input of that many channels (cached per channel count)."""
        labels = list(self.card.labels)
        if not self.card.is_effect:
            return labels
        cache: dict[int, int] = self.__dict__.setdefault("_rows_for", {})
        if channels not in cache:
            sr = self.card.sample_rate
            n = max(int(np.ceil(max(self.card.min_input_s or 0.0, 0.05) * sr)), channels + 1, 8)
            try:
                out = self.forward(np.zeros((channels, n), dtype=np.float32))
            except ContractError:
                # the probe is only a hint: the real run reports what is wrong, in context
                return labels
            cache[channels] = int(out.shape[0])
        return labels[: cache[channels]]

    def _note_fewer(self, rows: int, channels: int) -> None:
        """Say once per model that it made fewer tracks than its card has labels."""
        noted: set[int] = self.__dict__.setdefault("_fewer_noted", set())
        if rows in noted:
            return
        noted.add(rows)
        labels = self.card.labels
        warnings.warn(
            f"{self.name}: returned {rows} output track(s) for {channels}-channel input but "
            f"the card lists {len(labels)} labels; keeping {rows}, named "
            f"{', '.join(labels[:rows])} (as the original Audacity host did)",
            FewerOutputsWarning,
            stacklevel=3,
        )

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
            y = check_effect_output(
                out,
                n_labels=len(self.card.labels),
                n_samples=n,
                model=self.name,
                at_s=at_s,
                allow_fewer=True,
            )
            if y.shape[0] < len(self.card.labels):
                self._note_fewer(y.shape[0], x.shape[0])
            return y
        return check_labels_output(
            out,
            n_labels=len(self.card.labels),
            duration_s=n / self.card.sample_rate,
            model=self.name,
            at_s=at_s,
        )


class FewerOutputsWarning(UserWarning):
    """An effect returned fewer tracks than its card lists labels; the rows that exist
    were kept, named by the first labels."""


def network_cause(exc: BaseException) -> str:
    """The line of a network's exception that says why it failed.

    torch's TorchScript errors start with a preamble ("The following operation failed in
    the TorchScript interpreter.", a traceback of the scripted code) and end with the real
    cause ("RuntimeError: ..."); that last line is the one to show."""
    lines = [s.strip() for s in str(exc).splitlines() if s.strip()]
    if not lines:
        return type(exc).__name__
    cause = lines[-1] if len(lines) > 1 else lines[0]
    return cause if len(cause) <= 400 else cause[:397] + "..."


def choose_network(
    folder: Path,
    card: ModelCard,
    *,
    fmt: str | None = None,
    runner: str | None = None,
    device: str = "auto",
) -> Path:
    """The network file a model runs with.

    ``fmt`` (a format name) forces that file of the folder. ``runner``: ``auto`` / ``None``
    takes the store's verified derived ONNX network when the install kept it (it passed
    the parity check and was faster, :mod:`deepfx.optimize`), else the card's network;
    ``torchscript`` / ``pt2`` force that file; ``onnx`` the folder's ``model.onnx``, else
    the derived one (even if it was slower), else an error saying how to make one.
    The derived network was chosen on the CPU: on an accelerator ``auto`` keeps the card's.
    """
    if fmt is not None:
        return network_file(folder, card, fmt)
    want = (runner or "auto").strip().lower()
    if want not in RUNNERS:
        from deepfx.errors import UsageError

        raise UsageError(f"unknown runner {runner!r}: use {', '.join(RUNNERS)}")
    from deepfx.store import derived_network, optimized_network

    if want == "auto":
        derived = optimized_network(folder)
        if derived is not None and (device or "auto").lower() != "cpu":
            from deepfx.runners import resolve_device

            if resolve_device(device) != "cpu":
                derived = None
        return derived or network_file(folder, card)
    if want == "onnx" and not (folder / "model.onnx").is_file():
        derived = derived_network(folder)
        if derived is not None:
            return derived
        raise ModelLoadError(
            folder,
            "this model has no ONNX network (none shipped, none derived); try "
            "`deepfx models optimize <name>`, or run it with --runner auto",
        )
    return network_file(folder, card, _RUNNER_FORMAT[want])


def load_model(
    model: str | Path | Model,
    *,
    device: str = "auto",
    threads: int | None = None,
    fmt: str | None = None,
    runner: str | None = None,
    strict_card: bool = False,
) -> Model:
    """Open a model by folder path or installed name.

    Cards are read leniently by default (legacy cards from the wild load with warnings);
    ``deepfx validate`` reads them strictly. ``runner`` (``auto``, ``torchscript``,
    ``pt2``, ``onnx``) overrides which network runs (:func:`choose_network`).
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
    return Model(folder, card, name=name, device=device, threads=threads, fmt=fmt, runner=runner)
