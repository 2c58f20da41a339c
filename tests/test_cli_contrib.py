"""`deepfx validate / export / init` from the command line (subprocesses, as users run it)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from contrib_helpers import EXAMPLES, NaNOutput, card_dict, write_scripted

REPO = Path(__file__).resolve().parents[1]


def deepfx(*args: str, cwd: Path | None = None, timeout: int = 180) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "deepfx", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=timeout,
        env={**os.environ, "COLUMNS": "200"},
    )


def test_help_does_not_import_torch() -> None:
    code = (
        "import sys\n"
        "from deepfx.cli.app import main\n"
        "try:\n"
        "    main(['--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = [m for m in ('torch', 'onnxruntime', 'onnx') if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert "HEAVY []" in res.stdout
    for cmd in ("validate", "export", "init"):
        assert cmd in res.stdout


def test_contrib_commands_help_without_torch() -> None:
    for cmd in ("validate", "export", "init"):
        code = (
            "import sys\nfrom deepfx.cli.app import main\n"
            f"try:\n    main([{cmd!r}, '--help'])\nexcept SystemExit:\n    pass\n"
            "print('TORCH', 'torch' in sys.modules)\n"
        )
        res = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
        )
        assert "TORCH False" in res.stdout, (cmd, res.stdout, res.stderr)
        assert "Example" in res.stdout


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cli") / "energy"
    res = deepfx(
        "export",
        f"{EXAMPLES / 'energy_labeler.py'}:build",
        "--card",
        str(EXAMPLES / "energy_card.json"),
        "-o",
        str(out),
        "--format",
        "torchscript",
        "--format",
        "onnx",
    )
    assert res.returncode == 0, res.stdout + res.stderr
    assert "exported torchscript, onnx to" in res.stdout
    assert "PASSED" in res.stdout  # export validates its result by default
    assert "Warning" not in res.stderr  # torch chatter silenced
    return out


def test_export_then_validate_exit_zero(exported: Path) -> None:
    assert sorted(p.name for p in exported.iterdir()) == [
        "README.md",
        "metadata.json",
        "model.onnx",
        "model.pt",
    ]
    res = deepfx("validate", str(exported))
    assert res.returncode == 0, res.stdout + res.stderr
    assert "onnx: same output as torchscript" in res.stdout
    assert "PASSED" in res.stdout and "peak memory" in res.stdout


def test_validate_json(exported: Path) -> None:
    res = deepfx("validate", str(exported), "--json", "-f", "onnx", "--long-s", "1")
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)
    assert data["ok"] is True and data["formats"] == ["onnx"]
    assert all(c["ok"] for c in data["checks"])


def test_validate_broken_model_exits_non_zero(tmp_path: Path) -> None:
    folder = write_scripted(tmp_path / "nan", NaNOutput(), card_dict())
    res = deepfx("validate", str(folder), "--long-s", "1")
    assert res.returncode == 1
    assert "FAIL" in res.stdout and "NaN or infinite" in res.stdout
    assert "validation checks failed" in res.stderr
    assert "Traceback" not in res.stderr
    res = deepfx("validate", str(folder), "--json", "--long-s", "1")
    assert res.returncode == 1 and json.loads(res.stdout)["ok"] is False


def test_export_errors_are_one_line(tmp_path: Path, exported: Path) -> None:
    card = str(EXAMPLES / "energy_card.json")
    res = deepfx(
        "export", f"{EXAMPLES / 'energy_labeler.py'}:nope", "-c", card, "-o", str(tmp_path / "x")
    )
    assert res.returncode == 3
    assert "has no attribute 'nope'" in res.stderr and "Traceback" not in res.stderr
    res = deepfx("export", f"{EXAMPLES / 'energy_labeler.py'}:build", "-o", str(exported))
    assert res.returncode == 3 and "no model card given" in res.stderr


def test_init_scaffolds_a_project_whose_test_passes(tmp_path: Path) -> None:
    res = deepfx("init", "my-fx", "--dir", str(tmp_path), "--sample-rate", "22050")
    assert res.returncode == 0, res.stderr
    project = tmp_path / "my-fx"
    assert sorted(p.name for p in project.iterdir()) == [
        "README.md",
        "metadata.json",
        "model.py",
        "test_model.py",
    ]
    card = json.loads((project / "metadata.json").read_text())
    assert card["sample_rate"] == 22050 and card["effect_type"] == "waveform-to-waveform"
    res = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(project)],
        capture_output=True,
        text=True,
        cwd=project,
        timeout=300,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    assert "1 passed" in res.stdout
    # the project also exports with the CLI exactly as its README says
    res = deepfx(
        "export", "model.py:build", "-o", "dist/my-fx", "-f", "onnx", "--no-validate", cwd=project
    )
    assert res.returncode == 0, res.stdout + res.stderr
    # and the name is now taken
    res = deepfx("init", "my-fx", "--dir", str(tmp_path))
    assert res.returncode == 2 and "already exists" in res.stderr


def test_init_analyzer_project_test_passes(tmp_path: Path) -> None:
    res = deepfx("init", "my-labeler", "--type", "analyzer", "--dir", str(tmp_path), "-r", "16000")
    assert res.returncode == 0, res.stderr
    project = tmp_path / "my-labeler"
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-W",
            "error::UserWarning",
        ],
        capture_output=True,
        text=True,
        cwd=project,
        timeout=300,
    )
    assert res.returncode == 0, res.stdout + res.stderr


def test_init_refuses_bad_names(tmp_path: Path) -> None:
    res = deepfx("init", "../escape", "--dir", str(tmp_path))
    assert res.returncode == 2 and "not usable" in res.stderr
    res = deepfx("init", "ok", "--type", "generator", "--dir", str(tmp_path))
    assert res.returncode == 2 and "--type must be effect or analyzer" in res.stderr
