"""The results manifest, ``OUT/deepfx-batch.jsonl``: what is done, and proof of it.

One JSON object per input (:class:`Record`): status (``ok`` / ``failed`` / ``skipped``),
the outputs with their sizes and SHA-256, audio and wall seconds, the error class and
message of a failure, and a *config* fingerprint (model + options) plus the input's size
and mtime, so a re-run knows whether an old result still answers the same question.

Only the driver writes it. During a run each finished input is appended and fsync'ed, so
a driver killed at any moment loses at most the line it was writing (a torn last line is
ignored on reading); at the end the file is rewritten atomically with one line per input.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal

from deepfx._fs import atomic_write_text

if TYPE_CHECKING:
    from deepfx.batch.remote import Target

__all__ = ["MANIFEST_NAME", "Manifest", "OutputFile", "Record", "file_sha256", "verified"]

MANIFEST_NAME = "deepfx-batch.jsonl"

Status = Literal["ok", "failed", "skipped"]


@dataclass(frozen=True)
class OutputFile:
    """One written output: its label, path relative to the output folder, size, hash."""

    label: str
    path: str
    size: int
    sha256: str


@dataclass
class Record:
    """The result of one input (one manifest line)."""

    input: str
    key: str
    status: Status
    outputs: list[OutputFile] = field(default_factory=list)
    audio_s: float = 0.0
    wall_s: float = 0.0
    error_class: str | None = None
    error: str | None = None
    config: str = ""
    input_size: int = -1
    input_mtime_ns: int = -1
    node: str | None = None
    gpu_ids: list[str] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, ensure_ascii=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Record:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        known["outputs"] = [OutputFile(**o) for o in known.get("outputs") or []]
        return cls(**known)


def file_sha256(path: Path) -> str:
    """SHA-256 of a file, read in 1 MiB pieces (outputs can be hours of audio)."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for piece in iter(lambda: fh.read(1 << 20), b""):
            digest.update(piece)
    return digest.hexdigest()


def input_stamp(path: Path) -> tuple[int, int]:
    """``(size, mtime_ns)`` of an input, or ``(-1, -1)`` when it cannot be read."""
    try:
        st = path.stat()
    except OSError:
        return -1, -1
    return st.st_size, st.st_mtime_ns


def verified(
    record: Record,
    out_dir: Path,
    *,
    config: str,
    stamp: tuple[int, int],
    target: Target | None = None,
) -> bool:
    """True when ``record`` proves its input is done: it succeeded with the same config,
    the input is unchanged, and every output exists with the recorded size and hash (on
    ``target`` when given: ``fs.info`` size, then the bytes read back and hashed)."""
    if record.status not in ("ok", "skipped") or not record.outputs:
        return False
    if record.config != config or (record.input_size, record.input_mtime_ns) != stamp:
        return False
    for out in record.outputs:
        if target is not None:
            if not target.matches(out.path, out.size, out.sha256):
                return False
            continue
        path = out_dir / out.path
        try:
            if path.stat().st_size != out.size:
                return False
            if file_sha256(path) != out.sha256:
                return False
        except OSError:
            return False
    return True


class Manifest:
    """Read the previous results, append new ones durably, compact at the end."""

    def __init__(self, out_dir: Path):
        self.path = out_dir / MANIFEST_NAME
        self.records: dict[str, Record] = {}  # key -> latest record
        self._fh: IO[str] | None = None

    def load(self) -> dict[str, Record]:
        """The latest record per key from an existing manifest (torn lines skipped)."""
        self.records = {}
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return self.records
        for line in text.splitlines():
            try:
                rec = Record.from_dict(json.loads(line))
            except (ValueError, TypeError, KeyError):
                continue  # a line torn by a killed driver, or not ours
            self.records[rec.key] = rec
        return self.records

    def append(self, record: Record) -> None:
        """Record one result now (flushed and fsync'ed before returning)."""
        if self._fh is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = self.path.open("a", encoding="utf-8")
            # a line torn by an earlier kill must not swallow the first new one
            if self._fh.tell() > 0 and not self.path.read_bytes().endswith(b"\n"):
                self._fh.write("\n")
        self._fh.write(record.to_json() + "\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self.records[record.key] = record

    def text(self) -> str:
        """The manifest with one line per input (sorted by key)."""
        return "".join(self.records[k].to_json() + "\n" for k in sorted(self.records))

    def compact(self) -> None:
        """Rewrite the manifest atomically with one line per input (sorted by key)."""
        self.close()
        atomic_write_text(self.path, self.text())

    def close(self) -> None:
        if self._fh is not None:
            with contextlib.suppress(OSError):
                self._fh.close()
            self._fh = None
