"""Load a ``model.pt2`` without ever unpickling or evaluating untrusted content.

``torch.export.load`` is unsafe on a stranger's file in four ways (torch 2.13 source,
``torch/export/pt2_archive/_package.py`` and ``torch/_export/serde/serialize.py``):

1. pickled weights/constants and the sample inputs go through ``torch.load(...,
   weights_only=False)`` (the sample inputs after a weights-only attempt fails), custom
   objects through ``pickle.loads``;
2. symbolic shape expressions (``expr_str``) go through ``sympy.sympify``, which ``eval``s;
3. ``guards_code`` strings are pasted into Python source and ``exec``'d by ``.module()``;
4. node targets are resolved by ``getattr`` on ``torch``/``math``/``operator``, so a graph
   may call ``torch.save`` or ``torch.os.system``; AOTInductor members are native code.

This loader reads the archive with torch's own reader, refuses members it does not know
(AOTInductor, legacy layouts, custom/opaque objects), loads every pickle with
``torch.load(weights_only=True)`` after a static scan, accepts only expression strings
built from sympy names and literals, guards that parse to a small expression AST, and
node targets on the operator allow-list; then hands the already-loaded parts to torch's
deserialiser (which then has nothing left to unpickle) and checks the loaded graph again.
"""

from __future__ import annotations

import ast
import io
import json
import os
import re
import zipfile
from pathlib import Path
from typing import Any

from deepfx.errors import ModelLoadError, UnsafeModelError, first_line
from deepfx.runners._allowlist import PY_OPERATOR_TARGETS
from deepfx.runners._graphs import check_fx_graph, check_torch_op
from deepfx.runners._pickles import check_pickle

__all__ = ["load_pt2_safely"]

_KNOWN_FILES = {"archive_format", "archive_version", "byteorder", ".data/version"}
_SYMPY_NAMES = frozenset(
    """Symbol Integer Float Rational Mul Add Pow Mod Min Max Abs sqrt Eq Ne Ge Gt Le Lt
    GreaterThan LessThan StrictGreaterThan StrictLessThan Equality Unequality And Or Not
    True False oo zoo nan Piecewise ITE floor ceiling FloorDiv ModularIndexing Where
    PythonMod CleanDiv CeilToInt FloorToInt CeilDiv LShift RShift PowByNatural FloatPow
    FloatTrueDiv IntTrueDiv IsNonOverlappingAndDenseIndicator TruncToFloat TruncToInt
    RoundToInt RoundDecimal ToFloat Identity OpaqueUnaryFn_sqrt BitwiseFn_bitwise_and
    BitwiseFn_bitwise_or BitwiseFn_bitwise_xor Trunc Rational Half One Zero NegativeOne
    positive negative integer real nonnegative nonpositive finite zero nonzero even odd
    rational commutative""".split()
)
_TOKEN = re.compile(
    r"\s+|[A-Za-z_][A-Za-z0-9_]*|\d+(?:\.\d+)?(?:e[+-]?\d+)?|'[A-Za-z0-9_]*'|[-+*/(),=<>!%&|~^]"
)
_GUARD_NAMES = frozenset(
    """L min max abs math Eq Ne Ge Gt Le Lt Min Max Mod PythonMod FloorDiv TrueDiv
    IntTrueDiv FloatTrueDiv PowByNatural FloatPow CeilToInt FloorToInt TruncToInt
    RoundToInt RoundDecimal ToFloat Abs floor ceiling IsNonOverlappingAndDenseIndicator
    cast_symbool_to_symint_guardless OpaqueUnaryFn_sqrt True False""".split()
)
_GUARD_ATTRS = frozenset(
    {"size", "stride", "storage_offset", "dim", "numel", "floor", "ceil", "trunc", "sqrt"}
)
_GUARD_NODES = (
    ast.Expression, ast.Compare, ast.BoolOp, ast.BinOp, ast.UnaryOp, ast.Constant, ast.Name,
    ast.Subscript, ast.Call, ast.Attribute, ast.Load, ast.Tuple, ast.operator, ast.unaryop,
    ast.boolop, ast.cmpop,
)  # fmt: skip
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _refuse(path: Path, what: str, cause: str) -> UnsafeModelError:
    return UnsafeModelError(path, what, cause)


def _check_expr(expr: str, path: Path) -> None:
    """A sympy expression string may only call sympy names on literals (no attributes)."""
    if len(expr) > 20_000:
        raise _refuse(path, "expr_str", "a symbolic shape expression is implausibly long")
    pos = 0
    while pos < len(expr):
        m = _TOKEN.match(expr, pos)
        if m is None:
            raise _refuse(
                path, "expr_str", f"symbolic shape expression has {expr[pos : pos + 20]!r}"
            )
        tok = m.group()
        if _IDENT.fullmatch(tok) and tok not in _SYMPY_NAMES:
            raise _refuse(
                path, tok[:80], f"symbolic shape expression names {tok[:80]!r} (not sympy)"
            )
        pos = m.end()


def _check_guard(code: str, path: Path) -> None:
    """A guard must be a small expression over input sizes: no attribute except sizes,
    no names but sympy's, string constants only as identifiers (it is pasted into code)."""
    if len(code) > 20_000 or "\n" in code or '"' in code or "\\" in code:
        raise _refuse(path, "guards_code", "a shape guard is not a plain expression")
    try:
        tree = ast.parse(code, mode="eval")
    except (SyntaxError, ValueError, RecursionError):
        raise _refuse(path, "guards_code", "a shape guard does not parse") from None
    for node in ast.walk(tree):
        if not isinstance(node, _GUARD_NODES):
            raise _refuse(
                path, type(node).__name__, f"a shape guard uses {type(node).__name__} syntax"
            )
        if isinstance(node, ast.Name) and node.id not in _GUARD_NAMES:
            raise _refuse(path, node.id[:80], f"a shape guard names {node.id[:80]!r}")
        if isinstance(node, ast.Attribute) and node.attr not in _GUARD_ATTRS:
            raise _refuse(path, node.attr[:80], f"a shape guard reads .{node.attr[:80]}")
        if isinstance(node, ast.Constant):
            v = node.value
            if isinstance(v, str) and not _IDENT.fullmatch(v):
                raise _refuse(path, "guards_code", "a shape guard holds a string constant")
            if not isinstance(v, (int, float, str, bool)) and v is not None:
                raise _refuse(path, "guards_code", "a shape guard holds an odd constant")


def _target_name(target: str) -> str | None:
    """``torch.ops.aten.conv1d.default`` -> ``aten::conv1d``; other strings -> None."""
    parts = target.split(".")
    if len(parts) >= 4 and parts[0] == "torch" and parts[1] == "ops":
        return f"{parts[2]}::{parts[3]}"
    return None


def _check_program_json(obj: Any, path: Path) -> None:
    """Walk the serialized program: node targets, expression strings, no subgraphs."""
    stack = [obj]
    while stack:
        cur = stack.pop()
        if isinstance(cur, dict):
            if "as_graph" in cur:
                raise _refuse(
                    path,
                    "as_graph",
                    "the program has a nested graph (control flow operators are not supported)",
                )
            target = cur.get("target")
            meta = cur.get("metadata")
            if isinstance(meta, dict):
                # free text only ever printed into generated code (verbose mode): dropped
                meta.pop("stack_trace", None)
                meta.pop("custom", None)
            if isinstance(target, str) and "inputs" in cur:
                name = _target_name(target)
                if name is not None:
                    check_torch_op(name, path)
                elif target not in PY_OPERATOR_TARGETS:
                    raise _refuse(
                        path, target[:80], f"the graph calls {target[:80]!r}, not an operator"
                    )
            expr = cur.get("expr_str")
            if isinstance(expr, str):
                _check_expr(expr, path)
            stack.extend(cur.values())
        elif isinstance(cur, list):
            stack.extend(cur)


def _member_names(path: Path) -> list[str]:
    """Member names under the archive's one top folder; unknown or native members refused."""
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
    if len(names) != len(set(names)):
        raise _refuse(path, "zip", "the archive holds two members with the same name")
    tops = {n.split("/", 1)[0] for n in names}
    if len(tops) != 1 or any("/" not in n for n in names):
        raise _refuse(path, "zip", "not a torch.export archive (members outside one folder)")
    rel = [n.split("/", 1)[1] for n in names if not n.endswith("/")]
    if "archive_version" not in rel or not any(n.startswith("models/") for n in rel):
        raise ModelLoadError(
            path,
            "not a loadable torch.export program (the archive holds no program; "
            "export one with `deepfx export --format pt2`)",
        )
    for name in rel:
        ok = (
            name in _KNOWN_FILES
            or name.startswith((".data/", "extra/"))
            or re.fullmatch(r"models/[A-Za-z0-9_]+\.json", name)
            or re.fullmatch(r"data/(weights|constants)/[A-Za-z0-9_.\-]+", name)
            or re.fullmatch(r"data/sample_inputs/[A-Za-z0-9_]+\.pt", name)
        )
        if name.startswith("data/aotinductor/") or name.endswith((".so", ".dll", ".dylib")):
            raise _refuse(path, name[:80], "it holds AOTInductor native code")
        if not ok:
            raise _refuse(path, name[:80], f"unexpected archive member {name[:80]!r}")
    return rel


def _load_pickle(torch: Any, data: bytes, path: Path, member: str) -> Any:
    check_pickle(data, path, member)
    try:
        return torch.load(io.BytesIO(data), weights_only=True, map_location="cpu")
    except Exception as exc:  # noqa: BLE001 - torch's UnpicklingError and friends
        first = first_line(exc)
        raise _refuse(path, member, f"{member} is not plain tensor data ({first[:120]})") from None


def _payloads(torch: Any, reader: Any, config_file: str, base: str, path: Path) -> dict[str, Any]:
    """Weights or constants: raw tensor files as torch reads them, pickled ones safely."""
    from torch.export.pt2_archive import _package as pkg

    config = pkg._load_payload_config(reader, config_file)
    file_map = pkg._build_file_map(reader, config, base)
    out: dict[str, Any] = {}
    for fqn, meta in config.config.items():
        name = meta.path_name
        if name.startswith((pkg.CUSTOM_OBJ_FILENAME_PREFIX, pkg.OPAQUE_OBJ_FILENAME_PREFIX)):
            raise _refuse(path, name[:80], "it holds a pickled custom object (can run code)")
        if "/" in name or name.startswith("."):
            raise _refuse(path, name[:80], f"payload name {name[:80]!r} is not a plain name")
        if meta.use_pickle:
            out[fqn] = _load_pickle(torch, reader.read_bytes(base + name), path, base + name)
            continue
        tm = meta.tensor_meta
        if tm is None:
            raise _refuse(path, fqn[:80], "a tensor payload has no metadata")
        tensor = torch.as_strided(
            input=file_map[name],
            size=pkg.deserialize_size(tm.sizes),
            stride=pkg.deserialize_stride(tm.strides),
            storage_offset=pkg.deserialize_storage_offset(tm.storage_offset),
        )
        if getattr(meta, "is_param", False):
            tensor = torch.nn.Parameter(tensor, requires_grad=tm.requires_grad)
        out[fqn] = tensor
    return out


def load_pt2_safely(torch: Any, path: Path) -> Any:
    """The ExportedProgram named ``model`` in ``path``, loaded without untrusted pickle or
    eval; raises :class:`UnsafeModelError` naming what it refused."""
    from torch._export.serde import schema
    from torch._export.serde.serialize import ExportedProgramDeserializer, _dict_to_dataclass
    from torch.export.pt2_archive import _package as pkg

    rel = _member_names(path)
    models = [n for n in rel if n.startswith("models/")]
    if models != ["models/model.json"]:
        raise _refuse(path, "models", "a deepfx .pt2 holds exactly one program named 'model'")
    if any(n in rel for n in ("data/weights/model.pt", "data/constants/model.pt")):
        raise _refuse(path, "legacy", "legacy pickled weights (re-export with this torch)")
    with pkg.PT2ArchiveReader(os.fspath(path)) as reader:
        version = reader.read_string(pkg.ARCHIVE_VERSION_PATH)
        if version != pkg.ARCHIVE_VERSION_VALUE:
            raise _refuse(path, "archive_version", f"archive version {version[:20]!r} unknown")
        program = json.loads(reader.read_string("models/model.json"))
        if not isinstance(program, dict):
            raise _refuse(path, "models/model.json", "the program is not a JSON object")
        _check_program_json(program, path)
        for guard in program.get("guards_code") or []:
            if not isinstance(guard, str):
                raise _refuse(path, "guards_code", "a shape guard is not a string")
            _check_guard(guard, path)
        state = _payloads(
            torch, reader, pkg.WEIGHTS_CONFIG_FILENAME_FORMAT.format("model"), pkg.WEIGHTS_DIR, path
        )
        consts = _payloads(
            torch,
            reader,
            pkg.CONSTANTS_CONFIG_FILENAME_FORMAT.format("model"),
            pkg.CONSTANTS_DIR,
            path,
        )
        sample_name = pkg.SAMPLE_INPUTS_FILENAME_FORMAT.format("model")
        example = _load_pickle(torch, reader.read_bytes(sample_name), path, sample_name)
    if not isinstance(example, tuple):
        raise _refuse(path, sample_name, "the sample inputs are not a tuple")
    serialized = _dict_to_dataclass(schema.ExportedProgram, program)
    ep = ExportedProgramDeserializer(None).deserialize(serialized, state, consts, example)
    check_fx_graph(ep.graph_module, path)
    return ep
