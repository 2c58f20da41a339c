"""Make a TorchScript archive written by torch 2.x loadable by torch 1.9, or say why not.

There is no torch option to save for an older reader, so deepfx edits the archive
torch 2.x wrote. A TorchScript archive is a zip holding the module's code as text
(``code/**/*.py``, valid Python syntax), pickled constants and tensor data. torch 1.9
(the runtime inside the original Audacity host) fails on four things torch 2.x writes:

1. ``code/**/*.py.debug_pkl`` source-range files in a newer layout. torch 1.9 unpickles
   them lazily while building *any* error message and then aborts the whole process
   (SIGABRT): the host crashes instead of showing an error. They only serve error
   messages, so they are dropped.
2. ``raise`` in scripted code becomes ``ops.prim.RaiseException(msg, "builtins.X")``;
   torch 1.9's operator takes only the message. The class name is dropped (the message
   stays; it still starts with the exception's text).
3. ``F.pad`` becomes ``torch.pad``, which torch 1.9 lacks. The scripted ``F.pad`` wrapper
   is rewritten to the operators 1.9 has (``constant_pad_nd``, ``reflection_pad1d/2d``,
   ``replication_pad1d/2d/3d``), which compute the same.
4. The file version rises above 1.9's maximum (6) when an operator with an "upgrader" is
   used: ``gelu`` -> 10, ``logspace`` -> 9, ``linspace`` -> 8. Upgraders exist so that a
   *newer* reader re-interprets calls from *older* files; for these three operators the
   calls torch 2.x writes mean the same in both readers whenever they fit 1.9's
   signature (``gelu(x)`` without ``approximate``; ``linspace``/``logspace`` with explicit
   ``steps``), so the version is lowered to 6 then. Otherwise the operator is named.

Every remaining call is checked against torch 1.9's operator signatures (package data
``torch19_ops.txt``, generated in a real torch 1.9): an operator 1.9 does not have, or a
call that fits none of its overloads, is reported by name in :class:`LegacyAudit`.

This module imports no torch: ``deepfx publish`` can audit a folder without it.
"""

from __future__ import annotations

import ast
import io
import os
import struct
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import BinaryIO

__all__ = [
    "LEGACY_MAX_FILE_VERSION",
    "LegacyAudit",
    "audit_archive",
    "make_legacy_compatible",
    "upgrade_real_istft",
]

#: Highest TorchScript file format version torch 1.9 reads.
LEGACY_MAX_FILE_VERSION = 6

#: Operators whose upgraders raise the file version above 6, with that version. For these,
#: a call that fits torch 1.9's signature means the same in 1.9 and in 2.x.
_UPGRADED_ABOVE_LEGACY = {"aten::gelu": 10, "aten::logspace": 9, "aten::linspace": 8}

_ALIGN = 64  # torch's archive writer aligns every record's data to 64 bytes (mmap-able)


@dataclass
class LegacyAudit:
    """What :func:`audit_archive` / :func:`make_legacy_compatible` found.

    ``problems`` names each thing torch 1.9 cannot load or run (empty: it loads);
    ``changes`` lists what :func:`make_legacy_compatible` rewrote; ``version`` is the
    archive's file format version after the rewrite.
    """

    problems: list[str] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)
    version: int | None = None

    @property
    def ok(self) -> bool:
        """True when nothing found stops torch 1.9 from loading and running the file."""
        return not self.problems

    def summary(self) -> str:
        """One line: either that torch 1.9 loads it or what it needs."""
        if self.ok:
            return "loads in torch 1.9 (the original Audacity host)"
        shown = "; ".join(self.problems[:4])
        more = f" (+{len(self.problems) - 4} more)" if len(self.problems) > 4 else ""
        return f"needs deepfx: torch 1.9 cannot run it ({shown}{more})"


def audit_archive(path: str | os.PathLike[str]) -> LegacyAudit:
    """Check, without changing it, whether torch 1.9 can load and run ``path``."""
    members = _read_members(Path(path))
    audit = LegacyAudit()
    _audit_members(members, audit)
    return audit


def make_legacy_compatible(path: str | os.PathLike[str]) -> LegacyAudit:
    """Rewrite the TorchScript archive ``path`` in place (atomically) so torch 1.9 loads it.

    Returns the audit of the rewritten file; ``audit.ok`` False means the network uses
    something torch 1.9 cannot run (the problems name it), though the file is still
    rewritten (it stays valid for torch 2.x, and the rewrite never changes results).
    """
    path = Path(path)
    members = _read_members(path)
    audit = LegacyAudit()
    out: list[tuple[str, bytes]] = []
    dropped = 0
    for name, data in members:
        if name.endswith(".debug_pkl"):
            dropped += 1
            continue
        if _is_code(name):
            text, notes = _rewrite_code(name, data.decode("utf-8"))
            data = text.encode("utf-8")
            audit.changes.extend(notes)
        out.append((name, data))
    if dropped:
        audit.changes.append(f"dropped {dropped} debug source file(s) (*.debug_pkl)")
    _audit_members(out, audit)
    if audit.version is not None and audit.version > LEGACY_MAX_FILE_VERSION:
        if _version_lowerable(out, audit):
            out = [
                (n, f"{LEGACY_MAX_FILE_VERSION}\n".encode() if _is_version(n) else d)
                for n, d in out
            ]
            audit.changes.append(
                f"file version {audit.version} -> {LEGACY_MAX_FILE_VERSION} (the upgraded "
                "operators are called in the form that means the same in torch 1.9)"
            )
            audit.version = LEGACY_MAX_FILE_VERSION
            audit.problems = [p for p in audit.problems if not p.startswith("file version")]
    _write_members(path, out)
    return audit


# --- reading and writing the zip -------------------------------------------------------------


def _read_members(path: Path) -> list[tuple[str, bytes]]:
    from deepfx.errors import ExportError

    try:
        with zipfile.ZipFile(path) as zf:
            return [(info.filename, zf.read(info)) for info in zf.infolist()]
    except (OSError, zipfile.BadZipFile) as exc:
        raise ExportError(f"{path}: not a TorchScript archive ({exc})") from exc


def _write_members(path: Path, members: Iterable[tuple[str, bytes]]) -> None:
    """Write a stored (uncompressed) zip with every record's data 64-byte aligned, as
    torch's own writer does, atomically."""
    from deepfx._fs import atomic_path

    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        _write_zip(fh, members)


def _write_zip(fh: BinaryIO, members: Iterable[tuple[str, bytes]]) -> None:
    with zipfile.ZipFile(fh, "w") as zf:
        for name, data in members:
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_STORED
            header = 30 + len(name.encode("utf-8"))
            pad = (-(fh.tell() + header + 4)) % _ALIGN
            # extra field "FB" (torch's id) of `pad` bytes, so the data starts aligned
            info.extra = b"FB" + struct.pack("<H", pad) + b"Z" * pad
            zf.writestr(info, data)


def upgrade_real_istft(path: str | os.PathLike[str]) -> bytes | None:
    """The archive at ``path`` made runnable in torch 2.x if it was written for torch < 1.8
    STFT conventions, else None (nothing to change; nothing but its code is read).

    Before torch 1.8, ``torch.stft(..., return_complex=False)`` spectra were real
    ``(..., 2)`` tensors and ``torch.istft`` took them as such; torch 2.x's ``istft``
    accepts only complex input. Every ``torch.istft(spec, ...)`` call is rewritten to
    ``torch.istft(view_as_complex(spec) if spec is real else spec, ...)``: exactly the
    meaning the old ``istft`` gave a real ``(..., 2)`` tensor, and no change at all for a
    complex one. Returned as the bytes of the fixed archive (the file is not changed).
    Archives written by torch 2.x (they carry ``byteorder`` / ``.data/serialization_id``
    records) are left alone without reading them.
    """
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
            if any(n.endswith(("/byteorder", "/.data/serialization_id")) for n in names):
                # written by a torch 2.x, whose own istft refuses real input: nothing old
                return None
            code = [n for n in names if _is_code(n)]
            if not any(b"torch.istft(" in zf.read(n) for n in code):
                return None
    except (OSError, zipfile.BadZipFile):
        return None
    members = _read_members(path)
    changed = False
    out: list[tuple[str, bytes]] = []
    for name, data in members:
        if _is_code(name) and b"torch.istft(" in data:
            new = _wrap_istft(data.decode("utf-8"))
            if new is not None:
                data, changed = new.encode("utf-8"), True
        out.append((name, data))
    if not changed:
        return None
    buf = io.BytesIO()
    _write_zip(buf, out)
    return buf.getvalue()


def _wrap_istft(text: str) -> str | None:
    raw = text.encode("utf-8")
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return None
    pos = _Offsets(raw)
    edits: list[tuple[int, int, bytes]] = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and _dotted(node.func) == "torch.istft"
            and node.args
            and isinstance(node.args[0], ast.Name)
        ):
            arg = node.args[0]
            assert arg.end_lineno is not None
            start = pos.at(arg.lineno, arg.col_offset)
            end = pos.at(arg.end_lineno, arg.end_col_offset or 0)
            a = arg.id
            fixed = (
                f"torch.view_as_complex(torch.contiguous({a})) "
                f"if torch.__not__(torch.is_complex({a})) else {a}"
            )
            edits.append((start, end, fixed.encode("utf-8")))
    if not edits:
        return None
    for start, end, new in sorted(edits, reverse=True):
        raw = raw[:start] + new + raw[end:]
    return raw.decode("utf-8")


def _is_code(name: str) -> bool:
    parts = name.split("/")
    return len(parts) >= 3 and parts[1] == "code" and name.endswith(".py")


def _is_version(name: str) -> bool:
    parts = name.split("/")
    return (len(parts) == 2 and parts[1] == "version") or (
        len(parts) == 3 and parts[1:] == [".data", "version"]
    )


# --- rewriting the code ------------------------------------------------------------------------


def _dotted(node: ast.AST) -> str | None:
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


class _Offsets:
    """Byte offsets of (line, column) positions (ast columns count UTF-8 bytes)."""

    def __init__(self, raw: bytes) -> None:
        self.raw = raw
        self.starts = [0]
        for i, b in enumerate(raw):
            if b == 0x0A:
                self.starts.append(i + 1)

    def at(self, line: int, col: int) -> int:
        return self.starts[line - 1] + col


_LEGACY_PAD_BODY = """\
{i}if torch.eq({mode}, "constant"):
{i}  if torch.__is__({value}, None):
{i}    _legacy_out = torch.constant_pad_nd({x}, {pad}, 0.)
{i}  else:
{i}    _legacy_value = unchecked_cast(float, {value})
{i}    _legacy_out = torch.constant_pad_nd({x}, {pad}, _legacy_value)
{i}else:
{i}  _legacy_n = torch.len({pad})
{i}  if torch.eq({mode}, "reflect"):
{i}    if torch.eq(_legacy_n, 2):
{i}      _legacy_out = torch.reflection_pad1d({x}, {pad})
{i}    else:
{i}      _legacy_out = torch.reflection_pad2d({x}, {pad})
{i}  else:
{i}    if torch.eq({mode}, "replicate"):
{i}      if torch.eq(_legacy_n, 2):
{i}        _legacy_out = torch.replication_pad1d({x}, {pad})
{i}      else:
{i}        if torch.eq(_legacy_n, 4):
{i}          _legacy_out = torch.replication_pad2d({x}, {pad})
{i}        else:
{i}          _legacy_out = torch.replication_pad3d({x}, {pad})
{i}    else:
{i}      ops.prim.RaiseException("pad: this mode is not available in this export")
{i}      _legacy_out = uninitialized(Tensor)
{i}return _legacy_out
"""


def _rewrite_code(name: str, text: str) -> tuple[str, list[str]]:
    """The code file ``name`` with the 1.9-incompatible forms rewritten, and notes."""
    raw = text.encode("utf-8")
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return text, []  # not ours to judge: the audit reports what it can
    pos = _Offsets(raw)
    edits: list[tuple[int, int, bytes]] = []
    raises = 0
    pads = 0
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and _dotted(node.func) == "ops.prim.RaiseException":
            if len(node.args) == 2 and not node.keywords:
                a0, a1 = node.args
                assert a0.end_lineno is not None and a1.end_lineno is not None
                start = pos.at(a0.end_lineno, a0.end_col_offset or 0)
                end = pos.at(a1.end_lineno, a1.end_col_offset or 0)
                edits.append((start, end, b""))
                raises += 1
        elif (
            isinstance(node, ast.Return)
            and isinstance(node.value, ast.Call)
            and _dotted(node.value.func) == "torch.pad"
            and len(node.value.args) == 4
            and all(isinstance(a, ast.Name) for a in node.value.args)
            and not node.value.keywords
        ):
            x, pad, mode, value = (a.id for a in node.value.args)  # type: ignore[attr-defined]
            assert node.end_lineno is not None
            start = pos.at(node.lineno, 0)
            end = pos.at(node.end_lineno, node.end_col_offset or 0)
            indent = " " * node.col_offset
            body = _LEGACY_PAD_BODY.format(i=indent, x=x, pad=pad, mode=mode, value=value)
            edits.append((start, end, body.rstrip("\n").encode("utf-8")))
            pads += 1
        elif isinstance(node, ast.Call) and _dotted(node.func) == "torch.pad":
            edit = _pad_call_edits(node, pos)
            if edit:
                edits.extend(edit)
                pads += 1
    if not edits:
        return text, []
    for start, end, new in sorted(edits, reverse=True):
        raw = raw[:start] + new + raw[end:]
    notes = []
    short = name.split("/code/", 1)[-1]
    if raises:
        notes.append(f"{short}: {raises} raise(s) in torch 1.9's one-argument form")
    if pads:
        notes.append(f"{short}: F.pad through constant/reflection/replication padding")
    return raw.decode("utf-8"), notes


_PAD_OPS = {
    ("reflect", 2): "reflection_pad1d",
    ("reflect", 4): "reflection_pad2d",
    ("replicate", 2): "replication_pad1d",
    ("replicate", 4): "replication_pad2d",
    ("replicate", 6): "replication_pad3d",
}


def _pad_call_edits(call: ast.Call, pos: _Offsets) -> list[tuple[int, int, bytes]] | None:
    """Edits turning ``torch.pad(x, pad, "mode", value)`` (mode a constant) into the
    torch 1.9 operator that computes it; None when the call is not of that form.

    Only the callee name and the trailing arguments are edited, so nested calls inside
    ``x`` are rewritten independently."""
    args = call.args
    if call.keywords or not 2 <= len(args) <= 4:
        return None
    mode = "constant"
    if len(args) >= 3:
        if not (isinstance(args[2], ast.Constant) and isinstance(args[2].value, str)):
            return None
        mode = args[2].value
    func = call.func
    assert func.end_lineno is not None and args[1].end_lineno is not None
    name_span = (
        pos.at(func.lineno, func.col_offset),
        pos.at(func.end_lineno, func.end_col_offset or 0),
    )
    end1 = pos.at(args[1].end_lineno, args[1].end_col_offset or 0)
    last = args[-1]
    assert last.end_lineno is not None
    end_last = pos.at(last.end_lineno, last.end_col_offset or 0)
    if mode == "constant":
        value = args[3] if len(args) == 4 else None
        if value is None or (isinstance(value, ast.Constant) and value.value is None):
            tail = b", 0."
        else:
            assert value.end_lineno is not None
            start_v = pos.at(value.lineno, value.col_offset)
            end_v = pos.at(value.end_lineno, value.end_col_offset or 0)
            tail = b", " + pos.raw[start_v:end_v]
        return [(name_span[0], name_span[1], b"torch.constant_pad_nd"), (end1, end_last, tail)]
    if not isinstance(args[1], ast.List):
        return None
    op = _PAD_OPS.get((mode, len(args[1].elts)))
    if op is None:
        return None
    return [(name_span[0], name_span[1], f"torch.{op}".encode()), (end1, end_last, b"")]


# --- the audit -----------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _legacy_ops() -> dict[str, list[list[str]]]:
    """torch 1.9's operators: name -> overloads, each a list of parameter specs."""
    text = resources.files("deepfx.legacy").joinpath("torch19_ops.txt").read_text("utf-8")
    ops: dict[str, list[list[str]]] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name, _, params = line.partition(" ")
        ops.setdefault(name, []).append([p for p in params.split(",") if p])
    return ops


def _fits(params: list[str], n_pos: int, keywords: list[str]) -> bool:
    """Whether a call with ``n_pos`` positional args and ``keywords`` fits one overload."""
    positional: list[str] = []
    kwonly: list[str] = []
    vararg = False
    seen_star = False
    for p in params:
        if p == "*":
            seen_star = True
        elif p == "...":
            vararg = True
        elif seen_star:
            kwonly.append(p)
        else:
            positional.append(p)
    if n_pos > len(positional) and not vararg:
        return False
    names = {p.rstrip("=") for p in positional + kwonly}
    if any(k not in names for k in keywords):
        return False
    given = {p.rstrip("=") for p in positional[:n_pos]} | set(keywords)
    required = [p for p in positional + kwonly if not p.endswith("=")]
    return all(r in given for r in required)


def _op_of(func: ast.AST) -> str | None:
    dotted = _dotted(func)
    if dotted is None:
        return None
    parts = dotted.split(".")
    if len(parts) == 2 and parts[0] == "torch":
        return "aten::" + parts[1]
    if len(parts) == 3 and parts[0] == "ops":
        return f"{parts[1]}::{parts[2]}"
    return None


def _calls(members: Iterable[tuple[str, bytes]]) -> Iterable[tuple[str, ast.Call]]:
    for name, data in members:
        if not _is_code(name):
            continue
        try:
            tree = ast.parse(data.decode("utf-8"))
        except (SyntaxError, UnicodeDecodeError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                yield name, node


def _audit_members(members: list[tuple[str, bytes]], audit: LegacyAudit) -> None:
    ops = _legacy_ops()
    problems: dict[str, None] = {}  # ordered set
    # torch 2.x's layout starts with a string table; torch 1.9's own files are fine
    debug = [
        n for n, d in members if n.endswith(".debug_pkl") and b"FORMAT_WITH_STRING_TABLE" in d[:64]
    ]
    if debug:
        problems[
            f"{len(debug)} debug source file(s) in torch 2.x's layout (torch 1.9 aborts on them)"
        ] = None
    for _name, call in _calls(members):
        dotted = _dotted(call.func) or ""
        if dotted.endswith("torch.nn.functional.pad"):
            modes = [a.value for a in call.args[2:3] if isinstance(a, ast.Constant)]
            if "circular" in modes:
                problems["F.pad(mode='circular') (torch 1.9 has no circular padding operator)"] = (
                    None
                )
        op = _op_of(call.func)
        if op is None:
            continue
        overloads = ops.get(op)
        n_pos = len(call.args)
        keywords = [k.arg for k in call.keywords if k.arg]
        if overloads is None:
            problems[f"{op} (torch 1.9 has no such operator)"] = None
        elif not any(_fits(p, n_pos, keywords) for p in overloads):
            shown = " | ".join(f"{op}({', '.join(p)})" for p in overloads[:3])
            problems[
                f"{op} called with {n_pos + len(keywords)} argument(s), which torch 1.9's "
                f"{shown} does not take"
            ] = None
    versions = [int(d.strip() or b"0") for n, d in members if _is_version(n)]
    audit.version = max(versions) if versions else None
    if audit.version is not None and audit.version > LEGACY_MAX_FILE_VERSION:
        culprits = sorted(
            {op for _, c in _calls(members) if (op := _op_of(c.func)) in _UPGRADED_ABOVE_LEGACY}
        )
        why = ", ".join(f"{op} -> {_UPGRADED_ABOVE_LEGACY[op]}" for op in culprits) or "unknown"
        problems[f"file version {audit.version} > {LEGACY_MAX_FILE_VERSION} (raised by {why})"] = (
            None
        )
    audit.problems = list(problems)


def _version_lowerable(members: list[tuple[str, bytes]], audit: LegacyAudit) -> bool:
    """Whether every operator that raised the version is one whose 1.9-shaped calls mean
    the same in both readers, and every call to them fits 1.9 (checked by the audit)."""
    others = [p for p in audit.problems if not p.startswith("file version")]
    if any(p.split(" ", 1)[0] in _UPGRADED_ABOVE_LEGACY for p in others):
        return False
    known = _UPGRADED_ABOVE_LEGACY
    used = {op for _, c in _calls(members) if (op := _op_of(c.func)) is not None}
    # the version is explained only by operators we know; anything else stays a problem
    needed = max((known[op] for op in used if op in known), default=0)
    return audit.version is not None and needed >= audit.version


def prepare_folder_for_legacy_host(folder: str | os.PathLike[str], card: object) -> LegacyAudit:
    """Make ``folder``'s ``model.pt`` one the original host loads, if the network allows.

    Used by ``deepfx publish`` for folders not made by ``deepfx export`` (e.g. saved with
    ``torch.jit.save`` under torch 2.x): the archive is rewritten into a copy with
    :func:`make_legacy_compatible`; only if torch 1.9 can then run it *and* this torch
    gives the very same output as from the original file (1e-5, on a second of noise) does
    the copy replace ``model.pt``. Returns the audit of the ``model.pt`` left in place.
    """
    import shutil

    from deepfx._fs import temp_dir_beside

    model_pt = Path(folder) / "model.pt"
    audit = audit_archive(model_pt)
    if audit.ok:
        return audit
    with temp_dir_beside(model_pt, prefix=".legacy-") as tmp:
        candidate = Path(tmp) / "model.pt"
        shutil.copyfile(model_pt, candidate)
        fixed = make_legacy_compatible(candidate)
        if not fixed.ok or not _same_output(model_pt, candidate, card):
            return audit
        os.replace(candidate, model_pt)
    return fixed


def _same_output(a: Path, b: Path, card: object) -> bool:
    """Whether two TorchScript files give the same output (1e-5) on a second of noise."""
    import numpy as np
    import torch

    from deepfx.contract import compare_outputs

    rate = int(getattr(card, "sample_rate", 16000) or 16000)
    channels = 2 if getattr(card, "multichannel", False) else 1
    x = torch.from_numpy(
        np.random.default_rng(0).uniform(-0.5, 0.5, (channels, rate)).astype(np.float32)
    )
    try:
        with torch.no_grad():
            outs = [torch.jit.load(str(p), map_location="cpu").eval()(x) for p in (a, b)]
    except Exception:  # noqa: BLE001 - a file that does not run here is not "the same"
        return False

    def arr(o: object) -> object:
        if isinstance(o, (tuple, list)):
            return tuple(arr(i) for i in o)
        return o.detach().numpy()  # type: ignore[attr-defined]

    return compare_outputs(arr(outs[0]), arr(outs[1])) is None
