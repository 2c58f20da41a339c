"""deepfx.audio: reading every format, bad inputs, streaming resampling, channel maps."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import soxr

from deepfx.audio import (
    StreamResampler,
    check_finite,
    inspect,
    map_channels,
    read,
    read_blocks,
    resampled_length,
)
from deepfx.errors import (
    AudioDecodeError,
    AudioFileNotFoundError,
    EmptyAudioError,
    NonFiniteAudioError,
)

FORMATS = [
    ("wav", "PCM_16"),
    ("flac", "PCM_24"),
    ("ogg", "VORBIS"),
    ("mp3", None),
    ("aiff", "PCM_16"),
]


def _tone(n: int, channels: int, rate: int) -> np.ndarray:
    t = np.arange(n) / rate
    return np.stack(
        [0.3 * np.sin(2 * np.pi * (220 + 110 * c) * t) for c in range(channels)]
    ).astype(np.float32)


@pytest.mark.parametrize(("ext", "subtype"), FORMATS)
@pytest.mark.parametrize("channels", [1, 2, 6])
def test_read_every_format(tmp_path, ext, subtype, channels):
    if ext == "mp3" and channels > 2:
        pytest.skip("MP3 holds at most 2 channels")
    rate = 22050
    x = _tone(rate, channels, rate)
    path = tmp_path / f"a.{ext}"
    sf.write(path, x.T, rate, subtype=subtype)
    info = inspect(path)
    assert (info.sample_rate, info.channels) == (rate, channels)
    y, sr = read(path)
    assert sr == rate and y.shape[0] == channels and y.dtype == np.float32
    if ext in ("wav", "flac", "aiff"):
        assert y.shape[1] == rate
        np.testing.assert_allclose(y, x, atol=1e-4)


def test_blocks_are_bounded(tmp_path):
    path = tmp_path / "a.wav"
    sf.write(path, np.zeros((10_000, 2), np.float32), 8000)
    sizes = [b.shape for b in read_blocks(path, block_frames=4096)]
    assert sizes == [(2, 4096), (2, 4096), (2, 1808)]


def test_missing_file(tmp_path):
    with pytest.raises(AudioFileNotFoundError, match="not found"):
        inspect(tmp_path / "nope.wav")


def test_corrupt_file(tmp_path):
    path = tmp_path / "bad.wav"
    path.write_bytes(b"RIFF\x00\x00garbage" + bytes(range(256)) * 4)
    with pytest.raises(AudioDecodeError, match="cannot read audio"):
        inspect(path)
    text = tmp_path / "notes.flac"
    text.write_text("this is not audio")
    with pytest.raises(AudioDecodeError):
        list(read_blocks(text))


def test_empty_file(tmp_path):
    path = tmp_path / "empty.wav"
    sf.write(path, np.zeros((0, 1), np.float32), 16000)
    with pytest.raises(EmptyAudioError, match="zero length"):
        inspect(path)


def test_nan_reported_with_time_and_channel(tmp_path):
    x = np.zeros((2, 16000), np.float32)
    x[1, 12000] = np.nan
    path = tmp_path / "nan.wav"
    sf.write(path, x.T, 8000, subtype="FLOAT")
    with pytest.raises(NonFiniteAudioError) as info:
        list(read_blocks(path, block_frames=5000))
    assert info.value.channel == 1
    assert info.value.at_s == pytest.approx(1.5)
    assert "1.500000 s, channel 1" in str(info.value)
    with pytest.raises(NonFiniteAudioError, match="channel 0"):
        check_finite(np.array([[0.0, np.inf]], np.float32), sample_rate=2)


@pytest.mark.parametrize(
    ("src", "dst"), [(22050, 16000), (44100, 48000), (16000, 44100), (8000, 8000)]
)
@pytest.mark.parametrize("block", [1, 997, 4096])
def test_stream_resampler_exact_length_and_matches_one_shot(src, dst, block):
    n = 12345
    x = _tone(n, 2, src)
    rs = StreamResampler(src, dst, 2)
    parts = [rs.process(x[:, i : i + block]) for i in range(0, n, block)] + [rs.finish()]
    y = np.concatenate(parts, axis=1)
    assert y.shape == (2, resampled_length(n, src, dst))
    ref = soxr.resample(x.T, src, dst, quality="HQ").T
    m = min(ref.shape[1], y.shape[1])
    np.testing.assert_allclose(y[:, :m], ref[:, :m], atol=1e-5)


def test_round_trip_is_sample_accurate():
    for n in (1, 2, 7, 1000, 44101):
        up = resampled_length(n, 44100, 16000)
        assert resampled_length(up, 16000, 44100) in (n - 1, n, n + 1)


def test_map_channels():
    x = np.array([[1.0, 1.0], [0.0, -1.0]], np.float32)
    np.testing.assert_allclose(map_channels(x, multichannel=False, per_channel=False), [[0.5, 0.0]])
    assert map_channels(x, multichannel=False, per_channel=True) is x
    assert map_channels(x, multichannel=True, per_channel=False) is x
