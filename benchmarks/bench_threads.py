"""Thread policy and verified ONNX compilation, measured side by side in one run.

Run from the repository root::

    python benchmarks/bench_threads.py              # ~10 minutes on a busy 2-core machine
    python benchmarks/bench_threads.py --seconds 5 --rounds 1   # quicker

Every contender is a fresh process that loads the model and times ``deepfx.run`` on the
same file (imports and model loading excluded); contenders are interleaved, their order
rotated each round, and the median per contender is reported as a ratio.

(a) threads: ``builtin/vad`` (an LSTM cell looped over frames), ``builtin/hpss``
    (median filtering, no weights) and ConvSep (benchmarks/convsep.py, a 2.5 M parameter
    conv net, the large convolutional case) with the policy's default vs one thread vs
    all cores; ratios to the policy's time.
(b) two runs at once: two processes started together, with the policy (they share the
    cores through leases) vs each with all cores (the old default), as the pair's wall
    time over twice one run alone (1.0 = as fast as running them in turn).
(c) ONNX: each model installed with ``DEEPFX_OPTIMIZE`` on and off: the install's extra
    time, what was kept, and ``deepfx.run`` with ``runner="auto"`` vs ``"torchscript"``;
    peak RSS of the ONNX run at 2 s and 10 s chunks with deepfx's session settings
    (no arena, no memory pattern) vs onnxruntime's defaults.

Audio and the store live under ``--workdir`` (default /tmp/deepfx-bench-threads), never
in the repository.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(ROOT / "src"), str(HERE)]  # this checkout's deepfx, and convsep


def _env(home: Path, **extra: str) -> dict[str, str]:
    env = os.environ.copy()
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), str(HERE), env.get("PYTHONPATH", "")])
    env.setdefault("PYTHONWARNINGS", "ignore")
    env["DEEPFX_HOME"] = str(home)
    env.update(extra)
    return env


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(args: argparse.Namespace) -> None:
    import warnings

    warnings.simplefilter("ignore")
    from deepfx.engine import run
    from deepfx.model import load_model

    mdl = load_model(args.model, device="cpu", threads=args.threads, runner=args.runner).load()
    if args.ort_defaults:  # onnxruntime's own session settings, for the memory comparison
        import onnxruntime as ort

        mdl.runner._session = ort.InferenceSession(
            str(mdl.model_file), providers=["CPUExecutionProvider"]
        )
    rss0 = _peak_rss_mb()
    t0 = time.perf_counter()
    [res] = run(mdl, [args.audio], args.out, chunk_s=args.chunk)
    wall = time.perf_counter() - t0
    for p in res.files.values():
        p.unlink()
    print(
        json.dumps(
            {
                "wall_s": wall,
                "format": mdl.format,
                "threads": mdl.runner.threads,
                "why": mdl.runner.threads_why,
                "peak_rss_mb": _peak_rss_mb(),
                "rss_after_load_mb": rss0,
            }
        )
    )


def _cmd(
    model: str,
    audio: Path,
    out: Path,
    *,
    threads: int | None,
    runner: str,
    chunk: float | None = None,
    ort_defaults: bool = False,
) -> list[str]:
    cmd = [
        sys.executable,
        __file__,
        "--child",
        "--model",
        model,
        "--audio",
        str(audio),
        "--out",
        str(out),
        "--runner",
        runner,
    ]
    if threads:
        cmd += ["--threads", str(threads)]
    if chunk:
        cmd += ["--chunk", str(chunk)]
    if ort_defaults:
        cmd += ["--ort-defaults"]
    return cmd


def spawn(cmd: list[str], env: dict[str, str]) -> dict:
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"child failed: {' '.join(cmd)}\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def spawn_pair(cmd: list[str], env: dict[str, str]) -> float:
    procs = [
        subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        for _ in range(2)
    ]
    outs = [p.communicate() for p in procs]
    for p, (_o, err) in zip(procs, outs, strict=True):
        if p.returncode != 0:
            raise SystemExit(f"pair child failed:\n{err.decode()[-2000:]}")
    # each child's own run time (imports excluded): the pair took as long as the slower
    return max(json.loads(o.decode().strip().splitlines()[-1])["wall_s"] for o, _ in outs)


def make_audio(path: Path, seconds: float, rate: int, channels: int) -> Path:
    import numpy as np
    import soundfile as sf

    rng = np.random.default_rng(0)
    t = np.arange(int(seconds * rate)) / rate
    voice = 0.4 * np.sin(2 * np.pi * 180 * t) * (1 + np.sin(2 * np.pi * 4 * t))
    voice *= (np.sin(2 * np.pi * 0.2 * t) > 0).astype(np.float64)
    x = voice + 0.05 * rng.standard_normal(t.size)
    sf.write(path, np.repeat(x[:, None], channels, axis=1).astype(np.float32), rate)
    return path


def install(spec: str, home: Path, optimize: bool, name: str | None = None) -> dict:
    cmd = [sys.executable, "-m", "deepfx", "models", "install", spec, "--force", "--json"]
    if name:
        cmd += ["--name", name]
    t0 = time.perf_counter()
    proc = subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        check=False,
        env=_env(home, DEEPFX_OPTIMIZE="1" if optimize else "0"),
    )
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"install {spec} failed:\n{proc.stderr[-2000:]}")
    return {"wall_s": wall, "optimized": json.loads(proc.stdout)["optimized"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--model")
    ap.add_argument("--audio")
    ap.add_argument("--out")
    ap.add_argument("--runner", default="auto")
    ap.add_argument("--threads", type=int)
    ap.add_argument("--chunk", type=float)
    ap.add_argument("--ort-defaults", action="store_true")
    ap.add_argument("--seconds", type=float, default=10.0, help="audio length per run")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/deepfx-bench-threads"))
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    if args.child:
        child(args)
        return
    from deepfx.runners.threads import cores

    work = args.workdir
    home = work / "home"
    out = work / "out"
    out.mkdir(parents=True, exist_ok=True)
    n = cores()
    import convsep

    conv_folder = convsep.build(work / "convsep-src")
    models = {
        "builtin/vad": (16000, 1, "builtin/vad"),
        "builtin/hpss": (44100, 1, "builtin/hpss"),
        "local/convsep": (44100, 2, str(conv_folder)),
    }
    results: dict = {"cores": n, "seconds": args.seconds, "threads": {}, "pairs": {}, "onnx": {}}

    # (c) first: installs with compilation off, then on (the store keeps the second)
    for name, (_rate, _ch, spec) in models.items():
        local = "convsep" if name.startswith("local/") else None
        off = install(spec, home, False, local)
        on = install(spec, home, True, local)
        results["onnx"][name] = {
            "install_s_off": off["wall_s"],
            "install_s_on": on["wall_s"],
            "optimized": on["optimized"],
        }
    audio = {
        name: make_audio(work / f"{name.replace('/', '-')}.wav", args.seconds, rate, ch)
        for name, (rate, ch, _spec) in models.items()
    }
    env = _env(home)

    # (a) threads, interleaved (the torchscript network: the policy, not ONNX, is compared)
    configs = {"policy": None, "1 thread": 1, f"{n} threads": n}
    times: dict[tuple[str, str], list[float]] = {}
    chosen: dict[str, str] = {}
    for r in range(args.rounds):
        for name in models:
            order = list(configs.items())
            order = order[r % len(order) :] + order[: r % len(order)]
            for label, threads in order:
                res = spawn(
                    _cmd(name, audio[name], out, threads=threads, runner="torchscript"), env
                )
                times.setdefault((name, label), []).append(res["wall_s"])
                if label == "policy":
                    chosen[name] = f"{res['threads']} ({res['why']})"
    for name in models:
        base = statistics.median(times[(name, "policy")])
        results["threads"][name] = {
            "chosen": chosen[name],
            "policy_s": base,
            **{label: statistics.median(times[(name, label)]) / base for label in configs},
        }

    # (b) two runs at once vs one alone
    for name in ("builtin/vad", "local/convsep"):
        single = statistics.median(times[(name, "policy")])
        single_all = statistics.median(times[(name, f"{n} threads")])
        pol = spawn_pair(_cmd(name, audio[name], out, threads=None, runner="torchscript"), env)
        old = spawn_pair(_cmd(name, audio[name], out, threads=n, runner="torchscript"), env)
        results["pairs"][name] = {
            "policy_pair_over_2_single": pol / (2 * single),
            "all_cores_pair_over_2_single": old / (2 * single_all),
            "policy_pair_s": pol,
            "all_cores_pair_s": old,
        }

    # (c) auto (derived ONNX when kept) vs torchscript, and ONNX memory across chunk sizes
    for name in models:
        rec = results["onnx"][name]
        a, t = [], []
        for r in range(args.rounds):
            pair = [("auto", a), ("torchscript", t)]
            for runner, acc in pair if r % 2 == 0 else pair[::-1]:
                acc.append(
                    spawn(_cmd(name, audio[name], out, threads=None, runner=runner), env)["wall_s"]
                )
        rec["run_auto_over_torchscript"] = statistics.median(a) / statistics.median(t)
        if (rec["optimized"] or {}).get("status") in ("kept", "slower"):
            mem = {}
            for chunk in (2.0, 10.0):
                for label, defaults in (("deepfx", False), ("ort defaults", True)):
                    res = spawn(
                        _cmd(
                            name,
                            audio[name],
                            out,
                            threads=None,
                            runner="onnx",
                            chunk=chunk,
                            ort_defaults=defaults,
                        ),
                        env,
                    )
                    mem[f"{label}, {chunk:g} s chunks"] = res["peak_rss_mb"]
            rec["onnx_peak_rss_mb"] = mem
    report(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


def report(res: dict) -> None:
    n = res["cores"]
    print(f"\n(a) threads ({n} cores, {res['seconds']:g} s of audio), time / policy's time")
    for name, row in res["threads"].items():
        print(
            f"  {name:16s} policy {row['chosen']}: {row['policy_s']:.2f} s; "
            f"1 thread {row['1 thread']:.2f}x, {n} threads {row[f'{n} threads']:.2f}x"
        )
    print("\n(b) two runs at once: the pair's time / twice one run alone")
    for name, row in res["pairs"].items():
        print(
            f"  {name:16s} policy {row['policy_pair_over_2_single']:.2f}x, "
            f"all cores each {row['all_cores_pair_over_2_single']:.2f}x"
        )
    print("\n(c) ONNX derived at install")
    for name, row in res["onnx"].items():
        opt = row["optimized"] or {}
        print(
            f"  {name:16s} install {row['install_s_off']:.1f} s -> {row['install_s_on']:.1f} s; "
            f"{opt.get('status')}: {str(opt.get('note'))[:90]}; measured speedup "
            f"{opt.get('speedup') or 0:.2f}x; run auto/torchscript "
            f"{row['run_auto_over_torchscript']:.2f}x"
        )
        for k, v in (row.get("onnx_peak_rss_mb") or {}).items():
            print(f"      peak RSS {k}: {v:.0f} MB")


if __name__ == "__main__":
    main()
