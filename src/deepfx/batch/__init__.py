"""``deepfx batch``: any model over thousands of files, on one machine or a Ray cluster.

Modules: :mod:`~deepfx.batch.inputs` (folder / glob / manifest -> rows),
:mod:`~deepfx.batch.worker` (one file on a worker, published atomically),
:mod:`~deepfx.batch.executor` (Ray session and actor pool), :mod:`~deepfx.batch.manifest`
(results and resume), :mod:`~deepfx.batch.progress` (events and the rich bar),
:mod:`~deepfx.batch.api` (``deepfx.batch(...)``). Ray is imported only when a batch runs.
"""

from __future__ import annotations

import sys
import types
from typing import Any

from deepfx.batch.api import BatchSummary, batch
from deepfx.batch.manifest import MANIFEST_NAME, OutputFile, Record
from deepfx.batch.progress import BatchProgress

__all__ = ["MANIFEST_NAME", "BatchProgress", "BatchSummary", "OutputFile", "Record", "batch"]


class _CallableModule(types.ModuleType):
    """``deepfx.batch`` is this package *and* the function: importing the package (the CLI
    does) makes Python bind ``deepfx.batch`` to the module, so the module calls through."""

    def __call__(self, *args: Any, **kwargs: Any) -> BatchSummary:
        return batch(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
