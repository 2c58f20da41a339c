"""Which devices a model can run on, and why the others cannot, *without importing
torch* (the window must start fast; torch is imported only when a model runs).

The installed torch's ``torch/version.py`` says whether it was built with CUDA; the
driver's files say whether a GPU is there. The engine still makes the final choice
(``device="auto"``) and raises a clear error if a device turns out unusable.
"""

from __future__ import annotations

import importlib.util
import platform
import re
import sys
from dataclasses import dataclass
from pathlib import Path

__all__ = ["DeviceChoice", "choices"]


@dataclass(frozen=True)
class DeviceChoice:
    name: str  # value for the engine's ``device=``
    label: str
    available: bool
    reason: str = ""  # why it is not available


def _torch_version_file() -> Path | None:
    spec = importlib.util.find_spec("torch")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "version.py"
    return path if path.is_file() else None


def _torch_cuda_build() -> str | None:
    path = _torch_version_file()
    if path is None:
        return None
    m = re.search(r"^cuda\s*(?::\s*\S+)?\s*=\s*['\"]([^'\"]+)['\"]", path.read_text(), re.M)
    return m.group(1) if m else None


def _nvidia_gpu_present() -> bool:
    return Path("/proc/driver/nvidia/gpus").is_dir() or Path("/dev/nvidia0").exists()


def choices() -> list[DeviceChoice]:
    """``auto`` and ``cpu`` always; ``cuda`` and ``mps`` with the reason when not usable."""
    out = [
        DeviceChoice("auto", "Automatic (best available)", True),
        DeviceChoice("cpu", "CPU", True),
    ]
    cuda = _torch_cuda_build()
    if cuda is None:
        out.append(
            DeviceChoice("cuda", "NVIDIA GPU (CUDA)", False, "this PyTorch is a CPU-only build")
        )
    elif not _nvidia_gpu_present():
        out.append(DeviceChoice("cuda", "NVIDIA GPU (CUDA)", False, "no NVIDIA GPU found"))
    else:
        out.append(DeviceChoice("cuda", f"NVIDIA GPU (CUDA {cuda})", True))
    if sys.platform == "darwin" and platform.machine() == "arm64":
        out.append(DeviceChoice("mps", "Apple GPU (Metal)", True))
    else:
        out.append(DeviceChoice("mps", "Apple GPU (Metal)", False, "only on Apple silicon Macs"))
    return out
