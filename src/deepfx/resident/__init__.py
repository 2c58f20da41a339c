"""The resident worker: one process per user (and per store) that keeps loaded models,
so a repeated Audacity apply of the same model does not load it again.

``deepfx audacity apply`` and the window both call :func:`deepfx.resident.client.apply`.
It connects to the worker's Unix socket (starting the worker when none answers), sends
one request, relays the worker's progress events, forwards a cancel, and re-raises the
worker's error as the same deepfx error. The worker (:mod:`deepfx.resident.server`) runs
:func:`deepfx.audacity.bridge.apply` itself, with models from its cache
(:mod:`deepfx.resident.cache`), one job at a time, and exits when idle for
``DEEPFX_RESIDENT_IDLE`` seconds. The wire format is in :mod:`deepfx.resident.protocol`.
"""

from __future__ import annotations
