"""The engine: any model on audio of any length, with progress, cancel and clean outputs.

* :func:`process` runs a model on a NumPy array and returns an :class:`EffectResult`
  (tracks as arrays) or a :class:`LabelResult` (labels).
* :func:`run` runs a model on files, streamed from disk, and writes outputs atomically;
  it returns one :class:`RunOutput` per input.
* :class:`Progress` events go to ``on_progress``; a :class:`CancelToken` stops a run
  (raising :class:`deepfx.errors.Cancelled`, leaving no partial files).

See ``docs/engine.md`` for how chunking, crossfading and label merging work.
"""

from __future__ import annotations

from deepfx.engine.core import EffectResult, LabelResult, RunOutput, process, run
from deepfx.engine.events import CancelToken, Progress
from deepfx.engine.merge import merge_labels
from deepfx.engine.overlap import chunk_spans, chunk_starts, crossfade_weights, overlap_add

__all__ = [
    "CancelToken",
    "EffectResult",
    "LabelResult",
    "Progress",
    "RunOutput",
    "chunk_spans",
    "chunk_starts",
    "crossfade_weights",
    "merge_labels",
    "overlap_add",
    "process",
    "run",
]
