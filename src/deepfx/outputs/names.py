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

Names say what made them (the rule, for files and Audacity tracks alike):

* a name that is free is used as the template makes it: ``song - vocals.wav``;
* a name already taken by what *another* model made (or by a file deepfx did not make)
  gets the model's short name, :func:`model_tag`: ``song - vocals (demucs_extra).wav``;
* a name taken by what the *same* model made is a repeated run: it gets a number,
  ``song - vocals (2).wav`` (``song - vocals (demucs_extra) (2).wav`` when the marked name
  is the one taken); nothing is silently replaced unless the caller asks (``--overwrite``);
* an analyzer's label file always names its model: ``talk - labels (vad).txt``
  (:func:`labels_title`).

:func:`unique_name` applies the rule to one name; :func:`plan_names` to a whole run.
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from deepfx.errors import OutputError, excerpt

__all__ = [
    "NAME_MAX_BYTES",
    "OutputNaming",
    "fit_name",
    "labels_title",
    "marked_name",
    "model_tag",
    "output_name",
    "plan_names",
    "safe_component",
    "unique_name",
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


def model_tag(model: str) -> str:
    """A model's short name for file and track names: ``hugggof/demucs_extra`` ->
    ``demucs_extra``, ``builtin/vad`` -> ``vad``, a folder's card name as it is."""
    short = model.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]
    return safe_component(short) if short else ""


def labels_title(model: str) -> str:
    """What an analyzer's output is called (the ``{label}`` of its label file, the name
    of its Audacity label track): ``labels (vad)`` for ``builtin/vad``."""
    tag = model_tag(model)
    return f"labels ({tag})" if tag else "labels"


def _split_ext(name: str) -> tuple[str, str]:
    base, dot, ext = name.rpartition(".")
    if not dot or not base or len(ext) > 16 or " " in ext:
        return name, ""
    return base, dot + ext


def marked_name(name: str, model: str, limit: int = NAME_MAX_BYTES) -> str:
    """``name`` with the model's short name before the extension: ``song - vocals.wav``
    -> ``song - vocals (demucs_extra).wav``; unchanged when it already ends so."""
    tag = model_tag(model)
    base, ext = _split_ext(name)
    if not tag or base.endswith(f" ({tag})"):
        return name
    suffix = f" ({tag})"
    room = limit - len((suffix + ext).encode("utf-8"))
    cut = base.encode("utf-8")[: max(room, 1)].decode("utf-8", errors="ignore")
    return f"{cut}{suffix}{ext}"


def unique_name(
    name: str,
    *,
    model: str,
    taken: Callable[[str], bool],
    made_by: Callable[[str], str] | None = None,
    limit: int = NAME_MAX_BYTES,
) -> str:
    """The name to use for a new output called ``name`` (see the rule in this module).

    ``taken(name)`` says whether a name is in use (a file in the folder, a track in the
    project, an output planned already); ``made_by(name)`` which model made what holds it
    (``""``: unknown, or not deepfx). Works for file names (the number goes before the
    extension) and track names alike.
    """
    if not taken(name):
        return name
    who = made_by(name) if made_by is not None else ""
    base = name
    if not who or who != model:
        base = marked_name(name, model, limit)
        if base != name and not taken(base):
            return base
    n = 2
    while True:
        candidate = _numbered(base, n, limit)
        if not taken(candidate):
            return candidate
        n += 1


@dataclass(frozen=True)
class OutputNaming:
    """What names the outputs of one input: its stem, and per output its key (the output's
    name: a label, or ``"labels"``), its position in the card and its extension.

    ``folder`` is a subfolder (POSIX, relative) the outputs go into, mirroring an input
    found in a folder; ``titles`` optionally replaces each output's ``{label}`` text (an
    analyzer's ``labels (vad)``).
    """

    stem: str
    outputs: tuple[tuple[str, int, str], ...]  # (key, index, ext)
    folder: str = ""
    titles: tuple[str, ...] = ()


def _numbered(name: str, n: int, limit: int) -> str:
    base, ext = _split_ext(name)
    suffix = f" ({n})"
    room = limit - len((suffix + ext).encode("utf-8"))
    cut = base.encode("utf-8")[:room].decode("utf-8", errors="ignore")
    return f"{cut}{suffix}{ext}"


def _fold(name: str) -> str:
    return unicodedata.normalize("NFC", name).casefold()


def plan_names(
    inputs: Sequence[OutputNaming],
    *,
    template: str,
    model: str = "",
    limit: int = NAME_MAX_BYTES,
    taken: Sequence[str] = (),
    existing: Callable[[str], bool] | None = None,
    made_by: Callable[[str], str] | None = None,
) -> list[dict[str, str]]:
    """Name every output of a run: one ``{key: file name}`` per input, all distinct.

    ``taken`` are names that must not be used (compared case-insensitively), e.g. the
    inputs' own names when they sit in the output folder; a clash with one is renamed
    with a numbered suffix like any other clash. ``existing(path)`` says whether a file
    is already at that (relative) path and ``made_by(path)`` which model made it: a
    taken name follows the rule of this module (:func:`unique_name`); without
    ``existing`` files already there are replaced. A name is relative to the output
    folder: ``folder/name`` when the input has a ``folder``.
    """
    used = {_fold(t) for t in taken}

    def busy(rel: str) -> bool:
        return _fold(rel) in used or (existing is not None and existing(rel))

    plans: list[dict[str, str]] = []
    for inp in inputs:
        names: dict[str, str] = {}
        prefix = f"{inp.folder.strip('/')}/" if inp.folder.strip("/") else ""
        for i, (key, index, ext) in enumerate(inp.outputs):
            title = inp.titles[i] if i < len(inp.titles) else key
            name = fit_name(
                output_name(
                    template, stem=inp.stem, label=title, ext=ext, model=model, index=index
                ),
                limit,
            )
            if existing is None or not existing(prefix + name):
                n = 1
                candidate = name
                while _fold(prefix + candidate) in used:
                    n += 1
                    candidate = _numbered(name, n, limit)
            else:

                def taken_here(c: str, p: str = prefix) -> bool:
                    return busy(p + c)

                def maker_here(c: str, p: str = prefix) -> str:
                    return made_by(p + c) if made_by is not None else ""

                candidate = unique_name(
                    name, model=model, taken=taken_here, made_by=maker_here, limit=limit
                )
            used.add(_fold(prefix + candidate))
            names[key] = prefix + candidate
        plans.append(names)
    return plans
