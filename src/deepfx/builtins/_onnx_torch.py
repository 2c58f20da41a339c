"""Run a small ONNX graph with torch operators, so it can be traced into TorchScript.

basic-pitch ships its network as ONNX (converted from TensorFlow). To embed it in one
TorchScript file together with windowing and note decoding, :class:`OnnxGraphModule`
executes the graph node by node with torch operators, holding every initializer as a
buffer, and :func:`trace_onnx` traces that execution for a fixed input shape. Only the
operators the built-in graphs use are implemented; anything else raises
:class:`deepfx.errors.ExportError` naming the operator, rather than computing something
wrong. The result is checked against onnxruntime by the tests.

Importing this module imports torch and onnx.
"""

from typing import Any

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from onnx import helper, numpy_helper

from deepfx.errors import ExportError

__all__ = ["OnnxGraphModule", "trace_onnx"]

_DTYPES = {1: torch.float32, 6: torch.int32, 7: torch.int64, 9: torch.bool, 11: torch.float64}


def _ints(t: torch.Tensor) -> list[int]:
    return [int(v) for v in t.reshape(-1).tolist()]


class OnnxGraphModule(torch.nn.Module):
    """Executes an ONNX graph (single input) eagerly with torch; returns its outputs in order."""

    def __init__(self, model: onnx.ModelProto) -> None:
        super().__init__()
        graph = model.graph
        self._names: dict[str, str] = {}
        for i, init in enumerate(graph.initializer):
            key = f"w{i}"
            arr = numpy_helper.to_array(init).copy()
            self.register_buffer(key, torch.from_numpy(np.ascontiguousarray(arr)))
            self._names[init.name] = key
        init_names = set(self._names)
        inputs = [i.name for i in graph.input if i.name not in init_names]
        if len(inputs) != 1:
            raise ExportError(f"expected an ONNX graph with one input, got {inputs}")
        self._input = inputs[0]
        self._outputs = [o.name for o in graph.output]
        self._nodes = [
            (
                n.op_type,
                list(n.input),
                list(n.output),
                {a.name: helper.get_attribute_value(a) for a in n.attribute},
            )
            for n in graph.node
        ]
        for op, *_ in self._nodes:
            if not hasattr(self, f"_op_{op}"):
                raise ExportError(f"the ONNX operator {op} is not supported by deepfx's converter")

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        env: dict[str, torch.Tensor] = {self._input: x}
        for name, key in self._names.items():
            env[name] = getattr(self, key)
        for op, ins, outs, attrs in self._nodes:
            args = [env[i] if i else None for i in ins]
            result = getattr(self, f"_op_{op}")(args, attrs)
            results = result if isinstance(result, tuple) else (result,)
            for name, value in zip(outs, results, strict=False):
                env[name] = value
        return tuple(env[o] for o in self._outputs)

    # --- operators (ONNX semantics, opset 13-15) -----------------------------------------

    def _op_Reshape(self, a: list[Any], at: dict[str, Any]) -> torch.Tensor:
        x, shape = a[0], _ints(a[1])
        shape = [x.shape[i] if s == 0 else s for i, s in enumerate(shape)]
        return x.reshape(shape)

    def _op_Slice(self, a: list[Any], at: dict[str, Any]) -> torch.Tensor:
        x = a[0]
        starts, ends = _ints(a[1]), _ints(a[2])
        axes = _ints(a[3]) if len(a) > 3 and a[3] is not None else list(range(len(starts)))
        steps = _ints(a[4]) if len(a) > 4 and a[4] is not None else [1] * len(starts)
        idx: list[Any] = [slice(None)] * x.dim()
        for s, e, ax, st in zip(starts, ends, axes, steps, strict=True):
            if st <= 0:
                raise ExportError("Slice with a non-positive step is not supported")
            n = x.shape[ax]
            s = max(0, min(n, s + n if s < 0 else s))
            e = max(0, min(n, e + n if e < 0 else e))
            idx[ax] = slice(s, e, st)
        return x[tuple(idx)]

    def _op_Pad(self, a: list[Any], at: dict[str, Any]) -> torch.Tensor:
        x, pads = a[0], _ints(a[1])
        mode = at.get("mode", b"constant")
        mode = mode.decode() if isinstance(mode, bytes) else mode
        value = float(a[2].reshape(-1)[0]) if len(a) > 2 and a[2] is not None else 0.0
        r = x.dim()
        for ax in range(r):
            before, after = pads[ax], pads[ax + r]
            if before == 0 and after == 0:
                continue
            if before < 0 or after < 0:
                raise ExportError("Pad with negative pads is not supported")
            n = x.shape[ax]
            if mode == "constant":
                widths = [0] * (2 * (r - 1 - ax)) + [before, after]
                x = F.pad(x, widths, value=value)
            elif mode == "reflect":
                parts = []
                if before:
                    parts.append(x.narrow(ax, 1, before).flip(ax))
                parts.append(x)
                if after:
                    parts.append(x.narrow(ax, n - 1 - after, after).flip(ax))
                x = torch.cat(parts, ax)
            else:
                raise ExportError(f"Pad mode {mode!r} is not supported")
        return x

    def _op_Unsqueeze(self, a: list[Any], at: dict[str, Any]) -> torch.Tensor:
        x = a[0]
        axes = _ints(a[1]) if len(a) > 1 else list(at["axes"])
        rank = x.dim() + len(axes)
        for ax in sorted(v + rank if v < 0 else v for v in axes):
            x = x.unsqueeze(ax)
        return x

    def _op_Conv(self, a: list[Any], at: dict[str, Any]) -> torch.Tensor:
        x, w = a[0], a[1]
        b = a[2] if len(a) > 2 else None
        nd = w.dim() - 2
        if at.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
            raise ExportError("Conv with auto_pad is not supported")
        pads = list(at.get("pads", [0] * (2 * nd)))
        strides = list(at.get("strides", [1] * nd))
        dil = list(at.get("dilations", [1] * nd))
        group = int(at.get("group", 1))
        if any(pads):
            torch_pads: list[int] = []
            for d in reversed(range(nd)):
                torch_pads += [pads[d], pads[d + nd]]
            x = F.pad(x, torch_pads)
        if nd == 1:
            return F.conv1d(x, w, b, strides, 0, dil, group)
        if nd == 2:
            return F.conv2d(x, w, b, strides, 0, dil, group)
        raise ExportError(f"Conv with {nd} spatial dimensions is not supported")

    def _op_Transpose(self, a: list[Any], at: dict[str, Any]) -> torch.Tensor:
        perm = list(at.get("perm", reversed(range(a[0].dim()))))
        return a[0].permute(perm)

    def _op_Concat(self, a: list[Any], at: dict[str, Any]) -> torch.Tensor:
        return torch.cat(a, int(at["axis"]))

    def _reduce_axes(self, a: list[Any], at: dict[str, Any]) -> list[int] | None:
        if len(a) > 1 and a[1] is not None:
            return _ints(a[1])
        if "axes" in at:
            return list(at["axes"])
        return None

    def _op_ReduceSum(self, a: list[Any], at: dict[str, Any]) -> torch.Tensor:
        axes = self._reduce_axes(a, at)
        keep = bool(at.get("keepdims", 1))
        if not axes:
            if at.get("noop_with_empty_axes", 0):
                return a[0]
            return a[0].sum() if not keep else a[0].sum().reshape([1] * a[0].dim())
        return a[0].sum(dim=axes, keepdim=keep)

    def _op_ReduceMin(self, a: list[Any], at: dict[str, Any]) -> torch.Tensor:
        axes = self._reduce_axes(a, at) or list(range(a[0].dim()))
        return torch.amin(a[0], dim=axes, keepdim=bool(at.get("keepdims", 1)))

    def _op_ReduceMax(self, a: list[Any], at: dict[str, Any]) -> torch.Tensor:
        axes = self._reduce_axes(a, at) or list(range(a[0].dim()))
        return torch.amax(a[0], dim=axes, keepdim=bool(at.get("keepdims", 1)))

    def _op_Shape(self, a: list[Any], at: dict[str, Any]) -> torch.Tensor:
        return torch._shape_as_tensor(a[0])

    def _op_Cast(self, a: list[Any], at: dict[str, Any]) -> torch.Tensor:
        to = int(at["to"])
        if to not in _DTYPES:
            raise ExportError(f"Cast to ONNX type {to} is not supported")
        return a[0].to(_DTYPES[to])

    def _op_Neg(self, a: list[Any], at: dict[str, Any]) -> torch.Tensor:
        return -a[0]

    def _op_Mul(self, a: list[Any], at: dict[str, Any]) -> torch.Tensor:
        return a[0] * a[1]

    def _op_Add(self, a: list[Any], at: dict[str, Any]) -> torch.Tensor:
        return a[0] + a[1]

    def _op_Sub(self, a: list[Any], at: dict[str, Any]) -> torch.Tensor:
        return a[0] - a[1]

    def _op_Div(self, a: list[Any], at: dict[str, Any]) -> torch.Tensor:
        if not a[0].is_floating_point():
            return torch.div(a[0], a[1], rounding_mode="trunc")
        return a[0] / a[1]

    def _op_Sqrt(self, a: list[Any], at: dict[str, Any]) -> torch.Tensor:
        return torch.sqrt(a[0])

    def _op_Log(self, a: list[Any], at: dict[str, Any]) -> torch.Tensor:
        return torch.log(a[0])

    def _op_Relu(self, a: list[Any], at: dict[str, Any]) -> torch.Tensor:
        return torch.relu(a[0])

    def _op_Sigmoid(self, a: list[Any], at: dict[str, Any]) -> torch.Tensor:
        return torch.sigmoid(a[0])

    def _op_Equal(self, a: list[Any], at: dict[str, Any]) -> torch.Tensor:
        return torch.eq(a[0], a[1])

    def _op_Where(self, a: list[Any], at: dict[str, Any]) -> torch.Tensor:
        return torch.where(a[0], a[1], a[2])


def trace_onnx(path: str, example: torch.Tensor) -> torch.jit.ScriptModule:
    """Trace the ONNX graph at ``path`` for inputs shaped like ``example``."""
    import warnings

    module = OnnxGraphModule(onnx.load(path)).eval()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(module, (example,), check_trace=False)
    return traced
