"""deepfx.engine.run: files in, files out, streamed; bad inputs; nothing left behind."""

from __future__ import annotations

import hashlib
import warnings

import engine_helpers as h
import numpy as np
import pytest
import soundfile as sf

from deepfx.card import Chunking
from deepfx.engine import CancelToken, process, run
from deepfx.errors import (
    AudioDecodeError,
    AudioFileNotFoundError,
    Cancelled,
    ContractError,
    EmptyAudioError,
    NonFiniteAudioError,
)
from deepfx.model import load_model
from deepfx.outputs import read_audacity_labels

warnings.simplefilter("ignore", DeprecationWarning)


def sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def gain(tmp_path_factory):
    folder = tmp_path_factory.mktemp("m") / "gain"
    h.save(
        h.Gain([0.5, -1.0]),
        folder,
        h.card(
            labels=["half", "inverted"], rate=16000, chunking=Chunking(window_s=0.5, overlap_s=0.1)
        ),
    )
    return folder


@pytest.fixture(scope="module")
def conv(tmp_path_factory):
    return h.conv_model(tmp_path_factory.mktemp("m") / "conv")


def tone(n, channels, rate):
    t = np.arange(n) / rate
    return np.stack([0.4 * np.sin(2 * np.pi * (300 + 50 * c) * t) for c in range(channels)]).astype(
        np.float32
    )


@pytest.mark.parametrize(
    ("ext", "subtype", "rate", "channels"),
    [
        ("wav", "PCM_16", 22050, 1),
        ("wav", "FLOAT", 16000, 2),
        ("flac", "PCM_24", 44100, 6),
        ("ogg", "VORBIS", 32000, 2),
        ("mp3", None, 22050, 2),
        ("aiff", "PCM_16", 11025, 1),
    ],
)
def test_every_format_rate_and_layout(tmp_path, gain, ext, subtype, rate, channels):
    src = tmp_path / f"in put.{ext}"
    n = int(rate * 1.7) + 3
    sf.write(src, tone(n, channels, rate).T, rate, subtype=subtype)
    before = sha(src)
    frames = sf.info(src).frames
    [res] = run(gain, [src], tmp_path / "out", mono=True)
    assert sha(src) == before
    assert set(res.files) == {"half", "inverted"}
    for label, path in res.files.items():
        assert path.name == f"in put - {label}.{ext}"
        info = sf.info(path)
        assert info.samplerate == rate and info.channels == 1
        if ext not in ("ogg", "mp3"):  # lossy containers pad/trim frames themselves
            assert info.frames == frames
            assert info.subtype == subtype
    if ext in ("wav", "flac", "aiff"):
        x, _ = sf.read(src, dtype="float32", always_2d=True)
        y, _ = sf.read(res.files["half"], dtype="float32")
        tol = 1e-4 if subtype == "FLOAT" else 2e-3
        want = 0.5 * x.mean(axis=1)
        # the resampler rings a little at the abrupt file ends: compare those loosely
        np.testing.assert_allclose(y[64:-64], want[64:-64], atol=tol)
        np.testing.assert_allclose(y, want, atol=0.05)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(
        p.name for p in res.files.values()
    )


def test_file_run_equals_in_memory(tmp_path, conv):
    rate = 22050
    x = (np.random.default_rng(4).standard_normal((2, rate * 3 + 11)) * 0.3).astype(np.float32)
    src = tmp_path / "x.wav"
    sf.write(src, x.T, rate, subtype="FLOAT")
    [res] = run(conv, [src], tmp_path / "o", per_channel=True, block_frames=1000)
    mem = process(conv, x, rate, per_channel=True)
    for label in ("a", "b"):
        y, sr = sf.read(res.files[label], dtype="float32", always_2d=True)
        assert sr == rate and y.shape == (x.shape[1], 2)
        np.testing.assert_allclose(y.T, mem.tracks[label], atol=1e-5)


def test_stems_format_and_template(tmp_path, gain):
    src = tmp_path / "song.wav"
    sf.write(src, tone(8000, 2, 8000).T, 8000)
    [res] = run(
        gain,
        [src, src],
        tmp_path / "o",
        stems=["inverted"],
        audio_format="flac",
        subtype="PCM_24",
        name_template="{label}/{stem}.{ext}",
    )[:1]
    assert list(res.files) == ["inverted"]
    assert res.files["inverted"].name == "inverted_song.flac"
    assert sf.info(res.files["inverted"]).subtype == "PCM_24"


def test_clipping_counted(tmp_path):
    folder = h.save(h.Gain([4.0]), tmp_path / "loud", h.card(labels=["x"], rate=8000))
    src = tmp_path / "a.wav"
    sf.write(src, tone(8000, 1, 8000).T, 8000, subtype="PCM_16")
    [res] = run(folder, [src], tmp_path / "o")
    assert res.clipped["x"] > 1000
    [res] = run(folder, [src], tmp_path / "f", subtype="FLOAT")
    assert res.clipped == {}
    assert np.abs(sf.read(res.files["x"])[0]).max() > 1.5


def test_analyzer_writes_labels(tmp_path):
    rate = 8000
    folder = h.save(
        h.Loud(rate),
        tmp_path / "loud",
        h.card(
            labels=["loud"], rate=rate, effect=False, chunking=Chunking(window_s=1.0, overlap_s=0.2)
        ),
    )
    x = np.zeros((rate * 4, 2), np.float32)
    x[int(0.9 * rate) : int(2.1 * rate)] = 0.8
    src = tmp_path / "talk.wav"
    sf.write(src, x, 22050)  # rate differs from the model's
    for fmt in ("txt", "csv", "json", "srt", "vtt"):
        [res] = run(folder, [src], tmp_path / "o", label_format=fmt)
        assert res.files["labels"].name == f"talk - labels (test-model).{fmt}"
    [res] = run(folder, [src], tmp_path / "o2")
    labels = read_audacity_labels(res.files["labels"])
    assert len(labels) == 1 and labels[0].text == "loud"
    assert labels[0].start_s == pytest.approx(0.9 * rate / 22050, abs=0.011)


# --- bad inputs and failures leave nothing --------------------------------------------


def test_bad_inputs(tmp_path, gain):
    out = tmp_path / "o"
    with pytest.raises(AudioFileNotFoundError):
        run(gain, [tmp_path / "missing.wav"], out)
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF" + bytes(1000))
    with pytest.raises(AudioDecodeError):
        run(gain, [bad], out)
    empty = tmp_path / "empty.wav"
    sf.write(empty, np.zeros((0, 1)), 8000)
    with pytest.raises(EmptyAudioError):
        run(gain, [empty], out)
    (tmp_path / "zero.mp3").write_bytes(b"")
    with pytest.raises(EmptyAudioError, match="0-byte"):
        run(gain, [tmp_path / "zero.mp3"], out)
    nan = tmp_path / "nan.wav"
    x = np.zeros((16000, 1), np.float32)
    x[12345, 0] = np.inf
    sf.write(nan, x, 8000, subtype="FLOAT")
    with pytest.raises(NonFiniteAudioError, match=r"1\.543125 s, channel 0"):
        run(gain, [nan], out)
    assert not out.exists() or list(out.iterdir()) == []


def test_contract_break_mid_file_names_model_and_time(tmp_path):
    folder = h.save(
        h.BreaksAt(0),
        tmp_path / "breaker",
        h.card(labels=["x"], rate=8000, chunking=Chunking(window_s=1.0, overlap_s=0.2)),
    )
    x = np.full((8000 * 6, 1), 0.1, np.float32)
    x[int(4.5 * 8000)] = 0.95
    src = tmp_path / "a.wav"
    sf.write(src, x, 8000, subtype="FLOAT")
    out = tmp_path / "o"
    with pytest.raises(ContractError) as info:
        run(folder, [src], out)
    err = info.value
    assert err.model == "test-model"
    assert err.at_s is not None and 3.5 <= err.at_s <= 4.5
    assert "samples for an input of" in str(err) and "test-model" in str(err)
    assert not out.exists() or list(out.iterdir()) == []  # a failed run leaves nothing


def test_cancel_leaves_no_partial_files(tmp_path, conv):
    src = tmp_path / "a.wav"
    sf.write(src, tone(16000 * 6, 1, 16000).T, 16000)
    before = sha(src)
    token = CancelToken()

    def cancel_soon(ev):
        if ev.stage == "processing" and ev.fraction > 0.4:
            token.cancel()

    out = tmp_path / "o"
    with pytest.raises(Cancelled):
        run(conv, [src], out, on_progress=cancel_soon, cancel=token)
    assert not out.exists() or list(out.iterdir()) == []  # a failed run leaves nothing
    assert sha(src) == before


def test_model_loaded_once_for_many_inputs(tmp_path, gain):
    mdl = load_model(gain, device="cpu")
    srcs = []
    for i in range(3):
        srcs.append(tmp_path / f"{i}.wav")
        sf.write(srcs[-1], tone(4000 + i, 1, 8000).T, 8000)
    res = run(mdl, srcs, tmp_path / "o")
    assert [sf.info(r.files["half"]).frames for r in res] == [4000, 4001, 4002]


@pytest.mark.parametrize("background", [True, False])
def test_background_and_inline_io_write_the_same(conv, tmp_path, monkeypatch, background):
    """Read-ahead/write-behind threads (a spare core) and inline I/O (no spare core)
    are two schedules of one pipeline: the files must be identical to a whole-file run."""
    import deepfx.engine.core as core

    monkeypatch.setattr(core, "spare_core", lambda threads, device: background)
    src = tmp_path / "in.wav"
    x = tone(3 * 22050 + 17, 2, 22050)
    sf.write(src, x.T, 22050, subtype="FLOAT")
    [res] = run(conv, [src], tmp_path / "out", chunk_s=0.5, overlap_s=0.2)
    ref = process(conv, x, 22050, chunk_s=0.5, overlap_s=0.2)
    for label, path in res.files.items():
        y, rate = sf.read(path, dtype="float32", always_2d=True)
        assert rate == 22050
        np.testing.assert_array_equal(y.T, ref.tracks[label])
