"""deepfx.export and deepfx.validate on the worked examples and on broken models."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from contrib_helpers import (
    EXAMPLES,
    GoodLabels,
    Halve,
    IndexOutOfRange,
    NaNOutput,
    Noisy,
    OneOutput,
    ReversedTimestamps,
    WrongRank,
    card_dict,
    import_example,
    labels_card,
    write_scripted,
)
from torch import nn

from deepfx.card import load_card
from deepfx.errors import CardError, ContractError, ExportError, ValidationFailed
from deepfx.exporting import ExportNote, export
from deepfx.model import load_model
from deepfx.modelcard_readme import split_front_matter
from deepfx.nn import WaveformToWaveform
from deepfx.validation import validate

ALL = ("torchscript", "torch.export", "onnx")


@pytest.fixture(scope="module")
def effect_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    ex = import_example("crossover_effect")
    out = tmp_path_factory.mktemp("export") / "crossover"
    return export(ex.build(), EXAMPLES / "crossover_card.json", out, formats=ALL)


@pytest.fixture(scope="module")
def analyzer_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    ex = import_example("energy_labeler")
    out = tmp_path_factory.mktemp("export") / "energy"
    return export(ex.build(), EXAMPLES / "energy_card.json", out, formats=ALL)


# --- the worked examples of docs/contributing.md, end to end --------------------------------


def test_effect_example_exports_all_formats_and_validates(effect_dir: Path) -> None:
    assert sorted(p.name for p in effect_dir.iterdir()) == [
        "README.md",
        "metadata.json",
        "model.onnx",
        "model.pt",
        "model.pt2",
    ]
    report = validate(effect_dir)
    assert report.ok, str(report)
    names = [c.name for c in report.checks]
    for fmt in ALL:
        assert f"{fmt}: long (10 s sweep)" in names
        assert f"{fmt}: determinism" in names
    assert "torch.export: same output as torchscript" in names
    assert "onnx: same output as torchscript" in names
    assert "2 channels" in " ".join(names)
    assert report.peak_rss_mib and report.peak_rss_mib > 10


def test_three_formats_agree_within_1e5(effect_dir: Path) -> None:
    ex = import_example("crossover_effect")
    module = ex.build().eval()
    x = np.random.default_rng(5).uniform(-1, 1, (1, 12345)).astype(np.float32)
    with torch.no_grad():
        want = module(torch.from_numpy(x)).numpy()
    for fmt in ALL:
        got = load_model(effect_dir, fmt=fmt).forward(x)
        assert got.shape == (2, 12345)
        assert float(np.max(np.abs(got - want))) <= 1e-5, fmt
    # and the crossover really splits: low + high gives the input back
    np.testing.assert_allclose(want.sum(axis=0), x[0], atol=1e-5)


def test_analyzer_example_exports_all_formats_and_validates(analyzer_dir: Path) -> None:
    report = validate(analyzer_dir)
    assert report.ok, str(report)
    sr = 16000
    t = np.arange(2 * sr) / sr
    x = np.where(t < 1.0, 0.5 * np.sin(2 * np.pi * 440 * t), 0.0).astype(np.float32)[None]
    outs = [load_model(analyzer_dir, fmt=fmt).forward(x) for fmt in ALL]
    idx, ts = outs[0]
    # first second loud (class 1), second second silent (class 0), 100 ms frames
    assert idx.tolist() == [1] * 10 + [0] * 10
    np.testing.assert_allclose(ts[:, 1] - ts[:, 0], 0.1, atol=1e-6)
    for other in outs[1:]:
        assert other[0].tolist() == idx.tolist()
        np.testing.assert_allclose(other[1], ts, atol=1e-5)


def test_metadata_and_readme_written(effect_dir: Path) -> None:
    meta = json.loads((effect_dir / "metadata.json").read_text())
    assert meta["model_file"] == "model.pt" and meta["model_format"] == "torchscript"
    assert meta["exported_with"]["torch"] == torch.__version__.split("+")[0]
    assert "onnx" in meta["exported_with"]
    load_card(effect_dir, strict=True)
    front, body = split_front_matter((effect_dir / "README.md").read_text())
    assert front["tags"][0] == "audacity"
    assert {"waveform-to-waveform", "music", "speech", "crossover"} <= set(front["tags"])
    assert front["license"] == "mit" and front["library_name"] == "deepfx"
    assert "Splits audio into a low band and a high band." in body
    assert "`low`, `high`" in body


def test_primary_format_is_the_first_asked(tmp_path: Path) -> None:
    out = export(Halve(), card_dict(), tmp_path / "m", formats=["onnx", "pt2"])
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["model_file"] == "model.onnx"
    assert not (out / "model.pt").exists()
    assert load_model(out).format == "onnx"


# --- atomicity and overwrite -------------------------------------------------------------------


class NotExportable(WaveformToWaveform):
    """Scripts fine but torch.export cannot handle data-dependent Python control flow."""

    def do_forward_pass(self, x: torch.Tensor) -> torch.Tensor:
        if float(x.abs().max()) > 0.1:
            return x.mean(dim=0, keepdim=True)
        return x.mean(dim=0, keepdim=True) * 2.0


def test_failed_export_leaves_nothing_behind(tmp_path: Path) -> None:
    dest = tmp_path / "out"
    with pytest.raises(ExportError, match=r"^torch.export: torch.export could not export"):
        export(NotExportable(), card_dict(), dest, formats=("torchscript", "torch.export"))
    assert not dest.exists()
    assert list(tmp_path.iterdir()) == []  # no temp folder left either


def test_existing_folder_needs_overwrite(tmp_path: Path) -> None:
    dest = export(Halve(), card_dict(), tmp_path / "m")
    with pytest.raises(ExportError, match="already exists and is not empty.*overwrite"):
        export(Halve(), card_dict(), dest)
    (dest / "README.md").write_text("# mine\n")
    export(Halve(), card_dict(name="renamed"), dest, overwrite=True, formats=["onnx"])
    assert sorted(p.name for p in dest.iterdir()) == ["README.md", "metadata.json", "model.onnx"]
    assert load_card(dest).name == "renamed"
    assert [p.name for p in tmp_path.iterdir()] == ["m"]


def test_export_refuses_invalid_card(tmp_path: Path) -> None:
    with pytest.raises(CardError, match="short_description: at most 60 characters"):
        export(Halve(), card_dict(short_description="x" * 61), tmp_path / "m")
    assert not (tmp_path / "m").exists()


def test_export_of_a_contract_breaking_module_names_format_and_rule(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match=r"^torchscript: .*fewer outputs than labels"):
        export(OneOutput(), card_dict(labels=["a", "b"]), tmp_path / "m")


class _ScriptHostile(WaveformToWaveform):
    """torch.jit.script cannot compile this (a Python-only helper), tracing can."""

    def do_forward_pass(self, x: torch.Tensor) -> torch.Tensor:
        return _python_only(x)


def _python_only(x: torch.Tensor, *rest: object, **kw: object) -> torch.Tensor:
    return x.mean(dim=0, keepdim=True) * 0.5


def test_trace_fallback_is_announced(tmp_path: Path) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = export(_ScriptHostile(), card_dict(), tmp_path / "m")
    notes = [w for w in caught if issubclass(w.category, ExportNote)]
    assert len(notes) == 1
    assert "fell back to torch.jit.trace" in str(notes[0].message)
    # no torch deprecation chatter reaches the caller
    assert not [w for w in caught if issubclass(w.category, DeprecationWarning)]
    assert validate(out).ok


def test_unknown_format_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="unknown export format 'tflite'"):
        export(Halve(), card_dict(), tmp_path / "m", formats=["tflite"])


# --- validate on broken models: specific messages --------------------------------------------


def _failure(folder: Path, **kw: object) -> str:
    report = validate(folder, long_s=0.5, **kw)  # type: ignore[arg-type]
    assert not report.ok
    with pytest.raises(ValidationFailed):
        report.raise_for_failures()
    return "\n".join(f"{c.name}: {c.message}" for c in report.failures)


@pytest.mark.parametrize(
    ("module", "card", "expected"),
    [
        (WrongRank(), card_dict(), r"output must be 2-D \(n_outputs, samples\).*\(rank 3\)"),
        (NaNOutput(), card_dict(), r"output contains NaN or infinite values"),
        (ReversedTimestamps(), labels_card(), r"timestamp 0 ends before it starts"),
        (IndexOutOfRange(), labels_card(), r"label index 7 is out of range"),
        (Noisy(), card_dict(), r"determinism: two runs on the same input differ"),
    ],
    ids=["wrong-rank", "nan", "reversed-timestamps", "index-range", "random"],
)
def test_broken_models_fail_validation_with_specific_messages(
    tmp_path: Path, module: nn.Module, card: dict[str, object], expected: str
) -> None:
    import re

    folder = write_scripted(tmp_path / "m", module, card)
    text = _failure(folder)
    assert re.search(expected, text), text
    if "determinism" not in expected:
        model = load_model(folder)
        with pytest.raises(ContractError, match=expected):
            model.forward(np.full((1, 8000), 0.1, dtype=np.float32))


def test_fewer_outputs_than_labels_is_a_warning_as_in_the_original_host(tmp_path: Path) -> None:
    """Issue 14: the original host made min(len(labels), rows) tracks. A folder whose
    network returns fewer rows validates with a WARN; forward keeps the rows (one warning
    per model). A new export of such a module is still refused (test above)."""
    from deepfx.model import FewerOutputsWarning

    folder = write_scripted(tmp_path / "m", OneOutput(), card_dict(labels=["a", "b"]))
    report = validate(folder, long_s=0.5)
    assert report.ok, str(report)
    rows = [c for c in report.warnings if "1 of 2 outputs" in c.message]
    assert len(rows) >= 5  # every battery input
    assert "WARN" in str(report)
    model = load_model(folder)
    with pytest.warns(FewerOutputsWarning, match="keeping 1, named a"):
        out = model.forward(np.full((1, 8000), 0.1, dtype=np.float32))
    assert out.shape == (1, 8000)


def test_good_scripted_models_pass(tmp_path: Path) -> None:
    assert validate(write_scripted(tmp_path / "fx", Halve(), card_dict()), long_s=0.5).ok
    assert validate(write_scripted(tmp_path / "lab", GoodLabels(), labels_card()), long_s=0.5).ok


def test_multichannel_models_get_six_channels(tmp_path: Path) -> None:
    folder = write_scripted(tmp_path / "m", Halve(), card_dict(multichannel=True))
    report = validate(folder, long_s=0.5)
    assert report.ok, str(report)
    assert any(c.name == "torchscript: 1 s noise, 6 channels" for c in report.checks)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"\x80\x04K\x01.", "raw Python pickle"),
        (b"PK\x03\x04broken", "corrupt or truncated file"),
    ],
)
def test_unloadable_file_fails_the_load_check(tmp_path: Path, data: bytes, expected: str) -> None:
    folder = write_scripted(tmp_path / "m", Halve(), card_dict())
    (folder / "model.pt").write_bytes(data)
    text = _failure(folder)
    assert "torchscript: load" in text and expected in text


def test_state_dict_renamed_model_pt_fails_validation(tmp_path: Path) -> None:
    folder = write_scripted(tmp_path / "m", Halve(), card_dict())
    torch.save(nn.Linear(3, 3).state_dict(), folder / "model.pt")
    assert "torch.save() checkpoint" in _failure(folder)


def test_invalid_card_fails_validation_with_field_and_rule(tmp_path: Path) -> None:
    folder = write_scripted(tmp_path / "m", Halve(), card_dict())
    meta = json.loads((folder / "metadata.json").read_text())
    meta["domain_tags"] = ["Music"]
    meta["tags"] = ["a", "a"]
    (folder / "metadata.json").write_text(json.dumps(meta))
    text = _failure(folder)
    assert "card (metadata.json)" in text
    assert "domain_tags.0: must be one of" in text and "'Music'" in text
    assert "tags: tags must be unique (repeated: a)" in text


def test_missing_format_and_folder(tmp_path: Path) -> None:
    folder = write_scripted(tmp_path / "m", Halve(), card_dict())
    text = _failure(folder, formats=["onnx"])
    assert "asked for onnx (model.onnx) but the folder has only: torchscript" in text
    assert "not a folder" in _failure(tmp_path / "nope")


def test_report_renders_and_serialises(effect_dir: Path) -> None:
    from rich.console import Console

    report = validate(effect_dir, formats=["onnx"], long_s=1.0)
    assert report.ok and report.formats == ["onnx"]
    console = Console(record=True, width=200)
    console.print(report)
    text = console.export_text()
    assert "onnx: determinism" in text and "PASSED" in text and "peak memory" in text
    data = json.loads(json.dumps(report.to_dict()))
    assert data["ok"] is True and data["checks"][0]["name"] == "card (metadata.json)"
    assert "PASS  onnx: load" in str(report)


def test_top_level_api_names_are_the_functions(effect_dir: Path, tmp_path: Path) -> None:
    import deepfx
    import deepfx.exporting
    import deepfx.validation  # noqa: F401 - importing the modules must not shadow the functions

    assert deepfx.validate is validate and deepfx.export is export
    assert deepfx.validate(effect_dir, formats=["onnx"], long_s=0.5).ok
    assert deepfx.export(Halve(), card_dict(), tmp_path / "m").is_dir()


def test_numpy_example_input_and_cpu_only(tmp_path: Path) -> None:
    x = np.random.default_rng(1).uniform(-1, 1, (1, 3000)).astype(np.float32)
    out = export(Halve(), card_dict(), tmp_path / "np", formats=["pt2"], example_input=x)
    assert load_model(out).forward(x).shape == (1, 3000)
    with pytest.raises(ExportError, match=r"example_input must be a 2-D"):
        export(Halve(), card_dict(), tmp_path / "bad", example_input=x[0])

    class Scaled(WaveformToWaveform):
        def __init__(self) -> None:
            super().__init__()
            self.gain = nn.Parameter(torch.ones(1))

        def do_forward_pass(self, x: torch.Tensor) -> torch.Tensor:
            return x * self.gain

    with pytest.raises(ExportError, match=r"weights on meta.*module\.cpu\(\)"):
        export(Scaled().to("meta"), card_dict(), tmp_path / "meta")


def test_overwrite_never_replaces_a_folder_that_is_not_a_model(tmp_path: Path) -> None:
    precious = tmp_path / "home"
    precious.mkdir()
    (precious / "thesis.tex").write_text("years of work")
    with pytest.raises(ExportError, match="is not a model folder"):
        export(Halve(), card_dict(), precious, overwrite=True)
    assert (precious / "thesis.tex").read_text() == "years of work"
