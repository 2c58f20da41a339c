"""`deepfx app`: time to first paint, time to list 500 hub models, idle memory.

Each figure is measured in a fresh subprocess (offscreen Qt, temporary DEEPFX_HOME,
offline, DejaVu Sans), best of N, side by side with a baseline in the same run:

* first paint: interpreter start -> the main window's first paint, against a bare
  QApplication + an empty QMainWindow (what Qt itself costs);
* 500 results: a cached hub listing of 500 models (deepfx's own cache format) ->
  both library lists filled and painted, against `deepfx.hub.search()` alone (the
  library call the window makes);
* idle memory: resident memory with the window shown and idle, against the bare Qt
  window; and whether torch got imported (it must not be).

Run: python benchmarks/bench_app.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SRC = str(Path(__file__).resolve().parents[1] / "src")

CHILD = r"""
import json, os, sys, time
T0 = time.perf_counter()
mode = sys.argv[1]
from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QApplication, QMainWindow
app = QApplication([])
out = {}

class FirstPaint(QObject):
    def eventFilter(self, obj, ev):
        if ev.type() == QEvent.Type.Paint and "paint_s" not in out:
            out["paint_s"] = time.perf_counter() - T0
        return False

def rss_mb():
    import psutil
    return psutil.Process().memory_info().rss / 1e6

def settle(ms=1500):
    end = time.perf_counter() + ms / 1000
    while time.perf_counter() < end:
        app.processEvents()
        time.sleep(0.01)

if mode == "bare":
    w = QMainWindow(); f = FirstPaint(); w.installEventFilter(f); w.resize(1280, 800); w.show()
    while "paint_s" not in out:
        app.processEvents()
    settle()
    out["rss_mb"] = rss_mb()
else:
    from deepfx.app.theme import apply_theme
    from deepfx.app import workers
    apply_theme(app)
    from deepfx.app.window import MainWindow
    f = FirstPaint()
    w = MainWindow(poll_audacity=False); w.installEventFilter(f); w.show()
    while "paint_s" not in out:
        app.processEvents()
    t = time.perf_counter()
    # the listing arrives from a worker; wait until both panes show it
    def rows():
        return sum(len(p.visible_entries()) for p in w.panes.values())
    while rows() < 500:
        app.processEvents()
        time.sleep(0.002)
    out["ready_s"] = time.perf_counter() - t
    workers.pool().waitForDone(10000)
    # warm: the same listing again, the library call alone, then into both lists, painted
    from deepfx import hub
    t = time.perf_counter(); res = hub.search(); out["search_s"] = time.perf_counter() - t
    t = time.perf_counter()
    w._found(res)
    for p in w.panes.values():
        p.view.viewport().repaint()
    out["fill_s"] = time.perf_counter() - t
    out["rows"] = rows()
    settle()
    out["rss_mb"] = rss_mb()
    out["torch"] = "torch" in sys.modules
print(json.dumps(out))
"""


def _listing(home: Path, n: int) -> None:
    """A fresh cached listing of ``n`` models, as deepfx.hub.search writes it."""
    from dataclasses import asdict
    from datetime import datetime, timezone

    from deepfx.hub.search import HubModel

    domains = ["music", "speech", "environmental", "other"]
    models = [
        HubModel(
            repo_id=f"user{i % 37}/model-{i:03d}",
            sources=["tag"],
            commit=f"{i:040x}",
            effect_type="waveform-to-labels" if i % 3 == 0 else "waveform-to-waveform",
            domain_tags=[domains[i % 4]],
            short_description=f"Model number {i} for benchmarking the list",
            long_description="A listing entry made by benchmarks/bench_app.py.",
            tags=["bench"],
            labels=["a", "b"],
            sample_rate=44100,
            license="MIT",
            author=f"user{i % 37}",
        )
        for i in range(n)
    ]
    payload = {
        "fetched_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "time": time.time(),
        "endpoint": "https://huggingface.co",
        "models": [asdict(m) for m in models],
    }
    (home / "cache").mkdir(parents=True, exist_ok=True)
    (home / "cache" / "hub-models.json").write_text(json.dumps(payload))


def _child(mode: str, env: dict[str, str]) -> dict[str, float]:
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, mode], env=env, capture_output=True, text=True
    )
    if proc.returncode:
        raise SystemExit(f"the {mode} run failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--models", type=int, default=500)
    args = ap.parse_args()
    sys.path.insert(0, SRC)
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        _listing(home, args.models)
        env = {
            **os.environ,
            "PYTHONPATH": SRC,
            "QT_QPA_PLATFORM": "offscreen",
            "DEEPFX_HOME": str(home),
            "DEEPFX_APP_CONFIG": str(Path(tmp) / "app.ini"),
            "DEEPFX_APP_LOG": str(Path(tmp) / "app.log"),
            "DEEPFX_CURATED_LISTS": "",
            "DEEPFX_HUB_TTL": "1e9",  # the cached listing counts as fresh: no network
        }
        env.pop("HF_ENDPOINT", None)
        runs: dict[str, list[dict[str, float]]] = {"bare": [], "app": []}
        for _ in range(args.repeat):  # interleaved, so load changes hit all three alike
            for mode in runs:
                runs[mode].append(_child(mode, env))
    bare_paint = min(r["paint_s"] for r in runs["bare"])
    app_paint = min(r["paint_s"] for r in runs["app"])
    search = min(r["search_s"] for r in runs["app"])
    fill = min(r["fill_s"] for r in runs["app"])
    ready = min(r["ready_s"] for r in runs["app"])
    bare_rss = min(r["rss_mb"] for r in runs["bare"])
    app_rss = min(r["rss_mb"] for r in runs["app"])
    rows = int(runs["app"][0]["rows"])
    print(
        f"first paint: app {app_paint:.2f} s vs bare Qt window {bare_paint:.2f} s "
        f"({app_paint / bare_paint:.2f}x)"
    )
    print(
        f"list {rows} models (cached listing): hub.search() {search:.3f} s + both lists "
        f"filled and painted {fill:.3f} s ({(search + fill) / search:.2f}x the library call); "
        f"cold, from first paint (library imported on a worker): {ready:.2f} s"
    )
    print(
        f"idle memory: app {app_rss:.0f} MB vs bare Qt window {bare_rss:.0f} MB "
        f"({app_rss / bare_rss:.2f}x); torch imported: {bool(runs['app'][0]['torch'])}"
    )


if __name__ == "__main__":
    main()
