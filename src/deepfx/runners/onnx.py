"""ONNX (``model.onnx``) through onnxruntime: runs without torch.

Tuned for deepfx's use (one audio input whose length changes from chunk to chunk):

* graph optimisation level "all" (constant folding, fusions, layout changes); the
  optimised graph is cached on disk under the store (``<DEEPFX_HOME>/cache/onnx/``, never
  in the model's folder), keyed to the file's SHA-256, onnxruntime's version and this
  CPU, so the next load skips the optimisation. The cached file is checked like any ONNX
  file (onnxruntime's own fused-kernel domains allowed, nothing else); a cache that does
  not load is deleted and the original is used;
* intra-op threads from the thread policy (:mod:`deepfx.runners.threads`), one inter-op
  thread, sequential execution;
* the CPU memory arena on, memory patterns off. Without the arena every buffer is a
  fresh ``malloc``: glibc keeps freed blocks of up to 32 MiB on its heaps, fragmented
  across chunk lengths, and peak memory crept up chunk after chunk (Demucs v2, 8 s
  chunks of varied lengths: 1502 -> 1549 MB over ten chunks); the arena reuses its blocks
  and stayed flat (1397 MB after the third) at the same speed. Patterns are planned per
  input shape, and the time axis changes from chunk to chunk (figures in docs/engine.md).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import platform
from pathlib import Path
from typing import Any

import numpy as np

from deepfx.errors import BackendMissingError, ModelLoadError, UsageError, first_line
from deepfx.runners._graphs import check_onnx
from deepfx.runners.base import Runner
from deepfx.runners.batched_graph import BATCHED_KEY, BATCHED_VALUE, CHUNKS_PER_CALL
from deepfx.runners.threads import busy

__all__ = ["ORT_DOMAINS", "OnnxRunner", "cached_graph_path"]

#: Domains of the kernels onnxruntime itself writes into an optimised graph.
ORT_DOMAINS = frozenset({"com.microsoft", "com.microsoft.nchwc", "com.ms.internal.nhwc"})
#: Domains onnxruntime declares in every graph it saves (no node may use them).
ORT_DECLARED = frozenset(
    {
        "ai.onnx.training",
        "ai.onnx.preview",
        "ai.onnx.preview.training",
        "com.microsoft.experimental",
        "org.pytorch.aten",
    }
)


class OnnxRunner(Runner):
    format = "onnx"

    def __init__(
        self,
        path: Path,
        *,
        device: str = "auto",
        threads: int | None = None,
        cache: bool = True,
    ):
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
        with open(self.path, "rb") as fh:
            if not fh.read(1):
                raise ModelLoadError(self.path, "the file is empty (an interrupted download?)")
        ops = check_onnx(self.path)  # domains and external data, before onnxruntime reads it
        self.choose_threads(ops, self.path.stat().st_size)
        #: The optimised graph this session was loaded from, when the cache was used.
        self.cached_from: Path | None = None
        cached = cached_graph_path(self.path, providers[0]) if cache else None
        self._session: Any = None
        if cached is not None and cached.is_file():
            with contextlib.suppress(Exception):  # a bad cache is only a slower load
                check_onnx(cached, extra_domains=ORT_DOMAINS, declared_domains=ORT_DECLARED)
                self._session = self._open(ort, cached, providers, optimise=False)
                self.cached_from = cached
            if self._session is None:
                cached.unlink(missing_ok=True)
        if self._session is None:
            self._session = self._open(ort, self.path, providers, optimise=True, save_to=cached)
        inputs = self._session.get_inputs()
        if len(inputs) != 1:
            raise ModelLoadError(
                self.path,
                f"an ONNX model must take one input (audio), this one takes {len(inputs)}",
            )
        self._input = inputs[0].name
        self._rank = len(inputs[0].shape or ())
        self._n_outputs = len(self._session.get_outputs())
        #: A graph cut by :func:`deepfx.runners.batched_graph.batch_graph`: it takes a
        #: batch of chunks ``(batch, channels, samples)``, and one chunk as a batch of one.
        meta = self._session.get_modelmeta().custom_metadata_map or {}
        self.batched = self._rank == 3 and meta.get(BATCHED_KEY) == BATCHED_VALUE
        #: Chunks the engine should send per call (shorter ones, see engine.options.plan).
        self.chunks_per_call = CHUNKS_PER_CALL if self.batched else 1

    def _open(
        self,
        ort: Any,
        path: Path,
        providers: list[str],
        *,
        optimise: bool,
        save_to: Path | None = None,
    ) -> Any:
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        opts.intra_op_num_threads = int(self.threads or 1)
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.enable_cpu_mem_arena = True
        opts.enable_mem_pattern = False
        level = ort.GraphOptimizationLevel
        opts.graph_optimization_level = level.ORT_ENABLE_ALL if optimise else level.ORT_DISABLE_ALL
        partial: Path | None = None
        if save_to is not None:
            with contextlib.suppress(OSError):
                save_to.parent.mkdir(parents=True, exist_ok=True)
                partial = save_to.with_name(f".{save_to.name}.{os.getpid()}.partial")
                opts.optimized_model_filepath = str(partial)
        try:
            session = ort.InferenceSession(str(path), opts, providers=providers)
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own Fail/InvalidGraph
            if partial is not None:
                partial.unlink(missing_ok=True)
            first = first_line(exc)
            raise ModelLoadError(
                self.path, f"corrupt or unsupported ONNX model ({first})"
            ) from None
        if partial is not None and save_to is not None:
            with contextlib.suppress(OSError):
                if partial.is_file() and not partial.with_name(partial.name + ".data").exists():
                    os.replace(partial, save_to)  # complete or absent, never half a file
                partial.unlink(missing_ok=True)
        return session

    def __call__(self, x: np.ndarray) -> Any:
        if self.batched and x.ndim == 2:
            out = self(x[None])
            return tuple(o[0] for o in out) if isinstance(out, tuple) else out[0]
        if x.ndim == 3 and self._rank == 2 and self._n_outputs == 1:
            # a batch of chunks (card "batch": true) for a graph of one chunk (a derived
            # network, exported from a single (channels, samples) example): one at a time
            return np.stack([self(item) for item in x])
        with busy():
            outs = self._session.run(None, {self._input: np.ascontiguousarray(x, dtype=np.float32)})
        return outs[0] if self._n_outputs == 1 else tuple(outs)


def cached_graph_path(path: Path, provider: str) -> Path | None:
    """Where the optimised graph of ``path`` is cached, or ``None`` (no usable store).

    The key covers everything the optimised graph depends on: the file's content, the
    onnxruntime version, the provider and this CPU (level "all" picks kernels for it).
    """
    try:
        import onnxruntime as ort

        from deepfx.settings import home

        digest = hashlib.sha256()
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
        key = hashlib.sha256(
            f"{digest.hexdigest()}|{ort.__version__}|{provider}|{_cpu_id()}".encode()
        ).hexdigest()[:32]
        return home() / "cache" / "onnx" / f"{key}.onnx"
    except Exception:  # noqa: BLE001 - no cache is only a slower load
        return None


def _cpu_id() -> str:
    """This CPU's model and feature flags (the kernels an optimised graph may use)."""
    text = ""
    with contextlib.suppress(OSError):
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            lines = [ln for ln in fh if ln.startswith(("model name", "flags"))][:2]
        text = "".join(lines)
    return hashlib.sha256(f"{platform.machine()}|{text}".encode()).hexdigest()[:16]
