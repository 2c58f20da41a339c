"""ONNX (``model.onnx``) through onnxruntime: runs without torch."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from deepfx.errors import BackendMissingError, ModelLoadError, UsageError, first_line
from deepfx.runners._graphs import check_onnx
from deepfx.runners.base import Runner

__all__ = ["OnnxRunner"]


class OnnxRunner(Runner):
    format = "onnx"

    def __init__(self, path: Path, *, device: str = "auto", threads: int | None = None):
        super().__init__(path, device=device, threads=threads)
        try:
            import onnxruntime as ort
        except ImportError:
            raise BackendMissingError(self.path, "onnxruntime", "pip install onnxruntime") from None
        available = ort.get_available_providers()
        want = (device or "auto").lower()
        if want in ("auto", "cuda") and "CUDAExecutionProvider" in available:
            providers = ["CUDAExecutionProvider", "CPUExecutionProvider"]
            self.device = "cuda"
        elif want.startswith("cuda"):
            raise UsageError("device 'cuda' asked for, but onnxruntime has no CUDA provider here")
        else:
            providers = ["CPUExecutionProvider"]
            self.device = "cpu"
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        if threads:
            opts.intra_op_num_threads = threads
        with open(self.path, "rb") as fh:
            if not fh.read(1):
                raise ModelLoadError(self.path, "the file is empty (an interrupted download?)")
        check_onnx(self.path)  # domains and external data, before onnxruntime reads it
        try:
            self._session = ort.InferenceSession(str(self.path), opts, providers=providers)
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own Fail/InvalidGraph
            first = first_line(exc)
            raise ModelLoadError(
                self.path, f"corrupt or unsupported ONNX model ({first})"
            ) from None
        inputs = self._session.get_inputs()
        if len(inputs) != 1:
            raise ModelLoadError(
                self.path,
                f"an ONNX model must take one input (audio), this one takes {len(inputs)}",
            )
        self._input = inputs[0].name
        self._n_outputs = len(self._session.get_outputs())

    def __call__(self, x: np.ndarray) -> Any:
        outs = self._session.run(None, {self._input: np.ascontiguousarray(x, dtype=np.float32)})
        return outs[0] if self._n_outputs == 1 else tuple(outs)
