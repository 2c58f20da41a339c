"""Inspect a network's graph before it runs: every operator must be on the allow-list.

* TorchScript: before ``torch.jit.load`` the archive is read as data (its pickles with
  :func:`deepfx.runners._pickles.check_pickle`; a ``__setstate__`` method, which loading
  would *run*, is refused). After loading, every method of every submodule is inlined on a
  copy of its graph (so nothing hides in a called method or function) and every node of
  every nested block is checked.
* torch.export: see :mod:`deepfx.runners._pt2` (checked before deserialising) and
  :func:`check_fx_graph` (checked again on the loaded graph).
* ONNX: every node of the graph, its subgraphs (If/Loop/Scan bodies) and local functions
  must be in a standard domain; external data must be plain files inside the model folder.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import Any

from deepfx.errors import ModelLoadError, UnsafeModelError, first_line
from deepfx.runners._allowlist import ONNX_DOMAINS, PY_OPERATOR_TARGETS, torch_op_allowed
from deepfx.runners._pickles import check_pickle

__all__ = [
    "check_fx_graph",
    "check_onnx",
    "check_torch_op",
    "check_torchscript_archive",
    "check_torchscript_module",
    "torchscript_ops",
]


def check_torch_op(qualified: str, path: Path) -> None:
    """Refuse one operator (``aten::from_file``) that is not allowed, naming it."""
    ok, why = torch_op_allowed(qualified)
    if not ok:
        raise UnsafeModelError(path, qualified, f"the graph uses operator {qualified} ({why})")


# --- TorchScript -------------------------------------------------------------------------


def check_torchscript_archive(zf: zipfile.ZipFile, path: Path) -> None:
    """Checks on the archive as data, before torch loads (and so unpickles) anything."""
    names = zf.namelist()
    if len(names) != len(set(names)):
        raise UnsafeModelError(path, "zip", "the archive holds two members with the same name")
    for info in zf.infolist():
        name = info.filename
        if name.endswith(".pkl"):
            check_pickle(zf.read(info), path, name)
        elif "/code/" in name and name.endswith(".py"):
            text = zf.read(info).decode("utf-8", "replace")
            if "def __setstate__" in text:
                raise UnsafeModelError(
                    path,
                    "__setstate__",
                    "a TorchScript __setstate__ method (it would run while loading, before "
                    "its operators can be checked)",
                )


def _walk_block(block: Any, seen: set[str], calls: set[tuple[str, str]]) -> bool:
    """Collect node kinds (and module method calls); True if a call needs inlining."""
    needs_inline = False
    for node in block.nodes():
        kind = node.kind()
        if kind == "prim::CallMethod":
            calls.add((node.inputsAt(0).type().qualified_name(), node.s("name")))
        elif kind == "prim::CallFunction":
            needs_inline = True
        else:
            seen.add(kind)
        for sub in node.blocks():
            needs_inline |= _walk_block(sub, seen, calls)
    return needs_inline


def torchscript_ops(module: Any) -> set[str]:
    """Every operator any method of any submodule can reach.

    Each (module type, method) graph is walked once, nested blocks included. A call to a
    method of a submodule is covered because every method of every submodule is walked
    (checked below: a call to anything else counts as unresolved); a graph that calls a
    function, or a method the walk did not cover, is inlined on a copy
    (``torch._C._jit_pass_inline``) and walked again, so nothing can hide in a callee.
    A call still left after inlining is reported as ``prim::CallFunction`` /
    ``prim::CallMethod`` (not allowed).
    """
    import torch

    seen: set[str] = set()
    done: set[tuple[str, str]] = set()
    graphs: list[tuple[Any, set[tuple[str, str]], bool]] = []
    for sub in [module, *module.modules()]:
        c = sub._c
        type_name = c._type().qualified_name()
        for name in c._method_names():
            if (type_name, name) in done:
                continue
            done.add((type_name, name))
            graph = c._get_method(name).graph
            calls: set[tuple[str, str]] = set()
            graphs.append((graph, calls, _walk_block(graph.block(), seen, calls)))
    for graph, calls, needs_inline in graphs:
        if needs_inline or not calls <= done:
            inlined = graph.copy()
            torch._C._jit_pass_inline(inlined)
            left: set[tuple[str, str]] = set()
            if _walk_block(inlined.block(), seen, left):
                seen.add("prim::CallFunction")
            if left:
                seen.add("prim::CallMethod")
    return seen


def check_torchscript_module(module: Any, path: Path) -> set[str]:
    """Refuse a loaded TorchScript module using any operator off the allow-list; return
    the operators it uses (the thread policy reads them)."""
    ops = torchscript_ops(module)
    for kind in sorted(ops):
        check_torch_op(kind, path)
    return ops


# --- torch.export (FX) ---------------------------------------------------------------------


def _fx_target_name(target: Any) -> str | None:
    """``aten::conv1d`` for an OpOverload / OpOverloadPacket, else None."""
    import torch

    if isinstance(target, (torch._ops.OpOverload, torch._ops.OpOverloadPacket)):
        schema: Any = getattr(target, "_schema", None)
        name = str(schema.name) if schema is not None else ""
        return name if "::" in name else f"{target.namespace}::{name or '?'}"
    return None


def check_fx_graph(graph_module: Any, path: Path) -> set[str]:
    """Every call in a torch.export graph (and in any submodule graph) is allowed; returns
    the operators it calls."""
    import math
    import operator

    import torch

    py_ok = {getattr(operator, t.split(".", 1)[1]) for t in PY_OPERATOR_TARGETS if t[0] == "_"}
    py_ok |= {getattr(math, t.split(".", 1)[1]) for t in PY_OPERATOR_TARGETS if t[0] == "m"}
    seen: set[str] = set()
    py_ok |= {
        getattr(torch, t.split(".", 1)[1])
        for t in PY_OPERATOR_TARGETS
        if t.startswith("torch.") and hasattr(torch, t.split(".", 1)[1])
    }
    for gm in graph_module.modules():
        graph = getattr(gm, "graph", None)
        if graph is None:
            continue
        for node in graph.nodes:
            if node.op in ("placeholder", "output", "get_attr"):
                continue
            if node.op != "call_function":
                raise UnsafeModelError(path, node.op, f"the graph has a {node.op} node")
            name = _fx_target_name(node.target)
            if name is not None:
                check_torch_op(name, path)
                seen.add(name)
            elif node.target not in py_ok:
                label = getattr(node.target, "__name__", None) or str(node.target)
                raise UnsafeModelError(
                    path, str(label)[:80], f"the graph calls {str(label)[:80]}, not an operator"
                )
    return seen


# --- ONNX ----------------------------------------------------------------------------------


def check_onnx(
    path: Path,
    *,
    extra_domains: frozenset[str] = frozenset(),
    declared_domains: frozenset[str] = frozenset(),
) -> set[str]:
    """Domains of every node (graph, subgraphs, functions) and external data locations;
    returns the op types the graph uses (the thread policy reads them). ``extra_domains``:
    onnxruntime's own fused-kernel domains, allowed only in a graph onnxruntime optimised
    itself from a checked file (:mod:`deepfx.runners.onnx`'s cache); ``declared_domains``:
    domains such a graph may declare in its opset imports without using them."""
    domains = ONNX_DOMAINS | extra_domains
    try:
        import onnx
    except ImportError:
        from deepfx.errors import BackendMissingError

        raise BackendMissingError(path, "onnx", "pip install onnx") from None
    try:
        model = onnx.ModelProto()
        model.ParseFromString(_without_weights(path))
    except Exception as exc:  # noqa: BLE001 - protobuf DecodeError and friends
        first = first_line(exc)
        raise ModelLoadError(path, f"corrupt or unsupported ONNX model ({first[:120]})") from None
    functions = {(f.domain, f.name): f for f in model.functions}
    for opset in model.opset_import:
        declared = domains | declared_domains
        if opset.domain not in declared and not any(d == opset.domain for d, _ in functions):
            raise UnsafeModelError(
                path, opset.domain, f"custom ONNX operator domain {opset.domain!r} is not allowed"
            )
    seen_fn: set[tuple[str, str]] = set()
    op_types: set[str] = set()

    def walk(graph: Any) -> None:
        for init in graph.initializer:
            _check_external(init, path)
        for sparse in getattr(graph, "sparse_initializer", []):
            _check_external(sparse.values, path)
        for node in graph.node:
            _check_node(node)

    def _check_node(node: Any) -> None:
        key = (node.domain, node.op_type)
        op_types.add(node.op_type)
        if key in functions:
            if key not in seen_fn:
                seen_fn.add(key)
                for inner in functions[key].node:
                    _check_node(inner)
        elif node.domain not in domains:
            raise UnsafeModelError(
                path,
                f"{node.domain}::{node.op_type}",
                f"the graph uses operator {node.op_type} from the custom ONNX domain "
                f"{node.domain!r} (only the standard domains are allowed)",
            )
        for attr in node.attribute:
            if attr.HasField("g"):
                walk(attr.g)
            for g in attr.graphs:
                walk(g)
            if attr.HasField("t"):
                _check_external(attr.t, path)
            if attr.HasField("sparse_tensor"):
                _check_external(attr.sparse_tensor.values, path)
            for t in attr.tensors:
                _check_external(t, path)

    walk(model.graph)
    return op_types


# Field numbers of onnx.proto3 that :func:`_without_weights` walks.
_MODEL_GRAPH = 7  # ModelProto.graph
_GRAPH_INITIALIZER = 5  # GraphProto.initializer (TensorProto)
#: TensorProto's payload fields (float_data, int32_data, string_data, int64_data,
#: raw_data, double_data, uint64_data): the checks read none of them.
_TENSOR_PAYLOAD = frozenset({4, 5, 6, 7, 9, 10, 11})


def _without_weights(path: Path) -> bytes:
    """The ONNX file's bytes with the main graph's initializer *values* left out.

    The checks read nodes, opset imports, functions and where external data lives, never
    the weights; parsing a 1 GB network whole (its bytes, then the parsed copy) made a
    2.7 GB peak before onnxruntime had read anything. The file is walked through a
    memory map at the protobuf wire level: every field is copied as it is except the
    payload fields of tensors (initializers and ``Constant`` values, in the main graph
    and its subgraphs; dims, type, name, ``data_location`` and ``external_data`` stay, so
    external data is still checked). Anything the walk does
    not understand raises, and the caller reports a corrupt model.
    """
    import mmap

    with open(path, "rb") as f:
        if os.fstat(f.fileno()).st_size == 0:
            return b""
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            view = memoryview(mm)
            try:
                return bytes(_filter(view, 0, len(view), "model"))
            finally:
                view.release()


def _varint(buf: memoryview, i: int, end: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        if i >= end or shift > 63:
            raise ValueError("truncated or overlong varint")
        b = buf[i]
        i += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, i
        shift += 7


def _encode_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        b = value & 0x7F
        value >>= 7
        if value:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _filter(buf: memoryview, i: int, end: int, level: str) -> bytearray:
    """Copy the message ``buf[i:end]`` (a ``level``: model, graph or tensor), filtering
    the one length-delimited field of each level that leads to the weights and dropping
    a tensor's payload fields whatever their wire type."""
    out = bytearray()
    while i < end:
        start = i
        key, i = _varint(buf, i, end)
        field, wire = key >> 3, key & 7
        if wire == 0:
            _, i = _varint(buf, i, end)
        elif wire == 1:
            i += 8
        elif wire == 5:
            i += 4
        elif wire == 2:
            length, j = _varint(buf, i, end)
            i = j + length
            if i <= end and level != "tensor":
                inner = _INNER.get((level, field))
                if inner is not None:
                    body = _filter(buf, j, i, inner)
                    out += _encode_varint(key) + _encode_varint(len(body)) + body
                    continue
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        if i > end:
            raise ValueError("a field runs past the end of its message")
        if not (level == "tensor" and field in _TENSOR_PAYLOAD):
            out += buf[start:i]
    return out


#: Which length-delimited field of a level holds the next level down (onnx.proto3:
#: ModelProto.graph 7; GraphProto.node 1, initializer 5; NodeProto.attribute 5;
#: AttributeProto.t 5, g 6, tensors 10, graphs 11). A torch export keeps an LSTM's
#: weights in ``Constant`` nodes, not initializers: both are stripped, in subgraphs too.
_INNER = {
    ("model", _MODEL_GRAPH): "graph",
    ("graph", 1): "node",
    ("graph", _GRAPH_INITIALIZER): "tensor",
    ("node", 5): "attribute",
    ("attribute", 5): "tensor",
    ("attribute", 6): "graph",
    ("attribute", 10): "tensor",
    ("attribute", 11): "graph",
}


def _check_external(tensor: Any, path: Path) -> None:
    """External data: a relative plain file that resolves inside the model's folder."""
    if tensor.data_location != 1:  # onnx.TensorProto.EXTERNAL
        return
    entries = {e.key: e.value for e in tensor.external_data}
    location = entries.get("location", "")
    folder = path.parent.resolve()
    if not location or os.path.isabs(location) or "\\" in location or ":" in location:
        raise UnsafeModelError(
            path,
            location[:80],
            f"external data location {location[:80]!r} is not a plain relative file name",
        )
    if ".." in Path(location).parts:
        raise UnsafeModelError(
            path, location[:80], f"external data location {location[:80]!r} leaves the folder"
        )
    target = folder / location
    real = target.resolve()
    if folder not in real.parents:
        raise UnsafeModelError(
            path,
            location[:80],
            f"external data {location[:80]!r} resolves outside the model folder (a link?)",
        )
    if target.is_symlink() or not real.is_file():
        raise UnsafeModelError(
            path,
            location[:80],
            f"external data {location[:80]!r} is not a plain file in the model folder",
        )
