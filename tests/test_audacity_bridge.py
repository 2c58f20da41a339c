"""End to end against a real Audacity (under Xvfb): status, effects, analyzers, errors.

Each test starts from an empty project in the session's Audacity, imports generated
audio, selects a range through the pipe, runs :func:`deepfx.audacity.bridge.apply`,
then reads the project back (GetInfo Tracks / Clips / Labels and exports) and compares
it with running the same model on the same samples directly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import audacity_models as models
import numpy as np
import pytest
import soundfile as sf
from audacity_harness import (  # noqa: F401 - fixtures used by name
    AudacitySession,
    audacity_fixture,
    audacity_session_fixture,
)

from deepfx.audacity import bridge
from deepfx.errors import CardError, ContractError, ModelLoadError, SelectionError
from deepfx.model import load_model

pytestmark = pytest.mark.audacity

RATE = models.RATE


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("models")
    models.gain_and_invert(root)
    models.loudness_labeler(root)
    models.too_many_outputs(root)
    return root


def _signal(seconds: float, freq: float, *, loud: tuple[float, float] = (1.0, 2.0)) -> np.ndarray:
    """Quiet sine with a loud stretch; float32 samples, exact in a float WAV."""
    t = np.arange(int(seconds * RATE)) / RATE
    amp = np.where((t >= loud[0]) & (t < loud[1]), 0.8, 0.05)
    return (amp * np.sin(2 * np.pi * freq * t + 0.3)).astype(np.float32)


def _export(s: AudacitySession, tmp: Path, track: int, start: float, end: float, ch: int) -> Any:
    """The samples of one track over [start, end] as Audacity exports them (float)."""
    assert s.pipe is not None
    out = tmp / f"check-{track}-{start}-{end}.wav"
    s.pipe.do("SetPreference", Name="/FileFormats/ExportFormat_SF1_Type/WAV_10000", Value="6")
    s.pipe.do("Select", Start=start, End=end, Track=track, TrackCount=1, Mode="Set")
    s.pipe.do("Export2", Filename=str(out), NumChannels=ch)
    data, rate = sf.read(str(out), dtype="float32", always_2d=True)
    assert rate == RATE
    return data.T


def _snapshot(s: AudacitySession) -> tuple[Any, Any, Any]:
    """The project as GetInfo sees it (focus left out: it is UI state, not content)."""
    assert s.pipe is not None
    tracks = s.pipe.get_info("Tracks")
    for t in tracks:
        t.pop("focused", None)
    return tracks, s.pipe.get_info("Clips"), s.pipe.get_info("Labels")


def _reference(model: Path, audio: np.ndarray, **kw: Any) -> Any:
    """The model run directly on the same samples, through the same engine entry."""
    from deepfx.engine import process

    return process(load_model(model), audio, RATE, **kw)


def test_status_reads_selection_and_leaves_it(audacity: AudacitySession, tmp_path: Path) -> None:
    audacity.import_audio(tmp_path / "voice.wav", _signal(3, 440), RATE)
    assert audacity.pipe is not None
    audacity.pipe.do("Select", Start=0.5, End=1.25, Track=0)
    before = _snapshot(audacity)
    st = bridge.status(pipe=audacity.pipe)
    assert st.connected
    assert [t.name for t in st.tracks] == ["voice"]
    assert st.selection is not None
    assert (st.selection.start_s, st.selection.end_s) == (0.5, 1.25)
    assert [t.name for t in st.selection.tracks] == ["voice"]
    assert _snapshot(audacity) == before  # the label used to measure it is gone
    # the time selection is still the same: exporting it gives 0.75 s
    out = tmp_path / "sel.wav"
    audacity.pipe.do("Export2", Filename=str(out), NumChannels=1)
    assert sf.info(str(out)).frames == round(0.75 * RATE)


def test_status_without_audacity_says_how_to_enable(tmp_path: Path) -> None:
    from deepfx.audacity.pipe import AudacityPipe

    pipe = AudacityPipe(to_path=str(tmp_path / "to"), from_path=str(tmp_path / "from"))
    st = bridge.status(pipe=pipe)
    assert not st.connected
    assert "Preferences > Modules" in st.message


def test_effect_adds_named_tracks_at_selection(
    audacity: AudacitySession, tmp_path: Path, model_dir: Path
) -> None:
    signal = _signal(3, 440)
    audacity.import_audio(tmp_path / "voice.wav", signal, RATE)
    assert audacity.pipe is not None
    audacity.pipe.do("Select", Start=0.5, End=1.5, Track=0)
    model = model_dir / "gain_and_invert"

    result = bridge.apply(model, pipe=audacity.pipe)

    assert result.kind == "effect" and result.sample_rate == RATE
    assert (result.start_s, result.end_s) == (0.5, 1.5)
    tracks = audacity.pipe.get_info("Tracks")
    assert [t["name"] for t in tracks] == ["voice", "voice - half", "voice - inverted"]
    clips = audacity.pipe.get_info("Clips")
    assert [(c["track"], c["start"], c["end"]) for c in clips] == [
        (0, 0, 3),
        (1, 0.5, 1.5),
        (2, 0.5, 1.5),
    ]
    segment = signal[None, RATE // 2 : RATE * 3 // 2]
    ref = _reference(model, segment)
    for index, label in ((1, "half"), (2, "inverted")):
        # exported from 0: the first 0.5 s must be silence, so the clip sits on sample 22050
        got = _export(audacity, tmp_path, index, 0.0, 1.5, 1)
        assert got.shape == (1, RATE * 3 // 2)
        assert not got[:, : RATE // 2].any()
        np.testing.assert_allclose(got[:, RATE // 2 :], ref.tracks[label], atol=1e-6)
    original = _export(audacity, tmp_path, 0, 0.0, 3.0, 1)
    np.testing.assert_array_equal(original[0], signal)  # bit-exact: untouched


def test_effect_stems_keeps_only_those(
    audacity: AudacitySession, tmp_path: Path, model_dir: Path
) -> None:
    audacity.import_audio(tmp_path / "voice.wav", _signal(2, 300), RATE)
    assert audacity.pipe is not None
    audacity.pipe.do("Select", Start=0.25, End=1.0, Track=0)
    result = bridge.apply(model_dir / "gain_and_invert", stems=["inverted"], pipe=audacity.pipe)
    assert [a.name for a in result.added] == ["voice - inverted"]
    assert [t["name"] for t in audacity.pipe.get_info("Tracks")] == ["voice", "voice - inverted"]


def test_stereo_stays_stereo_by_default(
    audacity: AudacitySession, tmp_path: Path, model_dir: Path
) -> None:
    """Issue 16.1: a mono model on a stereo track gives stereo tracks with no option."""
    stereo = np.stack([_signal(2, 330), _signal(2, 550, loud=(0.2, 0.6))])
    audacity.import_audio(tmp_path / "duo.wav", stereo, RATE)
    assert audacity.pipe is not None
    audacity.pipe.do("Select", Start=0.25, End=1.75, Track=0)
    model = model_dir / "gain_and_invert"

    bridge.apply(model, pipe=audacity.pipe)

    tracks = audacity.pipe.get_info("Tracks")
    assert [(t["name"], t["channels"]) for t in tracks] == [
        ("duo", 2),
        ("duo - half", 2),
        ("duo - inverted", 2),
    ]
    segment = stereo[:, RATE // 4 : RATE * 7 // 4]
    ref = _reference(model, segment, per_channel=True)
    got = _export(audacity, tmp_path, 1, 0.25, 1.75, 2)
    np.testing.assert_allclose(got, ref.tracks["half"], atol=1e-6)
    np.testing.assert_array_equal(_export(audacity, tmp_path, 0, 0.0, 2.0, 2), stereo)


def test_mono_opt_out_mixes_down(
    audacity: AudacitySession, tmp_path: Path, model_dir: Path
) -> None:
    stereo = np.stack([_signal(2, 330), _signal(2, 550, loud=(0.2, 0.6))])
    audacity.import_audio(tmp_path / "duo.wav", stereo, RATE)
    assert audacity.pipe is not None
    audacity.pipe.do("Select", Start=0.25, End=1.75, Track=0)

    bridge.apply(model_dir / "gain_and_invert", per_channel=False, pipe=audacity.pipe)

    tracks = audacity.pipe.get_info("Tracks")
    assert [(t["name"], t["channels"]) for t in tracks][1:] == [
        ("duo - half", 1),
        ("duo - inverted", 1),
    ]


def test_two_selected_tracks_each_processed_alone(
    audacity: AudacitySession, tmp_path: Path, model_dir: Path
) -> None:
    a, b = _signal(2, 220), _signal(2, 880, loud=(0.0, 0.5))
    audacity.import_audio(tmp_path / "alpha.wav", a, RATE)
    audacity.import_audio(tmp_path / "beta.wav", b, RATE)
    assert audacity.pipe is not None
    audacity.pipe.do("Select", Start=0.5, End=1.0, Track=0, TrackCount=2)
    model = model_dir / "gain_and_invert"

    bridge.apply(model, pipe=audacity.pipe)

    names = [t["name"] for t in audacity.pipe.get_info("Tracks")]
    assert names == [
        "alpha",
        "beta",
        "alpha - half",
        "alpha - inverted",
        "beta - half",
        "beta - inverted",
    ]
    for index, source in ((2, a), (4, b)):
        ref = _reference(model, source[None, RATE // 2 : RATE])
        got = _export(audacity, tmp_path, index, 0.5, 1.0, 1)
        np.testing.assert_allclose(got, ref.tracks["half"], atol=1e-6)


def test_analyzer_adds_one_label_track_at_absolute_times(
    audacity: AudacitySession, tmp_path: Path, model_dir: Path
) -> None:
    signal = _signal(3, 440, loud=(1.0, 1.5))
    audacity.import_audio(tmp_path / "voice.wav", signal, RATE)
    assert audacity.pipe is not None
    audacity.pipe.do("Select", Start=0.5, End=2.5, Track=0)
    model = model_dir / "loudness_labeler"
    before = _snapshot(audacity)

    result = bridge.apply(model, pipe=audacity.pipe)

    ref = _reference(model, signal[None, RATE // 2 : RATE * 5 // 2])
    # loud from 1.0 to 1.5 s, i.e. 0.5 .. 1.0 s into the selection (0.1 s frames, which
    # the engine may merge into one label)
    assert ref.labels and {lab.text for lab in ref.labels} == {"loud"}
    assert ref.labels[0].start_s == pytest.approx(0.5, abs=1e-4)
    assert ref.labels[-1].end_s == pytest.approx(1.0, abs=1e-4)
    tracks = audacity.pipe.get_info("Tracks")
    assert [(t["name"], t["kind"]) for t in tracks] == [
        ("voice", "wave"),
        (f"{load_model(model).name} - labels", "label"),
    ]
    assert result.added[0].labels == len(ref.labels)
    labels = audacity.pipe.get_info("Labels")
    assert [lt[0] for lt in labels] == [1]
    got = labels[0][1]
    assert [text for _, _, text in got] == ["loud"] * len(ref.labels)
    for (start, end, _), lab in zip(got, ref.labels, strict=True):
        assert start == pytest.approx(0.5 + lab.start_s, abs=1e-5)
        assert end == pytest.approx(0.5 + lab.end_s, abs=1e-5)
    # the audio is untouched
    assert _snapshot(audacity)[1] == before[1]


def test_no_selection_changes_nothing(
    audacity: AudacitySession, tmp_path: Path, model_dir: Path
) -> None:
    audacity.import_audio(tmp_path / "voice.wav", _signal(2, 440), RATE)
    assert audacity.pipe is not None
    audacity.pipe.do("SelectNone")
    before = _snapshot(audacity)
    with pytest.raises(SelectionError, match="no audio track is selected"):
        bridge.apply(model_dir / "gain_and_invert", pipe=audacity.pipe)
    assert _snapshot(audacity) == before


def test_broken_model_changes_nothing(
    audacity: AudacitySession, tmp_path: Path, model_dir: Path
) -> None:
    audacity.import_audio(tmp_path / "voice.wav", _signal(2, 440), RATE)
    audacity.import_audio(tmp_path / "other.wav", _signal(2, 220), RATE)
    assert audacity.pipe is not None
    audacity.pipe.do("Select", Start=0.5, End=1.5, Track=0, TrackCount=2)
    before = _snapshot(audacity)
    with pytest.raises(ContractError, match="3 output tracks"):
        bridge.apply(model_dir / "too_many_outputs", pipe=audacity.pipe)
    assert _snapshot(audacity) == before


def test_unloadable_models_change_nothing(audacity: AudacitySession, tmp_path: Path) -> None:
    audacity.import_audio(tmp_path / "voice.wav", _signal(2, 440), RATE)
    assert audacity.pipe is not None
    audacity.pipe.do("Select", Start=0.5, End=1.5, Track=0)
    before = _snapshot(audacity)
    no_card = tmp_path / "no_card"
    no_card.mkdir()
    (no_card / "model.pt").write_bytes(b"not a model")
    with pytest.raises(CardError):
        bridge.apply(no_card, pipe=audacity.pipe)
    corrupt = models.gain_and_invert(tmp_path / "corrupt")
    (corrupt / "model.pt").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(ModelLoadError):
        bridge.apply(corrupt, pipe=audacity.pipe)
    assert _snapshot(audacity) == before


def test_model_not_installed_changes_nothing(audacity: AudacitySession, tmp_path: Path) -> None:
    pytest.importorskip("deepfx.store", reason="deepfx.store (the hub part) is not merged yet")
    from deepfx.errors import NotInstalledError

    audacity.import_audio(tmp_path / "voice.wav", _signal(2, 440), RATE)
    assert audacity.pipe is not None
    audacity.pipe.do("Select", Start=0.5, End=1.5, Track=0)
    before = _snapshot(audacity)
    with pytest.raises(NotInstalledError):
        bridge.apply("nobody/no-such-model", pipe=audacity.pipe)
    assert _snapshot(audacity) == before


@pytest.mark.parametrize("start", [0.700013, 1.234567])
def test_unaligned_selection_output_sits_on_its_input_samples(
    audacity: AudacitySession, tmp_path: Path, model_dir: Path, start: float
) -> None:
    """A selection between samples: the output must sit exactly on the samples that
    were processed (the inverted output cancels the source sample by sample)."""
    signal = _signal(3, 440)
    audacity.import_audio(tmp_path / "voice.wav", signal, RATE)
    assert audacity.pipe is not None
    audacity.pipe.do("Select", Start=start, End=start + 0.5, Track=0)
    result = bridge.apply(model_dir / "gain_and_invert", stems=["inverted"], pipe=audacity.pipe)
    first = round(result.start_s * RATE)
    assert abs(result.start_s - start) <= 1 / RATE
    assert result.start_s == first / RATE
    got = _export(audacity, tmp_path, 1, 0.0, 3.0, 1)[0]
    n = result.added[0].samples
    assert not got[:first].any() and not got[first + n :].any()
    np.testing.assert_array_equal(got[first : first + n], -signal[first : first + n])


def test_failure_while_adding_removes_what_was_added(
    audacity: AudacitySession, tmp_path: Path, model_dir: Path
) -> None:
    """An error while the results are being prepared (here raised by the progress
    callback, as a UI's cancel would) leaves the project as it was: every output is
    written before the one import that adds them all."""
    audacity.import_audio(tmp_path / "alpha.wav", _signal(2, 220), RATE)
    audacity.import_audio(tmp_path / "beta.wav", _signal(2, 440), RATE)
    assert audacity.pipe is not None
    audacity.pipe.do("Select", Start=0.5, End=1.0, Track=0, TrackCount=2)
    before = _snapshot(audacity)
    seen: list[int] = []

    def stop_at_second_track(event: bridge.ApplyProgress) -> None:
        if event.stage == "adding":
            seen.append(len(audacity.pipe.get_info("Tracks")))  # type: ignore[union-attr]
            if event.index == 1:
                raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        bridge.apply(
            model_dir / "gain_and_invert", pipe=audacity.pipe, on_progress=stop_at_second_track
        )
    assert seen == [2, 2]  # nothing imported before every result is ready
    assert _snapshot(audacity) == before


def test_results_survive_a_later_run(
    audacity: AudacitySession, tmp_path: Path, model_dir: Path
) -> None:
    """The selection measurement of a later run uses Undo: the names, positions and
    label texts of an earlier run must be in Audacity's history by then."""
    audacity.import_audio(tmp_path / "voice.wav", _signal(3, 440, loud=(1.0, 1.3)), RATE)
    assert audacity.pipe is not None
    audacity.pipe.do("Select", Start=0.5, End=2.0, Track=0)
    bridge.apply(model_dir / "gain_and_invert", stems=["half"], pipe=audacity.pipe)
    bridge.apply(model_dir / "loudness_labeler", pipe=audacity.pipe)
    st = bridge.status(pipe=audacity.pipe)
    assert st.selection is not None and (st.selection.start_s, st.selection.end_s) == (0.5, 2.0)
    tracks = audacity.pipe.get_info("Tracks")
    assert [t["name"] for t in tracks] == ["voice", "voice - half", "loudness_labeler - labels"]
    assert (tracks[1]["start"], tracks[1]["end"]) == (0.5, 2.0)
    labels = audacity.pipe.get_info("Labels")
    assert labels[0][1] and {text for _, _, text in labels[0][1]} == {"loud"}
    assert labels[0][1][0][0] == pytest.approx(1.0, abs=1e-4)
    assert labels[0][1][-1][1] == pytest.approx(1.3, abs=1e-4)


def _cancel_token() -> Any:
    from deepfx.engine import CancelToken

    return CancelToken()


def test_cancel_while_adding_leaves_the_project(
    audacity: AudacitySession, tmp_path: Path, model_dir: Path
) -> None:
    from deepfx.errors import Cancelled

    audacity.import_audio(tmp_path / "alpha.wav", _signal(2, 220), RATE)
    audacity.import_audio(tmp_path / "beta.wav", _signal(2, 440), RATE)
    assert audacity.pipe is not None
    audacity.pipe.do("Select", Start=0.5, End=1.0, Track=0, TrackCount=2)
    before = _snapshot(audacity)
    token = _cancel_token()

    def cancel_at_second_track(event: bridge.ApplyProgress) -> None:
        if event.stage == "adding" and event.index == 1:
            token.cancel()

    with pytest.raises(Cancelled, match="left as it was"):
        bridge.apply(
            model_dir / "gain_and_invert",
            pipe=audacity.pipe,
            on_progress=cancel_at_second_track,
            cancel=token,
        )
    assert _snapshot(audacity) == before
