"""A real `deepfx serve` (uvicorn on 127.0.0.1, free port, in a thread) and a client that
replays HARP 3.0.1's requests exactly as its C++ GradioClient makes them
(TEAMuP-dev/HARP 0243656, src/client/GradioClient.cpp, src/WebModel.h)."""

from __future__ import annotations

import atexit
import contextlib
import functools
import json
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx
import numpy as np
import soundfile as sf
import torch
from torch import nn

from deepfx.card import Chunking
from deepfx.serve import server
from deepfx.store import Store


@dataclass
class Running:
    origin: str
    state: Any
    thread: threading.Thread
    srv: Any

    def url(self, model: str) -> str:
        return f"{self.origin}/m/{model}"


@contextlib.contextmanager
def running(opts: server.ServeOptions, models: list[Any] | None = None) -> Iterator[Running]:
    """Serve ``opts`` (the installed models, or ``models``) until the block ends; then shut
    down as Ctrl-C would."""
    models = server.served_models(opts.models) if models is None else models
    sock = server.bind(opts.host, 0)
    state, app = server.build(opts, models)
    srv = server.uvicorn_server(app)
    thread = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)  # type: ignore[attr-defined]
    thread.start()
    origin = f"http://127.0.0.1:{sock.getsockname()[1]}"
    for _ in range(200):
        if getattr(srv, "started", False):
            break
        threading.Event().wait(0.05)
    try:
        yield Running(origin, state, thread, srv)
    finally:
        srv.should_exit = True  # type: ignore[attr-defined]
        thread.join(timeout=60)
        sock.close()


class HarpError(Exception):
    """What HARP would show: the status code, or the line after ``event: error``."""

    def __init__(self, message: str, status: int = 200):
        self.status = status
        super().__init__(message)


@dataclass
class Harp:
    """HARP 3.0.1's GradioClient, request for request.

    * every request carries ``Authorization: Bearer <token>`` when a token is saved (HARP
      sends its Hugging Face token to every server) and ``Accept: */*``;
    * uploads are multipart field ``files`` labelled ``audio/midi``, whatever the file;
    * ``call/<name>`` is a POST of ``{"data": [...]}`` (Content-Type application/json);
    * the stream is read line by line: the line after one containing ``complete`` is the
      result, the line after one containing ``error`` is the error;
    * the result's ``data: `` JSON array is parsed; FileData are downloaded from ``url``.
    """

    base: str
    token: str | None = "hf_savedHuggingFaceToken"
    progress: list[dict[str, Any]] = field(default_factory=list)

    def headers(self, json_body: bool = False) -> dict[str, str]:
        h = {"Accept": "*/*"}
        if self.token:
            h["Authorization"] = f"Bearer {self.token}"
        if json_body:
            h["Content-Type"] = "application/json"
        return h

    def upload(self, path: Path) -> str:
        with open(path, "rb") as f:
            r = httpx.post(
                f"{self.base}/gradio_api/upload",
                files={"files": (path.name, f, "audio/midi")},
                headers=self.headers(),
                timeout=60,
            )
        if r.status_code != 200:
            raise HarpError(r.text, r.status_code)
        return str(r.json()[0])

    def post_call(self, name: str, body: str = '{"data": []}') -> str:
        r = httpx.post(
            f"{self.base}/gradio_api/call/{name}",
            content=body.encode(),
            headers=self.headers(json_body=True),
            timeout=60,
        )
        if r.status_code != 200:
            raise HarpError(r.text, r.status_code)
        event_id = r.json()["event_id"]
        assert event_id
        return str(event_id)

    def read_stream(self, name: str, event_id: str) -> Any:
        url = f"{self.base}/gradio_api/call/{name}/{event_id}"
        with httpx.stream("GET", url, headers=self.headers(), timeout=300) as r:
            if r.status_code != 200:
                raise HarpError(r.read().decode(), r.status_code)
            lines = r.iter_lines()
            response = ""
            for line in lines:
                if line.startswith("data: {") and '"stage"' in line:
                    self.progress.append(json.loads(line[6:]))
                if "complete" in line:
                    response = next(lines)
                    break
                if "error" in line:
                    response = next(lines)
                    raise HarpError(response)
        i = response.index("data: ")
        return json.loads(response[i + len("data: ") :].strip())

    def controls(self) -> dict[str, Any]:
        data = self.read_stream("controls", self.post_call("controls"))
        assert isinstance(data, list)
        first = data[0]
        assert isinstance(first["card"], dict) and isinstance(first["card"]["tags"], list)
        return first

    def payload(self, controls: dict[str, Any], remote_path: str) -> str:
        """WebModel::prepareProcessingPayload: one value per input, in order."""
        values: list[Any] = []
        for c in controls["inputs"]:
            t = c["type"]
            if t == "audio_track":
                values.append({"path": remote_path, "meta": {"_type": "gradio.FileData"}})
            elif t == "toggle":
                values.append(str(c["value"]).lower() in ("1", "true"))
            elif t == "number_box":
                float(c["min"]), float(c["max"])  # what HARP reads for the bounds
                values.append(float(c["value"]))
            elif t == "dropdown":
                options = [choice[0] for choice in c["choices"]]
                values.append(c.get("value", options[0]))
            elif t == "slider":
                values.append(float(c["value"]))
            elif t == "text_box":
                values.append(str(c["value"]))
        return json.dumps({"data": values}, indent=2)

    def process(
        self, audio: Path, out_dir: Path, controls: dict[str, Any] | None = None
    ) -> tuple[list[Path], list[dict[str, Any]]]:
        """upload -> process -> stream -> download; returns files and labels."""
        controls = controls or self.controls()
        remote = self.upload(audio)
        event_id = self.post_call("process", self.payload(controls, remote))
        data = self.read_stream("process", event_id)
        files, labels = [], []
        out_dir.mkdir(parents=True, exist_ok=True)
        for obj in data:
            kind = obj["meta"]["_type"]
            if kind == "gradio.FileData":
                r = httpx.get(obj["url"], headers=self.headers(), timeout=60)
                if r.status_code != 200:
                    raise HarpError(r.text, r.status_code)
                dest = out_dir / unquote(obj["url"].rsplit("/", 1)[-1])
                dest.write_bytes(r.content)
                files.append(dest)
            elif kind == "pyharp.LabelList":
                labels.extend(obj["labels"])
        return files, labels

    def cancel(self) -> Any:
        return self.read_stream("cancel", self.post_call("cancel"))


# --- a DEEPFX_HOME with the models the serve tests use ------------------------------------


class Slow(nn.Module):
    """An effect that takes a while per chunk (a loop of small matmuls): for cancel tests."""

    def __init__(self, iters: int = 300) -> None:
        super().__init__()
        self.iters = iters
        self.register_buffer("w", torch.eye(96) * 0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.ones(96, 96)
        for _ in range(self.iters):
            h = torch.tanh(h @ self.w)
        return x[:1] * (1.0 + 0.0 * h.sum())


@functools.lru_cache(maxsize=1)
def home() -> Path:
    """A temp DEEPFX_HOME with builtin/hpss, builtin/vad (built offline through the store),
    local/slow and local/breaks (a model that breaks its contract on loud input)."""
    import engine_helpers as h

    root = Path(tempfile.mkdtemp(prefix="deepfx-serve-test-home-"))
    atexit.register(shutil.rmtree, root, True)
    store = Store(root)
    old = os.environ.get("HF_HUB_OFFLINE")
    os.environ["HF_HUB_OFFLINE"] = "1"
    try:
        store.install("builtin/hpss")
        store.install("builtin/vad")
    finally:
        if old is None:
            os.environ.pop("HF_HUB_OFFLINE", None)
        else:
            os.environ["HF_HUB_OFFLINE"] = old
    src = root / "src"
    slow = h.save(
        Slow(),
        src / "slow",
        h.card(labels=["out"], rate=8000, chunking=Chunking(window_s=0.05, overlap_s=0.01)),
    )
    breaks = h.save(h.BreaksAt(0), src / "breaks", h.card(labels=["out"], rate=8000))
    store.add_local(slow, name="slow")
    store.add_local(breaks, name="breaks")
    return root


def write_wav(path: Path, audio: np.ndarray, rate: int, subtype: str = "FLOAT") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, audio, rate, subtype=subtype)
    return path


def left_on_disk(state: Any, *, wait_s: float = 10.0) -> list[Path]:
    """Files left in the server's temp folder, once a just-finished cleanup has run (a
    job's folder is removed right after its last download was sent)."""
    end = time.monotonic() + wait_s
    while True:
        files = state.storage.files_on_disk()
        if not files or time.monotonic() > end:
            return files
        time.sleep(0.05)
