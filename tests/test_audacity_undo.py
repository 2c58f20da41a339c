"""What Audacity's history and track list look like after an apply (real Audacity).

Measured through the pipe as a user meets them: ``Undo:`` / ``Redo:`` are Ctrl+Z /
Ctrl+Y, then ``GetInfo`` shows the tracks, clips and labels. One apply of an effect is
one undo step per output (each an import that already holds the output's name and
position), one apply of an analyzer is one step; no step brings back an empty label
track. Also: names when applying again, and a cursor (no time range) taking whole tracks.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import audacity_models as models
import numpy as np
import pytest
from audacity_harness import (  # noqa: F401 - fixtures used by name
    AudacitySession,
    audacity_fixture,
    audacity_session_fixture,
)

from deepfx.audacity import bridge
from deepfx.errors import SelectionError

pytestmark = pytest.mark.audacity

RATE = models.RATE


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("models")
    models.gain_and_invert(root)
    models.loudness_labeler(root)
    return root


def _voice(s: AudacitySession, tmp: Path, seconds: float = 3.0) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    amp = np.where((t >= 1.0) & (t < 1.5), 0.8, 0.05)
    signal = (amp * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    s.import_audio(tmp / "voice.wav", signal, RATE)
    return signal


def _snapshot(s: AudacitySession) -> tuple[Any, Any, Any]:
    assert s.pipe is not None
    tracks = s.pipe.get_info("Tracks")
    for t in tracks:
        t.pop("focused", None)
    return tracks, s.pipe.get_info("Clips"), s.pipe.get_info("Labels")


def _undo_steps(s: AudacitySession, before: Any, limit: int = 30) -> list[Any]:
    """Ctrl+Z until the project is ``before`` again; the states seen on the way."""
    assert s.pipe is not None
    seen = []
    while _snapshot(s) != before:
        assert len(seen) < limit, "the apply did not come undone"
        s.pipe.send("Undo:")
        seen.append(_snapshot(s))
    return seen


def _redo(s: AudacitySession, n: int) -> None:
    assert s.pipe is not None
    for _ in range(n):
        s.pipe.send("Redo:")


def test_effect_is_one_undo_step_per_output_and_redo_keeps_names_and_places(
    audacity: AudacitySession, tmp_path: Path, model_dir: Path
) -> None:
    _voice(audacity, tmp_path)
    assert audacity.pipe is not None
    audacity.pipe.do("Select", Start=0.5, End=1.5, Track=0)
    before = _snapshot(audacity)
    bridge.apply(model_dir / "gain_and_invert", pipe=audacity.pipe)
    after = _snapshot(audacity)
    assert [(t["name"], t["start"], t["end"]) for t in after[0]] == [
        ("voice", 0, 3),
        ("voice - half", 0.5, 1.5),
        ("voice - inverted", 0.5, 1.5),
    ]

    states = _undo_steps(audacity, before)

    assert len(states) == 2  # one import per output, nothing else
    first = states[0]
    assert [t["name"] for t in first[0]] == ["voice", "voice - half"]  # no ghost track
    assert all(t["kind"] == "wave" for t in first[0]) and first[2] == []
    _redo(audacity, len(states))
    assert _snapshot(audacity)[0] == after[0] or [
        (t["name"], t["start"], t["end"]) for t in _snapshot(audacity)[0]
    ] == [(t["name"], t["start"], t["end"]) for t in after[0]]
    assert _snapshot(audacity)[1] == after[1]


def test_one_output_is_one_undo_step(
    audacity: AudacitySession, tmp_path: Path, model_dir: Path
) -> None:
    _voice(audacity, tmp_path)
    assert audacity.pipe is not None
    audacity.pipe.do("Select", Start=0.5, End=1.5, Track=0)
    before = _snapshot(audacity)
    bridge.apply(model_dir / "gain_and_invert", stems=["half"], pipe=audacity.pipe)
    after = _snapshot(audacity)
    states = _undo_steps(audacity, before)
    assert len(states) == 1
    assert states[0][0] == before[0]  # the first Ctrl+Z: tracks and their selection as before
    _redo(audacity, 1)
    assert _snapshot(audacity)[1] == after[1]
    assert [t["name"] for t in _snapshot(audacity)[0]] == ["voice", "voice - half"]


def test_analyzer_is_one_undo_step_with_its_name_and_labels(
    audacity: AudacitySession, tmp_path: Path, model_dir: Path
) -> None:
    _voice(audacity, tmp_path)
    assert audacity.pipe is not None
    audacity.pipe.do("Select", Start=0.5, End=2.5, Track=0)
    before = _snapshot(audacity)
    result = bridge.apply(model_dir / "loudness_labeler", pipe=audacity.pipe)
    after = _snapshot(audacity)
    assert result.added and result.added[0].labels > 0
    assert [t["name"] for t in after[0]] == ["voice", "loudness_labeler - labels"]

    states = _undo_steps(audacity, before)

    assert len(states) == 1
    assert states[0][0] == before[0]  # no empty "Labels 1" track, the same selection
    _redo(audacity, 1)
    again = _snapshot(audacity)
    assert [t["name"] for t in again[0]] == ["voice", "loudness_labeler - labels"]
    assert again[2] == after[2]  # every label, with its text


def test_repeated_applies_get_the_model_then_a_number(
    audacity: AudacitySession, tmp_path: Path, model_dir: Path
) -> None:
    _voice(audacity, tmp_path)
    assert audacity.pipe is not None
    for _ in range(3):
        audacity.pipe.do("Select", Start=0.5, End=2.5, Track=0)
        bridge.apply(model_dir / "gain_and_invert", stems=["half"], pipe=audacity.pipe)
    for _ in range(2):
        audacity.pipe.do("Select", Start=0.5, End=2.5, Track=0)
        bridge.apply(model_dir / "loudness_labeler", pipe=audacity.pipe)
    assert [t["name"] for t in audacity.pipe.get_info("Tracks")] == [
        "voice",
        "voice - half",
        "voice - half (gain_and_invert)",
        "voice - half (gain_and_invert) (2)",
        "loudness_labeler - labels",
        "loudness_labeler - labels (2)",
    ]


def test_cursor_applies_to_the_whole_selected_tracks(
    audacity: AudacitySession, tmp_path: Path, model_dir: Path
) -> None:
    signal = _voice(audacity, tmp_path, seconds=2.0)
    assert audacity.pipe is not None
    audacity.pipe.do("Select", Start=1.2, End=1.2, Track=0)  # a click: no time range
    result = bridge.apply(model_dir / "gain_and_invert", stems=["inverted"], pipe=audacity.pipe)
    assert (result.start_s, result.end_s) == (0.0, 2.0)
    tracks = audacity.pipe.get_info("Tracks")
    assert [(t["name"], t["start"], t["end"]) for t in tracks] == [
        ("voice", 0, 2),
        ("voice - inverted", 0, 2),
    ]
    assert result.added[0].samples == signal.size


def test_no_selected_track_is_said_before_the_model_loads(
    audacity: AudacitySession, tmp_path: Path
) -> None:
    """Nothing selected: the error comes at once, without loading the model (here one
    that cannot load at all: the selection error wins)."""
    _voice(audacity, tmp_path, seconds=1.0)
    assert audacity.pipe is not None
    audacity.pipe.do("SelectNone")
    broken = tmp_path / "broken"
    broken.mkdir()
    with pytest.raises(SelectionError, match="no audio track is selected"):
        bridge.apply(broken, pipe=audacity.pipe)
