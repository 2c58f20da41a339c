"""What a batch runs on: a folder, a glob or a manifest, turned into rows.

Each :class:`Row` carries the input path and its *key*: the output location relative to
the output folder, without extension (``"radio/1999/show-01"``). Keys mirror the inputs'
relative paths, so ``a/song.wav`` and ``b/song.wav`` never collide; two inputs that would
share a key (``song.wav`` beside ``song.flac``) keep their extension in it
(``song.wav`` / ``song.flac``). Keys are checked here, once, so no output can ever land
outside the output folder.
"""

from __future__ import annotations

import csv
import glob
import json
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from deepfx.errors import UsageError

__all__ = ["AUDIO_EXTENSIONS", "Row", "collect", "keyed"]

#: File extensions a folder or glob picks up (lower case, with the dot).
AUDIO_EXTENSIONS = frozenset({".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif"})

#: Manifest columns: the input and, optionally, its output location (key).
PATH_COLUMN = "path"
OUTPUT_COLUMN = "output"


@dataclass(frozen=True)
class Row:
    """One input of a batch: ``path`` (absolute) and ``key`` (relative output stem)."""

    path: Path
    key: str

    @property
    def stem(self) -> str:
        """The name outputs are built from (the ``{stem}`` of the name template)."""
        return PurePosixPath(self.key).name


def collect(spec: str | Path) -> list[Row]:
    """Rows for a folder (recursive), a glob pattern, or a ``.csv`` / ``.jsonl`` manifest.

    Raises
    ------
    UsageError
        Nothing matches, a manifest lacks its ``path`` column, or an ``output`` value is
        absolute, leaves the output folder or is used twice.
    """
    text = str(spec)
    path = Path(text).expanduser()
    if path.is_dir():
        root = path.resolve()
        files = sorted(
            p for p in root.rglob("*") if p.suffix.lower() in AUDIO_EXTENSIONS and p.is_file()
        )
        if not files:
            raise UsageError(f"no audio files ({_exts()}) under {path}")
        return keyed([(p, None) for p in files], root)
    if path.is_file() and path.suffix.lower() in (".csv", ".jsonl"):
        return keyed(_manifest(path), None)
    if glob.has_magic(text):
        files = sorted(
            Path(p).resolve()
            for p in glob.glob(os.path.expanduser(text), recursive=True)
            if Path(p).is_file()
        )
        if not files:
            raise UsageError(f"the pattern {text!r} matches no files")
        return keyed([(p, None) for p in files], None)
    if path.is_file():
        return keyed([(path.resolve(), None)], path.resolve().parent)
    raise UsageError(
        f"{text!r} is not a folder, a file, a glob pattern or a .csv/.jsonl manifest; "
        "give one of those"
    )


def _exts() -> str:
    return ", ".join(sorted(e.lstrip(".") for e in AUDIO_EXTENSIONS))


def _manifest(path: Path) -> list[tuple[Path, str | None]]:
    """``(input, output or None)`` per manifest row; relative inputs are relative to the
    manifest's folder."""
    base = path.resolve().parent
    records: list[dict[str, object]] = []
    try:
        if path.suffix.lower() == ".csv":
            with path.open(newline="", encoding="utf-8") as fh:
                reader = csv.DictReader(fh)
                if PATH_COLUMN not in (reader.fieldnames or []):
                    raise UsageError(
                        f"manifest {path} has no {PATH_COLUMN!r} column; its header must name "
                        f"{PATH_COLUMN!r} (and optionally {OUTPUT_COLUMN!r})"
                    )
                records = [dict(r) for r in reader]
        else:
            for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if not line.strip():
                    continue
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise UsageError(f"manifest {path} line {n} is not JSON: {exc}") from None
                if not isinstance(rec, dict) or not isinstance(rec.get(PATH_COLUMN), str):
                    raise UsageError(
                        f"manifest {path} line {n} needs a {PATH_COLUMN!r} string field"
                    )
                records.append(rec)
    except OSError as exc:
        raise UsageError(f"cannot read manifest {path}: {exc}") from None
    if not records:
        raise UsageError(f"manifest {path} lists no inputs")
    rows: list[tuple[Path, str | None]] = []
    for rec in records:
        raw = str(rec.get(PATH_COLUMN) or "").strip()
        if not raw:
            raise UsageError(f"manifest {path} has a row with an empty {PATH_COLUMN!r}")
        p = Path(raw).expanduser()
        p = (p if p.is_absolute() else base / p).resolve()
        out = rec.get(OUTPUT_COLUMN)
        rows.append((p, str(out).strip() if out not in (None, "") else None))
    return rows


def keyed(items: list[tuple[Path, str | None]], root: Path | None) -> list[Row]:
    """Give every input its key: the explicit one, else its path relative to ``root``
    (default: the inputs' common folder) without extension, with it on a clash."""
    if root is None:
        parents = [str(p.parent) for p, _ in items]
        root = Path(os.path.commonpath(parents)) if parents else Path("/")
    seen: set[Path] = set()
    unique: list[tuple[Path, str | None]] = []
    for p, out in items:  # the same input listed twice runs once
        if p not in seen:
            seen.add(p)
            unique.append((p, out))

    def rel(p: Path) -> PurePosixPath:
        try:
            return PurePosixPath(p.relative_to(root).as_posix())
        except ValueError:  # outside the root (explicit manifest paths): name only
            return PurePosixPath(p.name)

    default = {p: str(rel(p).with_suffix("")) for p, out in unique if out is None}
    clashes = Counter(k.lower() for k in default.values())
    rows = []
    for p, out in unique:
        if out is not None:
            key = _check_key(out)
        else:
            key = default[p]
            if clashes[key.lower()] > 1:
                key = str(rel(p))
        rows.append(Row(path=p, key=key))
    dup = [k for k, n in Counter(r.key.lower() for r in rows).items() if n > 1]
    if dup:
        raise UsageError(
            f"two inputs would write to the same output {dup[0]!r}; give them different "
            f"{OUTPUT_COLUMN!r} values in the manifest"
        )
    return rows


def _check_key(value: str) -> str:
    """An explicit output key: relative, inside the output folder, a real name."""
    key = PurePosixPath(value.replace("\\", "/"))
    if key.is_absolute() or any(part in ("..", "") for part in key.parts) or not key.parts:
        raise UsageError(
            f"manifest output {value!r} must be a relative path inside the output folder "
            "(no leading /, no ..)"
        )
    if any(part.startswith(".") for part in key.parts):
        raise UsageError(f"manifest output {value!r} must not name hidden files or folders")
    return str(key)
