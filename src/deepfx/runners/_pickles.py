"""A static check of pickles inside torch archives: which globals they would call.

A pickle runs code through the globals it names (``os system`` + ``REDUCE`` is the
classic payload). This reads the opcode stream with :mod:`pickletools` *without
executing anything* and refuses every global outside a short list of tensor-rebuilding
functions, before torch is given the bytes. It is a second wall: pickles deepfx must
actually load are then loaded with ``torch.load(weights_only=True)`` (torch's restricted
unpickler), and TorchScript's own C++ unpickler resolves only TorchScript types.
"""

from __future__ import annotations

import io
import pickletools
import zipfile
from pathlib import Path

from deepfx.errors import UnsafeModelError

__all__ = ["check_pickle"]

#: (module, name) pairs a pickle in a model archive may name.
_ALLOWED_GLOBALS: frozenset[tuple[str, str]] = frozenset(
    [
        ("torch._utils", "_rebuild_tensor_v2"),
        ("torch._utils", "_rebuild_tensor"),
        ("torch._utils", "_rebuild_parameter"),
        ("torch._utils", "_rebuild_parameter_with_state"),
        ("torch._tensor", "_rebuild_from_type_v2"),
        ("torch", "Tensor"),
        ("torch", "Size"),
        ("torch", "device"),
        ("torch.nn.parameter", "Parameter"),
        ("collections", "OrderedDict"),
    ]
    + [(m, n) for m in ("builtins", "__builtin__") for n in ("set", "frozenset", "slice")]
    + [
        ("torch.jit._pickle", n)
        for n in (
            "restore_type_tag build_intlist build_tensorlist build_doublelist "
            "build_boollist build_tensor_from_id"
        ).split()
    ]
    + [
        ("torch", n)
        for n in (
            "FloatStorage DoubleStorage HalfStorage BFloat16Storage LongStorage IntStorage "
            "ShortStorage CharStorage ByteStorage BoolStorage ComplexFloatStorage "
            "ComplexDoubleStorage UntypedStorage float32 float64 float16 bfloat16 int64 "
            "int32 int16 int8 uint8 bool complex64 complex128"
        ).split()
    ]
)

# Opcodes that name a global in a way this static reading cannot follow.
_REFUSED_OPCODES = frozenset({"STACK_GLOBAL", "EXT1", "EXT2", "EXT4"})


def _global_ok(module: str, name: str) -> bool:
    if (module, name) in _ALLOWED_GLOBALS:
        return True
    # TorchScript module/class types: their code is compiled by TorchScript (not Python)
    # and checked operator by operator. torchbind classes (__torch__.torch.classes) run
    # C++ __setstate__ code and are refused.
    return (module == "__torch__" or module.startswith("__torch__.")) and not module.startswith(
        "__torch__.torch.classes"
    )


def check_pickle(data: bytes, path: Path, member: str) -> None:
    """Raise :class:`UnsafeModelError` if the pickle ``data`` (archive ``member``) names a
    global outside the allow-list. A nested torch.save zip is checked member by member."""
    if data[:2] == b"PK":
        try:
            inner = zipfile.ZipFile(io.BytesIO(data))
        except zipfile.BadZipFile:
            raise UnsafeModelError(path, member, f"{member} is a corrupt archive") from None
        with inner:
            for info in inner.infolist():
                if info.filename.endswith(".pkl"):
                    check_pickle(inner.read(info), path, f"{member}:{info.filename}")
        return
    try:
        for op, arg, _pos in pickletools.genops(data):
            if op.name in _REFUSED_OPCODES:
                raise UnsafeModelError(
                    path,
                    op.name,
                    f"{member} uses the pickle opcode {op.name}, which deepfx "
                    "cannot check statically",
                )
            if op.name in ("GLOBAL", "INST"):
                module, _, name = str(arg).partition(" ")
                if not _global_ok(module, name):
                    raise UnsafeModelError(
                        path,
                        f"{module}.{name}",
                        f"{member} is a pickle that would call {module}.{name} when loaded "
                        "(pickles can run any code)",
                    )
    except UnsafeModelError:
        raise
    except Exception as exc:  # noqa: BLE001 - pickletools raises ValueError and friends
        raise UnsafeModelError(
            path, member, f"{member} is not a readable pickle ({type(exc).__name__})"
        ) from None
