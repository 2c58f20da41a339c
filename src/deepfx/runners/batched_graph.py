"""Cut a one-chunk ONNX network into one that takes a batch of chunks.

Why: a recurrent network's weights are read from memory once per time step, whatever the
batch size. On Demucs v2 the bottleneck LSTM streams four 67 MB matrices per step and is
bound by memory bandwidth: two 4 s chunks through it at once cost about 0.26 s per second
of audio where one 8 s chunk costs 0.34 s, at the same peak memory (docs/engine.md).

A network derived from a contributor's wrapper takes one ``(channels, samples)`` chunk.
Inside, the wrapper adds a batch axis of one for the network (``x.unsqueeze(0)``, an
``Unsqueeze`` on axis 0) and takes it off again (``y[0]`` or ``y.squeeze(0)``, a
``Gather``/``Squeeze`` on axis 0). Between the two ("the core") the network usually works
for any batch size already. :func:`batch_graph` finds that pair, checks that nothing but
the core's input goes into it and nothing but its output comes out, and writes a graph
whose input is ``(batch, channels, samples)``: the wrapper's own steps before and after the
core run once per chunk (ONNX ``Scan``), the core once for the whole batch. That the core
really is batch-agnostic is not assumed here: :mod:`deepfx.optimize` keeps the result only
if it gives the original's output, chunk by chunk, on a batch of different chunks.

The written graph carries ``deepfx.batched = chunks`` in its metadata; the ONNX runner
then also accepts a single chunk (as a batch of one).
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

__all__ = ["BATCHED_KEY", "BATCHED_VALUE", "CHUNKS_PER_CALL", "batch_graph"]

#: Metadata key (and value) marking a graph written by :func:`batch_graph`.
BATCHED_KEY = "deepfx.batched"
BATCHED_VALUE = "chunks"
#: Chunks per call of a batched graph: the engine runs chunks half the card's window
#: long, two at a time, so the audio in flight (and the peak memory) stays what the card
#: asks (:func:`deepfx.engine.options.plan`).
CHUNKS_PER_CALL = 2
_TWO_GB = 2**31 - 1


class _Refused(Exception):
    """The graph does not have the shape this cut needs (the message says why)."""


def batch_graph(source: Path, target: Path) -> str | None:
    """Write ``source``'s batched version to ``target``; ``None``, or why it was not cut."""
    import onnx

    try:
        model = onnx.load(str(source))
        batched = _cut(model)
    except _Refused as why:
        return str(why)
    if batched.ByteSize() > _TWO_GB:
        return "the batched graph would exceed protobuf's 2 GB"
    onnx.save(batched, str(target))
    return None


# --- the cut ---------------------------------------------------------------------------------


def _cut(model: Any) -> Any:
    """``model`` (changed in place) with its batched graph, or :class:`_Refused`."""
    from onnx import NodeProto, TensorProto, helper

    g = model.graph
    if len(g.input) != 1:
        raise _Refused("the network takes more than one input")
    x = g.input[0].name
    x_type = g.input[0].type.tensor_type
    if len(x_type.shape.dim) != 2:
        raise _Refused("the network's input is not (channels, samples)")
    opset = max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=0)
    if opset < 13:
        raise _Refused(f"opset {opset} (the cut writes opset 13's Squeeze/Unsqueeze)")
    nodes = list(g.node)
    for n in nodes:
        if any(a.HasField("g") or len(a.graphs) for a in n.attribute):
            raise _Refused(f"the graph has subgraphs ({n.op_type}), which this cut leaves alone")
    producer = {out: i for i, n in enumerate(nodes) for out in n.output if out}
    consumers: dict[str, list[int]] = defaultdict(list)
    for i, n in enumerate(nodes):
        for name in n.input:
            if name:
                consumers[name].append(i)
    static = _static_values(g, nodes)
    consts = _constant_values(g, nodes)

    unsqueeze = _first_batch_axis(nodes, static, consts)
    u = nodes[unsqueeze].output[0]
    below = _descendants([u], nodes, consumers)  # nodes that depend on the core's input
    core, take = _core_and_take(nodes, below, producer, consumers, consts)
    v = nodes[take].input[0]  # the core's output, batch axis first

    # every input of a core node: the core's input, another core node, or a constant
    for i in core:
        for name in nodes[i].input:
            if name and name != u and name not in static and producer.get(name) not in core:
                raise _Refused(f"the core also reads {name!r}, a value of one chunk")
    outputs = [o.name for o in g.output]
    for name in outputs:
        if producer.get(name) in core:
            raise _Refused("a network output comes from inside the batched core")

    prefix = _needed([u], nodes, producer, static, stop={x})
    suffix = _needed(outputs, nodes, producer, static, stop={x, v})
    if set(suffix) & core:
        raise _Refused("the wrapper's last steps read the core's values directly")

    float_type = TensorProto.FLOAT
    x_elem = x_type.elem_type or float_type
    pre_body = helper.make_graph(
        [_renamed(nodes[i], "pre/", static) for i in prefix],
        "deepfx_prefix",
        [helper.make_tensor_value_info("pre/" + x, x_elem, None)],
        [helper.make_tensor_value_info("pre/" + u, float_type, None)],
    )
    suf_body = helper.make_graph(
        [_renamed(nodes[i], "suf/", static) for i in suffix],
        "deepfx_suffix",
        [
            helper.make_tensor_value_info("suf/" + v, float_type, None),
            helper.make_tensor_value_info("suf/" + x, x_elem, None),
        ],
        [
            helper.make_tensor_value_info("suf/" + o.name, o.type.tensor_type.elem_type, None)
            for o in g.output
        ],
    )
    axis1 = "deepfx_batch/axis1"
    stacked_u, stacked_v = "deepfx_batch/" + u, "deepfx_batch/" + v
    new_nodes = [nodes[i] for i in range(len(nodes)) if _is_static(nodes[i], static)]
    new_nodes += [
        helper.make_node(
            "Constant",
            [],
            [axis1],
            value=helper.make_tensor(axis1 + "/value", TensorProto.INT64, [1], [1]),
        ),
        helper.make_node(
            "Scan", [x], [stacked_u], num_scan_inputs=1, body=pre_body, name="deepfx_prefix"
        ),
        # (batch, 1, ...) stacked from (1, ...) items: the wrapper's axis is the batch axis
        helper.make_node("Squeeze", [stacked_u, axis1], [u], name="deepfx_batch_in"),
    ]
    new_nodes += [nodes[i] for i in sorted(core)]
    new_nodes += [
        helper.make_node("Unsqueeze", [v, axis1], [stacked_v], name="deepfx_batch_out"),
        helper.make_node(
            "Scan",
            [stacked_v, x],
            outputs,
            num_scan_inputs=2,
            body=suf_body,
            name="deepfx_suffix",
        ),
    ]
    new_input = helper.make_tensor_value_info(
        x, x_elem, ["batch", *[d.dim_param or d.dim_value or None for d in x_type.shape.dim]]
    )
    new_outputs = []
    for o in g.output:
        dims = [d.dim_param or d.dim_value or None for d in o.type.tensor_type.shape.dim]
        new_outputs.append(
            helper.make_tensor_value_info(o.name, o.type.tensor_type.elem_type, ["batch", *dims])
        )
    # edited in place: the weights (a gigabyte for Demucs v2) are never copied
    copies = []
    for n in new_nodes:
        c = NodeProto()
        c.CopyFrom(n)
        copies.append(c)
    del g.node[:]
    g.node.extend(copies)
    del g.input[:]
    g.input.append(new_input)
    del g.output[:]
    g.output.extend(new_outputs)
    del g.value_info[:]  # shapes inferred for one chunk; onnxruntime infers them again
    model.producer_name = "deepfx"
    kept = [(m.key, m.value) for m in model.metadata_props if m.key != BATCHED_KEY]
    del model.metadata_props[:]
    for key, value in kept:
        model.metadata_props.add(key=key, value=value)
    model.metadata_props.add(key=BATCHED_KEY, value=BATCHED_VALUE)
    return model


def _static_values(g: Any, nodes: list[Any]) -> set[str]:
    """Values that do not depend on the input: initializers, constants and what is
    computed from them alone (they stay in the outer graph, computed once)."""
    static = {t.name for t in g.initializer}
    for n in nodes:  # nodes are in topological order
        if all(not name or name in static for name in n.input):
            static.update(o for o in n.output if o)
    return static


def _is_static(node: Any, static: set[str]) -> bool:
    return all(not o or o in static for o in node.output)


def _constant_values(g: Any, nodes: list[Any]) -> dict[str, Any]:
    """Small constant tensors (``Constant`` nodes, initializers) as numpy arrays."""
    import numpy as np
    from onnx import numpy_helper

    def small(t: Any) -> bool:  # a scalar or a short vector: axes, indices
        return len(t.dims) <= 1 and (not t.dims or t.dims[0] <= 8)

    values: dict[str, Any] = {}
    for t in g.initializer:
        if small(t):
            values[t.name] = numpy_helper.to_array(t)
    for n in nodes:
        if n.op_type != "Constant" or not n.attribute:
            continue
        attr = n.attribute[0]
        if attr.name == "value":
            if small(attr.t):
                values[n.output[0]] = numpy_helper.to_array(attr.t)
        elif attr.name == "value_int":
            values[n.output[0]] = np.asarray(attr.i, dtype=np.int64)
        elif attr.name == "value_ints":
            values[n.output[0]] = np.asarray(list(attr.ints), dtype=np.int64)
    return values


def _axes(node: Any, consts: dict[str, Any]) -> list[int] | None:
    for a in node.attribute:
        if a.name == "axes":
            return list(a.ints)
    if len(node.input) > 1 and node.input[1] in consts:
        return [int(v) for v in consts[node.input[1]].reshape(-1)]
    return None


def _first_batch_axis(nodes: list[Any], static: set[str], consts: dict[str, Any]) -> int:
    for i, n in enumerate(nodes):
        if n.op_type == "Unsqueeze" and n.input[0] not in static and _axes(n, consts) == [0]:
            return i
    raise _Refused("the wrapper adds no batch axis (no unsqueeze(0) of the audio)")


def _removes_axis0(node: Any, consts: dict[str, Any]) -> bool:
    if node.op_type == "Squeeze":
        return _axes(node, consts) == [0]
    if node.op_type == "Gather":
        axis = next((a.i for a in node.attribute if a.name == "axis"), 0)
        index = consts.get(node.input[1]) if len(node.input) > 1 else None
        return axis == 0 and index is not None and index.shape == () and int(index) == 0
    return False


def _descendants(values: list[str], nodes: list[Any], consumers: dict[str, list[int]]) -> set[int]:
    """The nodes that depend on any of ``values``."""
    seen: set[int] = set()
    todo = [i for value in values for i in consumers.get(value, [])]
    while todo:
        i = todo.pop()
        if i in seen:
            continue
        seen.add(i)
        for o in nodes[i].output:
            todo.extend(consumers.get(o, []))
    return seen


def _ancestors_within(
    value: str, producer: dict[str, int], nodes: list[Any], within: set[int]
) -> set[int]:
    seen: set[int] = set()
    todo = [value]
    while todo:
        i = producer.get(todo.pop())
        if i is None or i in seen or i not in within:
            continue
        seen.add(i)
        todo.extend(name for name in nodes[i].input if name)
    return seen


def _core_and_take(
    nodes: list[Any],
    below: set[int],
    producer: dict[str, int],
    consumers: dict[str, list[int]],
    consts: dict[str, Any],
) -> tuple[set[int], int]:
    """The core (the nodes between the wrapper's unsqueeze(0) and its y[0]) and that
    y[0] node: every node that depends on the core's input is either in the core, the
    y[0] itself, or after it. Of the candidates, the one with the largest core: a
    ``squeeze(0)`` of a shape (the chunk's length, read early) also has everything
    after it, since every padding depends on the length, but its core is two nodes."""
    best: tuple[set[int], int] | None = None
    for take in sorted(below):
        if not _removes_axis0(nodes[take], consts):
            continue
        core = _ancestors_within(nodes[take].input[0], producer, nodes, below)
        after = _descendants(list(nodes[take].output), nodes, consumers)
        if core and below - core - {take} <= after:
            if best is None or len(core) > len(best[0]):
                best = (core, take)
    if best is None:
        raise _Refused("no y[0] / squeeze(0) takes the batch axis off the network's output")
    return best


def _needed(
    values: list[str],
    nodes: list[Any],
    producer: dict[str, int],
    static: set[str],
    stop: set[str],
) -> list[int]:
    """Non-static nodes needed to compute ``values`` from the ``stop`` values, in order."""
    seen: set[int] = set()
    todo = list(values)
    while todo:
        name = todo.pop()
        if name in stop or name in static:
            continue
        i = producer.get(name)
        if i is None:
            raise _Refused(f"{name!r} has no producer")
        if i in seen:
            continue
        seen.add(i)
        todo.extend(n for n in nodes[i].input if n)
    return sorted(seen)


def _renamed(node: Any, prefix: str, static: set[str]) -> Any:
    """A copy of ``node`` for a Scan body: its own values renamed, outer ones kept."""
    from onnx import NodeProto

    copy = NodeProto()
    copy.CopyFrom(node)
    del copy.input[:]
    copy.input.extend(
        name if (not name or name in static) else prefix + name for name in node.input
    )
    del copy.output[:]
    copy.output.extend(prefix + name if name else name for name in node.output)
    if copy.name:
        copy.name = prefix + copy.name
    return copy
