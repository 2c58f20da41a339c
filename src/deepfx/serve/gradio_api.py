"""``/config`` and ``/gradio_api/info``: what gradio_client reads before it calls anything.

HARP needs neither (it calls ``/gradio_api/call/...`` directly); gradio_client 1.x/2.x
fetches ``<src>/config`` (protocol, API prefix, components, dependencies) and
``<api>/info?serialize=False`` (named endpoints and their parameters), then talks the queue
protocol (``queue/join`` + ``queue/data``, protocol ``sse_v3``). The three dependencies are
pyharp's: ``controls`` (0), ``process`` (1) and ``cancel`` (2, cancels 1).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from deepfx.serve.controls import Control
from deepfx.serve.protocol import GRADIO_VERSION

__all__ = ["FN_NAMES", "api_info", "config"]

#: fn_index -> api name, as pyharp's build_endpoint creates them.
FN_NAMES = ("controls", "process", "cancel")

_COMPONENT = {
    "audio_track": ("audio", "Audio", "filepath"),
    "toggle": ("checkbox", "Checkbox", "bool"),
    "dropdown": ("dropdown", "Dropdown", "str"),
    "number_box": ("number", "Number", "float"),
    "json": ("json", "Json", "Dict(str, Any)"),
}

_FILE_SCHEMA = {
    "type": "object",
    "properties": {
        "path": {"type": "string"},
        "meta": {"type": "object", "properties": {"_type": {"const": "gradio.FileData"}}},
    },
}


def _component(cid: int, harp: dict[str, Any]) -> dict[str, Any]:
    gtype = _COMPONENT[harp["type"]][0]
    comp: dict[str, Any] = {"id": cid, "type": gtype, "props": {"label": harp["label"]}}
    if harp["type"] == "audio_track":
        comp["api_info"] = _FILE_SCHEMA
    return comp


def config(
    controls: Sequence[Control], outputs: Sequence[dict[str, Any]], *, max_file_size: int
) -> dict[str, Any]:
    """The Gradio Blocks config gradio_client needs (no UI is described)."""
    comps = [{"id": 1, "type": "json", "props": {"label": "Controls Data"}}]
    in_ids, out_ids = [], []
    for c in controls:
        comps.append(_component(len(comps) + 1, c.harp))
        in_ids.append(len(comps))
    for o in outputs:
        comps.append(_component(len(comps) + 1, o))
        out_ids.append(len(comps))
    deps = [
        {"id": 0, "api_name": "controls", "inputs": [], "outputs": [1], "cancels": []},
        {"id": 1, "api_name": "process", "inputs": in_ids, "outputs": out_ids, "cancels": []},
        {"id": 2, "api_name": "cancel", "inputs": [], "outputs": [], "cancels": [1]},
    ]
    for d in deps:
        d.update({"targets": [], "queue": True, "backend_fn": True, "show_api": True})
    return {
        "version": GRADIO_VERSION,
        "mode": "blocks",
        "protocol": "sse_v3",
        "api_prefix": "/gradio_api",
        "connect_heartbeat": False,
        "max_file_size": max_file_size,
        "components": comps,
        "dependencies": deps,
    }


def _param(c: Control) -> dict[str, Any]:
    _, component, ptype = _COMPONENT[c.harp["type"]]
    out: dict[str, Any] = {
        "label": c.harp["label"],
        "parameter_name": c.key,
        "parameter_has_default": c.key != "audio",
        "type": _FILE_SCHEMA if c.key == "audio" else {},
        "python_type": {"type": ptype, "description": c.harp.get("info", "")},
        "component": component,
    }
    if c.key != "audio":
        out["parameter_default"] = c.default
    return out


def _returns(o: dict[str, Any]) -> dict[str, Any]:
    _, component, ptype = _COMPONENT[o["type"]]
    return {
        "label": o["label"],
        "type": {},
        "python_type": {"type": ptype, "description": o.get("info", "")},
        "component": component,
    }


def api_info(controls: Sequence[Control], outputs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """``/gradio_api/info``: the named endpoints /controls, /process and /cancel."""
    controls_out = {"label": "Controls Data", "type": {}, "component": "Json"}
    controls_out["python_type"] = {"type": "Dict(str, Any)", "description": ""}
    return {
        "named_endpoints": {
            "/controls": {"parameters": [], "returns": [controls_out]},
            "/process": {
                "parameters": [_param(c) for c in controls],
                "returns": [_returns(o) for o in outputs],
            },
            "/cancel": {"parameters": [], "returns": []},
        },
        "unnamed_endpoints": {},
    }
