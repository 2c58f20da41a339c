"""builtin/hpss and builtin/center-sides: DSP separators exported as TorchScript."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from signals import (
    chord,
    clicks,
    contract_battery,
    espeak,
    harmonics,
    own_vs_other_db,
)

from deepfx.builtins import separation
from deepfx.builtins._separation_nets import median_filter
from deepfx.card import load_card
from deepfx.model import Model, load_model

SR = 44100


def _build(tmp_path_factory: pytest.TempPathFactory, name: str) -> Path:
    spec = next(s for s in separation.SPECS if s.name == name)
    dest = tmp_path_factory.mktemp(spec.short_name) / spec.short_name
    spec.build(dest)
    return dest


@pytest.fixture(scope="module")
def hpss_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _build(tmp_path_factory, "builtin/hpss")


@pytest.fixture(scope="module")
def center_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _build(tmp_path_factory, "builtin/center-sides")


@pytest.fixture(scope="module")
def hpss(hpss_folder: Path) -> Model:
    return load_model(hpss_folder)


@pytest.fixture(scope="module")
def center(center_folder: Path) -> Model:
    return load_model(center_folder)


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(x.astype(np.float64) ** 2)))


@pytest.mark.parametrize("chord_over_clicks_db", [0.0, 10.0])
def test_hpss_chord_and_clicks_each_output_holds_its_own_part(
    hpss: Model, chord_over_clicks_db: float
) -> None:
    harm = chord(3.0, SR)
    perc = clicks(3.0, SR)
    harm = harm / _rms(harm) * 0.05 * 10 ** (chord_over_clicks_db / 20)
    perc = perc / _rms(perc) * 0.05
    out = hpss.forward((harm + perc)[None].astype(np.float32))
    h_db = own_vs_other_db(out[0], harm, perc)
    p_db = own_vs_other_db(out[1], perc, harm)
    print(
        f"chord {chord_over_clicks_db:+.0f} dB over clicks: harmonic output {h_db:.1f} dB, "
        f"percussive output {p_db:.1f} dB own part over the rest"
    )
    assert h_db >= 10.0
    assert p_db >= 10.0
    np.testing.assert_allclose(out.sum(axis=0), harm + perc, atol=1e-5)


def test_center_sides_centred_voice_and_hard_panned_instruments(center: Model) -> None:
    voice = espeak(sample_rate=SR)[: 4 * SR]
    seconds = len(voice) / SR
    left_inst = 0.1 * harmonics(220.0, seconds, SR) + 0.2 * clicks(seconds, SR, every_s=0.5)
    right_inst = 0.05 * chord(seconds, SR)
    n = min(len(voice), len(left_inst), len(right_inst))
    voice, left_inst, right_inst = voice[:n], left_inst[:n], right_inst[:n]
    # the voice is the quietest of the three: the test is not made easy
    assert _rms(voice) < min(_rms(left_inst), _rms(right_inst))
    stereo = np.stack([voice + left_inst, voice + right_inst]).astype(np.float32)
    out = center.forward(stereo)
    c_db = own_vs_other_db(out[0], voice, left_inst + right_inst)
    l_db = own_vs_other_db(out[1], left_inst, voice)
    r_db = own_vs_other_db(out[2], right_inst, voice)
    mid_db = own_vs_other_db(stereo.mean(axis=0), voice, left_inst + right_inst)
    print(
        f"center {c_db:.1f} dB (plain mid: {mid_db:.1f} dB), sides-left {l_db:.1f} dB, "
        f"sides-right {r_db:.1f} dB own part over the rest"
    )
    assert c_db >= 10.0
    assert l_db >= 10.0
    assert r_db >= 10.0
    np.testing.assert_allclose(out[0] + out[1], stereo[0], atol=1e-5)
    np.testing.assert_allclose(out[0] + out[2], stereo[1], atol=1e-5)


def test_center_sides_mono_input_is_all_centre(center: Model) -> None:
    x = (0.1 * np.random.default_rng(0).standard_normal((1, SR // 4))).astype(np.float32)
    out = center.forward(x)
    np.testing.assert_array_equal(out[0], x[0])
    assert not out[1:].any()


def test_center_sides_identical_channels_are_all_centre(center: Model) -> None:
    x = (0.1 * np.random.default_rng(0).standard_normal(SR // 2)).astype(np.float32)
    out = center.forward(np.stack([x, x]))
    assert _rms(out[1]) < 1e-3 * _rms(x)
    assert _rms(out[2]) < 1e-3 * _rms(x)


def test_median_filter_matches_numpy() -> None:
    rng = np.random.default_rng(0)
    mag = rng.random((1, 12, 9)).astype(np.float32)
    got = median_filter(torch.from_numpy(mag), 5, 1).numpy()
    padded = np.pad(mag, ((0, 0), (2, 2), (0, 0)), mode="edge")
    want = np.stack([np.median(padded[:, i : i + 5], axis=1) for i in range(12)], axis=1)
    np.testing.assert_allclose(got, want, atol=1e-7)
    got_f = median_filter(torch.from_numpy(mag), 1, 3).numpy()
    padded_f = np.pad(mag, ((0, 0), (0, 0), (1, 1)), mode="edge")
    want_f = np.stack([np.median(padded_f[:, :, j : j + 3], axis=2) for j in range(9)], axis=2)
    np.testing.assert_allclose(got_f, want_f, atol=1e-7)


@pytest.mark.parametrize("which", ["hpss", "center"])
def test_contract_on_silence_noise_channels_and_lengths(
    which: str, request: pytest.FixtureRequest
) -> None:
    contract_battery(request.getfixturevalue(which))


@pytest.mark.parametrize("which", ["hpss_folder", "center_folder"])
def test_cards_are_strict_and_say_where_they_come_from(
    which: str, request: pytest.FixtureRequest
) -> None:
    folder: Path = request.getfixturevalue(which)
    card = load_card(folder, strict=True)
    assert card.license == "MIT"
    assert card.citation and card.training_data
    assert card.model_format == "torchscript"
    assert card.exported_with and "torch" in card.exported_with
    assert sorted(p.name for p in folder.iterdir()) == ["README.md", "metadata.json", "model.pt"]


def test_specs_need_no_package() -> None:
    assert [s.name for s in separation.SPECS] == ["builtin/hpss", "builtin/center-sides"]
    assert all(s.requires == () for s in separation.SPECS)
    assert separation.SPECS[1].card.multichannel is True


@pytest.mark.parametrize("which", ["hpss_folder", "center_folder"])
def test_passes_deepfx_validate(which: str, request: pytest.FixtureRequest) -> None:
    from deepfx.validation import validate

    report = validate(request.getfixturevalue(which))
    assert report.ok, str(report)
