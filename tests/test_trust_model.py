"""Model files can never run code or touch files: hostile payloads at install, validate, run.

Every payload is generated here, in a temp folder (no binary payload is committed). A
payload writes a marker file when it is unpickled / evaluated; the tests first show the
payload really fires through the unsafe torch API where that is cheap to show, then that
deepfx refuses it with a specific :class:`UnsafeModelError` (or :class:`CardError`) and
the marker never appears.
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import subprocess
import sys
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from engine_helpers import ConvSep, card
from torch import nn

from deepfx.errors import CardError, ModelLoadError, UnsafeModelError
from deepfx.runners import open_runner
from deepfx.runners._graphs import torchscript_ops


class Payload:
    """Unpickling this writes ``marker`` (the classic ``__reduce__`` attack)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (exec, (f"open({str(self.marker)!r}, 'w').write('pwned')",))


@pytest.fixture()
def marker(tmp_path: Path) -> Path:
    return tmp_path / "MARKER"


@pytest.fixture(scope="module")
def pt2_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A genuine `deepfx export --format pt2` folder (card + model.pt2)."""
    from deepfx.exporting import export

    out = tmp_path_factory.mktemp("pt2") / "conv"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        export(ConvSep(), card(labels=["a", "b"], rate=16000), out, formats=("torch.export",))
    return out


def _rewrite(src: Path, dst: Path, replace: dict[str, Callable[[bytes], bytes]]) -> Path:
    """Copy a torch zip archive, replacing members (named without the top folder)."""
    with zipfile.ZipFile(src) as zi, zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as zo:
        for info in zi.infolist():
            rel = info.filename.split("/", 1)[1]
            data = zi.read(info)
            zo.writestr(info.filename, replace[rel](data) if rel in replace else data)
    return dst


def _hostile_folder(
    pt2_folder: Path, dest: Path, replace: dict[str, Callable[[bytes], bytes]]
) -> Path:
    dest.mkdir()
    (dest / "metadata.json").write_bytes((pt2_folder / "metadata.json").read_bytes())
    _rewrite(pt2_folder / "model.pt2", dest / "model.pt2", replace)
    return dest


SAMPLES = "data/sample_inputs/model.pt"
PROGRAM = "models/model.json"


def _cli(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DEEPFX_HOME": str(home), "HF_HUB_OFFLINE": "1", "COLUMNS": "40"}
    return subprocess.run(
        [sys.executable, "-m", "deepfx", *args], capture_output=True, text=True, env=env
    )


# --- torch.export (.pt2) --------------------------------------------------------------------


def test_genuine_pt2_export_still_loads(pt2_folder: Path) -> None:
    runner = open_runner(pt2_folder / "model.pt2")
    assert runner(np.zeros((1, 1600), np.float32)).shape == (2, 1600)


def test_pickled_sample_inputs_payload_fires_in_torch_but_not_in_deepfx(
    pt2_folder: Path, tmp_path: Path, marker: Path
) -> None:
    def evil(_: bytes) -> bytes:
        return pickle.dumps(Payload(marker), protocol=2)

    folder = _hostile_folder(pt2_folder, tmp_path / "evil", {SAMPLES: evil})
    # the payload is real: torch.export.load falls back to weights_only=False and runs it
    with warnings.catch_warnings(), contextlib.suppress(Exception):
        warnings.simplefilter("ignore")
        torch.export.load(str(folder / "model.pt2"))
    assert marker.exists()
    marker.unlink()
    with pytest.raises(UnsafeModelError, match="would call __builtin__.exec") as info:
        open_runner(folder / "model.pt2")
    assert info.value.exit_code == 3 and "\n" not in str(info.value)
    assert not marker.exists()


def test_pickled_weight_payload_refused(pt2_folder: Path, tmp_path: Path, marker: Path) -> None:
    def config(data: bytes) -> bytes:
        cfg = json.loads(data)
        first = next(iter(cfg["config"].values()))
        first["use_pickle"] = True
        return json.dumps(cfg).encode()

    def evil(_: bytes) -> bytes:
        return pickle.dumps(Payload(marker), protocol=2)

    folder = _hostile_folder(
        pt2_folder,
        tmp_path / "evil",
        {"data/weights/model_weights_config.json": config, "data/weights/weight_0": evil},
    )
    with pytest.raises(UnsafeModelError, match="exec"):
        open_runner(folder / "model.pt2")
    assert not marker.exists()


def test_sympy_expression_eval_refused(pt2_folder: Path, tmp_path: Path, marker: Path) -> None:
    code = f"__import__('builtins').exec(\"open({str(marker)!r}, 'w')\")"

    def evil(data: bytes) -> bytes:
        text = data.decode()
        sym = next(s for s in json.loads(text)["range_constraints"])
        old = f"Symbol('{sym}', positive=True, integer=True)"
        assert old in text
        return text.replace(old, code.replace('"', '\\"'), 1).encode()

    folder = _hostile_folder(pt2_folder, tmp_path / "evil", {PROGRAM: evil})
    with warnings.catch_warnings(), contextlib.suppress(Exception):
        warnings.simplefilter("ignore")
        torch.export.load(str(folder / "model.pt2"))
    assert marker.exists()  # sympify evaluated it
    marker.unlink()
    with pytest.raises(UnsafeModelError, match="__import__"):
        open_runner(folder / "model.pt2")
    assert not marker.exists()


@pytest.mark.parametrize(
    "guard",
    [
        "__import__('os').system('touch MARK')",
        "L['x'].size()[1].__class__ == 1",
        "L['x'] == 'a\\'b'",
        "(lambda: 1)() == 1",
    ],
)
def test_guard_code_exec_refused(pt2_folder: Path, tmp_path: Path, guard: str) -> None:
    def evil(data: bytes) -> bytes:
        program = json.loads(data)
        program["guards_code"] = [guard]
        return json.dumps(program).encode()

    folder = _hostile_folder(pt2_folder, tmp_path / "evil", {PROGRAM: evil})
    with pytest.raises(UnsafeModelError, match="shape guard"):
        open_runner(folder / "model.pt2")


@pytest.mark.parametrize(
    ("target", "named"),
    [
        ("torch.os.system", "torch.os.system"),
        ("torch.save", "torch.save"),
        ("torch.ops.aten.from_file.default", "aten::from_file"),
        ("torch.ops.mylib.evil.default", "mylib"),
        ("builtins.eval", "builtins.eval"),
    ],
)
def test_pt2_node_target_outside_allow_list_refused(
    pt2_folder: Path, tmp_path: Path, target: str, named: str
) -> None:
    def evil(data: bytes) -> bytes:
        program = json.loads(data)
        program["graph_module"]["graph"]["nodes"][0]["target"] = target
        return json.dumps(program).encode()

    folder = _hostile_folder(pt2_folder, tmp_path / "evil", {PROGRAM: evil})
    with pytest.raises(UnsafeModelError, match=named):
        open_runner(folder / "model.pt2")


def test_pt2_with_aotinductor_or_unknown_member_refused(pt2_folder: Path, tmp_path: Path) -> None:
    for i, extra in enumerate(["data/aotinductor/model/x.so", "data/../../evil", "code/x.py"]):
        dst = tmp_path / f"m{i}.pt2"
        _rewrite(pt2_folder / "model.pt2", dst, {})
        with zipfile.ZipFile(dst, "a") as zf:
            zf.writestr(f"model/{extra}", b"\x7fELF")
        with pytest.raises(UnsafeModelError):
            open_runner(dst)


def test_pt2_deeply_nested_json_is_a_clear_error(pt2_folder: Path, tmp_path: Path) -> None:
    folder = _hostile_folder(pt2_folder, tmp_path / "evil", {PROGRAM: lambda _: b"[" * 100_000})
    with pytest.raises(ModelLoadError):
        open_runner(folder / "model.pt2")


def test_pt2_payload_refused_at_add_local_validate_and_run(
    pt2_folder: Path, tmp_path: Path, marker: Path
) -> None:
    import soundfile as sf

    folder = _hostile_folder(
        pt2_folder,
        tmp_path / "evil",
        {SAMPLES: lambda _: pickle.dumps(Payload(marker), protocol=2)},
    )
    home = tmp_path / "home"
    add = _cli("models", "add-local", str(folder), home=home)
    assert add.returncode == 3, add.stderr
    assert len(add.stderr.splitlines()) == 1 and "refused for safety" in add.stderr
    assert not (home / "models").exists() or not any((home / "models").rglob("model.pt2"))
    val = _cli("validate", str(folder), home=home)
    assert val.returncode != 0 and "refused for safety" in " ".join(
        (val.stdout + val.stderr).split()
    )
    wav = tmp_path / "in.wav"
    sf.write(wav, np.zeros(1600, np.float32), 16000)
    run = _cli("run", str(folder), str(wav), "-o", str(tmp_path / "out"), "-q", home=home)
    assert run.returncode == 3 and len(run.stderr.splitlines()) == 1, run.stderr
    assert "refused for safety" in run.stderr
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
    assert not marker.exists()


# --- TorchScript ----------------------------------------------------------------------------


class ReadsFile(nn.Module):
    def __init__(self, secret: str) -> None:
        super().__init__()
        self.secret = secret

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + torch.from_file(self.secret, size=1)[0]


class Inner(nn.Module):
    def __init__(self, secret: str) -> None:
        super().__init__()
        self.secret = secret

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] > 100000:  # nested block of a called submodule
            return x + torch.from_file(self.secret, size=1)[0]
        return x


class HidesInSubmodule(nn.Module):
    def __init__(self, secret: str) -> None:
        super().__init__()
        self.inner = Inner(secret)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(x)


class HidesInExportedMethod(nn.Module):
    def __init__(self, secret: str) -> None:
        super().__init__()
        self.secret = secret

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x

    @torch.jit.export
    def leak(self) -> torch.Tensor:
        return torch.from_file(self.secret, size=1)


def _leak(path: str) -> torch.Tensor:
    return torch.from_file(path, size=1)


class HidesInFunction(nn.Module):
    def __init__(self, secret: str) -> None:
        super().__init__()
        self.secret = secret

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + _leak(self.secret)[0]


class SetState(nn.Module):
    def __init__(self, secret: str) -> None:
        super().__init__()
        self.secret = secret

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x

    @torch.jit.export
    def __getstate__(self) -> tuple[str, bool]:
        return (self.secret, self.training)

    @torch.jit.export
    def __setstate__(self, state: tuple[str, bool]) -> None:
        self.secret = state[0]
        self.training = state[1]
        torch.from_file(self.secret, size=1)


@pytest.mark.parametrize(
    "make", [ReadsFile, HidesInSubmodule, HidesInExportedMethod, HidesInFunction, SetState]
)
def test_torchscript_file_access_refused(tmp_path: Path, make: type[nn.Module]) -> None:
    secret = tmp_path / "secret.bin"
    secret.write_bytes(b"\x00" * 64)
    path = tmp_path / "model.pt"
    torch.jit.save(torch.jit.script(make(str(secret))), str(path))  # type: ignore[call-arg]
    with pytest.raises(UnsafeModelError, match="aten::from_file|__setstate__") as info:
        open_runner(path)
    assert info.value.exit_code == 3


@pytest.mark.parametrize("member", ["data.pkl", "constants.pkl"])
def test_torchscript_pickle_payload_refused(tmp_path: Path, marker: Path, member: str) -> None:
    good = tmp_path / "good.pt"
    torch.jit.save(torch.jit.script(ConvSep()), str(good))
    evil = _rewrite(
        good, tmp_path / "model.pt", {member: lambda _: pickle.dumps(Payload(marker), protocol=2)}
    )
    with pytest.raises(UnsafeModelError, match="exec"):
        open_runner(evil)
    assert not marker.exists()


class AudioFamilies(nn.Module):
    """The reviewed families of the allow-list in one scripted network."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv1d(1, 4, 5, padding=2)
        self.up = nn.ConvTranspose1d(4, 4, 4, stride=2, padding=1)
        self.lstm = nn.LSTM(4, 4, batch_first=True)
        self.gru = nn.GRU(4, 4, batch_first=True)
        self.attn = nn.MultiheadAttention(4, 2, batch_first=True)
        self.ln = nn.LayerNorm(4)
        self.gn = nn.GroupNorm(2, 4)
        self.bn = nn.BatchNorm1d(4)
        self.inorm = nn.InstanceNorm1d(4)
        self.out = nn.Conv1d(4, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[-1]
        window = torch.hann_window(64)
        spec = torch.stft(x, 64, 16, window=window, return_complex=True)
        x = torch.istft(spec, 64, 16, window=window, length=n)
        h = self.inorm(self.bn(self.gn(self.conv(x.unsqueeze(0)))))
        h = self.up(h)[..., :n]
        seq = h.transpose(1, 2)
        seq, _ = self.lstm(seq)
        seq, _ = self.gru(seq)
        seq, _ = self.attn(seq, seq, seq)
        seq = torch.relu(self.ln(seq))
        return torch.tanh(self.out(seq.transpose(1, 2)))[0]


def test_common_audio_families_pass_the_allow_list(tmp_path: Path) -> None:
    path = tmp_path / "model.pt"
    torch.jit.save(torch.jit.script(AudioFamilies().eval()), str(path))
    assert open_runner(path)(np.zeros((1, 800), np.float32)).shape == (1, 800)


def test_builtins_and_audacitorch_ops_are_allowed(tmp_path: Path) -> None:
    """Every op of the five built-ins and the genuine audacitorch models is allowed."""
    from deepfx.builtins import catalog
    from deepfx.runners._allowlist import torch_op_allowed

    paths = []
    for spec in catalog():
        dest = tmp_path / spec.short_name
        dest.mkdir()
        spec.build(dest)
        paths.append(dest / "model.pt")
    if __import__("importlib").util.find_spec("audacitorch"):
        from hub_helpers import make_audacitorch_effect

        paths.append(make_audacitorch_effect(tmp_path / "audacitorch") / "model.pt")
    for path in paths:
        ops = torchscript_ops(torch.jit.load(str(path)))
        assert [op for op in ops if not torch_op_allowed(op)[0]] == [], path


# --- ONNX -----------------------------------------------------------------------------------


def _onnx_model(path: Path, *, domain: str = "", external: str | None = None) -> Path:
    import onnx
    from onnx import TensorProto, helper

    w = helper.make_tensor("w", TensorProto.FLOAT, [1], [2.0])
    if external is not None:
        w.ClearField("float_data")
        w.data_location = TensorProto.EXTERNAL
        entry = w.external_data.add()
        entry.key, entry.value = "location", external
    node = helper.make_node("Mul", ["x", "w"], ["y"], domain=domain)
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, None])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, None])],
        [w],
    )
    opsets = [helper.make_opsetid("", 17)] + ([helper.make_opsetid(domain, 1)] if domain else [])
    onnx.save(helper.make_model(graph, opset_imports=opsets), str(path))
    return path


def test_plain_onnx_loads(tmp_path: Path) -> None:
    runner = open_runner(_onnx_model(tmp_path / "model.onnx"))
    assert np.allclose(runner(np.ones((1, 4), np.float32)), 2.0)


def test_onnx_custom_domain_refused(tmp_path: Path) -> None:
    with pytest.raises(UnsafeModelError, match="com.evil"):
        open_runner(_onnx_model(tmp_path / "model.onnx", domain="com.evil"))


def test_onnx_external_data_outside_folder_refused(tmp_path: Path) -> None:
    outside = tmp_path / "system-file"
    outside.write_bytes(np.float32(3.0).tobytes())
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "w.bin").symlink_to(outside)
    for location in ["w.bin", str(outside), "../system-file"]:
        with pytest.raises(UnsafeModelError, match="external data"):
            open_runner(_onnx_model(folder / "model.onnx", external=location))
    (folder / "w.bin").unlink()
    (folder / "w.bin").write_bytes(np.float32(3.0).tobytes())  # a plain file inside: fine
    runner = open_runner(_onnx_model(folder / "model.onnx", external="w.bin"))
    assert np.allclose(runner(np.ones((1, 2), np.float32)), 3.0)


def test_onnx_checks_read_the_graph_without_the_weights(tmp_path: Path) -> None:
    """The checks walk the file at the wire level and leave tensor values out (a 1 GB
    Demucs peaked at 2.7 GB inside the check; now 83 MB): same nodes, opsets, names and
    external-data fields, no payload; a Constant's value and a subgraph's go too; a
    truncated file is still "corrupt"."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from deepfx.runners._graphs import _without_weights, check_onnx

    w = numpy_helper.from_array(np.ones((500, 500), np.float32), "w")
    const = helper.make_node(
        "Constant", [], ["c"], value=numpy_helper.from_array(np.ones(500, np.float32))
    )
    then = helper.make_graph(
        [
            helper.make_node(
                "Constant", [], ["t"], value=numpy_helper.from_array(np.ones(500, np.float32))
            )
        ],
        "then",
        [],
        [helper.make_tensor_value_info("t", TensorProto.FLOAT, [500])],
    )
    nodes = [
        const,
        helper.make_node("MatMul", ["x", "w"], ["m"]),
        helper.make_node("Add", ["m", "c"], ["y"]),
        helper.make_node("ReduceSum", ["y"], ["s"], keepdims=0),
        helper.make_node("Greater", ["s", "zero"], ["cond"]),
        helper.make_node("If", ["cond"], ["z"], then_branch=then, else_branch=then),
    ]
    zero = numpy_helper.from_array(np.zeros((), np.float32), "zero")
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 500])],
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, [500])],
        [w, zero],
    )
    path = tmp_path / "model.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    full = onnx.load(str(path))
    slim = onnx.ModelProto()
    slim.ParseFromString(_without_weights(path))
    assert path.stat().st_size > 1_000_000 and len(slim.SerializeToString()) < 2_000
    assert [n.op_type for n in slim.graph.node] == [n.op_type for n in full.graph.node]
    assert [t.name for t in slim.graph.initializer] == ["w", "zero"]
    assert list(slim.graph.initializer[0].dims) == [500, 500]
    assert not slim.graph.initializer[0].raw_data and not slim.graph.node[0].attribute[0].t.raw_data
    assert not slim.graph.node[-1].attribute[0].g.node[0].attribute[0].t.raw_data
    assert slim.opset_import == full.opset_import
    assert check_onnx(path) == {"Constant", "MatMul", "Add", "ReduceSum", "Greater", "If"}
    runner = open_runner(path)
    assert np.allclose(runner(np.ones((1, 500), np.float32)), 1.0)
    path.write_bytes(path.read_bytes()[:400_000])  # cut inside the weights
    with pytest.raises(ModelLoadError, match="corrupt"):
        check_onnx(path)


# --- the card's network path ----------------------------------------------------------------


@pytest.mark.parametrize(
    "model_file", ["/etc/passwd", "../other/model.pt", "sub/model.pt", "model.bin"]
)
def test_card_model_file_must_be_a_format_table_name(
    pt2_folder: Path, tmp_path: Path, model_file: str
) -> None:
    from deepfx.model import load_model

    folder = tmp_path / "m"
    folder.mkdir()
    data = json.loads((pt2_folder / "metadata.json").read_text())
    data["model_file"] = model_file
    (folder / "metadata.json").write_text(json.dumps(data))
    (folder / "model.pt2").write_bytes((pt2_folder / "model.pt2").read_bytes())
    with pytest.raises(CardError, match="model_file"):
        load_model(folder)


def test_network_file_linked_out_of_the_folder_refused(pt2_folder: Path, tmp_path: Path) -> None:
    from deepfx.model import load_model

    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "metadata.json").write_bytes((pt2_folder / "metadata.json").read_bytes())
    (folder / "model.pt2").symlink_to(pt2_folder / "model.pt2")
    with pytest.raises(UnsafeModelError, match="outside the model folder"):
        load_model(folder)


# --- card reading robustness ----------------------------------------------------------------


def _card_text(pt2_folder: Path, **override: object) -> str:
    data = json.loads((pt2_folder / "metadata.json").read_text())
    data.update(override)
    return json.dumps(data)


@pytest.mark.parametrize(
    "text",
    [
        '{"sample_rate": ' + "9" * 5000 + "}",
        "[" * 100_000 + "]" * 100_000,
        '{"short_description": "' + "x" * 10_000_000 + '"}',
        pickle.dumps(Payload(Path("/nonexistent/MARKER"))).decode("latin-1"),
    ],
    ids=["5000-digit number", "nested 100000 deep", "10 MB string", "a pickle"],
)
def test_hostile_cards_are_short_card_errors(tmp_path: Path, text: str) -> None:
    from deepfx.card import load_card

    (tmp_path / "metadata.json").write_text(text, encoding="utf-8")
    with pytest.raises(CardError) as info:
        load_card(tmp_path)
    assert info.value.exit_code == 3 and len(str(info.value)) < 400


def test_long_values_are_quoted_as_excerpts(pt2_folder: Path, tmp_path: Path) -> None:
    from deepfx.card import load_card

    big = "y" * 500_000
    for field in ("effect_type", "sample_rate", "model_file", "tags"):
        (tmp_path / "metadata.json").write_text(_card_text(pt2_folder, **{field: big}))
        with pytest.raises(CardError) as info:
            load_card(tmp_path)
        assert len(str(info.value)) < 600
        if field in ("effect_type", "model_file"):
            assert "500000 characters" in str(info.value)
    (tmp_path / "metadata.json").write_text(_card_text(pt2_folder, sample_rate=int("9" * 4000)))
    with pytest.raises(CardError) as info:
        load_card(tmp_path)
    assert len(str(info.value)) < 600


def test_excerpt() -> None:
    from deepfx.errors import excerpt

    assert excerpt("abc") == "'abc'"
    short = excerpt("a\n" * 1000)
    assert "\n" not in short and short.endswith("(2000 characters)") and len(short) < 120
