"""Check a run's planned outputs against the file system before anything is written.

The engine names every output first (:func:`deepfx.outputs.names.plan_names`), then
calls :func:`check_targets` and :func:`check_audio_formats`; only when both pass does it
create the output folder and start the model. So a run that cannot finish fails at
once, with a specific error, and leaves nothing behind:

* an output that is one of the run's inputs (same path after resolving links, or the
  same file through a hard link or a case-insensitive file system) ->
  :class:`~deepfx.errors.OutputConflictError`;
* two outputs on one path -> :class:`~deepfx.errors.OutputConflictError`;
* an output name held by a folder, an output folder that is a file, read-only or not
  ours to write -> :class:`~deepfx.errors.OutputError`;
* more outputs open at once than the process may open files -> ``OutputError``;
* a format that cannot hold the audio (MP3 with 8 channels, a rate it cannot store) ->
  ``OutputError`` that names the formats that can.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

import soundfile as sf

from deepfx.errors import OutputConflictError, OutputError, excerpt

__all__ = [
    "PROVENANCE_PREFIX",
    "ExistingOutputs",
    "check_audio_formats",
    "check_open_files",
    "check_targets",
    "made_by",
    "provenance",
    "real",
]

#: How an audio output records the model that made it (its ``comment`` tag, in formats
#: with tags: WAV, FLAC, OGG, AIFF), so a later run can tell its own outputs from another
#: model's (:mod:`deepfx.outputs.names`).
PROVENANCE_PREFIX = "made by deepfx from "


def provenance(model: str) -> str:
    """The ``comment`` tag written into an audio output made by ``model``."""
    return PROVENANCE_PREFIX + model


def made_by(path: Path) -> str:
    """The model an existing output was made by (from its tag), or ``""`` (unknown: no
    tag, not audio, not deepfx's, unreadable)."""
    try:
        with sf.SoundFile(str(path)) as fh:
            comment = str(fh.comment or "")
    except Exception:  # noqa: BLE001 - not audio, unreadable: unknown maker
        return ""
    return comment[len(PROVENANCE_PREFIX) :] if comment.startswith(PROVENANCE_PREFIX) else ""


class ExistingOutputs:
    """What is already in an output folder, for naming (read once per subfolder, names
    compared case-insensitively): ``exists(rel)`` and ``made_by(rel)`` for paths
    relative to the folder."""

    def __init__(self, out_dir: Path):
        self.out_dir = out_dir
        self._listed: dict[str, dict[str, str]] = {}

    def _names(self, folder: str) -> dict[str, str]:
        if folder not in self._listed:
            try:
                entries = os.listdir(self.out_dir / folder) if folder else os.listdir(self.out_dir)
            except OSError:
                entries = []
            self._listed[folder] = {e.casefold(): e for e in entries}
        return self._listed[folder]

    def exists(self, rel: str) -> bool:
        folder, _, name = rel.rpartition("/")
        return name.casefold() in self._names(folder)

    def made_by(self, rel: str) -> str:
        folder, _, name = rel.rpartition("/")
        real_name = self._names(folder).get(name.casefold())
        if real_name is None:
            return ""
        return made_by(self.out_dir / folder / real_name if folder else self.out_dir / real_name)


#: Formats offered as alternatives when one cannot hold the audio.
_CANDIDATES = ("WAV", "FLAC", "OGG", "MP3", "AIFF")
_EXT = {"WAV": "wav", "FLAC": "flac", "OGG": "ogg", "MP3": "mp3", "AIFF": "aiff"}


def real(path: Path) -> Path:
    """Where writing ``path`` lands: its folder resolved through links, plus its name.

    The name itself is not resolved: outputs are renamed into place, which replaces a
    link rather than writing through it.
    """
    return Path(os.path.realpath(path.parent)) / path.name


def _key(path: Path) -> str:
    return os.path.normcase(str(path)).casefold()


def _short(path: Path) -> str:
    """A path for a message: whole when short, else its start and its end (the end names
    the file; the start says where)."""
    text = str(path)
    if len(text) <= 100:
        return repr(text)
    return repr(text[:40] + "..." + text[-50:]) + f" ({len(text)} characters)"


def _stat_error(path: Path, exc: OSError, what: str) -> OutputError:
    if exc.errno == errno.ENAMETOOLONG:
        why = "has a name too long for the file system"
    elif exc.errno == errno.ENOTDIR:
        why = "cannot be made: a part of its path is a file"
    elif exc.errno in (errno.EACCES, errno.EPERM):
        why = "cannot be reached (permission denied)"
    else:
        why = f"cannot be used ({exc.strerror or exc})"
    return OutputError(f"the {what} {_short(path)} {why}; choose another -o folder")


def _exists(path: Path, what: str) -> bool:
    try:
        os.stat(path)
        return True
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise _stat_error(path, exc, what) from None


def _existing_ancestor(path: Path) -> Path:
    p = path
    while not _exists(p, "output folder"):
        if p.parent == p:
            break
        p = p.parent
    return p


def check_targets(outputs: Sequence[Path], inputs: Sequence[Path], out_dir: Path) -> None:
    """Refuse outputs that would destroy an input or each other, or cannot be written."""
    _check_folder(out_dir)
    in_real = {_key(Path(os.path.realpath(p))): p for p in inputs}
    in_stat: dict[tuple[int, int], Path] = {}
    for p in inputs:
        with contextlib.suppress(OSError):
            st = os.stat(p)
            in_stat[(st.st_dev, st.st_ino)] = p
    seen: dict[str, Path] = {}
    for out in outputs:
        target = real(out)
        key = _key(target)
        hit = in_real.get(key)
        if hit is None:
            with contextlib.suppress(OSError):
                st = os.stat(target)
                hit = in_stat.get((st.st_dev, st.st_ino))
        if hit is not None:
            raise OutputConflictError(
                f"output {excerpt(out.name)} would overwrite the input {_short(hit)}; "
                "nothing was written: choose another -o folder or --name-template"
            )
        if key in seen:
            raise OutputConflictError(
                f"two outputs would both be written to {_short(out)}; nothing was "
                "written: put {stem} and {label} in --name-template"
            )
        seen[key] = out
        if _exists(target, "output") and target.is_dir():
            raise OutputError(
                f"the output name {_short(out)} is taken by a folder; remove it or "
                "choose another -o folder or --name-template"
            )


def _check_folder(out_dir: Path) -> None:
    if _exists(out_dir, "output folder") and not out_dir.is_dir():
        raise OutputError(f"the output folder {_short(out_dir)} is a file; choose another -o")
    base = _existing_ancestor(out_dir)
    if not base.is_dir():
        raise OutputError(
            f"cannot create the output folder {_short(out_dir)}: {_short(base)} is a file"
        )
    if not os.access(base, os.W_OK | os.X_OK):
        what = "output folder" if base == out_dir else "folder that would hold the outputs"
        raise OutputError(
            f"the {what} {_short(base)} is not writable (read-only or permission "
            "denied); choose another -o folder"
        )


def check_open_files(at_once: int) -> None:
    """Refuse a run that must hold more files open than the process may.

    The soft limit is first raised towards the hard one (what ``ulimit -n`` would do).
    """
    try:
        import resource
    except ImportError:  # Windows: the C runtime's limit (512+) is far above any card
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = at_once + 32  # stdio, the model file, libraries, the input, a margin
    if soft != resource.RLIM_INFINITY and soft < need:
        new = need if hard == resource.RLIM_INFINITY else min(hard, need)
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
            soft = new
    if soft != resource.RLIM_INFINITY and soft < need:
        raise OutputError(
            f"this run writes {at_once} files at once but the process may open only {soft} "
            f"files; raise the limit (`ulimit -n {need}`) or keep fewer outputs with --stems"
        )


def _can_write(fmt: str, subtype: str, channels: int, rate: int, folder: str) -> str | None:
    """Open a probe file with these parameters; ``None`` if libsndfile accepts them, else why."""
    if not sf.check_format(fmt, subtype):
        return f"{fmt} cannot store subtype {subtype}"
    fd, probe = tempfile.mkstemp(
        prefix=".deepfx-probe-", suffix="." + _EXT.get(fmt, "bin"), dir=folder
    )
    os.close(fd)
    try:
        with sf.SoundFile(
            probe, "w", samplerate=rate, channels=channels, format=fmt, subtype=subtype
        ):
            pass
        return None
    except (sf.LibsndfileError, RuntimeError, ValueError) as exc:
        text = (str(exc).strip().splitlines() or ["refused"])[0]
        text = re.sub(r"^Error opening '[^']*': ", "", text).removeprefix("Error : ")
        return text.strip()[:200]
    finally:
        with contextlib.suppress(OSError):
            os.unlink(probe)


def check_audio_formats(combos: Iterable[tuple[str, str, int, int]]) -> None:
    """Check that every ``(format, subtype, channels, rate)`` can be written.

    Each combination is tried once on a probe file in the system's temp folder (never in
    the output folder), so a format libsndfile refuses is reported before any output
    exists. The error lists the formats that can hold the audio.
    """
    with tempfile.TemporaryDirectory(prefix="deepfx-probe-") as folder:
        for fmt, subtype, channels, rate in sorted(set(combos)):
            why = _can_write(fmt, subtype, channels, rate, folder)
            if why is None:
                continue
            ok = [
                _EXT[f]
                for f in _CANDIDATES
                if _can_write(f, sf.default_subtype(f) or "PCM_16", channels, rate, folder) is None
            ]
            hint = f"formats that can: {', '.join(ok)}" if ok else "no format here can"
            raise OutputError(
                f"{fmt}/{subtype} cannot hold {channels} channel(s) at {rate} Hz ({why}); "
                f"nothing was written; {hint} (--format)"
            )
