"""original -> deepfx: genuine 2021-era models, built as contributors built them (torch 1.9
+ audacitorch 0.0.4, in the legacy runtime), validate and run in deepfx with the output
torch 1.9 gives on the same file (<= 1e-5 at the model's rate).

The models are built by tests/legacy_fixtures/build_genuine.py inside the torch 1.9 venv
into a temporary folder (no binary is committed): a 2-output effect, a multichannel
channel processor (one output per input channel), a frame-level labeller, a small
Conv-TasNet-like separator, an STFT-mask model in the current and the pre-1.8 layout
(real ``(..., 2)`` spectra into ``istft``) and a traced model.
"""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from legacy_runtime import legacy_runtime

from deepfx.card import load_card
from deepfx.engine.merge import merge_labels
from deepfx.labels import Label
from deepfx.legacy.runtime import LegacyRuntime
from deepfx.model import FewerOutputsWarning, load_model
from deepfx.validation import validate

BUILDER = Path(__file__).parent / "legacy_fixtures" / "build_genuine.py"
EFFECTS = ["two-output", "convtasnet", "stft-mask", "stft-mask-old", "traced"]


@pytest.fixture(scope="module")
def rt() -> LegacyRuntime:
    return legacy_runtime()


@pytest.fixture(scope="module")
def genuine(rt: LegacyRuntime, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("genuine")
    proc = rt.run_script(BUILDER, str(out))
    assert proc.returncode == 0, proc.stderr
    assert "with torch 1.9.0" in proc.stdout
    return out


def _audio(channels: int, sample_rate: int, seconds: float = 2.5) -> np.ndarray:
    rng = np.random.default_rng(3)
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    tone = 0.4 * np.sin(2 * np.pi * 220.0 * t) * (t % 0.5 < 0.3)  # loud and quiet frames
    return np.stack([tone + 0.05 * rng.standard_normal(t.size) for _ in range(channels)]).astype(
        np.float32
    )


def _deepfx_run(folder: Path, wav: Path, out: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "deepfx", "run", str(folder), str(wav), "-o", str(out)]
        + ["--subtype", "FLOAT"],
        capture_output=True,
        text=True,
        check=False,
    )


def _effect_matches_torch19(
    rt: LegacyRuntime, folder: Path, tmp: Path, channels: int, expect_rows: int
) -> str:
    card = load_card(folder)
    x = _audio(channels, card.sample_rate)
    wav = tmp / f"in{channels}.wav"
    sf.write(wav, x.T, card.sample_rate, subtype="FLOAT")
    proc = _deepfx_run(folder, wav, tmp / f"out{channels}")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    host_in = x if card.multichannel else x.mean(axis=0, keepdims=True)
    old = rt.run_model(folder / "model.pt", [host_in])
    assert old.ok, old.describe()
    rows = np.asarray(old.outputs[0])
    assert rows.shape[0] == expect_rows
    written = sorted(p.name for p in (tmp / f"out{channels}").iterdir())
    assert written == sorted(f"in{channels} - {lb}.wav" for lb in card.labels[:expect_rows])
    for i, label in enumerate(card.labels[:expect_rows]):
        got, rate = sf.read(tmp / f"out{channels}" / f"in{channels} - {label}.wav", dtype="float32")
        assert rate == card.sample_rate and got.shape == (x.shape[1],)
        assert float(np.max(np.abs(got - rows[i]))) <= 1e-5, label
    return proc.stderr


@pytest.mark.parametrize("name", EFFECTS)
def test_genuine_effect_validates_and_runs_as_in_torch19(
    rt: LegacyRuntime, genuine: Path, tmp_path: Path, name: str
) -> None:
    report = validate(genuine / name, long_s=1.0)
    assert report.ok and not report.warnings, str(report)
    _effect_matches_torch19(rt, genuine / name, tmp_path, 1, len(load_card(genuine / name).labels))


def test_genuine_channel_processor_makes_the_tracks_the_original_host_made(
    rt: LegacyRuntime, genuine: Path, tmp_path: Path
) -> None:
    """Mono in: 1 row for 2 labels -> one track named by the first label, one warning
    line; stereo in: both. validate warns, it does not fail."""
    folder = genuine / "channel-processor"
    report = validate(folder, long_s=1.0)
    assert report.ok, str(report)
    assert any("1 of 2 outputs" in c.message for c in report.warnings)
    assert any("channel processor" in c.message for c in report.warnings)  # 6 channels
    stderr = _effect_matches_torch19(rt, folder, tmp_path, 1, 1)
    warning_lines = [ln for ln in stderr.splitlines() if ln.startswith("warning:")]
    assert len(warning_lines) == 1 and "named left" in warning_lines[0], stderr
    _effect_matches_torch19(rt, folder, tmp_path, 2, 2)
    model = load_model(folder, device="cpu")
    with pytest.warns(FewerOutputsWarning):
        assert model.output_labels(1) == ["left"]
    with warnings.catch_warnings():
        warnings.simplefilter("error", FewerOutputsWarning)
        assert model.output_labels(1) == ["left"]  # said once per model, not per block


def test_genuine_frame_labeller_validates_and_labels_as_in_torch19(
    rt: LegacyRuntime, genuine: Path, tmp_path: Path
) -> None:
    folder = genuine / "frame-labeller"
    report = validate(folder, long_s=1.0)
    assert report.ok and not report.warnings, str(report)
    card = load_card(folder)
    x = _audio(1, card.sample_rate)
    sf.write(tmp_path / "in.wav", x.T, card.sample_rate, subtype="FLOAT")
    proc = _deepfx_run(folder, tmp_path / "in.wav", tmp_path / "out")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    old = rt.run_model(folder / "model.pt", [x])
    assert old.ok, old.describe()
    idx, ts = old.outputs[0]
    want = merge_labels(
        Label(float(a), float(b), card.labels[int(i)]) for i, (a, b) in zip(idx, ts, strict=True)
    )
    lines = next((tmp_path / "out").glob("in - labels (*).txt")).read_text().splitlines()
    got = [(float(a), float(b), t) for a, b, t in (ln.split("\t") for ln in lines)]
    assert len(want) >= 4 and len(got) == len(want)  # loud and quiet spans, merged
    for g, w in zip(got, want, strict=True):
        assert g[2] == w.text and abs(g[0] - w.start_s) <= 1e-5 and abs(g[1] - w.end_s) <= 1e-5


def test_genuine_models_pass_validate_with_the_legacy_runtime(
    rt: LegacyRuntime, genuine: Path
) -> None:
    """`validate --legacy-runtime` on a genuine model: torch 1.9 agrees with deepfx."""
    report = validate(genuine / "convtasnet", long_s=1.0, legacy_runtime=rt.python)
    legacy = next(c for c in report.checks if c.name == "original host (torch 1.9)")
    assert report.ok and legacy.ok and not legacy.warning, str(report)


def test_model_error_shows_torchs_real_cause(tmp_path: Path) -> None:
    """A TorchScript error's first line is a preamble; the message shows its last line."""
    import torch

    from deepfx.errors import ContractError

    class Broken(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.matmul(x, torch.ones(3, 3))

    folder = tmp_path / "broken"
    folder.mkdir()
    torch.jit.save(torch.jit.script(Broken()), str(folder / "model.pt"))
    (folder / "metadata.json").write_text(
        '{"sample_rate": 8000, "domain_tags": ["other"], "short_description": "broken",'
        ' "long_description": "raises", "tags": [], "effect_type": "waveform-to-waveform",'
        ' "multichannel": false, "labels": ["out"]}'
    )
    with pytest.raises(ContractError) as info:
        load_model(folder, device="cpu").forward(np.zeros((1, 100), np.float32))
    text = str(info.value)
    assert "following operation failed" not in text
    assert "mat1 and mat2 shapes cannot be multiplied" in text, text


def test_istft_fix_leaves_torch2_archives_alone(tmp_path: Path) -> None:
    """The load-time istft fix is for archives of torch < 2 only: a torch 2.x file (which
    could never pass a real tensor to its own istft) is not even rewritten."""
    import torch

    from deepfx.legacy.archive import upgrade_real_istft

    class Mask(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            w = torch.hann_window(256)
            spec = torch.stft(x, 256, 64, window=w, return_complex=True)
            return torch.istft(spec * 0.5, 256, 64, window=w, length=x.shape[-1])

    path = tmp_path / "model.pt"
    torch.jit.save(torch.jit.script(Mask()), str(path))
    assert upgrade_real_istft(path) is None
