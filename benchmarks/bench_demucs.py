"""The paper's case: Demucs v2 (about 265 M parameters) through deepfx and its rivals.

Run from the repository root (needs the ``bench`` extra: demucs, julius, einops)::

    python benchmarks/bench_demucs.py                      # 21 s of mono 44.1 kHz audio
    python benchmarks/bench_demucs.py --seconds 210 --segment 40   # the paper's case
    python benchmarks/bench_demucs.py --seconds 42 --segment 40 \
        --only forward,run-onnx,apply                  # docs/engine.md's figures
    python benchmarks/bench_demucs.py --tiny               # seconds: a small net, 3 s
    python benchmarks/bench_demucs.py --net ht --seconds 42     # HTDemucs (26.9 M)

The network is ``demucs.demucs.Demucs`` with v2's settings (benchmarks/demucs_nets.py),
random seeded weights, wrapped as the original contributors did and saved as
TorchScript in a deepfx model folder whose card puts chunks on the network's 2,048-sample
stride grid (``chunking.grid_samples``; the wrapper pads at the end, see
``demucs_nets.DemucsV2Core``). That folder is installed into a private store
(``<workdir>/home``), where deepfx derives, verifies and times an ONNX network as every
install does. Contenders, each measured in its own fresh process (so peak memories do
not mix), in one run, interleaved when ``--repeat`` > 1:

* ``forward``: the TorchScript network on deepfx's chunks, one call per chunk, nothing
  else (the baseline every ratio is against);
* ``run-ts`` / ``run-onnx``: ``deepfx.run`` (what ``deepfx run`` calls: WAV in, one WAV
  per stem out) on the TorchScript folder and on the installed model with
  ``runner="onnx"`` (the store's derived ONNX: the "compiled" runner);
* ``cli-onnx``: the real ``deepfx run local/demucs-v2 --runner onnx`` command line, end
  to end (interpreter start, imports, model load, I/O);
* ``process``: ``deepfx.process`` on the array, the derived ONNX;
* ``apply``: demucs' ``apply_model(net, mix, split=True, overlap=0.25, shifts=0)`` on the
  same ``nn.Module`` (its chunks are the network's ``segment``, 40 s in v2);
* ``host``: the original Audacity host's way, non-overlapping 262,144-sample blocks;
* ``whole``: one forward over the whole input, the reference for the seam errors.

``--net ht`` runs HTDemucs (the v4 hybrid transformer, 26.9 M parameters) instead. It
neither scripts nor exports, so its contributor's file is a trace at its 10 s training
segment (``demucs_nets.traced_ht``) and its card makes every chunk exactly one segment
(``min_input_s``); deepfx's ONNX derivation fails on it (STFT of complex values), quietly,
so there are no ONNX contenders. Its eager forward takes no input longer than its segment
and the trace refuses the original host's blocks: no ``whole`` or ``host`` rows, no seam
error. ``apply`` uses the same 10 s segments.

Seam error: max |y - whole| / max |whole| over all stems. Work time excludes interpreter
start and model load (``load_s``), except for ``cli-onnx``. Audio, folders and outputs go
to ``--workdir`` (default /tmp/deepfx-bench-demucs), never into the repository.
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
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RATE = 44100
STORE_NAME = "local/demucs-v2"  # the TorchScript folder, installed (with its derived ONNX)
HOST_BLOCK = 262144  # the original host's block (Audacity's storage block), no overlap
CONTENDERS = ("forward", "run-ts", "run-onnx", "cli-onnx", "process", "apply", "host", "whole")
ONNX_CONTENDERS = ("run-onnx", "cli-onnx", "process")
NETS = {"v2": "Demucs v2", "ht": "HTDemucs"}


def _env(cfg: dict[str, Any] | None = None) -> dict[str, str]:
    env = os.environ.copy()
    if cfg is not None:
        env.update(_store_env(cfg))
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), str(HERE), env.get("PYTHONPATH", "")])
    env.setdefault("PYTHONWARNINGS", "ignore")
    return env


def _peak_rss_mb(who: int = resource.RUSAGE_SELF) -> float:
    """Peak resident memory of this process (or of its waited-for children).

    Linux carries ``ru_maxrss`` across fork + exec: a child started by a parent that
    held 5 GB reports at least 5 GB. ``VmHWM`` belongs to the process's own address
    space (reset by exec), so it is used where it exists.
    """
    if who == resource.RUSAGE_SELF:
        try:
            for line in Path("/proc/self/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
        except OSError:
            pass
    return resource.getrusage(who).ru_maxrss / 1024.0


def make_audio(path: Path, seconds: float) -> Path:
    """Mono 44.1 kHz float WAV: a few tones and noise, seeded."""
    import numpy as np
    import soundfile as sf

    n = int(seconds * RATE)
    rng = np.random.default_rng(0)
    t = np.arange(n) / RATE
    x = 0.2 * np.sin(2 * np.pi * 110 * t) + 0.1 * np.sin(2 * np.pi * 440 * t)
    x += 0.05 * rng.standard_normal(n)
    sf.write(str(path), x.astype(np.float32), RATE, subtype="FLOAT")
    return path


# --- the network and its model folders --------------------------------------------------


def _is_ht(cfg: dict[str, Any]) -> bool:
    return cfg.get("net", "v2") == "ht"


def build_net(cfg: dict[str, Any]) -> Any:
    import demucs_nets

    if _is_ht(cfg):  # its segment is apply_model's chunk and its trace's
        seg = cfg["segment"]
        return demucs_nets.htdemucs(seed=cfg["seed"], segment=seg, tiny=cfg.get("tiny", False))
    net = demucs_nets.demucs_v2(channels=cfg["channels"], depth=cfg["depth"], seed=cfg["seed"])
    net.segment = cfg["segment"]  # apply_model's chunk, in seconds
    return net


def _write_card(folder: Path, cfg: dict[str, Any], fmt: str, file: str) -> None:
    import demucs_nets

    ht = _is_ht(cfg)
    grid = demucs_nets.grid_samples(build_net(cfg)) if cfg.get("grid", True) and not ht else None
    card = demucs_nets.card(
        "htdemucs" if ht else "demucs-v2",
        window_s=cfg["window"],
        overlap_s=cfg["overlap"],
        grid=grid,
        min_input_s=cfg["window"] if ht else None,  # a fixed-length trace: whole windows
    )
    card = card.model_copy(update={"model_file": file, "model_format": fmt})
    card.write(folder / "metadata.json")


def make_torchscript_folder(cfg: dict[str, Any], dest: Path) -> Path:
    """The contributor's folder: the wrapped network scripted (v2) or traced at its
    segment (HTDemucs, :func:`demucs_nets.traced_ht`) to ``model.pt``, and its card."""
    import demucs_nets
    import torch

    dest.mkdir(parents=True, exist_ok=True)
    if _is_ht(cfg):
        module = demucs_nets.traced_ht(build_net(cfg))
    else:
        module = torch.jit.script(demucs_nets.effect_v2(build_net(cfg)))
    torch.jit.save(module, str(dest / "model.pt"))
    _write_card(dest, cfg, "torchscript", "model.pt")
    return dest


def derive_onnx(cfg: dict[str, Any], ts_folder: Path) -> dict[str, Any]:
    """The "compiled" contender, made the way an artist gets it: the TorchScript folder
    installed into a private store (``<workdir>/home``), where deepfx derives, verifies
    and times an ONNX network beside the original (``deepfx.optimize``, issue 17 point
    1). Returns the install's ``optimized`` record; the ONNX contenders then run the
    installed model with ``runner="onnx"`` (the derived file, even if it was slower)."""
    os.environ.update(_store_env(cfg))
    from deepfx.store import Store

    model = Store().add_local(ts_folder, name=STORE_NAME.split("/", 1)[1], force=True).model
    return dict(model.optimized or {})


def _store_env(cfg: dict[str, Any]) -> dict[str, str]:
    return {
        "DEEPFX_HOME": str(Path(cfg["workdir"]) / "home"),
        "DEEPFX_OPTIMIZE": "1",
        "DEEPFX_OPTIMIZE_TIMEOUT": str(cfg.get("optimize_timeout", 3600)),
    }


def make_onnx_folder(cfg: dict[str, Any], dest: Path) -> Path:
    """The fallback "compiled" contender, used only when the store could not derive an
    ONNX network from the TorchScript file (the report says so and why): the same
    network exported by tracing the *eager* module (torch's TorchScript-based exporter,
    time axis dynamic); the bench checks it against the TorchScript folder first."""
    import warnings

    import demucs_nets
    import torch

    dest.mkdir(parents=True, exist_ok=True)
    effect = demucs_nets.effect_v2(build_net(cfg))
    x = torch.zeros(1, RATE)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            effect,
            (x,),
            str(dest / "model.onnx"),
            dynamo=False,
            input_names=["audio"],
            output_names=["audio_out"],
            dynamic_axes={"audio": {1: "samples"}, "audio_out": {1: "samples"}},
            opset_version=17,
        )
    _write_card(dest, cfg, "onnx", "model.onnx")
    return dest


# --- children: one contender in a fresh process -------------------------------------------


def child(mode: str, cfg: dict[str, Any]) -> dict[str, Any]:
    import warnings

    warnings.simplefilter("ignore")
    import numpy as np
    import soundfile as sf

    work = Path(cfg["workdir"])
    audio = work / "mix.wav"
    out = work / f"out-{mode}"
    ts = work / "demucs-ts"
    store = cfg.get("onnx_source", "store") == "store"
    result: dict[str, Any] = {}
    y: Any = None
    if mode == "cli-onnx":
        target = [STORE_NAME, "--runner", "onnx"] if store else [str(work / "demucs-onnx")]
        cmd = [sys.executable, "-m", "deepfx", "run", *target, str(audio), "-o", str(out)]
        cmd += ["-q", "--overwrite"]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, env=_env(cfg), check=False)
        result["work_s"] = time.perf_counter() - t0
        if proc.returncode != 0:
            raise SystemExit(f"deepfx run failed:\n{proc.stderr[-2000:]}")
        result["peak_rss_mb"] = _peak_rss_mb(resource.RUSAGE_CHILDREN)
        y = _read_stems(out, audio.stem, work)
    elif mode in ("forward", "host", "whole", "run-ts", "run-onnx", "process"):
        from deepfx.model import load_model

        t0 = time.perf_counter()
        if mode in ("run-onnx", "process"):
            mdl = _onnx_model(cfg)
        else:
            mdl = load_model(ts, device="cpu").load()
        result["load_s"] = time.perf_counter() - t0
        result["runner"] = mdl.format
        result["threads"] = mdl.runner.threads
        x, _ = sf.read(str(audio), dtype="float32", always_2d=True)
        x = np.ascontiguousarray(x.T)
        t0 = time.perf_counter()
        if mode == "forward":
            from deepfx.engine import chunk_spans
            from deepfx.engine.options import EngineOptions, plan

            p = plan(mdl.card, x.shape[1], RATE, 1, EngineOptions())  # deepfx's own chunks
            assert p.window is not None
            total = 0.0
            spans = chunk_spans(x.shape[1], p.window, p.overlap, p.grid)
            for a, b in spans:
                chunk = np.ascontiguousarray(x[:, a:b])
                t1 = time.perf_counter()
                mdl.runner(chunk)
                total += time.perf_counter() - t1
            result["work_s"] = total
            result["chunks"] = len(spans)
        elif mode == "whole":
            y = np.asarray(mdl.runner(x))
        elif mode == "host":
            y = np.concatenate(
                [
                    np.asarray(mdl.runner(np.ascontiguousarray(x[:, i : i + HOST_BLOCK])))
                    for i in range(0, x.shape[1], HOST_BLOCK)
                ],
                axis=1,
            )
        elif mode == "process":
            from deepfx import process

            res = process(mdl, x, RATE)
            y = np.stack([res.tracks[k][0] for k in res.tracks])
        else:
            from deepfx.engine import run

            run(mdl, [audio], out, overwrite=True)
        result.setdefault("work_s", time.perf_counter() - t0)
        result["peak_rss_mb"] = _peak_rss_mb()
        if mode in ("run-ts", "run-onnx"):  # read back after the clock and the memory
            y = _read_stems(out, audio.stem, work)
    elif mode == "apply":
        import torch
        from demucs.apply import apply_model

        t0 = time.perf_counter()
        net = build_net(cfg)
        result["load_s"] = time.perf_counter() - t0
        x, _ = sf.read(str(audio), dtype="float32", always_2d=True)
        mix = torch.from_numpy(np.ascontiguousarray(x.T))[None]
        t0 = time.perf_counter()
        with torch.no_grad():
            stems = apply_model(net, mix, split=True, overlap=0.25, shifts=0, progress=False)
        result["work_s"] = time.perf_counter() - t0
        result["peak_rss_mb"] = _peak_rss_mb()
        y = stems[0].mean(dim=1).numpy()
    else:
        raise SystemExit(f"unknown mode {mode}")
    if y is not None:
        np.save(work / f"y-{mode}.npy", np.asarray(y, dtype=np.float32))
    return result


def _read_stems(out: Path, stem: str, work: Path) -> Any:
    """The stems a run wrote, in the card's order (soundfile only: importing the network
    module would import torch, which an ONNX run never does)."""
    import numpy as np
    import soundfile as sf

    card = json.loads((work / "demucs-ts" / "metadata.json").read_text(encoding="utf-8"))
    rows = [sf.read(str(out / f"{stem} - {k}.wav"), dtype="float32")[0] for k in card["labels"]]
    return np.stack(rows)


def spawn(mode: str, cfg: dict[str, Any]) -> dict[str, Any]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", mode, "--cfg", json.dumps(cfg)]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=_env(cfg), check=False)
    if proc.returncode != 0:
        raise SystemExit(f"contender {mode} failed:\n{proc.stderr[-3000:]}")
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    res["process_s"] = time.perf_counter() - t0
    return res


# --- the run --------------------------------------------------------------------------------


def seam_errors(work: Path, modes: list[str]) -> dict[str, dict[str, float]]:
    """Each contender's output against the whole-input forward."""
    import numpy as np

    if not (work / "y-whole.npy").is_file() or "whole" not in modes:
        return {}  # HTDemucs: no whole-input forward exists (see main)
    ref = np.load(work / "y-whole.npy").astype(np.float64)
    scale = float(np.max(np.abs(ref))) or 1.0
    errs: dict[str, dict[str, float]] = {}
    for m in modes:
        p = work / f"y-{m}.npy"
        if m == "whole" or not p.exists():
            continue
        y = np.load(p).astype(np.float64)
        if y.shape != ref.shape:
            errs[m] = {"max_rel": float("nan"), "rms_rel": float("nan")}
            continue
        d = y - ref
        errs[m] = {
            "max_rel": float(np.max(np.abs(d))) / scale,
            "rms_rel": float(np.sqrt(np.mean(d**2)) / (np.sqrt(np.mean(ref**2)) or 1.0)),
        }
    return errs


def _onnx_model(cfg: dict[str, Any]) -> Any:
    """The ONNX contender's model: the store's derived network, or the traced fallback."""
    from deepfx.model import load_model

    if cfg.get("onnx_source", "store") == "store":
        return load_model(STORE_NAME, device="cpu", runner="onnx").load()
    return load_model(Path(cfg["workdir"]) / "demucs-onnx", device="cpu").load()


def check_onnx(cfg: dict[str, Any]) -> float:
    """Max |onnx - torchscript| / max |torchscript| on 1.3 s (an odd length)."""
    import numpy as np

    from deepfx.model import load_model

    work = Path(cfg["workdir"])
    rng = np.random.default_rng(1)
    x = (0.1 * rng.standard_normal((1, int(1.3 * RATE) + 1))).astype(np.float32)
    a = np.asarray(load_model(work / "demucs-ts", device="cpu").load().runner(x))
    b = np.asarray(_onnx_model(cfg).runner(x))
    return float(np.max(np.abs(a - b)) / (np.max(np.abs(a)) or 1.0))


def run_bench(cfg: dict[str, Any], modes: list[str], repeat: int) -> dict[str, Any]:
    import demucs_nets
    import torch

    work = Path(cfg["workdir"])
    work.mkdir(parents=True, exist_ok=True)
    os.environ.update(_store_env(cfg))  # the private store, also when its folders are reused
    make_audio(work / "mix.wav", cfg["seconds"])
    # the folders depend on the network and the card only: reuse them when those match
    key = {k: cfg.get(k) for k in ("net", "tiny", "channels", "depth", "seed", "segment")}
    key.update(window=cfg["window"], overlap=cfg["overlap"])
    key["version"] = 3  # grid chunking, padding at the end, the derived ONNX batched
    stamp = work / "folders.json"
    t0 = time.perf_counter()
    fresh = not (stamp.exists() and json.loads(stamp.read_text()).get("key") == key)
    derived: dict[str, Any] = {}
    if fresh:
        stamp.unlink(missing_ok=True)
        make_torchscript_folder(cfg, work / "demucs-ts")
    t1 = time.perf_counter()
    if fresh:
        derived = derive_onnx(cfg, work / "demucs-ts")
        stamp.write_text(json.dumps({"key": key, "optimized": derived}))
    else:
        derived = json.loads(stamp.read_text()).get("optimized", {})
    t2 = time.perf_counter()
    cfg["onnx_source"] = "store" if derived.get("status") in ("kept", "slower") else "traced"
    ht = _is_ht(cfg)
    if ht and cfg["onnx_source"] == "traced":
        print(f"deepfx could not derive ONNX at install: {derived.get('note')}", flush=True)
        dropped = [m for m in modes if m in ONNX_CONTENDERS]
        if dropped:  # nor does the eager HTDemucs export: no ONNX contender exists
            print(f"  -> no ONNX contenders ({', '.join(dropped)})", flush=True)
        modes[:] = [m for m in modes if m not in ONNX_CONTENDERS]
    elif cfg["onnx_source"] == "traced":
        print(f"deepfx could not derive ONNX at install: {derived.get('note')}", flush=True)
        print("  -> the ONNX contenders use the eager module's traced export instead", flush=True)
        if fresh or not (work / "demucs-onnx" / "model.onnx").is_file():
            make_onnx_folder(cfg, work / "demucs-onnx")
    params = demucs_nets.n_params(build_net(cfg))
    onnx_err = check_onnx(cfg) if any(m in ONNX_CONTENDERS for m in modes) else float("nan")
    print(
        f"{NETS[cfg.get('net', 'v2')]}, {params / 1e6:.1f} M parameters; "
        f"{cfg['seconds']} s mono 44.1 kHz; "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs; "
        f"TorchScript built in {t1 - t0:.0f} s; installed in {t2 - t1:.0f} s (derived ONNX "
        f"{derived.get('status')}: {derived.get('note')}"
        + (
            f"; install timing {derived.get('original_s')} s TorchScript vs "
            f"{derived.get('onnx_s')} s ONNX per {derived.get('chunk_s')} s chunk; "
            f"ONNX vs TorchScript {onnx_err:.1e} rel)"
            if derived.get("onnx_s")
            else ")"
        ),
        flush=True,
    )
    # this process just ran both networks (install timing, the check above): let its
    # thread lease go idle, so the contenders get the thread policy's quiet-machine
    # choice rather than half of it (the lease counts a holder for 10 s after a call)
    from deepfx.runners.threads import IDLE_AFTER_S

    time.sleep(IDLE_AFTER_S + 0.5)
    runs: dict[str, list[dict[str, Any]]] = {m: [] for m in modes}
    for r in range(repeat):
        order = modes[r % len(modes) :] + modes[: r % len(modes)]  # rotate: interleaved
        for m in order:
            res = spawn(m, cfg)
            runs[m].append(res)
            print(f"  {m:9s} {res['work_s']:7.1f} s  {res['peak_rss_mb']:7.0f} MB", flush=True)
    best = {m: min(v, key=lambda x: x["work_s"]) for m, v in runs.items()}
    base = best["forward"]
    errs = seam_errors(work, modes)
    rows = {}
    for m, b in best.items():
        rows[m] = {
            **b,
            "time_ratio": b["work_s"] / base["work_s"],
            "memory_ratio": b["peak_rss_mb"] / base["peak_rss_mb"],
            "rtf": b["work_s"] / cfg["seconds"],
            "seam": errs.get(m),
            "all_work_s": [x["work_s"] for x in runs[m]],
        }
    goal = {}
    ours = "run-onnx" if "run-onnx" in rows else "run-ts"
    if "apply" in rows and ours in rows:
        goal = {
            "ours": ours,
            "time_vs_apply": rows[ours]["work_s"] / rows["apply"]["work_s"],
            "memory_vs_apply": rows[ours]["peak_rss_mb"] / rows["apply"]["peak_rss_mb"],
        }
    return {
        "config": cfg,
        "params": params,
        "onnx_vs_ts_rel": onnx_err,
        "optimized": derived,
        "rows": rows,
        **goal,
    }


def report(res: dict[str, Any]) -> None:
    print()
    print(
        f"{'contender':10s} {'work s':>8s} {'x fwd':>6s} {'peak MB':>8s} {'x fwd':>6s} "
        f"{'RTF':>6s} {'seam max':>9s} {'seam rms':>9s}"
    )
    for m, r in res["rows"].items():
        s = r["seam"] or {}
        print(
            f"{m:10s} {r['work_s']:8.1f} {r['time_ratio']:6.2f} {r['peak_rss_mb']:8.0f} "
            f"{r['memory_ratio']:6.2f} {r['rtf']:6.2f} "
            f"{s.get('max_rel', float('nan')):9.1e} {s.get('rms_rel', float('nan')):9.1e}"
        )
    if "time_vs_apply" in res:
        print(
            f"deepfx run ({'ONNX' if res['ours'] == 'run-onnx' else 'TorchScript'}) vs "
            f"apply_model: {res['time_vs_apply']:.2f}x time (goal <= 0.6), "
            f"{res['memory_vs_apply']:.2f}x peak memory (goal <= 0.5)"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--net", choices=sorted(NETS), default="v2", help="v2 or ht (HTDemucs)")
    ap.add_argument("--seconds", type=float, default=21.0, help="audio length (paper: 210)")
    ap.add_argument(
        "--segment", type=float, default=None, help="apply_model chunk s (v2: 40; ht: 10)"
    )
    ap.add_argument(
        "--window", type=float, default=None, help="deepfx longest chunk s (v2: 8; ht: segment)"
    )
    ap.add_argument(
        "--overlap", type=float, default=None, help="deepfx overlap s (v2: 0.8; ht: window/4)"
    )
    ap.add_argument("--channels", type=int, default=64, help="Demucs channels (v2: 64)")
    ap.add_argument("--depth", type=int, default=6, help="Demucs depth (v2: 6)")
    ap.add_argument(
        "--tiny", action="store_true", help="a 4-channel, 4-level net on 2.5 s (a smoke test)"
    )
    ap.add_argument("--repeat", type=int, default=1, help="interleaved passes; best of each")
    ap.add_argument("--only", default=",".join(CONTENDERS), help="comma-separated contenders")
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/deepfx-bench-demucs"))
    ap.add_argument("--json", type=Path, default=None, help="also write the results here")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--cfg", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.child, json.loads(args.cfg))))
        return
    sys.path[:0] = [str(ROOT / "src"), str(HERE)]
    ht = args.net == "ht"
    if args.tiny:
        args.seconds, args.segment, args.window, args.overlap = 2.5, 1.0, 1.0, 0.2
        args.channels, args.depth = 4, 4
    if args.segment is None:
        args.segment = 10.0 if ht else 4.0
    if ht:  # the trace takes exactly one segment: deepfx's chunks are that long
        if args.window not in (None, args.segment):
            raise SystemExit("--net ht: the window is the network's segment (a fixed-length trace)")
        args.window = args.segment
    if args.window is None:
        args.window = 8.0
    if args.overlap is None:
        args.overlap = args.window / 4 if ht else 0.8
    cfg = {
        "net": args.net,
        "tiny": bool(args.tiny),
        "workdir": str(args.workdir.resolve()),
        "seconds": args.seconds,
        "segment": args.segment,
        "window": args.window,
        "overlap": args.overlap,
        "channels": args.channels,
        "depth": args.depth,
        "seed": 0,
    }
    modes = [m for m in args.only.split(",") if m]
    for m in modes:
        if m not in CONTENDERS:
            raise SystemExit(f"unknown contender {m}; choose from {', '.join(CONTENDERS)}")
    for need in ("forward", "whole"):
        if need not in modes:
            modes.append(need)
    if ht:
        # HTDemucs' eager forward takes no input longer than its segment, and its trace
        # takes exactly one segment: no whole-input reference, and the original host's
        # 262,144-sample blocks are refused by such a file
        for m in ("whole", "host"):
            if m in modes:
                modes.remove(m)
                print(f"--net ht: no {m!r} contender (a fixed-length network)", flush=True)
    res = run_bench(cfg, modes, args.repeat)
    report(res)
    if args.json:
        args.json.write_text(json.dumps(res, indent=2))
    print(json.dumps(res))


if __name__ == "__main__":
    main()
