"""Compatibility with the original "Deep Learning Tools for Audacity" host (libtorch 1.9).

Two directions:

* :mod:`deepfx.legacy.archive` turns a ``model.pt`` written by torch 2.x into one torch
  1.9 loads (no newer-layout members, no two-argument raises, padding through operators
  1.9 has, file version <= 6) and names what still cannot run there. It needs no torch.
* :mod:`deepfx.legacy.runtime` runs a real torch 1.9 (a Python 3.9 virtualenv) in a
  subprocess, so a check is a measurement, not an assumption: load a ``model.pt``, run
  inputs, compare. A crash of that process (the old runtime aborts on some archives) is
  reported as a crash, never taken down with it.
"""

from __future__ import annotations

from deepfx.legacy.archive import (
    LEGACY_MAX_FILE_VERSION,
    LegacyAudit,
    audit_archive,
    make_legacy_compatible,
)

__all__ = [
    "LEGACY_MAX_FILE_VERSION",
    "LegacyAudit",
    "audit_archive",
    "make_legacy_compatible",
]
