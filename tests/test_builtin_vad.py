"""builtin/vad: built from the installed silero-vad, run through deepfx on real speech."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from signals import (
    add_white_noise,
    espeak_speech,
    have_espeak,
    sine,
    white_noise,
    with_silence,
)

from deepfx.card import load_card
from deepfx.errors import ModelLoadError

pytest.importorskip("torch")
SR = 16000
TOLERANCE_S = 0.2


@pytest.fixture(scope="module")
def vad_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from deepfx.builtins.vad import SPECS

    dest = tmp_path_factory.mktemp("builtins") / "vad"
    SPECS[0].build(dest)
    return dest


@pytest.fixture(scope="module")
def vad(vad_folder: Path):  # noqa: ANN201
    from deepfx.model import load_model

    return load_model(vad_folder, strict_card=True)


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    if not have_espeak():
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng)")
    return espeak_speech(SR)


def test_folder_has_card_and_one_network(vad_folder: Path) -> None:
    assert sorted(p.name for p in vad_folder.iterdir()) == ["metadata.json", "model.pt"]
    card = load_card(vad_folder, strict=True)
    assert card.name == "builtin/vad"
    assert card.effect_type == "waveform-to-labels"
    assert card.labels == ["speech"]
    assert card.sample_rate == SR
    assert card.license == "MIT"
    assert card.authors == ["Silero Team"]
    assert card.links and "silero-vad" in card.links["code"]
    assert card.exported_with and card.exported_with["silero-vad"] == "6.2.3"


@pytest.mark.parametrize("noisy", [False, True], ids=["clean", "snr10"])
def test_speech_span_matches_truth(vad, speech: np.ndarray, noisy: bool) -> None:  # noqa: ANN001
    clip = with_silence(speech, SR, before_s=1.0, after_s=1.0)
    if noisy:
        clip = add_white_noise(clip, 10.0, reference=speech, seed=3)
    truth = (1.0, 1.0 + len(speech) / SR)
    idx, ts = vad.forward(clip[None, :])
    assert len(idx) >= 1 and set(idx.tolist()) == {0}
    start, end = float(ts[0, 0]), float(ts[-1, 1])
    assert abs(start - truth[0]) <= TOLERANCE_S, (start, truth)
    assert abs(end - truth[1]) <= TOLERANCE_S, (end, truth)


@pytest.mark.parametrize(
    "signal",
    [
        np.zeros(3 * SR, np.float32),
        sine(440.0, 3.0, SR),
        white_noise(3.0, SR, rms=0.1),
        white_noise(3.0, SR, rms=0.5, seed=7),
    ],
    ids=["silence", "sine", "noise", "loud-noise"],
)
def test_nothing_without_speech(vad, signal: np.ndarray) -> None:  # noqa: ANN001
    idx, ts = vad.forward(signal[None, :])
    assert idx.shape == (0,) and ts.shape == (0, 2)


def test_stereo_and_short_inputs(vad, speech: np.ndarray) -> None:  # noqa: ANN001
    clip = with_silence(speech, SR, before_s=0.5, after_s=0.5)
    mono_idx, mono_ts = vad.forward(clip[None, :])
    st_idx, st_ts = vad.forward(np.stack([clip, clip]))
    np.testing.assert_array_equal(mono_idx, st_idx)
    np.testing.assert_allclose(mono_ts, st_ts, atol=1e-6)
    for n in (1, 100, 512, 513):  # shorter than one frame, one frame, just over
        idx, ts = vad.forward(np.zeros((1, n), np.float32))
        assert idx.shape == (0,)


def test_missing_package_names_the_install_command() -> None:
    from deepfx.builtins._weights import package_file

    with pytest.raises(ModelLoadError, match=r"pip install --no-deps silero-vad==6\.2\.3"):
        package_file("silero_vad", "data/no-such-file.jit", requirement="silero-vad==6.2.3")
    with pytest.raises(ModelLoadError, match="is not installed"):
        package_file("deepfx_no_such_pkg", "x.onnx", requirement="x==1")


def test_in_catalog() -> None:
    from deepfx.builtins.vad import SPECS

    assert [s.name for s in SPECS] == ["builtin/vad"]
    assert SPECS[0].requires == ("silero-vad==6.2.3",)


def test_listing_the_specs_imports_no_heavy_package() -> None:
    """Catalog listing must stay fast: no torch, onnx, or the weight packages themselves."""
    import subprocess
    import sys

    code = (
        "import sys, deepfx.builtins.vad, deepfx.builtins.notes; "
        "print(sorted(m for m in ('torch', 'onnx', 'silero_vad', 'basic_pitch') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_result_does_not_depend_on_where_the_run_starts(vad_folder: Path) -> None:
    """Issue 16: a selection from 50 s found speech from 55.43 s, the whole file from
    58.83 s. Speech at 57 s of a noisy 75 s file (across the engine's 58 s window edge):
    before the fix the whole file said 57.18 s and a run from 50 s 57.01 s (0.17 s
    apart); now each decision sees at most 3 s of past audio, and they agree to 0.02 s."""
    from signals import LONG_SENTENCE

    from deepfx.engine import process
    from deepfx.model import load_model

    if not have_espeak():
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng)")
    sp = espeak_speech(SR, LONG_SENTENCE)
    x = np.zeros(75 * SR, np.float32)
    for at in (20.0, 57.0):
        i = int(at * SR)
        x[i : i + len(sp)] += sp[: len(x) - i]
    x = add_white_noise(x, 10.0, reference=sp, seed=3)
    model = load_model(vad_folder, threads=1)
    whole = [lb for lb in process(model, x, SR).labels if lb.end_s > 50.0]
    for start_s in (50.0, 56.5):
        part = process(model, x[int(start_s * SR) :], SR).labels
        assert len(part) == len(whole) == 1
        assert part[0].start_s + start_s == pytest.approx(whole[0].start_s, abs=0.05)
        assert part[0].end_s + start_s == pytest.approx(whole[0].end_s, abs=0.05)
