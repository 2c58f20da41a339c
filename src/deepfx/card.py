"""The model card: ``metadata.json``, typed.

The core fields are exactly the original "Deep Learning Tools for Audacity" schema, so
cards written by deepfx still load in the original host (its schema allows extra
properties). deepfx's extensions are all optional.

Two ways to read a card:

* :func:`load_card` / :meth:`ModelCard.from_dict` with ``strict=True`` (the default for
  new cards, `deepfx validate` and `deepfx export`): every rule is enforced and a
  :class:`~deepfx.errors.CardError` names each field and the rule it broke.
* ``strict=False`` for legacy cards found in the wild: known deviations (capitalised
  domain tags such as ``"Music"``, a missing ``tags`` list, too many tags, over-long
  descriptions...) are normalised and reported as warnings instead of refusals.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from deepfx.errors import CardError, excerpt

__all__ = [
    "CARD_FILENAME",
    "FORMATS",
    "FORMAT_FILES",
    "Kind",
    "format_named",
    "MAX_CARD_BYTES",
    "NetworkFormat",
    "DOMAIN_TAGS",
    "EFFECT_TYPES",
    "Chunking",
    "CardWarning",
    "ModelCard",
    "ModelFormat",
    "SCHEMA_PATH",
    "card_json_schema",
    "card_schema_text",
    "load_card",
    "parse_card_json",
]

CARD_FILENAME = "metadata.json"

#: The JSON schema shipped in the package (regenerate with ``python -m deepfx.card``).
SCHEMA_PATH = Path(__file__).resolve().parent / "schema" / "card.schema.json"

#: What a model does, as the rest of deepfx names it: an effect writes audio
#: (``waveform-to-waveform``), an analyzer writes labels (``waveform-to-labels``).
Kind = Literal["effect", "analyzer"]
EffectType = Literal["waveform-to-waveform", "waveform-to-labels"]
DomainTag = Literal["music", "environmental", "speech", "other"]
ModelFormat = Literal["torchscript", "torch.export", "onnx"]

EFFECT_TYPES: tuple[str, ...] = ("waveform-to-waveform", "waveform-to-labels")
DOMAIN_TAGS: tuple[str, ...] = ("music", "environmental", "speech", "other")


class NetworkFormat(NamedTuple):
    """One network format: its name, the one file name it has in a model folder, its
    suffix and the other names users type for it."""

    name: str
    file: str
    suffix: str
    aliases: tuple[str, ...]


#: The formats table, in the order the host prefers them. A network is only ever loaded
#: from ``<model folder>/<file>``: nothing in a card or from a server names another path.
FORMATS: tuple[NetworkFormat, ...] = (
    NetworkFormat("torchscript", "model.pt", ".pt", ("ts", "pt")),
    NetworkFormat("torch.export", "model.pt2", ".pt2", ("pt2", "export", "torch_export")),
    NetworkFormat("onnx", "model.onnx", ".onnx", ()),
)

#: File name of the network for each format, in the order the host prefers them.
FORMAT_FILES: dict[str, str] = {f.name: f.file for f in FORMATS}


def format_named(text: str) -> NetworkFormat | None:
    """The format called ``text`` (its name or an alias, any case), else ``None``."""
    key = text.strip().lower()
    return next((f for f in FORMATS if key == f.name or key in f.aliases), None)


#: A card bigger than this is refused before it is parsed (real cards are a few KB).
MAX_CARD_BYTES = 1024 * 1024


class CardWarning(UserWarning):
    """Emitted when a legacy card was normalised on a lenient read."""


class Chunking(BaseModel):
    """How the host should cut long audio for this model.

    ``window_s`` and ``overlap_s`` are the preferred chunk length and the overlap between
    neighbouring chunks, in seconds. Set ``whole_input`` when the model must see the whole
    selection at once (the host then refuses inputs above its memory budget instead of
    cutting them).

    ``grid_samples`` (at the model's ``sample_rate``) makes every chunk start on a multiple
    of it. A strided network (a U-Net whose levels divide the time axis by 2,048 in all)
    computes each output sample from a different phase of its stride grid depending on
    where its input starts, so chunks cut anywhere differ from the whole-input output by
    far more than any crossfade hides; on the grid, and with the network padding at the
    *end* only, they match it to float precision.
    """

    model_config = ConfigDict(extra="forbid")

    window_s: float | None = Field(default=None, gt=0)
    overlap_s: float | None = Field(default=None, ge=0)
    whole_input: bool = False
    grid_samples: int | None = Field(default=None, ge=1, le=1 << 20)


class ModelCard(BaseModel):
    """A deepfx / Audacity model card.

    Core fields (the original schema): ``short_description`` (<= 60 chars),
    ``long_description`` (<= 280), ``domain_tags`` (<= 4 of music, environmental,
    speech, other), ``tags`` (<= 5, unique), ``effect_type``, ``multichannel``,
    ``labels`` (output track names for effects, class names for analyzers) and
    ``sample_rate`` in Hz (1..384000).
    """

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    # --- the original schema -----------------------------------------------------------
    name: str | None = None
    author: str | None = None
    short_description: str = Field(max_length=60)
    long_description: str = Field(max_length=280)
    domain_tags: list[DomainTag] = Field(max_length=4)
    tags: list[str] = Field(default_factory=list, max_length=5)
    effect_type: EffectType
    multichannel: bool
    labels: list[str] = Field(min_length=1)
    sample_rate: int = Field(ge=1, le=384000)

    # --- deepfx extensions (all optional, ignored by the original host) ----------------
    version: str | None = Field(default=None, description="Version of this model release.")
    license: str | None = Field(default=None, description="SPDX id of the weights' licence.")
    authors: list[str] | None = Field(default=None, description="People who made the model.")
    citation: str | None = Field(default=None, description="How to cite (BibTeX or text).")
    links: dict[str, str] | None = Field(
        default=None, description="Named links: paper, code, demo, weights..."
    )
    training_data: str | None = Field(default=None, description="What the weights were trained on.")
    model_file: str | None = Field(default=None, description="Network file inside the folder.")
    model_format: ModelFormat | None = Field(default=None, description="Format of model_file.")
    exported_with: dict[str, str] | None = Field(
        default=None,
        description='Framework versions the network was exported with, e.g. {"torch": "2.13.0"}.',
    )
    chunking: Chunking | None = None
    latency_samples: int = Field(
        default=0, ge=0, description="Delay of the output relative to the input, in samples."
    )
    min_input_s: float | None = Field(
        default=None, gt=0, description="Shortest input the model accepts, in seconds."
    )

    @field_validator("model_file")
    @classmethod
    def _model_file_in_table(cls, v: str | None) -> str | None:
        # a path here would let a card load a network outside its (hashed) folder
        if v is not None and v not in FORMAT_FILES.values():
            raise ValueError(
                f"must be one of {', '.join(FORMAT_FILES.values())} (a file name in the model "
                f"folder, not a path; got {excerpt(v)})"
            )
        return v

    @field_validator("tags")
    @classmethod
    def _unique_tags(cls, v: list[str]) -> list[str]:
        dupes = sorted({t for t in v if v.count(t) > 1})
        if dupes:
            raise ValueError(f"tags must be unique (repeated: {', '.join(dupes)})")
        return v

    @field_validator("domain_tags")
    @classmethod
    def _unique_domains(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError("domain_tags must be unique")
        return v

    @field_validator("labels")
    @classmethod
    def _nonempty_labels(cls, v: list[str]) -> list[str]:
        if any(not str(label).strip() for label in v):
            raise ValueError("labels must be non-empty strings")
        return v

    # --- convenience -------------------------------------------------------------------

    @property
    def is_effect(self) -> bool:
        return self.effect_type == "waveform-to-waveform"

    @property
    def is_analyzer(self) -> bool:
        return self.effect_type == "waveform-to-labels"

    @property
    def kind(self) -> str:
        """``"effect"`` or ``"analyzer"``: the words users see."""
        return "effect" if self.is_effect else "analyzer"

    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any], *, strict: bool = True, path: Path | None = None
    ) -> ModelCard:
        """Build a card from parsed JSON.

        With ``strict=False`` legacy deviations are fixed and reported as
        :class:`CardWarning`; anything that still breaks a rule raises :class:`CardError`.
        """
        if not isinstance(data, Mapping):
            raise CardError("a model card must be a JSON object", path=path)
        raw = dict(data)
        notes: list[str] = []
        if not strict:
            raw, notes = _normalise_legacy(raw)
        try:
            card = cls.model_validate(raw)
        except ValidationError as exc:
            raise CardError("invalid model card", path=path, problems=_describe(exc)) from None
        for note in notes:
            warnings.warn(f"{path or 'model card'}: {note}", CardWarning, stacklevel=2)
        return card

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict without unset optional extensions (keeps cards short)."""
        return self.model_dump(mode="json", exclude_none=True)

    def write(self, path: Path) -> None:
        """Write as pretty JSON, atomically (temp file then rename)."""
        from deepfx._fs import atomic_write_text

        atomic_write_text(path, json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n")


def load_card(path: Path | str, *, strict: bool = True) -> ModelCard:
    """Read a card from ``metadata.json`` (or a model folder containing one)."""
    p = Path(path)
    if p.is_dir():
        p = p / CARD_FILENAME
    if not p.is_file():
        raise CardError(f"no {CARD_FILENAME} found; every model folder needs a model card", path=p)
    with open(p, "rb") as fh:
        raw = fh.read(MAX_CARD_BYTES + 1)
    if len(raw) > MAX_CARD_BYTES:
        raise CardError(
            f"the card is larger than {MAX_CARD_BYTES // 1024} KiB; a model card is a short "
            "JSON text (put long texts in README.md)",
            path=p,
        )
    return ModelCard.from_dict(parse_card_json(raw, path=p), strict=strict, path=p)


def parse_card_json(raw: bytes, *, path: Path | None = None) -> Any:
    """Parse card bytes; every way JSON can fail (bad UTF-8, syntax, a number of thousands
    of digits, nesting deeper than Python's stack) is a :class:`CardError`."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise CardError("not a UTF-8 text file", path=path) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise CardError(
            f"not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})", path=path
        ) from None
    except RecursionError:
        raise CardError("the JSON is nested too deeply to be a model card", path=path) from None
    except ValueError:  # int() refuses numbers of more than 4300 digits
        raise CardError(
            "the JSON holds a number with too many digits to be a model card value", path=path
        ) from None


def card_json_schema() -> dict[str, Any]:
    """The JSON schema of the card, generated from :class:`ModelCard`."""
    schema = ModelCard.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "deepfx model card (metadata.json)"
    return schema


def card_schema_text() -> str:
    """The schema as the exact text of the shipped ``card.schema.json``."""
    return json.dumps(card_json_schema(), indent=2, ensure_ascii=False) + "\n"


def _main(argv: list[str] | None = None) -> int:
    """``python -m deepfx.card [--check]``: (re)write or check the shipped schema file."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m deepfx.card",
        description=f"Regenerate {SCHEMA_PATH.name} from the ModelCard model.",
    )
    parser.add_argument("--check", action="store_true", help="only check it is up to date")
    args = parser.parse_args(argv)
    text = card_schema_text()
    current = SCHEMA_PATH.read_text(encoding="utf-8") if SCHEMA_PATH.is_file() else None
    if args.check:
        if current != text:
            print(f"{SCHEMA_PATH} is out of date; run `python -m deepfx.card`")
            return 1
        print(f"{SCHEMA_PATH} is up to date")
        return 0
    if current != text:
        from deepfx._fs import atomic_write_text

        atomic_write_text(SCHEMA_PATH, text)
        print(f"wrote {SCHEMA_PATH}")
    else:
        print(f"{SCHEMA_PATH} already up to date")
    return 0


# --- internals --------------------------------------------------------------------------


def _describe(exc: ValidationError) -> list[str]:
    """Turn pydantic's errors into ``field: rule`` lines a contributor can act on."""
    out = []
    for err in exc.errors():
        loc = ".".join(_short(str(part), 40) for part in err["loc"]) or "(card)"
        kind = err["type"]
        ctx = err.get("ctx") or {}
        value = err.get("input")
        if kind == "missing":
            msg = "required field is missing"
        elif kind == "string_too_long":
            msg = f"at most {ctx.get('max_length')} characters (got {len(value)})"
        elif kind == "too_long":
            msg = f"at most {ctx.get('max_length')} items (got {ctx.get('actual_length')})"
        elif kind == "too_short":
            msg = f"at least {ctx.get('min_length')} item(s) required"
        elif kind == "literal_error":
            msg = f"must be one of {ctx.get('expected')} (got {excerpt(value)})"
        elif kind in ("greater_than_equal", "less_than_equal", "greater_than"):
            msg = f"{err['msg'].lower()} (got {excerpt(value)})"
        else:
            msg = err["msg"]
            if msg.startswith("Value error, "):
                msg = msg[len("Value error, ") :]
            msg = _short(msg, 200)
        out.append(f"{loc}: {msg}")
    return out


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def _normalise_legacy(raw: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    notes: list[str] = []
    tags = raw.get("domain_tags")
    if isinstance(tags, str):
        tags = [tags]
    if isinstance(tags, list):
        fixed = []
        for t in tags:
            low = str(t).strip().lower()
            if low not in DOMAIN_TAGS:
                notes.append(f"domain tag {excerpt(t)} is not one of {DOMAIN_TAGS}; using 'other'")
                low = "other"
            elif low != t:
                notes.append(f"domain tag {excerpt(t)} normalised to {low!r}")
            if low not in fixed:
                fixed.append(low)
        if len(fixed) > 4:
            notes.append(f"{len(fixed)} domain tags; keeping the first 4")
            fixed = fixed[:4]
        raw["domain_tags"] = fixed
    if "tags" not in raw or raw["tags"] is None:
        notes.append("no 'tags' list; using an empty one")
        raw["tags"] = []
    elif isinstance(raw["tags"], list):
        uniq: list[str] = []
        for t in raw["tags"]:
            if str(t) not in uniq:
                uniq.append(str(t))
        if len(uniq) != len(raw["tags"]):
            notes.append("repeated tags removed")
        if len(uniq) > 5:
            notes.append(f"{len(uniq)} tags; keeping the first 5")
            uniq = uniq[:5]
        raw["tags"] = uniq
    for key, limit in (("short_description", 60), ("long_description", 280)):
        val = raw.get(key)
        if val is None:
            other = raw.get(
                "long_description" if key == "short_description" else "short_description"
            )
            raw[key] = str(other or raw.get("name") or "")[:limit]
            notes.append(f"no {key}; derived one")
        elif isinstance(val, str) and len(val) > limit:
            raw[key] = val[: limit - 1] + "…"
            notes.append(f"{key} longer than {limit} characters; truncated")
    et = raw.get("effect_type")
    if isinstance(et, str) and et.strip().lower() != et:
        raw["effect_type"] = et.strip().lower()
        notes.append(f"effect_type {excerpt(et)} normalised")
    sr = raw.get("sample_rate")
    if isinstance(sr, float) and sr.is_integer():
        raw["sample_rate"] = int(sr)
    if isinstance(sr, str) and sr.strip().isdigit():
        raw["sample_rate"] = int(sr)
        notes.append("sample_rate given as a string; converted")
    mc = raw.get("multichannel")
    if isinstance(mc, str) and mc.lower() in ("true", "false"):
        raw["multichannel"] = mc.lower() == "true"
        notes.append("multichannel given as a string; converted")
    return raw, notes


if __name__ == "__main__":  # pragma: no cover - exercised through a subprocess in tests
    raise SystemExit(_main())
