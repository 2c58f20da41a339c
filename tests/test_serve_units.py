"""The pieces of `deepfx serve` without a server: controls from cards, storage cleaning,
job events, label shapes (fast; no torch)."""

from __future__ import annotations

import json
import os
import stat

import pytest

from deepfx.card import Chunking, ModelCard
from deepfx.labels import Label
from deepfx.serve import controls as ctl
from deepfx.serve.gradio_api import api_info, config
from deepfx.serve.guard import _hostname
from deepfx.serve.jobs import Job
from deepfx.serve.protocol import label_list, sse
from deepfx.serve.storage import Storage, safe_name


def card(**kw: object) -> ModelCard:
    base: dict[str, object] = {
        "name": "t",
        "short_description": "test",
        "long_description": "A test model.",
        "domain_tags": ["music"],
        "effect_type": "waveform-to-waveform",
        "multichannel": False,
        "labels": ["vocals", "drums"],
        "sample_rate": 44100,
    }
    base.update(kw)
    return ModelCard.model_validate(base)


def test_device_dropdown_only_when_an_accelerator_exists() -> None:
    assert [c.key for c in ctl.build_controls(card(), devices=[], device="auto")] == [
        "audio",
        "per_channel",
        "chunk_s",
    ]
    cs = ctl.build_controls(card(), devices=["auto", "cpu", "cuda"], device="auto")
    dev = next(c for c in cs if c.key == "device")
    assert dev.harp["choices"] == [["auto", "auto"], ["cpu", "cpu"], ["cuda", "cuda"]]
    assert dev.harp["value"] == "auto"
    audio = {"path": "/x", "meta": {"_type": "gradio.FileData"}}
    args = ctl.parse_process(cs, [audio, "cuda", True, 5.0], device="auto")
    assert (args.device, args.per_channel, args.chunk_s) == ("cuda", True, 5.0)
    with pytest.raises(ctl.RequestError, match="one of auto, cpu, cuda"):
        ctl.parse_process(cs, [audio, "tpu", True, 5.0], device="auto")


def test_multichannel_and_whole_input_models_have_fewer_controls() -> None:
    c = card(multichannel=True, chunking=Chunking(whole_input=True))
    assert [x.key for x in ctl.build_controls(c, devices=[], device="auto")] == ["audio"]


def test_default_chunk_is_sent_as_none_so_results_equal_deepfx_run() -> None:
    c = card(chunking=Chunking(window_s=4.0, overlap_s=0.5))
    cs = ctl.build_controls(c, devices=[], device="auto")
    box = cs[-1].harp
    assert box["value"] == 4.0 and box["min"] == box["minimum"] == 1.0
    args = ctl.parse_process(cs, [{"path": "/x"}, False, 4.0], device="cpu")
    assert args.chunk_s is None and args.device == "cpu"


def test_card_and_outputs() -> None:
    d = ctl.card_dict(card(author=None), "org/name")
    assert d["author"] == "org" and "effect" in d["tags"] and d["description"]
    assert [o["label"] for o in ctl.outputs(card(), ["drums"])] == ["drums"]
    lab = card(effect_type="waveform-to-labels", labels=["speech"])
    assert [o["type"] for o in ctl.outputs(lab, ["speech"])] == ["audio_track", "json"]


def test_gradio_config_and_info_agree() -> None:
    cs = ctl.build_controls(card(), devices=[], device="auto")
    outs = ctl.outputs(card(), ["vocals", "drums"])
    cfg = config(cs, outs, max_file_size=10)
    ids = {c["id"] for c in cfg["components"]}
    for dep in cfg["dependencies"]:
        assert set(dep["inputs"]) | set(dep["outputs"]) <= ids
    assert cfg["dependencies"][1]["api_name"] == "process"
    assert len(cfg["dependencies"][1]["inputs"]) == len(cs)
    info = api_info(cs, outs)
    assert [p["parameter_name"] for p in info["named_endpoints"]["/process"]["parameters"]] == [
        "audio",
        "per_channel",
        "chunk_s",
    ]


def test_labels_are_pyharp_audio_labels() -> None:
    ll = label_list([Label(1.0, 2.5, "speech")], ["speech"], "builtin/vad")
    assert ll["meta"] == {"_type": "pyharp.LabelList"}
    (lb,) = ll["labels"]
    assert (lb["label_type"], lb["t"], lb["duration"], lb["label"]) == (
        "AudioLabel",
        1.0,
        1.5,
        "speech",
    )
    assert lb["color"] == (128 << 24) + (46 << 16) + (134 << 8) + 222


def test_event_lines_never_confuse_harp() -> None:
    """HARP takes the line after any line containing "complete" / "error" as the result."""
    job = Job("process", "m", "c")
    for i in range(0, 101, 5):
        job.progress("processing", i, 100)
    job.progress("writing", 100, 100)
    for event, data in job.items:
        for line in sse(event, data).decode().splitlines():
            assert "complete" not in line and "error" not in line
    job.fail("multi\nline")
    job.complete([1])  # ignored: the stream has ended
    assert job.items[-1] == ("error", "multi\nline") and job.done
    assert sse("error", "multi\nline").decode().count("\n") == 3  # JSON keeps it on one line


def test_storage_is_private_and_swept(tmp_path: os.PathLike[str]) -> None:
    s = Storage(max_upload_bytes=100, ttl_s=10.0)
    try:
        assert stat.S_IMODE(os.stat(s.root).st_mode) == 0o700
        p = s.new_upload_path("../../etc/evil name?.wav")
        assert p.name == "evil name_.wav" and s.root in p.parents
        p.write_bytes(b"x")
        key = s.add_upload(p, "evil.wav")
        job = s.new_job()
        assert s.is_upload(key)
        assert s.sweep(now=1e12) == 1  # the old upload; a running job is never swept
        assert job.root.exists()
        s.finish(job)
        assert s.sweep() == 0 and s.sweep(now=1e12) == 1
        assert not s.is_upload(key) and s.files_on_disk() == [] and not job.root.exists()
    finally:
        s.close()
    assert not s.root.exists()


def test_safe_names_and_hosts() -> None:
    assert safe_name("") == "upload" and safe_name("C:\\x\\a.wav") == "a.wav"
    assert safe_name("...") == "upload"
    assert _hostname("127.0.0.1:7865") == "127.0.0.1"
    assert _hostname("[::1]:7865") == "::1"
    assert _hostname("localhost") == "localhost"
    assert json.loads(sse("x", None).decode().splitlines()[1][6:]) is None
