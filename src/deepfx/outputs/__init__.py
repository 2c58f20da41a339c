"""Outputs: audio files (streamed, atomic, named by one template) and label files.

Public names: :func:`output_name`, :class:`AudioWriter`, :func:`audio_format_for`,
:func:`write_labels`, :func:`format_labels`, :func:`read_audacity_labels`,
:data:`LABEL_FORMATS`, :data:`DEFAULT_TEMPLATE`.
"""

from __future__ import annotations

from deepfx.outputs.audio import (
    DEFAULT_TEMPLATE,
    AudioWriter,
    audio_format_for,
    output_name,
)
from deepfx.outputs.labels import (
    LABEL_FORMATS,
    format_labels,
    read_audacity_labels,
    write_labels,
)

__all__ = [
    "DEFAULT_TEMPLATE",
    "LABEL_FORMATS",
    "AudioWriter",
    "audio_format_for",
    "format_labels",
    "output_name",
    "read_audacity_labels",
    "write_labels",
]
