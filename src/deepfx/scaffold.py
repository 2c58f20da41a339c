"""``deepfx init``: a new model project for a contributor, from templates shipped in the package.

The project holds ``model.py`` (a network wrapped in a deepfx base class, with a
``build()`` factory), ``metadata.json`` (a valid card to fill in), ``test_model.py``
(exports every format and validates the result) and a short README. The generated test
passes as generated, so a contributor starts from green.
"""

from __future__ import annotations

import os
import re
import string
from importlib import resources
from pathlib import Path

from deepfx.card import CARD_FILENAME, Kind, ModelCard
from deepfx.errors import ScaffoldError
from deepfx.folder import write_folder

__all__ = ["PLACEHOLDER_MARKS", "ScaffoldError", "init_project", "placeholder_fields"]

#: Text only ``deepfx init``'s placeholder card holds: a card whose descriptions still
#: contain one of these is not filled in (``deepfx validate`` fails, ``publish`` refuses).
PLACEHOLDER_MARKS = ("Replace this text before publishing", "(<= 60 chars)")


def placeholder_fields(card: ModelCard) -> list[str]:
    """The card fields that still hold ``deepfx init``'s placeholder text."""
    return [
        name
        for name in ("short_description", "long_description")
        if any(mark in (getattr(card, name) or "") for mark in PLACEHOLDER_MARKS)
    ]


_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,95}$")


def init_project(
    name: str,
    *,
    parent: str | os.PathLike[str] = ".",
    kind: Kind = "effect",
    sample_rate: int = 44100,
    multichannel: bool = False,
) -> Path:
    """Create the model project ``parent/name`` and return its path.

    Parameters
    ----------
    name
        Project and model name: letters, digits, ``-``, ``_``, ``.``.
    parent
        Folder to create the project in.
    kind
        ``"effect"`` (waveform-to-waveform) or ``"analyzer"`` (waveform-to-labels).
    sample_rate
        The rate (Hz) the model expects; written to the card and the module.
    multichannel
        ``False`` (a mono model: the host runs it once per channel of an effect's input,
        or on a mono mix) or ``True`` (it receives every channel at once).

    Raises
    ------
    ScaffoldError
        If the name is not usable or the folder already exists and is not empty.
    """
    if not _NAME.match(name):
        raise ScaffoldError(
            f"project name {name!r} is not usable; use letters, digits, '-', '_' or '.'"
        )
    if kind not in ("effect", "analyzer"):
        raise ScaffoldError(f"kind must be 'effect' or 'analyzer', got {kind!r}")
    if not 1 <= sample_rate <= 384000:
        raise ScaffoldError(f"sample rate must be 1..384000 Hz, got {sample_rate}")
    dest = Path(parent).expanduser() / name
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise ScaffoldError(f"{dest} already exists; choose another name or remove it")

    values = {
        "name": name,
        "sample_rate": str(sample_rate),
        "kind": kind,
        "base": "WaveformToWaveform" if kind == "effect" else "WaveformToLabels",
        "layout": (
            "metadata.json says multichannel: true: every channel arrives; this stand-in mixes them"
            if multichannel
            else "metadata.json says multichannel: false: one channel arrives"
        ),
    }
    files = {
        "model.py": _template(f"{kind}_model.py.tmpl").substitute(values),
        "test_model.py": _template("test_model.py.tmpl").substitute(values),
        "README.md": _template("README.md.tmpl").substitute(values),
    }
    card = _card(name, kind, sample_rate).model_copy(update={"multichannel": multichannel})

    with write_folder(dest, prefix=".init-") as tmp:
        for fname, text in files.items():
            (tmp / fname).write_text(text, encoding="utf-8")
        card.write(tmp / CARD_FILENAME)
    return dest


def _template(fname: str) -> string.Template:
    text = resources.files("deepfx").joinpath("templates", fname).read_text(encoding="utf-8")
    return string.Template(text)


def _card(name: str, kind: Kind, sample_rate: int) -> ModelCard:
    if kind == "effect":
        return ModelCard(
            name=name,
            short_description="Describe what this effect does (<= 60 chars).",
            long_description=(
                "Say what the model does, what audio it expects and what comes out "
                "(<= 280 characters). Replace this text before publishing."
            ),
            domain_tags=["other"],
            tags=[],
            effect_type="waveform-to-waveform",
            multichannel=False,
            labels=["output"],
            sample_rate=sample_rate,
            version="0.1.0",
            license="mit",
        )
    return ModelCard(
        name=name,
        short_description="Describe what this analyzer labels (<= 60 chars).",
        long_description=(
            "Say what the model detects, what audio it expects and what the labels mean "
            "(<= 280 characters). Replace this text before publishing."
        ),
        domain_tags=["other"],
        tags=[],
        effect_type="waveform-to-labels",
        multichannel=False,
        labels=["quiet", "loud"],
        sample_rate=sample_rate,
        version="0.1.0",
        license="mit",
    )
