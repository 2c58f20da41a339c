"""Turn a PyTorch module into a deepfx model folder.

:func:`export` writes, atomically::

    out_dir/
      model.pt        TorchScript (the default; what the original Audacity host loads)
      model.pt2       torch.export program, dynamic time axis          (on request)
      model.onnx      single-file ONNX, dynamic time axis               (on request)
      metadata.json   the model card, with model_file / exported_with filled in
      README.md       a hub model card with YAML front matter (tags ``deepfx``, and
                      ``audacity`` when the original host's torch 1.9 runs model.pt)

Every written format is reloaded through the same runner the host uses and compared
with the module's own output (within 1e-5) on three input lengths, so a folder that
:func:`export` returns is known to load and to agree with the module.

Importing this module does not import torch; calling :func:`export` does.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from deepfx.card import CARD_FILENAME, FORMAT_FILES, FORMATS, ModelCard, format_named, load_card
from deepfx.contract import OUTPUT_TOLERANCE as TOLERANCE
from deepfx.contract import compare_outputs
from deepfx.errors import CardError, DeepfxError, ExportError, excerpt, first_line
from deepfx.folder import write_folder
from deepfx.legacy.archive import LegacyAudit, make_legacy_compatible
from deepfx.modelcard_readme import write_readme

if TYPE_CHECKING:  # pragma: no cover
    import torch

__all__ = [
    "EXPORT_FORMATS",
    "ExportNote",
    "compare_outputs",
    "export",
    "check_module_spec",
    "load_module_from_spec",
    "normalize_formats",
]

#: Accepted format names (and aliases) -> canonical name, read from the formats table.
EXPORT_FORMATS: dict[str, str] = {key: f.name for f in FORMATS for key in (f.name, *f.aliases)}


class ExportNote(UserWarning):
    """Something the contributor should know about an export that still succeeded
    (e.g. TorchScript fell back from scripting to tracing)."""


def normalize_formats(formats: str | Sequence[str]) -> list[str]:
    """Canonical, de-duplicated format names in the order given.

    Accepts ``torchscript`` (``ts``, ``pt``), ``torch.export`` (``pt2``, ``export``) and
    ``onnx``. Raises :class:`~deepfx.errors.ExportError` for anything else.
    """
    if isinstance(formats, str):
        formats = [formats]
    out: list[str] = []
    for f in formats:
        found = format_named(str(f))
        if found is None:
            raise ExportError(
                f"unknown export format {f!r}; use torchscript, torch.export (pt2) or onnx"
            )
        if found.name not in out:
            out.append(found.name)
    if not out:
        raise ExportError("no export format given; use torchscript, torch.export or onnx")
    return out


def export(
    module: torch.nn.Module,
    card: ModelCard | Mapping[str, Any] | str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    formats: str | Sequence[str] = ("torchscript",),
    example_input: Any | None = None,
    overwrite: bool = False,
    check: bool = True,
) -> Path:
    """Export ``module`` with its model card to the model folder ``out_dir``.

    Parameters
    ----------
    module
        A ``torch.nn.Module`` implementing the contract: ``(channels, samples)`` float32
        in; ``(len(labels), samples)`` out for effects, ``(class_indices (n,),
        timestamps (n, 2))`` for analyzers. Subclass :class:`deepfx.nn.WaveformToWaveform`
        / :class:`deepfx.nn.WaveformToLabels` (or audacitorch's base classes). It is
        exported in eval mode; its training flag is restored afterwards.
    card
        The model card: a :class:`~deepfx.card.ModelCard`, a dict, or the path of a
        ``metadata.json``. Read strictly: new cards must follow every rule.
    out_dir
        The model folder to create. It must not exist (or be empty) unless ``overwrite``.
    formats
        Any of ``"torchscript"`` (default; ``model.pt``), ``"torch.export"``
        (``model.pt2``) and ``"onnx"`` (``model.onnx``, single file). The first one is the
        card's primary ``model_file``.
    example_input
        Audio used to trace/export and to check the result, ``(channels, samples)``
        (tensor or array). Default: 1 s of seeded noise at the card's sample rate, 1
        channel (2 when the card says ``multichannel``).
    overwrite
        Replace an existing folder. The old folder is only removed once the new one is
        complete.
    check
        Reload every written file and compare it with the module (within 1e-5) on the
        example, on a second, odd length (which proves the time axis is dynamic) and on
        the host's shortest input (``min_input_s``, else 50 ms).

    Returns
    -------
    Path
        The model folder.

    Raises
    ------
    ExportError
        Naming the format that failed to export or that disagrees with the module.
    CardError
        If the card breaks a rule.
    """
    torch = _import_torch()
    fmts = normalize_formats(formats)
    model_card = _coerce_card(card)
    dest = Path(out_dir).expanduser()
    if dest.exists():
        if not dest.is_dir():
            raise ExportError(f"{dest} exists and is not a folder; choose another output path")
        if any(dest.iterdir()):
            if not overwrite:
                raise ExportError(
                    f"{dest} already exists and is not empty; pass overwrite=True "
                    "(`--overwrite`) to replace it"
                )
            if not _looks_like_model_folder(dest):
                raise ExportError(
                    f"{dest} is not a model folder (no {CARD_FILENAME} or model file); "
                    "refusing to replace it, even with overwrite: choose another output path"
                )
    if not isinstance(module, torch.nn.Module):
        raise ExportError(
            f"expected a torch.nn.Module to export, got {type(module).__name__}; "
            "subclass deepfx.nn.WaveformToWaveform or WaveformToLabels"
        )
    on_gpu = sorted(
        {str(t.device) for t in [*module.parameters(), *module.buffers()] if t.device.type != "cpu"}
    )
    if on_gpu:
        raise ExportError(
            f"the module has weights on {', '.join(on_gpu)}; export runs on the CPU so the "
            "files load anywhere: pass module.cpu()"
        )
    x = _example(torch, model_card, example_input)

    was_training = module.training
    module.eval()
    try:
        with _quiet(), write_folder(dest, replace=True, prefix=".export-") as tmp:
            written: dict[str, str] = {}
            legacy: LegacyAudit | None = None
            for fmt in fmts:
                path = tmp / FORMAT_FILES[fmt]
                result = _EXPORTERS[fmt](torch, module, x, path, model_card)
                if isinstance(result, LegacyAudit):
                    legacy = result
                written[fmt] = path.name
            primary = fmts[0]
            versions = {"torch": torch.__version__.split("+")[0]}
            if "onnx" in fmts:
                with contextlib.suppress(ImportError):
                    import onnx

                    versions["onnx"] = onnx.__version__
            from deepfx._version import __version__

            versions["deepfx"] = __version__
            final = model_card.model_copy(
                update={
                    "model_file": FORMAT_FILES[primary],
                    "model_format": primary,
                    "exported_with": versions,
                }
            )
            final.write(tmp / CARD_FILENAME)
            # the `audacity` tag only when the original host (torch 1.9) can run model.pt
            audacity = primary == "torchscript" and legacy is not None and legacy.ok
            write_readme(
                tmp / "README.md", final, files=sorted(written.values()), audacity=audacity
            )
            if legacy is not None and not legacy.ok:
                warnings.warn(
                    f"model.pt {legacy.summary()}; the README is tagged `deepfx` only, not "
                    "`audacity`, so the original host is never offered it",
                    ExportNote,
                    stacklevel=2,
                )
            if check:
                _check_formats(torch, module, tmp, final, fmts, x)
    finally:
        module.train(was_training)
    return dest


# --- exporters ----------------------------------------------------------------------------


def _export_torchscript(
    torch: Any, module: Any, x: Any, path: Path, card: ModelCard
) -> LegacyAudit:
    """Script (else trace) ``module`` and save it in the form torch 1.9 loads too.

    torch 2.x writes archives the original host's torch 1.9 cannot read; the saved file
    is rewritten by :func:`deepfx.legacy.make_legacy_compatible` (the export check then
    proves it still gives the module's output in this torch). The returned audit names
    what torch 1.9 still cannot run, if anything.
    """
    try:
        scripted = torch.jit.script(module)
    except Exception as script_exc:  # noqa: BLE001 - scripting fails in many ways
        reason = first_line(script_exc, limit=300)
        try:
            with torch.no_grad(), warnings.catch_warnings():
                # the note below says what tracing implies, once, instead of per branch
                warnings.simplefilter("ignore", torch.jit.TracerWarning)
                scripted = torch.jit.trace(module, (x,), check_trace=False)
        except Exception as trace_exc:  # noqa: BLE001
            raise ExportError(
                f"torchscript: torch.jit.script failed ({reason}) and torch.jit.trace failed "
                f"too ({first_line(trace_exc, limit=300)}); make do_forward_pass "
                "TorchScript-compatible "
                "(type-annotate it, avoid Python-only constructs) or export only to "
                "torch.export / onnx"
            ) from trace_exc
        warnings.warn(
            f"torch.jit.script failed ({reason}); fell back to torch.jit.trace, which freezes "
            "any control flow that depends on the input to what the example input took. The "
            "export is checked on three inputs of different lengths, but make the module "
            "scriptable if you can.",
            ExportNote,
            stacklevel=3,
        )
    try:
        torch.jit.save(scripted, str(path))
    except Exception as exc:  # noqa: BLE001
        raise ExportError(f"torchscript: saving failed ({first_line(exc, limit=300)})") from exc
    return make_legacy_compatible(path)


def _dynamic_shapes(torch: Any) -> tuple[dict[int, Any]]:
    Dim = torch.export.Dim
    # channels: let torch decide (mono models may specialise to 1); time must stay dynamic
    return ({0: Dim.AUTO, 1: Dim.DYNAMIC},)


@contextlib.contextmanager
def _size_oblivious(torch: Any, enabled: bool) -> Iterator[None]:
    """Let torch.export treat sizes 0 and 1 like any other size.

    Without it, ``n_frames = samples // hop`` makes torch.export assume ``n_frames >= 2``
    and the program refuses inputs shorter than two frames at run time.
    """
    cfg = getattr(getattr(torch.fx, "experimental", None), "_config", None)
    if enabled and cfg is not None and hasattr(cfg, "backed_size_oblivious"):
        with cfg.patch(backed_size_oblivious=True):
            yield
    else:
        yield


def _with_size_fallback(torch: Any, fn: Callable[[], Any]) -> Any:
    """Run an exporter size-obliviously; if that fails, the plain way (its error wins)."""
    try:
        with _size_oblivious(torch, True):
            return fn()
    except Exception:  # noqa: BLE001 - retry below; the second error is the one reported
        with _size_oblivious(torch, False):
            return fn()


def _torch_export_program(torch: Any, module: Any, x: Any, fmt: str) -> Any:
    try:
        return _with_size_fallback(
            torch,
            lambda: torch.export.export(module, (x,), dynamic_shapes=_dynamic_shapes(torch)),
        )
    except Exception as exc:  # noqa: BLE001
        raise ExportError(
            f"{fmt}: torch.export could not export the module with a dynamic time axis "
            f"({first_line(exc, limit=300)}); avoid Python control flow on the input's length, or "
            "export to torchscript only"
        ) from exc


def _export_pt2(torch: Any, module: Any, x: Any, path: Path, card: ModelCard) -> None:
    program = _torch_export_program(torch, module, x, "torch.export")
    try:
        torch.export.save(program, str(path))
    except Exception as exc:  # noqa: BLE001
        raise ExportError(f"torch.export: saving failed ({first_line(exc, limit=300)})") from exc


def _export_onnx(torch: Any, module: Any, x: Any, path: Path, card: ModelCard) -> None:
    try:
        import onnxscript  # noqa: F401 - the dynamo exporter needs it
    except ImportError:
        raise ExportError(
            "onnx: exporting to ONNX needs the onnx and onnxscript packages; install them "
            "with `pip install onnx onnxscript` (or `pip install deepfx[export]`)"
        ) from None
    outputs = ["audio_out"] if card.is_effect else ["class_indices", "timestamps"]
    try:
        _with_size_fallback(
            torch,
            lambda: torch.onnx.export(
                module,
                (x,),
                str(path),
                dynamo=True,
                input_names=["audio"],
                output_names=outputs,
                dynamic_shapes=_dynamic_shapes(torch),
                external_data=False,
                optimize=True,
                verbose=False,
            ),
        )
    except Exception as exc:  # noqa: BLE001
        raise ExportError(
            f"onnx: torch.onnx.export failed ({first_line(exc, limit=300)}); "
            "export to torchscript or "
            "torch.export instead, or simplify the operators the module uses"
        ) from exc
    if not path.is_file():
        raise ExportError("onnx: torch.onnx.export wrote no file")
    for extra in path.parent.glob(path.name + ".data"):
        raise ExportError(
            f"onnx: the exporter wrote external weights ({extra.name}); the model is too "
            "large (> 2 GB) for a single-file ONNX; use torchscript or torch.export"
        )


_EXPORTERS: dict[str, Callable[[Any, Any, Any, Path, ModelCard], Any]] = {
    "torchscript": _export_torchscript,
    "torch.export": _export_pt2,
    "onnx": _export_onnx,
}


# --- checking -------------------------------------------------------------------------------


def _check_formats(
    torch: Any, module: Any, folder: Path, card: ModelCard, fmts: list[str], x: Any
) -> None:
    """Reload each written file with the host's runner and compare with the module."""
    from deepfx.model import Model

    # a second, odd length proves the time axis is really dynamic
    n = int(x.shape[-1])
    x2 = torch.roll(x, shifts=n // 3, dims=-1)[:, : max(2 * x.shape[0] + 1, n - n // 4 - 1)]
    # and the host's shortest input (validate's "short" case) must work too
    short_n = max(int(np.ceil(max(card.min_input_s or 0.0, 0.05) * card.sample_rate)), 8)
    inputs = [x, x2, x[:, : min(short_n, n)]]
    with torch.no_grad():
        expected = [_to_numpy(module(xi)) for xi in inputs]
    for fmt in fmts:
        try:
            model = Model(folder, card, fmt=fmt, device="cpu").load()
        except DeepfxError as exc:
            raise ExportError(f"{fmt}: the exported file does not load back: {exc}") from exc
        for xi, want in zip(inputs, expected, strict=True):
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", UserWarning)  # fewer rows: an error below
                    got = model.forward(xi.detach().cpu().numpy())
            except DeepfxError as exc:
                raise ExportError(
                    f"{fmt}: the exported model fails on a {tuple(xi.shape)} input: {exc}"
                ) from exc
            if card.is_effect and np.asarray(got).shape[0] != len(card.labels):
                # the host tolerates fewer rows in old models; a new export must match
                rows = np.asarray(got).shape[0]
                raise ExportError(
                    f"{fmt}: the exported model broke its contract on a {tuple(xi.shape)} "
                    f"input: returned {rows} output tracks but the card lists "
                    f"{len(card.labels)} labels (fewer outputs than labels)"
                )
            problem = compare_outputs(want, got, tolerance=TOLERANCE)
            if problem:
                raise ExportError(
                    f"{fmt}: the exported model does not give the module's output on a "
                    f"{tuple(xi.shape)} input ({problem}); the export changed the computation "
                    "(input-dependent control flow? randomness?)"
                )


# --- helpers --------------------------------------------------------------------------------


def _import_torch() -> Any:
    try:
        import torch
    except ImportError:
        raise ExportError("exporting needs PyTorch; install it with `pip install torch`") from None
    return torch


def _coerce_card(card: ModelCard | Mapping[str, Any] | str | os.PathLike[str]) -> ModelCard:
    if isinstance(card, ModelCard):
        # re-validate: a card built with model_construct or mutated may break rules
        return ModelCard.from_dict(card.to_dict(), strict=True)
    if isinstance(card, Mapping):
        return ModelCard.from_dict(card, strict=True)
    if isinstance(card, (str, os.PathLike)):
        return load_card(Path(card), strict=True)
    raise CardError(f"expected a ModelCard, a dict or a metadata.json path, got {type(card)}")


def _example(torch: Any, card: ModelCard, example_input: Any | None) -> Any:
    if example_input is None:
        gen = torch.Generator().manual_seed(0)
        channels = 2 if card.multichannel else 1
        n = max(card.sample_rate, 64)
        if card.min_input_s:
            n = max(n, int(np.ceil(card.min_input_s * card.sample_rate)) * 2)
        return torch.rand(channels, n, generator=gen, dtype=torch.float32) * 1.6 - 0.8
    x = example_input
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    if not isinstance(x, torch.Tensor) or x.dim() != 2:
        raise ExportError(
            "example_input must be a 2-D (channels, samples) tensor or array, got "
            f"{getattr(x, 'shape', type(x).__name__)}"
        )
    if x.shape[1] <= x.shape[0] or x.shape[1] < 16:
        raise ExportError(
            f"example_input {tuple(x.shape)} is too short; give at least a few hundred samples"
        )
    return x.detach().to(torch.float32).contiguous()


def _to_numpy(out: Any) -> Any:
    if isinstance(out, (tuple, list)):
        return tuple(_to_numpy(o) for o in out)
    return out.detach().cpu().numpy()


def _looks_like_model_folder(folder: Path) -> bool:
    names = {p.name for p in folder.iterdir()}
    return CARD_FILENAME in names or bool(names & set(FORMAT_FILES.values()))


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence torch's deprecation warnings and the exporters' progress chatter.

    The ONNX exporter prints progress lines to stdout and logs through ``logging``;
    TorchScript warns that it is deprecated. None of it helps a contributor; real
    failures surface as :class:`ExportError`.
    """
    loggers = [logging.getLogger(n) for n in ("torch", "torch.onnx", "onnxscript", "torch.export")]
    levels = [lg.level for lg in loggers]
    sink = io.StringIO()
    try:
        for lg in loggers:
            lg.setLevel(logging.ERROR)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", FutureWarning)
            warnings.filterwarnings("ignore", category=UserWarning, module=r"torch\..*")
            warnings.filterwarnings("ignore", category=UserWarning, module=r"onnxscript\..*")
            with contextlib.redirect_stdout(sink):
                yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def check_module_spec(spec: str) -> None:
    """Refuse a spec without its entry point (``model.py`` instead of ``model.py:build``)
    with an :class:`ExportError` that names the entry points the file defines."""
    source, sep, attr = spec.rpartition(":")
    if sep and source and attr:
        return
    path = Path(source if sep else spec).expanduser()
    if path.suffix == ".py" or path.is_file():
        hint = _entry_points(path)
        which = (
            f"write {path.name}:{hint[0]}"
            + (f" (it defines {', '.join(hint)})" if len(hint) > 1 else "")
            if hint
            else f"write {path.name}:NAME, NAME being the class or factory to export"
        )
        raise ExportError(
            f"{excerpt(spec, 60)} names no entry point: which class or factory to export? {which}"
        )
    raise ExportError(
        f"cannot read module spec {excerpt(spec, 60)}; write it as path/to/file.py:ClassOrFactory"
    )


def _entry_points(path: Path) -> list[str]:
    """Top-level ``build`` first, then classes and other functions a file defines (read
    with :mod:`ast`, never run), for a hint."""
    import ast

    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (OSError, SyntaxError, ValueError):
        return []
    names = [
        n.name
        for n in tree.body
        if isinstance(n, (ast.FunctionDef, ast.ClassDef)) and not n.name.startswith("_")
    ]
    return sorted(names, key=lambda n: (n != "build", not n[:1].isupper()))[:4]


def load_module_from_spec(spec: str) -> Any:
    """Build the module named by ``spec``, as ``deepfx export`` does.

    ``spec`` is ``path/to/file.py:Name`` or ``package.module:Name``. ``Name`` may be an
    ``nn.Module`` instance, a class (called with no arguments) or a factory function
    (called with no arguments; load your trained weights inside it). The file's folder
    is put on ``sys.path`` while it is imported, so it can import its neighbours.
    """
    import importlib
    import importlib.util
    import sys

    check_module_spec(spec)
    source, sep, attr = spec.rpartition(":")
    if source.endswith(".py") or Path(source).is_file():
        file = Path(source).expanduser().resolve()
        if not file.is_file():
            raise ExportError(f"module file not found: {file}")
        mod_name = f"_deepfx_user_{file.stem}_{abs(hash(str(file))) & 0xFFFFFF:x}"
        loader_spec = importlib.util.spec_from_file_location(mod_name, file)
        if loader_spec is None or loader_spec.loader is None:
            raise ExportError(f"cannot import {file} as a Python module")
        module = importlib.util.module_from_spec(loader_spec)
        sys.path.insert(0, str(file.parent))
        sys.modules[mod_name] = module
        try:
            loader_spec.loader.exec_module(module)
        except Exception as exc:
            sys.modules.pop(mod_name, None)
            raise ExportError(f"importing {file} failed: {type(exc).__name__}: {exc}") from exc
        finally:
            with contextlib.suppress(ValueError):
                sys.path.remove(str(file.parent))
    else:
        try:
            module = importlib.import_module(source)
        except ImportError as exc:
            raise ExportError(f"cannot import module {source!r}: {exc}") from exc
    try:
        obj = getattr(module, attr)
    except AttributeError:
        raise ExportError(f"{source} has no attribute {attr!r}") from None
    torch = _import_torch()
    if isinstance(obj, torch.nn.Module):
        return obj
    if callable(obj):
        try:
            built = obj()
        except Exception as exc:
            raise ExportError(
                f"calling {attr}() to build the module failed: {type(exc).__name__}: {exc}"
            ) from exc
        if not isinstance(built, torch.nn.Module):
            raise ExportError(f"{attr}() returned {type(built).__name__}, not a torch.nn.Module")
        return built
    raise ExportError(
        f"{spec}: {attr} is a {type(obj).__name__}; give an nn.Module, a class or a factory"
    )
