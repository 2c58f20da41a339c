"""Runners: every format loads through one interface; bad files give specific errors."""

from __future__ import annotations

import pickle
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from contrib_helpers import Halve, card_dict, write_scripted

from deepfx.errors import ContractError, ModelLoadError
from deepfx.exporting import export
from deepfx.folder import network_file as find_model_file
from deepfx.model import load_model
from deepfx.runners import open_runner


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A correct effect exported to all three formats."""
    from contrib_helpers import import_example

    ex = import_example("crossover_effect")
    out = tmp_path_factory.mktemp("runners") / "crossover"
    return export(
        ex.build(),
        ex.__file__.replace("crossover_effect.py", "crossover_card.json"),
        out,
        formats=("torchscript", "torch.export", "onnx"),
    )


def test_every_format_runs_through_one_interface(good: Path) -> None:
    x = np.random.default_rng(0).uniform(-0.5, 0.5, (1, 4000)).astype(np.float32)
    outs = {}
    for name in ("model.pt", "model.pt2", "model.onnx"):
        runner = open_runner(good / name, device="cpu")
        assert runner.device == "cpu"
        outs[name] = runner(x)
        assert outs[name].shape == (2, 4000)
    np.testing.assert_allclose(outs["model.pt"], outs["model.pt2"], atol=1e-5)
    np.testing.assert_allclose(outs["model.pt"], outs["model.onnx"], atol=1e-5)


def test_find_model_file_prefers_card_then_torchscript(good: Path, tmp_path: Path) -> None:
    from deepfx.card import load_card

    card = load_card(good)
    assert find_model_file(good, card).name == "model.pt"
    assert find_model_file(good, None, "onnx").name == "model.onnx"
    with pytest.raises(ModelLoadError, match="unknown format 'tflite'"):
        find_model_file(good, None, "tflite")
    with pytest.raises(ModelLoadError, match="no network file found"):
        find_model_file(tmp_path, None)


def _folder_with(tmp_path: Path, filename: str, data: bytes) -> Path:
    folder = tmp_path / "m"
    write_scripted(folder, Halve(), card_dict())
    (folder / "model.pt").unlink()
    (folder / filename).write_bytes(data)
    return folder


def test_pickle_renamed_model_pt_is_refused_without_unpickling(tmp_path: Path) -> None:
    marker = tmp_path / "unpickled"
    # a pickle that would create a file if anyone unpickled it
    payload = pickle.dumps(_Touch(str(marker)))
    folder = _folder_with(tmp_path, "model.pt", payload)
    with pytest.raises(ModelLoadError, match="raw Python pickle.*never unpickles"):
        load_model(folder).load()
    assert not marker.exists()


class _Touch:
    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, (self.path, "w"))


def test_state_dict_renamed_model_pt_is_refused(tmp_path: Path) -> None:
    src = tmp_path / "weights.pth"
    torch.save(torch.nn.Linear(4, 2).state_dict(), src)
    folder = _folder_with(tmp_path, "model.pt", src.read_bytes())
    with pytest.raises(ModelLoadError, match=r"torch.save\(\) checkpoint .* not a TorchScript"):
        load_model(folder).load()


def test_corrupt_and_truncated_files(tmp_path: Path) -> None:
    good_dir = write_scripted(tmp_path / "good", Halve(), card_dict())
    data = (good_dir / "model.pt").read_bytes()
    folder = _folder_with(tmp_path, "model.pt", data[: len(data) // 2])
    with pytest.raises(ModelLoadError, match="corrupt or truncated file"):
        load_model(folder).load()
    (folder / "model.pt").write_bytes(b"")
    with pytest.raises(ModelLoadError, match="the file is empty"):
        load_model(folder).load()
    (folder / "model.pt").write_bytes(b"<!DOCTYPE html><html>Not found</html>")
    with pytest.raises(ModelLoadError, match="text/HTML file, not a model"):
        load_model(folder).load()


def test_corrupt_onnx_and_pt2(tmp_path: Path) -> None:
    onnx_dir = _folder_with(tmp_path, "model.onnx", b"\x08\x07garbage" * 50)
    with pytest.raises(ModelLoadError, match="corrupt or unsupported ONNX model"):
        load_model(onnx_dir).load()
    pt2 = tmp_path / "pt2"
    write_scripted(pt2, Halve(), card_dict())
    (pt2 / "model.pt").unlink()
    with zipfile.ZipFile(pt2 / "model.pt2", "w") as zf:
        zf.writestr("archive/nothing.txt", "not a program")
    with pytest.raises(ModelLoadError, match="not a loadable torch.export program"):
        load_model(pt2).load()


def test_network_exception_becomes_contract_error(tmp_path: Path) -> None:
    folder = write_scripted(tmp_path / "m", Halve(), card_dict())
    model = load_model(folder)
    with pytest.raises(ContractError, match=r"2-D array \(channels, samples\)"):
        model.forward(np.zeros((2, 3, 4), dtype=np.float32))


def test_onnx_model_runs_without_torch(good: Path) -> None:
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "import numpy as np\n"
        "from deepfx.model import load_model\n"
        f"m = load_model({str(good)!r}, fmt='onnx')\n"
        "y = m.forward(np.zeros((1, 1600), dtype=np.float32))\n"
        "assert y.shape == (2, 1600), y.shape\n"
        "print('ok', m.device)\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "ok cpu"


def test_load_failure_names_a_newer_exporting_torch(tmp_path: Path) -> None:
    """A corrupt network whose card says it came from a future torch: the error says both."""
    from deepfx.card import ModelCard
    from deepfx.model import load_model

    card = ModelCard(
        short_description="future model",
        long_description="exported by a torch from the future",
        domain_tags=["other"],
        effect_type="waveform-to-waveform",
        multichannel=False,
        labels=["out"],
        sample_rate=16000,
        exported_with={"torch": "9.1.0"},
    )
    card.write(tmp_path / "metadata.json")
    (tmp_path / "model.pt").write_bytes(b"PK\x03\x04 not really a zip")
    model = load_model(tmp_path)
    assert "exported with torch 9.1.0" in (model.newer_framework() or "")
    with pytest.raises(ModelLoadError, match=r"corrupt.*exported with torch 9\.1\.0"):
        model.load()
