"""Output file names: one template, safe components, the file system's length, no clashes.

Pure functions (no file system access), so every rule is tested with a table:

* :func:`safe_component` makes any text (a card's label, a model name, an input's stem)
  a valid single file name component on Linux, macOS and Windows: no separators, NUL or
  control characters, no ``.``/``..``, no leading dot (nothing hidden), no trailing dot or
  space, no reserved Windows device name (``CON``, ``NUL``, ``COM1``...).
* :func:`fit_name` shortens a name to at most 255 bytes of UTF-8 (the limit of ext4, APFS,
  NTFS...), cutting whole characters from the end of the part before the extension.
* :func:`plan_names` names every output of a whole run at once and makes the names
  distinct: when two outputs would share a name (two inputs ``d1/x.wav`` and ``d2/x.wav``,
  a card listing a label twice, two labels that are the same once made safe, a template
  without ``{stem}``), the later ones in input order, then output order, get a numbered
  suffix before the extension: ``x - vocals.wav``, ``x - vocals (2).wav``. Names are
  compared case-insensitively (as macOS and Windows do).
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from deepfx.errors import OutputError, excerpt

__all__ = [
    "NAME_MAX_BYTES",
    "OutputNaming",
    "fit_name",
    "output_name",
    "plan_names",
    "safe_component",
]

#: Longest file name (bytes of UTF-8) on common file systems.
NAME_MAX_BYTES = 255
_BAD = set('/\\:*?"<>|')
_RESERVED = {"CON", "PRN", "AUX", "NUL"} | {f"{d}{i}" for d in ("COM", "LPT") for i in range(1, 10)}
_FIELDS = ("stem", "label", "ext", "model", "index")


def safe_component(text: str) -> str:
    """``text`` made a safe single file name component (never empty, never hidden)."""
    out = "".join(
        "_" if (c in _BAD or unicodedata.category(c) in ("Cc", "Cs", "Zl", "Zp")) else c
        for c in unicodedata.normalize("NFC", text)
    )
    out = out.strip().rstrip(".")
    if out.startswith("."):
        out = "_" + out[1:]
    if not out:
        return "_"
    if out.split(".")[0].strip().upper() in _RESERVED:
        out = "_" + out
    return out


def fit_name(name: str, limit: int = NAME_MAX_BYTES) -> str:
    """Shorten ``name`` to at most ``limit`` bytes of UTF-8, keeping its extension."""
    if len(name.encode("utf-8")) <= limit:
        return name
    base, dot, ext = name.rpartition(".")
    if not dot or not base or len(ext.encode("utf-8")) > 16:
        base, ext, dot = name, "", ""
    room = limit - len((dot + ext).encode("utf-8"))
    raw = base.encode("utf-8")[:room]
    cut = raw.decode("utf-8", errors="ignore").rstrip(" .")  # whole characters only
    return (cut or "_") + dot + ext


def _check_template(template: str) -> None:
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise OutputError(f"bad name template {excerpt(template)} ({exc})") from None
    for _, field, spec, _ in parsed:
        if spec and any(len(d) > 3 for d in re.findall(r"\d+", spec)):
            raise OutputError(
                f"bad name template {excerpt(template)}: a field width above 999 characters"
            )
        if field is not None and field not in _FIELDS:
            raise OutputError(
                f"bad name template {excerpt(template)}: unknown field {excerpt(field, 30)}; "
                "use the fields {stem}, {label}, {ext}, {model}, {index}"
            )


def output_name(
    template: str,
    *,
    stem: str,
    label: str,
    ext: str,
    model: str = "",
    index: int = 0,
) -> str:
    """The file name of one output, from ``template``.

    Fields: ``{stem}`` (input file name without extension), ``{label}`` (the track or
    ``labels``), ``{ext}`` (extension without the dot), ``{model}`` (model name with ``/``
    replaced by ``_``) and ``{index}`` (position of the label in the card). Each field is
    made safe first (:func:`safe_component`), then the whole name, and it is shortened to
    255 bytes (:func:`fit_name`).

    Raises
    ------
    OutputError
        The template names an unknown field or yields an empty / path-like name.
    """
    _check_template(template)
    fields = {
        "stem": safe_component(stem),
        "label": safe_component(label),
        "ext": ext,
        "model": safe_component(model.replace("/", "_")) if model else "",
        "index": index,
    }
    try:
        name = template.format(**fields)
    except (KeyError, IndexError, ValueError) as exc:
        raise OutputError(
            f"bad name template {excerpt(template)} ({exc}); use the fields "
            "{stem}, {label}, {ext}, {model}, {index}"
        ) from None
    if not name.strip() or name.strip() in (".", ".."):
        raise OutputError(f"name template {excerpt(template)} gives an empty file name")
    over = len(safe_component(name).encode("utf-8")) - NAME_MAX_BYTES
    if over > 0 and "{stem}" in template:  # shorten the input's stem first: keep the label
        stem_b = str(fields["stem"]).encode("utf-8")
        cut = stem_b[: max(len(stem_b) - over, 8)].decode("utf-8", errors="ignore")
        name = template.format(**{**fields, "stem": cut.rstrip() or "_"})
    return fit_name(safe_component(name))


@dataclass(frozen=True)
class OutputNaming:
    """What names the outputs of one input: its stem, and per output its key (the output's
    name: a label, or ``"labels"``), its position in the card and its extension."""

    stem: str
    outputs: tuple[tuple[str, int, str], ...]  # (key, index, ext)


def _numbered(name: str, n: int, limit: int) -> str:
    base, dot, ext = name.rpartition(".")
    if not dot or not base:
        base, dot, ext = name, "", ""
    suffix = f" ({n})"
    room = limit - len((suffix + dot + ext).encode("utf-8"))
    cut = base.encode("utf-8")[:room].decode("utf-8", errors="ignore")
    return f"{cut}{suffix}{dot}{ext}"


def _fold(name: str) -> str:
    return unicodedata.normalize("NFC", name).casefold()


def plan_names(
    inputs: Sequence[OutputNaming],
    *,
    template: str,
    model: str = "",
    limit: int = NAME_MAX_BYTES,
    taken: Sequence[str] = (),
) -> list[dict[str, str]]:
    """Name every output of a run: one ``{key: file name}`` per input, all distinct.

    ``taken`` are names that must not be used (compared case-insensitively), e.g. the
    inputs' own names when they sit in the output folder; a clash with one is renamed
    with a numbered suffix like any other clash.
    """
    used = {_fold(t) for t in taken}
    plans: list[dict[str, str]] = []
    for inp in inputs:
        names: dict[str, str] = {}
        for key, index, ext in inp.outputs:
            name = fit_name(
                output_name(template, stem=inp.stem, label=key, ext=ext, model=model, index=index),
                limit,
            )
            n = 1
            candidate = name
            while _fold(candidate) in used:
                n += 1
                candidate = _numbered(name, n, limit)
            used.add(_fold(candidate))
            names[key] = candidate
        plans.append(names)
    return plans
