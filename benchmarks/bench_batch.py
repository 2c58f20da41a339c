"""`deepfx batch` throughput beside a shell loop of `deepfx run`, and Ray's fixed cost.

Run from the repository root (needs the ``batch`` extra)::

    python benchmarks/bench_batch.py                 # 16 files x 20 s, builtin/hpss
    python benchmarks/bench_batch.py --files 8 --seconds 10

Measured side by side in one run, on the same files, each as a fresh command:

(a) a shell loop: ``for f in ...; do deepfx run MODEL "$f" -o loop; done`` (one process,
    torch import and model load per file: what people script today);
(b) ``deepfx batch MODEL IN -o OUT --workers 1`` and (c) ``--workers 2`` on a local Ray
    (started and stopped by the command, as a user gets it);
(d) the fixed cost of a local Ray: start and stop with nothing to run.

Throughput is audio seconds per wall second (x real time); ratios are against the loop.
The model is ``builtin/hpss`` (a real STFT separator), installed offline into a temporary
``DEEPFX_HOME``. Audio, outputs and the store live in ``--workdir`` (default
/tmp/deepfx-bench-batch), never in the repository. Results print as a table and JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RATE = 44100


def _env(home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["DEEPFX_HOME"] = str(home)
    env["PYTHONPATH"] = str(ROOT / "src") + os.pathsep + env.get("PYTHONPATH", "")
    env["HF_HUB_OFFLINE"] = "1"
    return env


def _make_files(folder: Path, n: int, seconds: float) -> list[Path]:
    import numpy as np
    import soundfile as sf

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    paths = []
    for i in range(n):
        t = np.arange(int(seconds * RATE)) / RATE
        x = 0.3 * np.sin(2 * np.pi * (110 + 20 * i) * t)[:, None] * np.ones((1, 2))
        x += 0.05 * rng.standard_normal(x.shape)
        path = folder / f"take{i:03d}.wav"
        sf.write(path, x.astype("float32"), RATE)
        paths.append(path)
    return paths


def _timed(cmd: str, env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    res = subprocess.run(["bash", "-c", cmd], env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if res.returncode != 0:
        raise SystemExit(f"failed ({res.returncode}): {cmd}\n{res.stderr[-2000:]}")
    return wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--model", default="builtin/hpss")
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/deepfx-bench-batch"))
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()

    work = args.workdir
    shutil.rmtree(work, ignore_errors=True)
    home = work / "home"
    env = _env(home)
    py = shlex.quote(sys.executable)
    _timed(f"{py} -m deepfx models install {shlex.quote(args.model)}", env)
    files = _make_files(work / "in", args.files, args.seconds)
    audio_s = args.files * args.seconds
    model = shlex.quote(args.model)

    loop = " ; ".join(
        f"{py} -m deepfx run {model} {shlex.quote(str(f))} -o {shlex.quote(str(work / 'loop'))} -q"
        f" >/dev/null || exit 1"
        for f in files
    )
    figures: dict[str, float] = {}
    figures["loop_s"] = _timed(loop, env)
    for n in (1, 2):
        out = shlex.quote(str(work / f"batch{n}"))
        figures[f"batch{n}_s"] = _timed(
            f"{py} -m deepfx batch {model} {shlex.quote(str(work / 'in'))} -o {out} "
            f"--workers {n} -q >/dev/null",
            env,
        )
    code = (
        "import time; t=time.perf_counter()\n"
        "from deepfx.batch.executor import ray_session\n"
        "with ray_session(None, num_cpus=2): pass\n"
        "print(time.perf_counter()-t)\n"
    )
    res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    figures["local_ray_start_stop_s"] = float(res.stdout.strip().splitlines()[-1])

    rows = [("deepfx run, shell loop", figures["loop_s"])]
    rows += [(f"deepfx batch --workers {n}", figures[f"batch{n}_s"]) for n in (1, 2)]
    print(
        f"{args.files} files x {args.seconds:g} s stereo 44.1 kHz = {audio_s:g} s of audio, "
        f"model {args.model}, {os.cpu_count()} CPUs"
    )
    print(f"{'':28} {'wall s':>8} {'x real time':>12} {'vs loop':>8}")
    for name, wall in rows:
        print(f"{name:28} {wall:8.1f} {audio_s / wall:12.2f} {figures['loop_s'] / wall:7.2f}x")
    print(f"local Ray start + stop (fixed cost): {figures['local_ray_start_stop_s']:.1f} s")
    if args.json:
        args.json.write_text(json.dumps({"audio_s": audio_s, **figures}, indent=2))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
