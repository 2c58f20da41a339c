"""`deepfx serve` overhead: HARP's whole request sequence vs the engine on the same file.

Run from the repository root (needs the ``serve`` extra and an installed ``builtin/hpss``)::

    python benchmarks/bench_serve.py [--seconds 30] [--rounds 3]

Side by side in one process, interleaved, best of ``--rounds``:

(a) ``deepfx.engine.run`` with the model already loaded (what the server calls);
(b) HARP's sequence over real HTTP to a uvicorn server on 127.0.0.1: upload, controls,
    process, read the event stream, download every output (model cached by the server).

Prints both times and the ratio (b)/(a): the cost of serving (HTTP, multipart upload,
JSON, event stream, downloads) on top of the run itself. Audio is written to a temp folder.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import soundfile as sf

from deepfx.engine import run
from deepfx.model import load_model
from deepfx.serve import server


def harp_sequence(base: str, audio: Path, out: Path) -> None:
    def stream(name: str, event_id: str) -> list:
        with httpx.stream("GET", f"{base}/gradio_api/call/{name}/{event_id}", timeout=600) as r:
            lines = r.iter_lines()
            for line in lines:
                if "complete" in line:
                    return json.loads(next(lines)[len("data: ") :])
                if "error" in line:
                    raise RuntimeError(next(lines))
        raise RuntimeError("stream ended early")

    def call(name: str, data: list) -> str:
        r = httpx.post(f"{base}/gradio_api/call/{name}", json={"data": data}, timeout=60)
        r.raise_for_status()
        return str(r.json()["event_id"])

    (controls,) = stream("controls", call("controls", []))
    with open(audio, "rb") as f:
        files = {"files": (audio.name, f, "audio/midi")}
        path = httpx.post(f"{base}/gradio_api/upload", files=files, timeout=600).json()[0]
    values = [{"path": path, "meta": {"_type": "gradio.FileData"}}]
    values += [c["value"] for c in controls["inputs"][1:]]
    for obj in stream("process", call("process", values)):
        r = httpx.get(obj["url"], timeout=600)
        (out / obj["orig_name"]).write_bytes(r.content)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--model", default="builtin/hpss")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="deepfx-bench-serve-"))
    sr = 44100
    rng = np.random.default_rng(0)
    audio = tmp / "in.wav"
    sf.write(audio, (0.1 * rng.standard_normal((int(args.seconds * sr), 2))), sr)

    model = load_model(args.model).load()
    opts = server.ServeOptions(port=0, models=(args.model,))
    sock = server.bind("127.0.0.1", 0)
    state, app = server.build(opts, server.served_models(opts.models))
    srv = server.uvicorn_server(app)
    thread = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)  # type: ignore[attr-defined]
    thread.start()
    while not getattr(srv, "started", False):
        time.sleep(0.05)
    base = f"http://127.0.0.1:{sock.getsockname()[1]}/m/{args.model}"
    harp_sequence(base, audio, tmp)  # warm: the server loads and caches the model

    direct, served = [], []
    for i in range(args.rounds):
        t0 = time.perf_counter()
        run(model, [audio], tmp / f"direct{i}")
        direct.append(time.perf_counter() - t0)
        (tmp / f"served{i}").mkdir()
        t0 = time.perf_counter()
        harp_sequence(base, audio, tmp / f"served{i}")
        served.append(time.perf_counter() - t0)
    srv.should_exit = True  # type: ignore[attr-defined]
    thread.join(timeout=60)
    a, b = min(direct), min(served)
    print(f"{args.model}, {args.seconds:.0f} s stereo 44.1 kHz, best of {args.rounds}:")
    print(f"  engine.run (model loaded) {a:.3f} s")
    print(f"  HARP sequence over HTTP   {b:.3f} s")
    print(f"  ratio served/direct       {b / a:.3f}x")


if __name__ == "__main__":
    main()
