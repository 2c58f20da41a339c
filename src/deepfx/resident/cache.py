"""Loaded models kept by the worker, keyed by what decides their behaviour.

The key is the model's folder (resolved), a signature of its files (relative path, size,
modification time, for every file under it), the device and the thread count. A model
installed again, updated in place or edited on disk has another signature, so it is
loaded afresh; the old entry is dropped. At most :data:`MAX_MODELS` stay loaded (least
recently used goes first): large separation models take gigabytes.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from deepfx.model import Model

__all__ = ["MAX_MODELS", "ModelCache", "folder_signature"]

MAX_MODELS = 2

Key = tuple[str, tuple[tuple[str, int, int], ...], str, "int | None"]


def folder_signature(folder: Path) -> tuple[tuple[str, int, int], ...]:
    """``(relative path, size, mtime_ns)`` of every file under ``folder``, sorted."""
    out = []
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        for name in sorted(files):
            path = Path(root) / name
            try:
                st = path.stat()
            except OSError:
                continue
            out.append((str(path.relative_to(folder)), st.st_size, st.st_mtime_ns))
    return tuple(out)


class ModelCache:
    """``get(ref, device, threads)``: a loaded model, from the cache when its key matches.

    ``on_load(name)`` is called before a model is actually loaded (the "loading" stage).
    """

    def __init__(self, limit: int = MAX_MODELS):
        self.limit = limit
        self._models: OrderedDict[Key, Model] = OrderedDict()
        self._lock = threading.Lock()
        self.loads = 0  # how many times a model was really loaded (tests, status)

    def names(self) -> list[str]:
        with self._lock:
            return [m.name for m in self._models.values()]

    def get(
        self,
        ref: str,
        *,
        device: str,
        threads: int | None,
        on_load: Callable[[str], None] | None = None,
    ) -> Model:
        from deepfx.model import load_model

        found = load_model(ref, device=device, threads=threads)  # card only: cheap
        folder = found.folder.resolve()
        key: Key = (str(folder), folder_signature(folder), device, threads)
        with self._lock:
            cached = self._models.get(key)
            if cached is not None:
                self._models.move_to_end(key)
                return cached
            for old in [k for k in self._models if k[0] == key[0]]:
                del self._models[old]  # the same folder, changed: never two versions
        if on_load is not None:
            on_load(found.name)
        loaded = found.load()
        self.loads += 1
        with self._lock:
            self._models[key] = loaded
            while len(self._models) > self.limit:
                self._models.popitem(last=False)
        return loaded
