"""Issue 16 through the CLI: stereo stays stereo, Ctrl-C lands at once.

Subprocess runs of `deepfx run` on small real TorchScript models (tests/engine_helpers).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import engine_helpers as h
import numpy as np
import pytest
import soundfile as sf
import torch

from deepfx.card import Chunking
from deepfx.engine import process
from deepfx.outputs.temps import TEMP_PREFIX


def deepfx(*args: object, **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "deepfx", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=180,
        **kw,  # type: ignore[arg-type]
    )


@pytest.fixture(scope="module")
def gain(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A mono effect: out = 0.5 * x (exactly predictable per channel)."""
    return h.save(
        h.Gain([0.5]),
        tmp_path_factory.mktemp("g") / "gain",
        h.card(labels=["half"], rate=8000, chunking=Chunking(window_s=0.5, overlap_s=0.1)),
    )


def _stereo(path: Path, rate: int = 8000, seconds: float = 1.0) -> np.ndarray:
    n = int(rate * seconds)
    t = np.arange(n) / rate
    x = np.stack([0.4 * np.sin(2 * np.pi * 220 * t), 0.3 * np.sin(2 * np.pi * 330 * t)], axis=1)
    sf.write(path, x, rate, subtype="FLOAT")
    return x.astype(np.float32)


# --- 1. stereo stays stereo ------------------------------------------------------------


def test_mono_effect_on_stereo_keeps_stereo_and_says_so(tmp_path: Path, gain: Path) -> None:
    src = tmp_path / "song.wav"
    x = _stereo(src)
    r = deepfx("run", gain, src, "-o", tmp_path / "out")
    assert r.returncode == 0, r.stderr
    assert "stereo input: test-model is mono, ran per channel" in r.stderr
    y, _ = sf.read(tmp_path / "out" / "song - half.wav", dtype="float32", always_2d=True)
    assert y.shape == x.shape  # two channels, each its own
    np.testing.assert_allclose(y, 0.5 * x, atol=2e-3)


def test_mono_flag_mixes_down(tmp_path: Path, gain: Path) -> None:
    src = tmp_path / "song.wav"
    x = _stereo(src)
    r = deepfx("run", gain, src, "-o", tmp_path / "out", "--mono")
    assert r.returncode == 0, r.stderr
    assert "mixed down to mono" in r.stderr
    y, _ = sf.read(tmp_path / "out" / "song - half.wav", dtype="float32", always_2d=True)
    assert y.shape == (x.shape[0], 1)
    np.testing.assert_allclose(y[:, 0], 0.5 * x.mean(axis=1), atol=2e-3)


def test_python_api_keeps_channels_and_mono_opts_out(gain: Path) -> None:
    x = np.random.default_rng(0).standard_normal((2, 4000)).astype(np.float32) * 0.2
    notes: list[str] = []
    res = process(gain, x, 8000, on_progress=lambda p: notes.append(p.message))
    assert res.tracks["half"].shape == (2, 4000)  # type: ignore[union-attr]
    assert any("ran per channel" in n for n in notes)
    mono = process(gain, x, 8000, mono=True)
    assert mono.tracks["half"].shape == (1, 4000)  # type: ignore[union-attr]


def test_analyzer_still_reads_a_mono_mix(tmp_path: Path) -> None:
    folder = h.save(
        h.Loud(8000),
        tmp_path / "loud",
        h.card(labels=["loud"], rate=8000, effect=False, chunking=Chunking(window_s=1.0)),
    )
    x = np.zeros((16000, 2))
    x[4000:9000, 0] = 0.9  # one channel alone is loud; the mix (0.45) is not
    src = tmp_path / "a.wav"
    sf.write(src, x, 8000)
    r = deepfx("run", folder, src, "-o", tmp_path / "o", "-q")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "o" / "a - labels (test-model).txt").read_text() == ""
    r = deepfx("run", folder, src, "-o", tmp_path / "p", "-q", "--per-channel")
    assert r.returncode == 0, r.stderr
    assert "loud" in (tmp_path / "p" / "a - labels (test-model).txt").read_text()


def test_mono_and_per_channel_contradict(gain: Path) -> None:
    with pytest.raises(Exception, match="contradict"):
        process(gain, np.zeros((2, 800), np.float32), 8000, mono=True, per_channel=True)


# --- 5b. Ctrl-C lands within a second or two ----------------------------------------------


class _Slow(torch.nn.Module):
    """One forward call that stays in TorchScript's C++ interpreter for minutes."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x[:1] * 0.0
        for _ in range(50_000_000):
            y = y * 0.5
        return y + x[:1]


def test_first_ctrl_c_lands_inside_a_long_forward_call(tmp_path: Path) -> None:
    slow = h.save(
        _Slow(), tmp_path / "slow", h.card(labels=["y"], rate=8000, chunking=Chunking(window_s=1))
    )
    src = tmp_path / "a.wav"
    sf.write(src, np.zeros(800, np.float32), 8000)
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "deepfx", "run", str(slow), str(src), "-o", str(out), "-q"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while not (out.exists() and any(p.name.startswith(TEMP_PREFIX) for p in out.iterdir())):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the run never started writing"
        time.sleep(0.05)
    time.sleep(0.5)  # inside the one forward call
    t0 = time.monotonic()
    proc.send_signal(signal.SIGINT)  # once
    _, err = proc.communicate(timeout=60)  # generous: not the minutes the call would take
    latency = time.monotonic() - t0
    print(f"Ctrl-C latency inside a long forward call: {latency:.2f} s")
    assert proc.returncode == 130, err
    assert "cancelled" in err and err.count("\n") == 1
    assert not out.exists()  # nothing left: no temp file, not even the empty folder
    assert src.exists()


# --- 3. names say what made them -----------------------------------------------------------


def test_repeated_runs_number_and_another_model_is_named(tmp_path: Path, gain: Path) -> None:
    other = h.save(
        h.Gain([0.25]),
        tmp_path / "other",
        h.card(labels=["half"], rate=8000, name="quarter-fx"),
    )
    src = tmp_path / "song.wav"
    _stereo(src)
    out = tmp_path / "out"
    for _ in range(2):
        assert deepfx("run", gain, src, "-o", out, "-q").returncode == 0
    r = deepfx("run", other, src, "-o", out, "-q")
    assert r.returncode == 0, r.stderr
    names = sorted(p.name for p in out.iterdir())
    assert names == ["song - half (2).wav", "song - half (quarter-fx).wav", "song - half.wav"]
    assert str(out / "song - half (quarter-fx).wav") in r.stdout  # the CLI says where
    assert sf.SoundFile(str(out / "song - half.wav")).comment == "made by deepfx from test-model"
    # --overwrite replaces the plain name instead, with the other model's output
    r = deepfx("run", other, src, "-o", out, "-q", "--overwrite")
    assert r.returncode == 0, r.stderr
    assert len(list(out.iterdir())) == 3
    assert sf.SoundFile(str(out / "song - half.wav")).comment == "made by deepfx from quarter-fx"


def test_label_files_name_their_model(tmp_path: Path) -> None:
    folder = h.save(
        h.Loud(8000), tmp_path / "loud", h.card(labels=["loud"], rate=8000, effect=False)
    )
    src = tmp_path / "talk.wav"
    sf.write(src, np.zeros(8000), 8000)
    for _ in range(2):
        assert deepfx("run", folder, src, "-o", tmp_path / "o", "-q").returncode == 0
    names = sorted(p.name for p in (tmp_path / "o").iterdir())
    assert names == ["talk - labels (test-model) (2).txt", "talk - labels (test-model).txt"]


def test_naming_rule_helpers() -> None:
    from deepfx.outputs.names import labels_title, model_tag, unique_name

    assert model_tag("hugggof/demucs_extra") == "demucs_extra"
    assert labels_title("builtin/vad") == "labels (vad)"
    held = {"song - vocals": "builtin/hpss", "song - vocals (demucs_extra)": "hugggof/demucs_extra"}
    args = dict(taken=held.__contains__, made_by=lambda n: held.get(n, ""))
    assert unique_name("song - drums", model="hugggof/demucs_extra", **args) == "song - drums"
    assert unique_name("song - vocals", model="x/demucs_extra", **args) == (
        "song - vocals (demucs_extra) (2)"
    )
    held.pop("song - vocals (demucs_extra)")
    assert unique_name("song - vocals", model="hugggof/demucs_extra", **args) == (
        "song - vocals (demucs_extra)"
    )
    assert unique_name("song - vocals", model="builtin/hpss", **args) == "song - vocals (2)"


# --- 8. messages that lead somewhere --------------------------------------------------------


def test_folder_input_recurses_and_mirrors(tmp_path: Path, gain: Path) -> None:
    src = tmp_path / "in"
    for rel in ("a/x.wav", "b/x.wav", "y.flac"):
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        sf.write(src / rel, np.zeros(800), 8000)
    (src / "notes.txt").write_text("not audio")
    r = deepfx("run", gain, src, "-o", tmp_path / "out", "-q")
    assert r.returncode == 0, r.stderr
    made = sorted(p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*"))
    assert made == ["a", "a/x - half.wav", "b", "b/x - half.wav", "y - half.flac"]
    empty = tmp_path / "empty"
    empty.mkdir()
    r = deepfx("run", gain, empty, "-o", tmp_path / "o2")
    assert r.returncode == 2 and "no audio files" in r.stderr and "empty" in r.stderr


def test_typo_in_a_model_name_suggests(tmp_path: Path) -> None:
    src = tmp_path / "a.wav"
    sf.write(src, np.zeros(800), 8000)
    r = deepfx("run", "bultin/hpss", src, "-o", tmp_path / "o")
    assert r.returncode != 0 and "did you mean builtin/hpss?" in r.stderr, r.stderr
    r = deepfx("models", "info", "hpss")
    assert r.returncode != 0 and "did you mean builtin/hpss?" in r.stderr
    r = deepfx("run", "./no-such-model", src, "-o", tmp_path / "o")
    assert "no model folder at './no-such-model'" in r.stderr and "models install" not in r.stderr


def test_models_info_of_an_unbuilt_builtin_shows_its_card() -> None:
    r = deepfx("models", "info", "builtin/vad")
    assert r.returncode == 0, r.stderr
    assert "not built yet" in r.stdout and "16000 Hz" in r.stdout


def test_installing_an_installed_model_is_a_no_op(tmp_path: Path, gain: Path) -> None:
    r = deepfx("models", "add-local", gain, "--name", "g")
    assert r.returncode == 0 and "added local/g" in r.stdout, r.stderr
    r = deepfx("models", "add-local", gain, "--name", "g")
    assert r.returncode == 0 and "nothing to do" in r.stdout, r.stderr
    changed = tmp_path / "g2"
    h.save(h.Gain([0.75]), changed, h.card(labels=["half"], rate=8000))
    r = deepfx("models", "add-local", changed, "--name", "g")
    assert r.returncode == 0, r.stderr
    assert "model.pt: changed" in r.stdout and "replaced local/g" in r.stdout
    r = deepfx("models", "install", "builtin/hpss")
    assert r.returncode == 0, r.stderr
    r = deepfx("models", "install", "builtin/hpss")
    assert r.returncode == 0 and "already installed" in r.stdout, r.stderr


def test_hub_unreachable_is_one_human_line_and_curated_list_shows() -> None:
    env = {**__import__("os").environ, "HF_ENDPOINT": "http://127.0.0.1:9"}  # refused
    env.pop("DEEPFX_CURATED_LISTS", None)
    r = deepfx("models", "info", "someone/some-model", env=env)
    assert r.returncode == 5
    assert r.stderr.count("\n") == 1, r.stderr
    assert "cannot reach the hub" in r.stderr and "refused" in r.stderr
    assert "Errno" not in r.stderr and "ConnectError" not in r.stderr
    r = deepfx("models", "search", "--json", env=env)
    assert r.returncode == 0, r.stderr
    import json

    found = {m["repo_id"]: m for m in json.loads(r.stdout)["models"]}
    assert found["hugggof/demucs_extra"]["needs_network"] is True
    assert "builtin/hpss" in found and "shipped with deepfx" in json.loads(r.stdout)["note"]


# --- 9. contributors ---------------------------------------------------------------------


def test_init_placeholder_card_fails_validate_and_publish(tmp_path: Path) -> None:
    r = deepfx("init", "my-fx", "--dir", tmp_path, "--multichannel", "-r", "16000")
    assert r.returncode == 0 and "multichannel model" in r.stdout, r.stderr
    project = tmp_path / "my-fx"
    import json

    card = json.loads((project / "metadata.json").read_text())
    assert card["multichannel"] is True
    r = deepfx("export", "model.py", "-o", "dist/my-fx", cwd=project)
    assert r.returncode != 0
    assert "names no entry point" in r.stderr and "model.py:build" in r.stderr
    r = deepfx("export", "model.py:build", "-o", "dist/my-fx", "--no-validate", cwd=project)
    assert r.returncode == 0, r.stderr
    r = deepfx("validate", project / "dist" / "my-fx", "--long-s", "1")
    assert r.returncode != 0 and "card filled in" in r.stdout and "placeholder" in r.stdout
    env = {**__import__("os").environ, "HF_ENDPOINT": "http://127.0.0.1:9", "HF_TOKEN": "x"}
    r = deepfx("publish", project / "dist" / "my-fx", "--repo", "me/my-fx", env=env)
    assert r.returncode != 0 and "failed validation" in r.stderr
    # filled in, it validates
    card["short_description"] = "Halves the level."
    card["long_description"] = "A gain of one half, the starting point of a real effect."
    (project / "dist" / "my-fx" / "metadata.json").write_text(json.dumps(card))
    r = deepfx("validate", project / "dist" / "my-fx", "--long-s", "1")
    assert r.returncode == 0, r.stdout


def test_init_without_a_terminal_makes_a_mono_model(tmp_path: Path) -> None:
    r = deepfx("init", "mono-fx", "--dir", tmp_path, stdin=subprocess.DEVNULL)
    assert r.returncode == 0 and "mono model" in r.stdout, r.stderr
    import json

    assert json.loads((tmp_path / "mono-fx" / "metadata.json").read_text())["multichannel"] is False
