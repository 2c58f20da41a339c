"""TorchScript (``model.pt``): the format of the original Audacity models."""

from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from deepfx.errors import ModelLoadError
from deepfx.runners._graphs import check_torchscript_archive, check_torchscript_module
from deepfx.runners.base import Runner, _import_torch, resolve_device, sniff_zip
from deepfx.runners.threads import busy

__all__ = ["TorchScriptRunner"]


class TorchScriptRunner(Runner):
    format = "torchscript"

    def __init__(self, path: Path, *, device: str = "auto", threads: int | None = None):
        super().__init__(path, device=device, threads=threads)
        torch = _import_torch(self.path)
        with sniff_zip(self.path, "TorchScript") as zf:
            names = zf.namelist()
            check_torchscript_archive(zf, self.path)
        if not any(
            n.endswith("/constants.pkl") or n.startswith("code/") or "/code/" in n for n in names
        ):
            if any(n.endswith("/data.pkl") for n in names):
                raise ModelLoadError(
                    self.path,
                    "this is a torch.save() checkpoint (weights or a pickled module), not a "
                    "TorchScript module; save it with torch.jit.save or `deepfx export`",
                )
            raise ModelLoadError(self.path, "zip archive without TorchScript code")
        self.device = resolve_device(device)
        # models written for torch < 1.8 STFT conventions run after a load-time fix
        from deepfx.legacy.archive import upgrade_real_istft

        fixed = upgrade_real_istft(self.path)
        source: Any = io.BytesIO(fixed) if fixed is not None else str(self.path)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                module = torch.jit.load(source, map_location=self.device)
        except Exception as exc:  # noqa: BLE001 - torch raises RuntimeError with C++ text
            raise ModelLoadError(self.path, _explain(str(exc), torch.__version__)) from None
        ops = check_torchscript_module(module, self.path)  # before anything runs
        module.eval()
        self._module = module
        self._torch = torch
        self.choose_threads(ops, self.path.stat().st_size)

    def __call__(self, x: np.ndarray) -> Any:
        torch = self._torch
        set_torch_threads(torch, self.refresh_threads())
        with busy(), torch.inference_mode(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = self._module(torch.from_numpy(x).to(self.device))
        return _to_numpy(out)


def set_torch_threads(torch: Any, threads: int) -> None:
    """torch's intra-op threads are per process: set them before each call, so two models
    in one process each run with their own policy."""
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)


def _to_numpy(out: Any) -> Any:
    if isinstance(out, (tuple, list)):
        return tuple(_to_numpy(o) for o in out)
    if hasattr(out, "detach"):
        return out.detach().cpu().numpy()
    return out


def _explain(message: str, torch_version: str) -> str:
    """One line from torch's multi-line C++ error, with the likely reason."""
    first = next((line.strip() for line in message.splitlines() if line.strip()), message)
    low = message.lower()
    if "version" in low and ("unsupported" in low or "newer" in low or "maximum" in low):
        return (
            f"exported by a newer PyTorch than this one ({torch_version}); upgrade torch or ask "
            f"the author for an export made with torch <= {torch_version} ({first})"
        )
    if "unknown builtin op" in low or "unknown type name" in low or "schema" in low:
        return (
            f"uses operators this PyTorch ({torch_version}) does not have; it was probably "
            f"exported by a newer PyTorch ({first})"
        )
    return f"not a loadable TorchScript module ({first})"
