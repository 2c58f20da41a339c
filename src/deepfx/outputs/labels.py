"""Label files: Audacity label text (default), CSV, JSON, SRT and WebVTT.

All writers take :class:`deepfx.labels.Label` objects (absolute times in seconds) and
write atomically. :func:`read_audacity_labels` reads the Audacity format back (handy for
tests and for round trips through Audacity's *Import Labels*).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from pathlib import Path

from deepfx.errors import OutputError
from deepfx.labels import Label
from deepfx.outputs.temps import atomic_output

__all__ = ["LABEL_FORMATS", "format_labels", "read_audacity_labels", "write_labels"]

#: Label formats and their file extensions.
LABEL_FORMATS: dict[str, str] = {
    "txt": "txt",
    "csv": "csv",
    "json": "json",
    "srt": "srt",
    "vtt": "vtt",
}


def format_labels(labels: Iterable[Label], fmt: str = "txt") -> str:
    """Render labels as text in ``fmt`` (one of :data:`LABEL_FORMATS`).

    * ``txt``: Audacity label track export: ``start<TAB>end<TAB>text``, 6 decimals.
    * ``csv``: header ``start_s,end_s,label``.
    * ``json``: a list of ``{"start_s", "end_s", "text"}`` objects.
    * ``srt`` / ``vtt``: numbered cues with ``HH:MM:SS,mmm`` / ``HH:MM:SS.mmm`` times.
    """
    items = list(labels)
    fmt = fmt.lower()
    if fmt == "txt":
        return "".join(f"{lb.start_s:.6f}\t{lb.end_s:.6f}\t{lb.text}\n" for lb in items)
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(["start_s", "end_s", "label"])
        for lb in items:
            w.writerow([f"{lb.start_s:.6f}", f"{lb.end_s:.6f}", lb.text])
        return buf.getvalue()
    if fmt == "json":
        return json.dumps([lb.to_dict() for lb in items], indent=2, ensure_ascii=False) + "\n"
    if fmt == "srt":
        return "\n".join(
            f"{i}\n{_ts(lb.start_s, ',')} --> {_ts(lb.end_s, ',')}\n{lb.text}\n"
            for i, lb in enumerate(items, 1)
        )
    if fmt == "vtt":
        cues = "\n".join(
            f"{i}\n{_ts(lb.start_s, '.')} --> {_ts(lb.end_s, '.')}\n{lb.text}\n"
            for i, lb in enumerate(items, 1)
        )
        return "WEBVTT\n\n" + cues
    raise OutputError(f"unknown label format {fmt!r}; use one of {', '.join(LABEL_FORMATS)}")


def write_labels(labels: Iterable[Label], path: Path | str, fmt: str = "txt") -> Path:
    """Write labels to ``path`` in ``fmt``, atomically; returns the path."""
    data = format_labels(labels, fmt).encode("utf-8")
    dest = Path(path)
    with atomic_output(dest) as tmp:
        try:
            tmp.write_bytes(data)
        except OSError as exc:
            from deepfx.outputs.temps import os_error_message

            raise OutputError(os_error_message(exc, dest)) from None
    return dest


def read_audacity_labels(path: Path | str) -> list[Label]:
    """Read an Audacity label file (``start<TAB>end<TAB>text`` lines).

    Lines starting with ``\\`` (Audacity's frequency rows for spectral labels) are skipped.
    """
    out = []
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("\\"):
            continue
        parts = line.split("\t", 2)
        try:
            start, end = float(parts[0]), float(parts[1])
        except (IndexError, ValueError):
            raise OutputError(f"{path}:{n}: not an Audacity label line: {line!r}") from None
        out.append(Label(start, end, parts[2] if len(parts) > 2 else ""))
    return out


def _ts(seconds: float, sep: str) -> str:
    ms = int(round(seconds * 1000))
    h, rem = divmod(ms, 3_600_000)
    m, rem = divmod(rem, 60_000)
    s, ms = divmod(rem, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"
