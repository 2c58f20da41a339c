"""Engine benchmarks: host overhead, memory flatness, and the naive way beside them.

Run from the repository root::

    python benchmarks/bench_engine.py            # full: 10-min overhead, 1 vs 60-min memory
    python benchmarks/bench_engine.py --quick    # a minute or so: 2-min / 1 vs 6-min

Measured, side by side in one run, with ConvSep (benchmarks/convsep.py, a Conv-TasNet
style separation net of about 2.5 M parameters, random weights, stereo 44.1 kHz in,
4 stems out):

(a) host overhead: wall time of ``deepfx.run`` on a stereo 44.1 kHz WAV vs the pure
    forward time of the same model on the same chunks (same chunk length, overlap and
    batch). Two forward figures: the time spent inside forward calls during the run
    itself (same CPU contention, the fairest on a shared machine) and a separate pass
    over the same chunks held in memory.
(b) peak RSS of a fresh process running ``deepfx.run`` on a 1-minute vs a 60-minute file.
(c) the naive way (the original host's): the whole file as one tensor through the model,
    peak RSS and time, for 1 minute and 10 minutes (quick: 2 minutes).

Test audio is written to a temporary folder (``--workdir``, default /tmp/deepfx-bench),
never into the repository. Results are printed as a table and as JSON (``--json PATH``).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RATE = 44100


def _env() -> dict[str, str]:
    env = os.environ.copy()
    paths = [str(ROOT / "src"), str(HERE)]
    env["PYTHONPATH"] = os.pathsep.join(paths + [env.get("PYTHONPATH", "")])
    env.setdefault("PYTHONWARNINGS", "ignore")
    return env


def make_audio(path: Path, minutes: float) -> Path:
    """Stereo 44.1 kHz PCM_16 WAV of tones + noise, written block by block."""
    import numpy as np
    import soundfile as sf

    n = int(minutes * 60 * RATE)
    if path.exists() and sf.info(str(path)).frames == n:
        return path
    rng = np.random.default_rng(0)
    block = RATE * 10
    tmp = path.with_suffix(".part.wav")
    with sf.SoundFile(str(tmp), "w", RATE, 2, subtype="PCM_16") as fh:
        for start in range(0, n, block):
            m = min(block, n - start)
            t = (start + np.arange(m)) / RATE
            tone = 0.2 * np.sin(2 * np.pi * 110 * t) + 0.1 * np.sin(2 * np.pi * 440 * t)
            noise = 0.05 * rng.standard_normal((m, 2))
            fh.write((noise + tone[:, None]).astype(np.float32))
    tmp.replace(path)
    return path


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


# --- children: each measurement in a fresh process -------------------------------------


def child(mode: str, model: str, audio: str, out: str, threads: int | None) -> dict:
    import warnings

    warnings.simplefilter("ignore")
    import numpy as np
    import soundfile as sf
    import torch

    from deepfx.model import load_model

    if threads:
        torch.set_num_threads(threads)
    mdl = load_model(model, device="cpu", threads=threads).load()
    base_rss = _peak_rss_mb()
    if mode == "run":
        from deepfx.engine import run

        t0 = time.perf_counter()
        [res] = run(mdl, [audio], out)
        wall = time.perf_counter() - t0
        for p in res.files.values():
            p.unlink()
        return {
            "wall_s": wall,
            "forward_s": res.forward_s,
            "peak_rss_mb": _peak_rss_mb(),
            "rss_after_load_mb": base_rss,
        }
    if mode == "forward":
        from deepfx.engine import chunk_starts

        # The same calls the engine makes while streaming: a chunk is run as soon as the
        # audio after it has arrived, so chunks go one per call (blocks of 65,536 frames
        # are shorter than the hop). On a CPU that is also the fastest grouping: batches
        # of 4 ten-second chunks run ~2x slower per chunk (memory bound).

        x, _ = sf.read(audio, dtype="float32", always_2d=True)
        x = np.ascontiguousarray(x.T)
        card = mdl.card
        assert card.chunking and card.chunking.window_s and card.chunking.overlap_s is not None
        w = int(round(card.chunking.window_s * card.sample_rate))
        o = int(round(card.chunking.overlap_s * card.sample_rate))
        starts = chunk_starts(x.shape[1], w, o)
        total = 0.0
        for i in range(0, len(starts)):
            group = starts[i : i + 1]
            batch = np.stack([x[:, s : s + w] for s in group])
            t0 = time.perf_counter()
            mdl.runner(batch)
            total += time.perf_counter() - t0
        return {"forward_s": total, "chunks": len(starts)}
    if mode == "naive":
        t0 = time.perf_counter()
        x, _ = sf.read(audio, dtype="float32", always_2d=True)
        y = mdl.runner(np.ascontiguousarray(x.T))
        wall = time.perf_counter() - t0
        return {"wall_s": wall, "peak_rss_mb": _peak_rss_mb(), "out_shape": list(y.shape)}
    raise SystemExit(f"unknown mode {mode}")


def spawn(mode: str, model: Path, audio: Path, out: Path, threads: int | None) -> dict:
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        mode,
        "--model",
        str(model),
        "--audio",
        str(audio),
        "--out",
        str(out),
    ]
    if threads:
        cmd += ["--threads", str(threads)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=_env(), check=False)
    if proc.returncode != 0:
        raise SystemExit(f"child {mode} failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="shorter files, smaller model")
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/deepfx-bench"))
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    ap.add_argument(
        "--stride",
        type=int,
        default=64,
        help=(
            "ConvSep encoder stride in samples (smaller = heavier network). Default 64: "
            "still 3-8x coarser than published Conv-TasNets (8-20), so the network stays "
            "laptop-sized; 256 gives an unrealistically light net (160x real time on 2 cores) "
            "whose forward is so short that fixed host work dominates the ratio"
        ),
    )
    ap.add_argument(
        "--parts", default="abc", help="which measurements to run: any of a, b, c (default abc)"
    )
    ap.add_argument(
        "--repeat", type=int, default=3, help="interleaved passes for (a); best of each (3)"
    )
    ap.add_argument("--json", type=Path, default=None, help="also write the results here")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--model", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--audio", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--out", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.model, args.audio, args.out, args.threads)))
        return

    sys.path[:0] = [str(ROOT / "src"), str(HERE)]
    import convsep
    import torch

    work = args.workdir
    work.mkdir(parents=True, exist_ok=True)
    out = work / "out"
    out.mkdir(exist_ok=True)
    overhead_min, short_min, long_min = (2, 1, 6) if args.quick else (10, 1, 60)
    naive_mins = (1, 2) if args.quick else (1, 10)
    name = ("convsep-quick" if args.quick else "convsep") + f"-s{args.stride}"
    model = convsep.build(work / name, quick=args.quick, stride=args.stride)
    params = convsep.n_params(torch.jit.load(str(model / "model.pt")))
    print(
        f"model: ConvSep (stride {args.stride}), {params / 1e6:.2f} M parameters; "
        f"torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, {os.cpu_count()} CPUs",
        flush=True,
    )
    files = {
        m: make_audio(work / f"stereo44k_{m}min.wav", m)
        for m in sorted({overhead_min, short_min, long_min, *naive_mins})
    }

    a: dict = {}
    b: dict = {}
    c: dict = {}
    if "a" in args.parts:
        a = part_a(model, files[overhead_min], out, args.threads, overhead_min, args.repeat)
    if "b" in args.parts:
        b = part_b(model, files[short_min], files[long_min], out, args.threads, short_min, long_min)
    if "c" in args.parts:
        c = part_c(model, files, out, args.threads, naive_mins)
    results = {
        "quick": args.quick,
        "stride": args.stride,
        "params": params,
        "overhead": a,
        "memory": b,
        "naive": c,
    }
    print()
    report(a, b, c)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    print(json.dumps(results))


def part_a(
    model: Path, audio: Path, out: Path, threads: int | None, minutes: float, repeat: int
) -> dict:
    """Run and forward-only passes, interleaved ``repeat`` times; the best of each counts.

    On a shared machine a single pass can be slowed 2x by a neighbour; interleaving and
    taking each side's fastest pass compares the two under the same (quietest) conditions.
    """
    print(f"(a) host overhead on {minutes} min, best of {repeat} ...", flush=True)
    runs, fwds = [], []
    for _ in range(repeat):
        runs.append(spawn("run", model, audio, out, threads))
        fwds.append(spawn("forward", model, audio, out, threads))
    r = min(runs, key=lambda x: x["wall_s"])
    f = min(fwds, key=lambda x: x["forward_s"])
    return {
        "minutes": minutes,
        "repeat": repeat,
        "run_wall_s": r["wall_s"],
        "forward_in_run_s": r["forward_s"],
        "forward_separate_s": f["forward_s"],
        "all_run_wall_s": [x["wall_s"] for x in runs],
        "all_forward_separate_s": [x["forward_s"] for x in fwds],
        "chunks": f["chunks"],
        "ratio_vs_forward_in_run": r["wall_s"] / r["forward_s"],
        "ratio_vs_separate_forward": r["wall_s"] / f["forward_s"],
    }


def part_b(
    model: Path,
    f_short: Path,
    f_long: Path,
    out: Path,
    threads: int | None,
    short_min: float,
    long_min: float,
) -> dict:
    print(f"(b) memory, {short_min} vs {long_min} min ...", flush=True)
    short = spawn("run", model, f_short, out, threads)
    long = spawn("run", model, f_long, out, threads)
    return {
        "short_min": short_min,
        "long_min": long_min,
        "peak_rss_short_mb": short["peak_rss_mb"],
        "peak_rss_long_mb": long["peak_rss_mb"],
        "ratio": long["peak_rss_mb"] / short["peak_rss_mb"],
        "long_wall_s": long["wall_s"],
    }


def part_c(
    model: Path, files: dict, out: Path, threads: int | None, naive_mins: tuple[int, int]
) -> dict:
    print("(c) naive whole-file ...", flush=True)
    c: dict = {}
    for m in naive_mins:
        n = spawn("naive", model, files[m], out, threads)
        c[f"{m}min"] = {"wall_s": n["wall_s"], "peak_rss_mb": n["peak_rss_mb"]}
    c["ratio"] = c[f"{naive_mins[1]}min"]["peak_rss_mb"] / c[f"{naive_mins[0]}min"]["peak_rss_mb"]
    return c


def report(a: dict, b: dict, c: dict) -> None:
    if a:
        print(f"(a) host overhead, {a['minutes']} min stereo 44.1 kHz, {a['chunks']} chunks:")
        print(
            f"    run wall {a['run_wall_s']:.1f} s; "
            f"forward inside the run {a['forward_in_run_s']:.1f} s"
            f" -> {a['ratio_vs_forward_in_run']:.3f}x (goal <= 1.05x)"
        )
        print(
            f"    pure forward pass on the same chunks {a['forward_separate_s']:.1f} s"
            f" -> {a['ratio_vs_separate_forward']:.3f}x (goal <= 1.05x; best of {a['repeat']})"
        )
    if b:
        print(
            f"(b) peak RSS {b['short_min']} min: {b['peak_rss_short_mb']:.0f} MB; "
            f"{b['long_min']} min: {b['peak_rss_long_mb']:.0f} MB -> {b['ratio']:.3f}x "
            "(goal: within 1.10x)"
        )
    if c:
        print(
            "(c) naive whole file: "
            + "; ".join(
                f"{k}: {v['peak_rss_mb']:.0f} MB, {v['wall_s']:.1f} s"
                for k, v in c.items()
                if k != "ratio"
            )
            + f" -> {c['ratio']:.2f}x memory"
        )


if __name__ == "__main__":
    main()
