"""Wire shapes of the Gradio API as HARP 3.x and gradio_client read them.

* Event streams (``GET .../call/<name>/<event_id>``): ``event: <name>\\ndata: <json>\\n\\n``.
  HARP (``GradioClient::getResponseFromEventID``) scans *every line* for the substrings
  ``complete`` and ``error`` and then takes the next line as the result or the message, so
  progress lines never contain those words, and an ``error`` always carries a JSON string
  (``data: null`` makes HARP report a Hugging Face ZeroGPU quota).
* Files: Gradio's ``FileData`` dict; HARP downloads ``url``, gradio_client downloads
  ``<api>/file=<path>``, so ``url`` is exactly that.
* Labels: pyharp's ``LabelList`` (``meta._type == "pyharp.LabelList"``) of ``AudioLabel``
  dicts with ``t``, ``duration``, ``label``, ``description``, ``color``.
"""

from __future__ import annotations

import json
import mimetypes
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from deepfx.labels import Label

__all__ = ["file_data", "label_list", "sse", "GRADIO_VERSION"]

#: The Gradio version whose API this server speaks (pyharp 0.3.0 pins gradio 5.28.0).
GRADIO_VERSION = "5.28.0"

#: Seconds between heartbeats on an idle event stream (HARP reads with a 10 s timeout),
#: and between polls of a job's events.
HEARTBEAT_S = 5.0
POLL_S = 0.05

#: Label colours (RGB), one per card label in order; alpha 0.5 as pyharp encodes it.
_PALETTE = [
    (46, 134, 222),
    (231, 76, 60),
    (39, 174, 96),
    (243, 156, 18),
    (142, 68, 173),
    (22, 160, 133),
    (211, 84, 0),
    (127, 140, 141),
]


def sse(event: str, data: Any) -> bytes:
    """One server-sent event; ``data`` is JSON on one line."""
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=True)}\n\n".encode()


def sse_data(payload: dict[str, Any]) -> bytes:
    """One queue-protocol message (gradio_client's ``queue/data`` stream)."""
    return f"data: {json.dumps(payload, ensure_ascii=True)}\n\n".encode()


def file_url(api_base: str, path: str) -> str:
    """Download URL of a served file: ``<api_base>/file=<path>`` (api_base ends in
    ``/gradio_api``)."""
    return f"{api_base}/file={quote(path, safe='/')}"


def file_data(api_base: str, path: Path, key: str) -> dict[str, Any]:
    """Gradio's FileData for a file this server publishes under ``key``."""
    mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return {
        "path": key,
        "url": file_url(api_base, key),
        "size": path.stat().st_size,
        "orig_name": path.name,
        "mime_type": mime,
        "is_stream": False,
        "meta": {"_type": "gradio.FileData"},
    }


def color_int(index: int) -> int:
    """pyharp's ``OutputLabel.rgb_color_to_int`` with alpha 0.5 (never 0: HARP skips 0)."""
    r, g, b = _PALETTE[index % len(_PALETTE)]
    return (round(0.5 * 255) << 24) + (r << 16) + (g << 8) + b


def label_list(labels: Sequence[Label], names: Sequence[str], model: str) -> dict[str, Any]:
    """pyharp's LabelList of AudioLabels, times in seconds from the input's start."""
    index = {n: i for i, n in enumerate(names)}
    items = []
    for lb in labels:
        items.append(
            {
                "label_type": "AudioLabel",
                "t": float(lb.start_s),
                "duration": float(lb.end_s - lb.start_s),
                "label": lb.text,
                "description": f"{lb.text}: {lb.start_s:.3f}-{lb.end_s:.3f} s ({model})",
                "color": color_int(index.get(lb.text, 0)),
                "link": None,
                "amplitude": None,
            }
        )
    return {"meta": {"_type": "pyharp.LabelList"}, "labels": items}


def progress_payload(stage: str, done: int, total: int, unit: str) -> dict[str, Any]:
    """A progress event's data (no word HARP scans for: see the module doc)."""
    frac = min(done / total, 1.0) if total else 0.0
    return {"stage": stage, "done": done, "total": total, "unit": unit, "fraction": round(frac, 4)}
