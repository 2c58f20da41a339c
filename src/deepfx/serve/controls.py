"""A model card as HARP controls, and the ``process`` data checked against them.

HARP 3.x (``src/WebModel.h``) reads ``controls`` as ``{"card", "inputs", "outputs"}`` with
pyharp's component dicts, and sends ``process`` values in the order of ``inputs``:

* ``audio_track``: ``{"path": <upload path>, "meta": {"_type": "gradio.FileData"}}`` or null;
* ``toggle``: a bool (HARP reads ``value`` as ``"1"`` / other);
* ``dropdown``: the chosen string; ``choices`` must be ``[[label, value], ...]`` (HARP takes
  the first item of each pair, as Gradio sends them);
* ``number_box``: a number; HARP reads the bounds from ``min`` / ``max`` while pyharp writes
  ``minimum`` / ``maximum``, so both are sent.

Outputs are fixed when HARP loads the URL and HARP indexes the returned files by output
track, so an effect declares exactly its kept stems (all labels, or those named in the URL)
and an analyzer declares the input audio plus a ``json`` labels output.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from deepfx.card import ModelCard
from deepfx.engine.core import DEFAULT_CHUNK_S

__all__ = ["Control", "ProcessArgs", "RequestError", "build_controls", "card_dict", "parse_process"]


class RequestError(ValueError):
    """A request that is malformed; ``status`` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 400):
        self.status = status
        super().__init__(message)


@dataclass(frozen=True)
class Control:
    """One HARP input: ``key`` names the engine argument it sets."""

    key: str
    harp: dict[str, Any]
    parse: Callable[[Any], Any]
    default: Any = None


@dataclass(frozen=True)
class ProcessArgs:
    """What a ``process`` call asks for, checked."""

    audio_path: str
    device: str
    per_channel: bool
    chunk_s: float | None


def card_dict(card: ModelCard, name: str) -> dict[str, Any]:
    """pyharp's ``ModelCard``: name, description, author, tags (all present)."""
    author = card.author or ", ".join(card.authors or []) or name.split("/", 1)[0]
    tags = list(dict.fromkeys([*card.tags, *card.domain_tags, card.kind, "deepfx"]))
    return {
        "name": card.name or name,
        "description": card.long_description or card.short_description,
        "author": author,
        "tags": tags,
    }


def _audio(value: Any) -> str:
    if value is None:
        raise RequestError("no input audio: load audio into the input track, then process")
    if isinstance(value, dict):
        value = value.get("path")
    if not isinstance(value, str) or not value:
        raise RequestError(
            "the audio input must be {'path': <a path returned by upload>, 'meta': ...}"
        )
    return value


def _toggle(label: str) -> Callable[[Any], bool]:
    def parse(value: Any) -> bool:
        if isinstance(value, bool):
            return value
        if value in (0, 1, "0", "1", "true", "false", "True", "False"):
            return str(value).lower() in ("1", "true")
        raise RequestError(f"{label!r} must be true or false, got {value!r}")

    return parse


def _choice(label: str, choices: Sequence[str]) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        if value not in choices:
            raise RequestError(f"{label!r} must be one of {', '.join(choices)}; got {value!r}")
        return str(value)

    return parse


def _number(label: str, lo: float, hi: float) -> Callable[[Any], float]:
    def parse(value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise RequestError(f"{label!r} must be a number, got {value!r}")
        try:
            x = float(value)
        except ValueError:
            raise RequestError(f"{label!r} must be a number, got {value!r}") from None
        if not lo <= x <= hi:
            raise RequestError(f"{label!r} must be between {lo:g} and {hi:g}, got {x:g}")
        return x

    return parse


def default_chunk(card: ModelCard) -> float | None:
    """The chunk length the engine uses by default, or None for whole-input models."""
    hints = card.chunking
    if hints and hints.whole_input:
        return None
    return float(hints.window_s) if hints and hints.window_s else DEFAULT_CHUNK_S


def build_controls(card: ModelCard, *, devices: Sequence[str], device: str) -> list[Control]:
    """HARP inputs for a model: the audio track, then the controls that apply to it."""
    controls = [
        Control(
            "audio",
            {
                "type": "audio_track",
                "label": "Input audio",
                "info": "Any length, sample rate and channel count.",
                "required": True,
            },
            _audio,
        )
    ]
    if len(devices) > 1:
        choices = list(devices)
        controls.append(
            Control(
                "device",
                {
                    "type": "dropdown",
                    "label": "Device",
                    "info": "Where the model runs.",
                    "choices": [[d, d] for d in choices],
                    "value": device,
                },
                _choice("Device", choices),
                device,
            )
        )
    if not card.multichannel:
        controls.append(
            Control(
                "per_channel",
                {
                    "type": "toggle",
                    "label": "Per channel",
                    "info": "Run the (mono) model once per channel and keep the channels "
                    "(off: mix down to mono).",
                    # stereo stays stereo for effects, as in `deepfx run`
                    "value": card.kind == "effect",
                },
                _toggle("Per channel"),
                card.kind == "effect",
            )
        )
    chunk = default_chunk(card)
    if chunk is not None:
        overlap = card.chunking.overlap_s if card.chunking else None
        lo = max(1.0, round((overlap or 0.0) + 0.5, 1))
        lo = min(lo, chunk)
        hi = max(60.0, chunk)
        controls.append(
            Control(
                "chunk_s",
                {
                    "type": "number_box",
                    "label": "Chunk length (s)",
                    "info": "Audio is processed in overlapping chunks of this length.",
                    "min": lo,
                    "max": hi,
                    "minimum": lo,
                    "maximum": hi,
                    "value": chunk,
                },
                _number("Chunk length (s)", lo, hi),
                chunk,
            )
        )
    return controls


def outputs(card: ModelCard, stems: Sequence[str]) -> list[dict[str, Any]]:
    """HARP outputs: one audio track per kept stem, or the input audio + labels."""
    if card.is_effect:
        return [{"type": "audio_track", "label": s, "info": f"The {s} output."} for s in stems]
    return [
        {"type": "audio_track", "label": "Input audio", "info": "The input, with the labels."},
        {"type": "json", "label": "Labels", "info": f"Spans labelled {', '.join(card.labels)}."},
    ]


def parse_process(controls: Sequence[Control], data: Any, *, device: str) -> ProcessArgs:
    """Check ``data`` (the list HARP sends) against ``controls``; raises RequestError."""
    if not isinstance(data, list):
        raise RequestError('the body must be {"data": [...]} with one value per input')
    if len(data) != len(controls):
        raise RequestError(
            f"expected {len(controls)} values in data (one per input: "
            f"{', '.join(c.harp['label'] for c in controls)}), got {len(data)}"
        )
    values = {c.key: c.parse(v) for c, v in zip(controls, data, strict=True)}
    chunk = values.get("chunk_s")
    default = next((c.default for c in controls if c.key == "chunk_s"), None)
    return ProcessArgs(
        audio_path=values["audio"],
        device=values.get("device", device),
        per_channel=bool(values.get("per_channel", False)),
        chunk_s=None if chunk is None or chunk == default else float(chunk),
    )
