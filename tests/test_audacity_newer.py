"""Audacity 3.3-3.7 behaviours, faked at the pipe level (CI's real Audacity is 3.2).

A small stateful fake of mod-script-pipe (FIFOs, the protocol of tests/test_audacity_pipe)
answers the way newer versions do - verified against Audacity's sources:

* 3.6+ has ``GetInfo: Type=Selection`` (``{"Start": t0, "End": t1}``) and lists it among
  GetInfo's ``Type`` values in ``GetInfo: Type=Commands``; 3.2 answers it with a modal
  dialog (the fake records such a send as a hang);
* 3.5+ has the "Music Imports" preferences (``/FileFormats/MusicFileImport...Choice``):
  their defaults ask about tempo and stretch imported loops;
* 3.7 reports a wave track's gain as ``volume`` instead of ``gain``.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import audacity_models as models
import numpy as np
import pytest
import soundfile as sf

from deepfx.audacity import bridge
from deepfx.audacity.pipe import AudacityPipe
from deepfx.errors import AudacityCommandError

pytestmark = pytest.mark.skipif(os.name != "posix", reason="FIFOs are POSIX only")

RATE = models.RATE
GETINFO_TYPES_32 = ["Commands", "Menus", "Preferences", "Tracks", "Clips", "Envelopes"]
GETINFO_TYPES_32 += ["Labels", "Boxes"]


def _params(line: str) -> dict[str, str]:
    """``Name: A="x y" B=1`` -> {"A": "x y", "B": "1"}."""
    out: dict[str, str] = {}
    rest = line.partition(":")[2].strip()
    while rest:
        key, _, rest = rest.partition("=")
        if rest.startswith('"'):
            value, _, rest = rest[1:].partition('"')
        else:
            value, _, rest = rest.partition(" ")
        out[key.strip()] = value
        rest = rest.strip()
    return out


class FakeAudacity:
    """Enough of a project for bridge.status / bridge.apply: one stereo-less wave track."""

    def __init__(self, folder: Path, *, version: tuple[int, int], audio: np.ndarray):
        self.version = version
        self.to_path, self.from_path = str(folder / "to"), str(folder / "from")
        os.mkfifo(self.to_path)
        os.mkfifo(self.from_path)
        self.log: list[str] = []
        self.prefs: dict[str, str] = {}
        if version >= (3, 5):
            self.prefs["/FileFormats/MusicFileImportSettingChoice"] = "Yes"  # the user's
        self.tracks: list[dict[str, Any]] = [self._wave("song", audio, selected=True)]
        self.selection = (0.5, 1.5)
        self.import_prefs_at_import: list[dict[str, str]] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _wave(self, name: str, audio: np.ndarray, *, selected: bool) -> dict[str, Any]:
        gain_key = "volume" if self.version >= (3, 7) else "gain"
        return {
            "name": name,
            "kind": "wave",
            "selected": selected,
            "start": 0.0,
            "end": audio.shape[1] / RATE,
            "channels": audio.shape[0],
            gain_key: 0.5,
            "_audio": audio,
        }

    # --- the commands bridge uses -------------------------------------------------------
    def _answer(self, line: str) -> str | None:
        name = line.partition(":")[0]
        p = _params(line)
        if name == "Message":
            return p.get("Text", "")
        if name == "GetInfo":
            kind = p.get("Type")
            if kind == "Commands":
                types = GETINFO_TYPES_32 + (["Selection"] if self.version >= (3, 6) else [])
                param = {"key": "Type", "type": "enum", "default": "Commands", "enum": types}
                return json.dumps([{"id": "GetInfo", "name": "Get Info", "params": [param]}])
            if kind == "Tracks":
                return json.dumps(
                    [{k: v for k, v in t.items() if not k.startswith("_")} for t in self.tracks]
                )
            if kind == "Labels":
                return "[]"
            if kind == "Selection" and self.version >= (3, 6):
                return json.dumps({"Start": self.selection[0], "End": self.selection[1]})
            raise AssertionError(f"Audacity {self.version} would hang on {line!r} (a dialog)")
        if name == "GetPreference":
            return self.prefs.get(p["Name"], "")
        if name == "SetPreference":
            self.prefs[p["Name"]] = p["Value"]
            return ""
        if name in ("Select", "SelectTime"):
            if "Start" in p:
                self.selection = (float(p["Start"]), float(p["End"]))
            if "Track" in p:
                self._select(int(float(p["Track"])), int(float(p.get("TrackCount", "1"))), "Set")
            return ""
        if name == "SelectTracks":
            self._select(int(float(p["Track"])), int(float(p["TrackCount"])), p["Mode"])
            return ""
        if name == "SelectNone":
            self._select(0, 0, "Set")
            return ""
        if name == "Export2":
            track = next(t for t in self.tracks if t["selected"])
            a, b = (round(s * RATE) for s in self.selection)
            sf.write(p["Filename"], track["_audio"][:, a:b].T, RATE, subtype="FLOAT")
            return ""
        if name == "Import2":
            self.import_prefs_at_import.append(dict(self.prefs))
            files = [(p["Filename"], 0.0)]
            if p["Filename"].endswith(".lof"):  # 'file "path" offset t' lines
                files = [
                    (line.split('"')[1], float(line.rsplit("offset", 1)[1]))
                    for line in Path(p["Filename"]).read_text().splitlines()
                    if line.strip()
                ]
            for filename, offset in files:
                data, _ = sf.read(filename, dtype="float32", always_2d=True)
                for t in self.tracks:
                    t["selected"] = False
                track = self._wave(Path(filename).stem, data.T, selected=True)
                track["start"] += offset
                track["end"] += offset
                self.tracks.append(track)
            return "" if len(files) == 1 else None  # 3.2 answers Failed! to a .lof import
        if name == "SetClip":
            for t in self.tracks:
                if t["selected"]:
                    t["end"] += float(p["Start"]) - t["start"]
                    t["start"] = float(p["Start"])
            return ""
        if name == "SetTrack":
            for t in self.tracks:
                if t["selected"]:
                    t["name"] = p["Name"]
            return ""
        if name == "NewLabelTrack":
            self.tracks.append({"name": "Label", "kind": "label", "selected": False})
            return ""
        if name == "RemoveTracks":
            self.tracks = [t for t in self.tracks if not t["selected"]]
            return ""
        if name in ("AddLabel", "Undo"):
            raise AssertionError(f"{name} used although GetInfo Selection exists")
        return None

    def _select(self, first: int, count: int, mode: str) -> None:
        for i, t in enumerate(self.tracks):
            inside = first <= i < first + count
            t["selected"] = inside or (mode == "Add" and t["selected"])

    def _serve(self) -> None:
        with open(self.to_path, "rb") as commands, open(self.from_path, "wb") as answers:
            for raw in commands:
                line = raw.decode().rstrip("\n")
                if line == "Quit:":
                    return
                self.log.append(line)
                try:
                    text = self._answer(line)
                except AssertionError as exc:
                    self.log.append(f"ERROR {exc}")
                    text = None
                status = "OK" if text is not None else "Failed!"
                answers.write(f"{text or ''}\nBatchCommand finished: {status}\n\n".encode())
                answers.flush()

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            fd = os.open(self.to_path, os.O_WRONLY | os.O_NONBLOCK)
            os.write(fd, b"Quit:\n")
            os.close(fd)
        self.thread.join(timeout=2)

    def errors(self) -> list[str]:
        return [c for c in self.log if c.startswith("ERROR")]


def _audio() -> np.ndarray:
    t = np.arange(2 * RATE) / RATE
    return (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None, :]


@contextlib.contextmanager
def _audacity(tmp: Path, version: tuple[int, int]) -> Iterator[tuple[FakeAudacity, AudacityPipe]]:
    fake = FakeAudacity(tmp, version=version, audio=_audio())
    pipe = AudacityPipe(to_path=fake.to_path, from_path=fake.from_path, connect_timeout_s=10)
    try:
        with pipe:
            yield fake, pipe
    finally:
        fake.stop()


@pytest.mark.parametrize("version", [(3, 6), (3, 7)])
def test_selection_from_getinfo_selection_where_it_exists(
    tmp_path: Path, version: tuple[int, int]
) -> None:
    with _audacity(tmp_path, version) as (fake, pipe):
        status = bridge.status(pipe=pipe)
    assert status.selection is not None
    assert (status.selection.start_s, status.selection.end_s) == (0.5, 1.5)
    assert [t.name for t in status.selection.tracks] == ["song"]
    assert status.tracks[0].volume == 0.5  # `volume` in 3.7, `gain` in 3.6
    assert any('Type="Selection"' in c for c in fake.log) and not fake.errors()


def test_older_audacity_never_gets_getinfo_selection(tmp_path: Path) -> None:
    """3.2-3.5 list no Selection type: the label method is used, nothing hangs."""
    with _audacity(tmp_path, (3, 5)) as (fake, pipe):
        with pytest.raises(AudacityCommandError):  # the fake refuses AddLabel
            bridge.status(pipe=pipe)
    assert not any("Selection" in c and c.startswith("GetInfo") for c in fake.log)
    assert any(c.startswith("AddLabel") for c in fake.log)


@pytest.mark.parametrize("version", [(3, 6), (3, 7)])
def test_music_import_preferences_set_before_importing_results_then_restored(
    tmp_path: Path, version: tuple[int, int]
) -> None:
    folder = models.gain_and_invert(tmp_path / "models")
    with _audacity(tmp_path, version) as (fake, pipe):
        result = bridge.apply(folder, pipe=pipe, device="cpu")
    assert not fake.errors(), fake.errors()
    assert [t.label for t in result.added] == ["half", "inverted"]
    assert len(fake.import_prefs_at_import) == 1  # one import of a list of files
    for prefs in fake.import_prefs_at_import:  # no tempo dialog, no stretching
        assert prefs["/FileFormats/MusicFileImportSettingChoice"] == "No"
        assert prefs["/FileFormats/MusicFileImportOnExistingProjectSettingChoice"] == "DoNothing"
    # the user's own value comes back; a never-set one gets Audacity's default
    assert fake.prefs["/FileFormats/MusicFileImportSettingChoice"] == "Yes"
    assert (
        fake.prefs["/FileFormats/MusicFileImportOnExistingProjectSettingChoice"]
        == "MatchIfBeatsAndMeasures"
    )
    added = [t for t in fake.tracks if t["name"].startswith("song - ")]
    assert [t["start"] for t in added] == [0.5, 0.5]


def test_track_gain_read_as_gain_or_volume() -> None:
    assert bridge._volume({"gain": "0.25"}) == 0.25
    assert bridge._volume({"volume": 0.75}) == 0.75
    assert bridge._volume({}) is None
