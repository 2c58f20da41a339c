"""deepfx.outputs: name template, format choice, clipping, atomic writes, label formats."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from deepfx.errors import OutputError
from deepfx.labels import Label
from deepfx.outputs import (
    AudioWriter,
    audio_format_for,
    format_labels,
    output_name,
    read_audacity_labels,
    write_labels,
)

LABELS = [Label(0.5, 1.25, "speech"), Label(3661.0, 3662.5, "music, loud")]


def test_output_name_template():
    assert output_name("{stem} - {label}.{ext}", stem="song", label="vocals", ext="wav") == (
        "song - vocals.wav"
    )
    assert (
        output_name(
            "{model}/{index}-{label}.{ext}", stem="s", label="a", ext="flac", model="org/x", index=2
        )
        == "org_x_2-a.flac"
    )
    with pytest.raises(OutputError, match="bad name template"):
        output_name("{nope}", stem="s", label="a", ext="wav")


def test_audio_format_follows_input_or_argument():
    assert audio_format_for(input_format="FLAC", input_subtype="PCM_24") == (
        "FLAC",
        "PCM_24",
        "flac",
    )
    assert audio_format_for(input_format="WAV", input_subtype="FLOAT", audio_format="flac") == (
        "FLAC",
        "PCM_16",
        "flac",
    )
    assert audio_format_for(input_format="MP3", input_subtype="MPEG_LAYER_III")[2] == "mp3"
    assert audio_format_for(input_format="WAV", subtype="pcm_24")[1] == "PCM_24"
    with pytest.raises(OutputError, match="cannot store subtype"):
        audio_format_for(input_format="FLAC", subtype="FLOAT")
    with pytest.raises(OutputError, match="unknown audio format"):
        audio_format_for(audio_format="xyz")


def test_clipping_is_explicit(tmp_path):
    x = np.array([[0.5, 1.5, -2.0, 0.0]], np.float32)
    with AudioWriter(tmp_path / "int.wav", sample_rate=8000, channels=1, subtype="PCM_16") as w:
        w.write(x)
    assert w.clipped == 2
    assert np.abs(sf.read(tmp_path / "int.wav")[0]).max() <= 1.0
    with AudioWriter(tmp_path / "f.wav", sample_rate=8000, channels=1, subtype="FLOAT") as w:
        w.write(x)
    assert w.clipped == 0
    np.testing.assert_allclose(sf.read(tmp_path / "f.wav", dtype="float32")[0], x[0])


def test_writer_leaves_nothing_on_failure(tmp_path):
    with (
        pytest.raises(RuntimeError),
        AudioWriter(tmp_path / "o.wav", sample_rate=8000, channels=1) as w,
    ):
        w.write(np.zeros((1, 100), np.float32))
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_label_formats(tmp_path):
    txt = format_labels(LABELS, "txt")
    assert txt.splitlines()[0] == "0.500000\t1.250000\tspeech"
    path = write_labels(LABELS, tmp_path / "l.txt")
    assert read_audacity_labels(path) == LABELS
    csv = format_labels(LABELS, "csv").splitlines()
    assert csv[0] == "start_s,end_s,label" and csv[2] == '3661.000000,3662.500000,"music, loud"'
    assert json.loads(format_labels(LABELS, "json"))[0] == {
        "start_s": 0.5,
        "end_s": 1.25,
        "text": "speech",
    }
    srt = format_labels(LABELS, "srt")
    assert "2\n01:01:01,000 --> 01:01:02,500\nmusic, loud" in srt
    vtt = format_labels(LABELS, "vtt")
    assert vtt.startswith("WEBVTT\n\n1\n00:00:00.500 --> 00:00:01.250\nspeech")
    with pytest.raises(OutputError, match="unknown label format"):
        format_labels(LABELS, "xml")


@pytest.mark.parametrize(
    ("fmt", "subtype"), [("WAV", "PCM_16"), ("FLAC", "PCM_24"), ("AIFF", "PCM_16")]
)
def test_integer_pcm_conversion_matches_libsndfile(tmp_path, fmt, subtype):
    x = (np.random.default_rng(0).standard_normal((2, 5000)) * 0.4).astype(np.float32)
    x[0, :3] = [1.0, -1.0, 0.99999]
    dest = tmp_path / "ours.x"
    with AudioWriter(dest, sample_rate=8000, channels=2, format=fmt, subtype=subtype) as w:
        w.write(x)
    ref = tmp_path / "ref.x"
    sf.write(ref, x.T, 8000, format=fmt, subtype=subtype)
    ours = sf.read(dest, dtype="int32")[0] >> (16 if subtype == "PCM_16" else 8)
    theirs = sf.read(ref, dtype="int32")[0] >> (16 if subtype == "PCM_16" else 8)
    assert np.abs(ours - theirs).max() <= 1
    np.testing.assert_allclose(sf.read(dest, dtype="float32")[0].T, np.clip(x, -1, 1), atol=2**-14)
