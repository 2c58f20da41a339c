"""The hub-facing README.md of a model folder, made from its model card.

The hub finds models by tags in the YAML front matter of README.md: every folder deepfx
writes (``deepfx export``) or uploads (``deepfx publish``) is tagged ``deepfx``, and
``audacity`` too when the original Audacity host (torch 1.9) can run it - that host
searched by ``audacity`` and crashes on archives it cannot read. These functions are
shared by both:

* :func:`readme_front_matter` - the YAML keys derived from a card;
* :func:`render_readme` - a complete README.md (front matter + description);
* :func:`update_readme` - refresh the front matter of an existing README.md, keeping the
  author's own text and any keys deepfx does not manage;
* :func:`write_readme` - create or update ``README.md`` atomically.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from deepfx.card import FORMAT_FILES, ModelCard

__all__ = [
    "AUDACITY_TAG",
    "DEEPFX_TAG",
    "legacy_host_runs",
    "readme_front_matter",
    "render_readme",
    "split_front_matter",
    "update_readme",
    "write_readme",
]

_PIPELINE = {"waveform-to-waveform": "audio-to-audio", "waveform-to-labels": "audio-classification"}


#: Tag of every model deepfx runs (``deepfx models search`` finds both tags).
DEEPFX_TAG = "deepfx"
#: Tag the original Audacity host's model browser searched for: only on models whose
#: ``model.pt`` its torch 1.9 loads and runs, or the host would crash on them.
AUDACITY_TAG = "audacity"


def readme_front_matter(card: ModelCard, *, audacity: bool = True) -> dict[str, Any]:
    """The front-matter keys deepfx manages, derived from ``card``.

    The tag scheme: ``deepfx`` always (deepfx runs every model it writes); ``audacity``
    first when ``audacity`` is true - the original host (libtorch 1.9) loads and runs the
    folder's ``model.pt`` - and never otherwise, since that host searched by this tag and
    crashes on archives it cannot read. Then the effect type, the domain tags and the
    card's own tags.
    """
    tags: list[str] = []
    lead = [AUDACITY_TAG, DEEPFX_TAG] if audacity else [DEEPFX_TAG]
    own = [t for t in card.tags if audacity or t != AUDACITY_TAG]
    for t in [*lead, card.effect_type, *card.domain_tags, *own]:
        if t not in tags:
            tags.append(t)
    meta: dict[str, Any] = {"library_name": "deepfx", "tags": tags}
    if card.license:
        meta["license"] = card.license.lower()
    meta["pipeline_tag"] = _PIPELINE[card.effect_type]
    return meta


def render_readme(
    card: ModelCard, *, files: Iterable[str] | None = None, audacity: bool = True
) -> str:
    """A complete README.md: YAML front matter plus a description made from ``card``.

    ``audacity``: whether the original host runs the folder (see :func:`readme_front_matter`).
    """
    meta = readme_front_matter(card, audacity=audacity)
    return _dump_front_matter(meta) + _body(card, files, audacity=audacity)


def split_front_matter(text: str) -> tuple[dict[str, Any], str]:
    """Split a README into (front-matter dict, body). No front matter gives ``({}, text)``."""
    import yaml

    if text.startswith("---"):
        lines = text.splitlines(keepends=True)
        if lines and lines[0].strip() == "---":
            for i in range(1, len(lines)):
                if lines[i].strip() == "---":
                    try:
                        data = yaml.safe_load("".join(lines[1:i])) or {}
                    except yaml.YAMLError:
                        data = None
                    if isinstance(data, dict):
                        return data, "".join(lines[i + 1 :]).lstrip("\n")
                    break
    return {}, text


def update_readme(
    text: str, card: ModelCard, *, files: Iterable[str] | None = None, audacity: bool = True
) -> str:
    """Refresh the front matter of an existing README from ``card``.

    Keys deepfx does not manage are kept; tags are merged (``audacity`` first when
    ``audacity``, the author's extra tags kept, but never ``audacity`` on a folder the
    original host cannot run); the body is kept, or generated when empty.
    """
    old, body = split_front_matter(text)
    new = readme_front_matter(card, audacity=audacity)
    merged = dict(old)
    tags = list(new["tags"])
    old_tags = old.get("tags") or []
    if isinstance(old_tags, str):
        old_tags = [old_tags]
    for t in old_tags:
        if str(t) not in tags and (audacity or str(t) != AUDACITY_TAG):
            tags.append(str(t))
    merged.update(new)
    merged["tags"] = tags
    if not body.strip():
        body = _body(card, files, audacity=audacity)
    return _dump_front_matter(merged) + body


def write_readme(
    path: Path,
    card: ModelCard,
    *,
    files: Iterable[str] | None = None,
    audacity: bool | None = None,
) -> None:
    """Create ``path`` (README.md) from ``card``, or update its front matter if it exists.

    ``audacity`` None (the default) decides from the folder itself: the ``audacity`` tag
    only when its primary network is a ``model.pt`` that torch 1.9 can load and run
    (:func:`legacy_host_runs`), so ``deepfx publish`` never tags a folder the original
    host would crash on.
    """
    from deepfx._fs import atomic_write_text

    path = Path(path)
    if audacity is None:
        audacity = legacy_host_runs(path.parent, card)
    if path.is_file():
        text = update_readme(path.read_text(encoding="utf-8"), card, files=files, audacity=audacity)
    else:
        text = render_readme(card, files=files, audacity=audacity)
    atomic_write_text(path, text)


def legacy_host_runs(folder: Path, card: ModelCard) -> bool:
    """Whether the original host (torch 1.9) can load and run ``folder``'s network:
    its primary file is ``model.pt`` and :func:`deepfx.legacy.audit_archive` finds
    nothing torch 1.9 lacks. Reads the archive only; imports no torch."""
    from deepfx.errors import DeepfxError
    from deepfx.legacy.archive import audit_archive

    model_pt = Path(folder) / FORMAT_FILES["torchscript"]
    if card.model_file not in (None, FORMAT_FILES["torchscript"]) or not model_pt.is_file():
        return False
    try:
        return audit_archive(model_pt).ok
    except DeepfxError:
        return False


# --- internals ----------------------------------------------------------------------------


def _dump_front_matter(meta: dict[str, Any]) -> str:
    import yaml

    return "---\n" + yaml.safe_dump(meta, sort_keys=False, allow_unicode=True) + "---\n\n"


def _body(card: ModelCard, files: Iterable[str] | None, *, audacity: bool = True) -> str:
    title = card.name or "deepfx model"
    kind = "effect (waveform-to-waveform)" if card.is_effect else "analyzer (waveform-to-labels)"
    outputs = "output tracks" if card.is_effect else "classes"
    rows = [
        ("Type", kind),
        ("Sample rate", f"{card.sample_rate} Hz"),
        ("Channels", "any number (multichannel)" if card.multichannel else "mono (downmixed)"),
        (outputs.capitalize(), ", ".join(f"`{label}`" for label in card.labels)),
        ("Domains", ", ".join(card.domain_tags) or "-"),
    ]
    if card.license:
        rows.append(("License", card.license))
    if card.version:
        rows.append(("Version", card.version))
    if card.authors or card.author:
        rows.append(("Authors", ", ".join(card.authors or [card.author or ""])))
    if card.training_data:
        rows.append(("Training data", card.training_data))
    file_list = list(files) if files is not None else ([card.model_file] if card.model_file else [])
    if file_list:
        fmt_of = {v: k for k, v in FORMAT_FILES.items()}
        rows.append(("Files", ", ".join(f"`{f}` ({fmt_of.get(f, 'file')})" for f in file_list)))
    if card.exported_with:
        rows.append(
            ("Exported with", ", ".join(f"{k} {v}" for k, v in sorted(card.exported_with.items())))
        )
    table = "| | |\n|---|---|\n" + "".join(f"| {k} | {v} |\n" for k, v in rows)
    use = (
        "## Use\n\n"
        "With [deepfx](https://pypi.org/project/deepfx/) (from the command line, from Python, "
        "or inside Audacity):\n\n"
        "```bash\n"
        "deepfx run <this-repo-id> input.wav -o out/\n"
        "```\n\n"
        + (
            "It also loads in the original *Deep Learning Tools for Audacity* host "
            "(`model.pt` + `metadata.json`; checked against its torch 1.9).\n"
            if audacity
            else "It needs deepfx: the original *Deep Learning Tools for Audacity* host "
            "(torch 1.9) cannot run this network.\n"
        )
    )
    parts = [
        f"# {title}\n",
        f"{card.short_description}\n",
        f"{card.long_description}\n",
        table,
        use,
    ]
    if card.citation:
        parts.append(f"## Citation\n\n```\n{card.citation}\n```\n")
    if card.links:
        parts.append(
            "## Links\n\n" + "".join(f"- {k}: {v}\n" for k, v in sorted(card.links.items()))
        )
    return "\n".join(parts)
