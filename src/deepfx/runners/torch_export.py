"""torch.export programs (``model.pt2``), exported with a dynamic time axis."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np

from deepfx.errors import ModelLoadError, UnsafeModelError, first_line
from deepfx.runners.base import Runner, _import_torch, resolve_device, sniff_zip
from deepfx.runners.threads import busy
from deepfx.runners.torchscript import _to_numpy, set_torch_threads

__all__ = ["TorchExportRunner"]


class TorchExportRunner(Runner):
    format = "torch.export"

    def __init__(self, path: Path, *, device: str = "auto", threads: int | None = None):
        super().__init__(path, device=device, threads=threads)
        torch = _import_torch(self.path)
        sniff_zip(self.path, "torch.export").close()
        self.device = resolve_device(device)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                from deepfx.runners._pt2 import load_pt2_safely

                # never torch.export.load: it unpickles and evals parts of the archive
                program = load_pt2_safely(torch, self.path)
                module = program.module()
                if self.device != "cpu":
                    module = module.to(self.device)
        except ModelLoadError:
            raise
        except RecursionError:
            raise UnsafeModelError(self.path, "json", "the program is nested too deeply") from None
        except Exception as exc:  # noqa: BLE001
            first = first_line(exc)
            raise ModelLoadError(
                self.path, f"not a loadable torch.export program ({first[:200]})"
            ) from None
        self._module = module
        self._program = program  # the checked program (deepfx.optimize exports it to ONNX)
        self._torch = torch
        self.choose_threads(_fx_ops(module), self.path.stat().st_size)

    def __call__(self, x: np.ndarray) -> Any:
        torch = self._torch
        set_torch_threads(torch, self.refresh_threads())
        with busy(), torch.inference_mode():
            out = self._module(torch.from_numpy(x).to(self.device))
        return _to_numpy(out)


def _fx_ops(module: Any) -> set[str]:
    """Operator names of a loaded program's graph (already checked while loading)."""
    ops: set[str] = set()
    for gm in module.modules():
        graph = getattr(gm, "graph", None)
        for node in getattr(graph, "nodes", ()):
            schema = getattr(node.target, "_schema", None)
            if schema is not None:
                ops.add(str(schema.name))
    return ops
