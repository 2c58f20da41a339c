"""Train ``builtin/instruments`` from audio rendered here; one command, seeded, CPU only.

    python -m deepfx.builtins.instruments_train --out build/instruments --seed 0

renders the data with FluidSynth from the two training soundfonts (cached as ``.npy``
under ``--cache``, outside the repository; never committed), trains the network, then
measures it on held-out pitches and velocities, on 2–3-instrument mixtures, on the unseen
TimGM6mb font and on a "2 s piano, 2 s silence, 2 s trumpet" sequence. It writes:

* ``instruments.npz`` – the weights (plain arrays, loaded with ``allow_pickle=False``),
* ``metrics.json`` – every figure, per class, with the configuration and wall time,
* ``confusion.png`` – the held-out confusion matrices (when matplotlib is installed).

``--tiny`` is a seconds-long configuration for CI: the same code path, a handful of
clips and steps, no quality expected. Imports torch.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from deepfx.builtins import _instruments_data as D

__all__ = ["Config", "main", "train"]

NONE = len(D.CLASSES)  # index of "none" in the confusion matrix


@dataclass(frozen=True)
class Config:
    """Everything that decides the result (with the seed)."""

    train_per_class: int = 500  # clips per class per training font
    test_per_class: int = 40  # held-out clips per class per font
    none_train: int = 1000
    none_test: int = 100
    mixtures_test: int = 500
    steps: int = 5000
    batch: int = 64
    width: int = 32
    lr: float = 3e-3
    threads: int = 2
    #: decision threshold of the report and the analyzer; None: chosen after training
    #: as the one that maximises micro-F1 on mixtures of *training* clips (never on the
    #: test sets) and saved with the weights
    threshold: float | None = None

    @classmethod
    def tiny(cls) -> Config:
        return cls(
            train_per_class=3,
            test_per_class=2,
            none_train=8,
            none_test=4,
            mixtures_test=8,
            steps=4,
            batch=8,
            width=8,
        )


# -- data ----------------------------------------------------------------------------------


def _key(cfg: Config, seed: int) -> str:
    data = {k: getattr(cfg, k) for k in ("train_per_class", "test_per_class", "none_train")}
    data.update(none_test=cfg.none_test, seed=seed, version=1)
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:12]


def _normalise(x: np.ndarray) -> np.ndarray:
    peak = np.abs(x).max(axis=1, keepdims=True)
    return (x / np.maximum(peak, 1e-4)).astype(np.float32)


def _render_set(
    rng: np.random.Generator, font: str, per_class: int, *, held_out: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    clips = [
        D.sample_clip(rng, c, held_out=held_out)
        for c in range(len(D.CLASSES))
        for _ in range(per_class)
    ]
    audio = _normalise(D.render_clips(font, clips))
    labels = np.array([c.cls for c in clips], np.int64)
    programs = np.array([c.program for c in clips], np.int64)
    return audio, labels, programs


def make_data(cfg: Config, seed: int, cache: Path, log: Any = print) -> dict[str, np.ndarray]:
    """Render (or load from ``cache``) every array the run needs; seeded and reproducible."""
    folder = cache / f"instruments-{_key(cfg, seed)}"
    names = ["train_x", "train_y", "none_x", "test_x", "test_y", "tim_x", "tim_y", "tim_prog"]
    names += ["none_test_x"]
    if all((folder / f"{n}.npy").is_file() for n in names):
        log(f"data: cached in {folder}")
        return {n: np.load(folder / f"{n}.npy", allow_pickle=False) for n in names}
    t0 = time.time()
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(8)]
    xs, ys = [], []
    for i, font in enumerate(D.TRAIN_FONTS):
        x, y, _ = _render_set(streams[i], font, cfg.train_per_class, held_out=False)
        xs.append(D.codec_augment(x, streams[2 + i]))
        ys.append(y)
    log(f"data: training clips rendered in {time.time() - t0:.0f} s")
    n_speech = cfg.none_train // 2
    none_x = np.concatenate(
        [D.speech_clips(streams[4], n_speech), D.noise_clips(streams[4], cfg.none_train - n_speech)]
    )
    tx, ty = [], []
    for font in D.TRAIN_FONTS:
        x, y, _ = _render_set(streams[5], font, cfg.test_per_class, held_out=True)
        tx.append(x)
        ty.append(y)
    tim_x, tim_y, tim_prog = _render_set(streams[6], D.TEST_FONT, cfg.test_per_class, held_out=True)
    n_sp = cfg.none_test // 2
    none_test_x = np.concatenate(
        [D.speech_clips(streams[7], n_sp), D.noise_clips(streams[7], cfg.none_test - n_sp)]
    )
    arrays = {
        "train_x": np.concatenate(xs).astype(np.float16),
        "train_y": np.concatenate(ys),
        "none_x": none_x.astype(np.float16),
        "test_x": np.concatenate(tx).astype(np.float16),
        "test_y": np.concatenate(ty),
        "tim_x": tim_x.astype(np.float16),
        "tim_y": tim_y,
        "tim_prog": tim_prog,
        "none_test_x": none_test_x.astype(np.float16),
    }
    folder.mkdir(parents=True, exist_ok=True)
    for n, a in arrays.items():
        np.save(folder / f"{n}.npy", a, allow_pickle=False)
    log(f"data: {arrays['train_x'].shape[0]} training clips, made in {time.time() - t0:.0f} s")
    return arrays


# -- augmentation (torch, per batch) -------------------------------------------------------

WIN = 16000
#: shares of training examples with no instrument and with one (the rest mix 2 or 3)
P_NONE = 0.1
P_SINGLE = 0.3
PRESENT_RMS = 0.01  # a source is "present" in a window when its RMS reaches -40 dB re peak


def _crop(clip: np.ndarray, offset: int) -> np.ndarray:
    out = np.zeros(WIN, np.float32)
    lo, hi = max(0, offset), min(clip.shape[0], offset + WIN)
    if hi > lo:
        out[lo - offset : hi - offset] = clip[lo:hi]
    return out


class Batches:
    """Random training windows: single instruments, 2–3-instrument mixtures and "none",
    with gain, EQ tilt, reverb and noise applied on the fly (codec round trips were applied
    once when the data was made)."""

    def __init__(self, data: dict[str, np.ndarray], seed: int) -> None:
        self.x = data["train_x"]
        self.y = data["train_y"]
        self.none = data["none_x"]
        self.rng = np.random.default_rng(seed)
        self.by_class = [np.flatnonzero(self.y == c) for c in range(len(D.CLASSES))]

    def source(self, cls: int, early: bool) -> tuple[np.ndarray, bool]:
        rng = self.rng
        clip = self.x[int(rng.choice(self.by_class[cls]))].astype(np.float32)
        lo, hi = (-0.5, 0.4) if early else (-0.6, 0.8)
        win = _crop(clip, int(rng.uniform(lo, hi) * D.SAMPLE_RATE))
        return win, float(np.sqrt(np.mean(win * win))) >= PRESENT_RMS

    def example(self) -> tuple[np.ndarray, np.ndarray]:
        rng = self.rng
        n_cls = len(D.CLASSES)
        target = np.zeros(n_cls, np.float32)
        mix = np.zeros(WIN, np.float32)
        r = rng.random()
        k = 0 if r < P_NONE else (1 if r < P_NONE + P_SINGLE else int(rng.integers(2, 4)))
        # a mixture's sources start near the window's start half of the time (as a
        # single note does), so most of them are heard, not only their release
        early = k == 1 or rng.random() < 0.5
        for cls in rng.choice(n_cls, size=k, replace=False):
            win, present = self.source(int(cls), early=early)
            gain = 10 ** (rng.uniform(-12, 0) / 20) if k > 1 else 1.0
            mix += gain * win
            target[int(cls)] = 1.0 if present else 0.0
        if k == 0 or rng.random() < 0.1:  # "none" material, alone or under the music
            other = self.none[int(rng.integers(self.none.shape[0]))].astype(np.float32)
            level = 1.0 if k == 0 else 10 ** (rng.uniform(-30, -12) / 20)
            mix += level * _crop(other, int(rng.uniform(0, 1.0) * D.SAMPLE_RATE))
        return mix, target

    def batch(self, size: int) -> tuple[Any, Any]:
        import torch

        xs, ys = zip(*(self.example() for _ in range(size)), strict=True)
        x = torch.from_numpy(np.stack(xs))
        y = torch.from_numpy(np.stack(ys))
        return self.colour(x), y

    def colour(self, x: Any) -> Any:
        """Reverb, EQ tilt, low-pass, noise and overall gain, by FFT on the whole batch.

        Only the reverberated rows (40 %) pay for a linear convolution (a 2n-point FFT);
        tilt, low-pass and the added noise are then one n-point FFT round trip for the
        batch: the noise is drawn as a spectrum and scaled to the filtered signal's RMS
        by Parseval, so the batch is transformed once rather than three times (these
        filters are smooth, so their circular wrap at the window's ends is negligible).
        """
        import torch

        rng = self.rng
        b, n = x.shape
        gen = torch.Generator().manual_seed(int(rng.integers(2**31)))

        def pick(p: float) -> Any:
            return torch.from_numpy(rng.random(b) < p).unsqueeze(1)

        def uniform(lo: float, hi: float, size: int = b) -> Any:
            return torch.from_numpy(rng.uniform(lo, hi, size).astype(np.float32)).unsqueeze(1)

        # reverb: exponentially decaying noise, RT60 0.15..1.2 s, wet 0.2..1 (40 %)
        wet = np.flatnonzero(rng.random(b) < 0.4)
        if wet.size:
            m = 1 << (2 * n - 1).bit_length()  # a power of two >= 2n: linear convolution
            rows = torch.from_numpy(wet)
            t = (torch.arange(n) / D.SAMPLE_RATE).unsqueeze(0)
            k = int(wet.size)
            ir = torch.randn(k, n, generator=gen) * torch.exp(-6.9 * t / uniform(0.15, 1.2, k))
            ir[:, 0] = 0.0
            ir = ir / ir.norm(dim=1, keepdim=True) * uniform(0.2, 1.0, k)
            ir[:, 0] = 1.0
            x = x.clone()
            x[rows] = torch.fft.irfft(torch.fft.rfft(x[rows], n=m) * torch.fft.rfft(ir, n=m), n=m)[
                :, :n
            ]
        freqs = torch.fft.rfftfreq(n, 1.0 / D.SAMPLE_RATE).unsqueeze(0)
        logf = torch.log(freqs.clamp_min(20.0) / 1000.0)
        spec = torch.fft.rfft(x)
        # tilt of -6..+6 dB per octave around 1 kHz (60 %)
        spec = spec * torch.exp(uniform(-0.5, 0.5) * pick(0.6) * logf)
        # a low-pass (phone, old recording) (15 %)
        lp = 1.0 / torch.sqrt(1 + (freqs / uniform(2500, 7000)) ** 8)
        spec = spec * torch.where(pick(0.15), lp, torch.ones_like(lp))
        # noise, white to brown, 5..45 dB below the signal (50 %), added as a spectrum
        bins = spec.shape[1]
        nspec = torch.complex(
            torch.randn(b, bins, generator=gen), torch.randn(b, bins, generator=gen)
        )
        nspec = nspec * torch.exp(-uniform(0.0, 1.0) * torch.log(freqs.clamp_min(20.0) / 1000.0))
        power = spec.abs().pow(2).sum(dim=1, keepdim=True)  # Parseval (up to a common factor)
        npower = nspec.abs().pow(2).sum(dim=1, keepdim=True).clamp_min(1e-12)
        level = torch.sqrt(power / npower) * 10 ** (-uniform(5, 45) / 20) * pick(0.5)
        y = torch.fft.irfft(spec + nspec * level, n=n)
        peak = y.abs().amax(dim=1, keepdim=True).clamp_min(1e-6)
        return y / peak * 10 ** (uniform(-40, 0) / 20)


# -- evaluation ----------------------------------------------------------------------------


def predict(net: Any, x: np.ndarray, batch: int = 64) -> np.ndarray:
    """Probabilities (n, classes) of the first second of each clip."""
    import torch

    outs = []
    with torch.no_grad():
        for i in range(0, x.shape[0], batch):
            w = torch.from_numpy(x[i : i + batch, :WIN].astype(np.float32))
            outs.append(torch.sigmoid(net(w * 0.5)).numpy())
    return np.concatenate(outs) if outs else np.zeros((0, len(D.CLASSES)), np.float32)


def top1(probs: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """The predicted class of each row; "none" when no instrument reaches the threshold."""
    best = probs.argmax(axis=1)
    return np.where(probs.max(axis=1) >= threshold, best, NONE)


def single_report(probs: np.ndarray, truth: np.ndarray, threshold: float) -> dict[str, Any]:
    """Top-1 accuracy, per-class recall and the confusion matrix (rows: truth)."""
    pred = top1(probs, threshold)
    k = NONE + 1
    cm = np.zeros((k, k), np.int64)
    for t, p in zip(truth, pred, strict=True):
        cm[t, p] += 1
    names = [*D.NAMES, "none"]
    per = {names[c]: round(float(cm[c, c] / cm[c].sum()), 4) for c in range(k) if cm[c].sum() > 0}
    return {
        "top1": round(float((pred == truth).mean()), 4),
        "n": int(truth.shape[0]),
        "per_class_recall": per,
        "confusion": cm.tolist(),
    }


def mixtures(
    x: np.ndarray, y: np.ndarray, count: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """``count`` mixtures of 2–3 clips of different classes, each -10..0 dB, peak 0.5."""
    n_cls = len(D.CLASSES)
    by = [np.flatnonzero(y == c) for c in range(n_cls)]
    have = [c for c in range(n_cls) if by[c].size]
    mx = np.zeros((count, WIN), np.float32)
    my = np.zeros((count, n_cls), np.float32)
    for i in range(count):
        for c in rng.choice(have, size=min(len(have), int(rng.integers(2, 4))), replace=False):
            clip = x[int(rng.choice(by[c])), :WIN].astype(np.float32)
            mx[i] += clip * 10 ** (rng.uniform(-10, 0) / 20)
            my[i, c] = 1.0
        mx[i] /= max(1e-6, float(np.abs(mx[i]).max())) * 2
    return mx * 2, my  # predict() halves its input


def multi_report(probs: np.ndarray, truth: np.ndarray, threshold: float) -> dict[str, Any]:
    """Micro-F1 and per-class precision / recall / F1 of the thresholded outputs."""
    pred = probs >= threshold
    t = truth > 0.5

    def f1(tp: float, fp: float, fn: float) -> float:
        return 0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn)

    tp, fp, fn = (pred & t).sum(), (pred & ~t).sum(), (~pred & t).sum()
    per = {}
    for c, name in enumerate(D.NAMES):
        ctp, cfp = int((pred[:, c] & t[:, c]).sum()), int((pred[:, c] & ~t[:, c]).sum())
        cfn = int((~pred[:, c] & t[:, c]).sum())
        per[name] = {
            "precision": round(ctp / max(1, ctp + cfp), 4),
            "recall": round(ctp / max(1, ctp + cfn), 4),
            "f1": round(f1(ctp, cfp, cfn), 4),
        }
    return {
        "micro_f1": round(f1(float(tp), float(fp), float(fn)), 4),
        "exact_match": round(float((pred == t).all(axis=1).mean()), 4),
        "n": int(truth.shape[0]),
        "per_class": per,
    }


def shared_programs() -> list[int]:
    """GM programs (-1: drum kit) whose TimGM6mb sound is sample-identical to sf_GMbank's.

    The two fonts share many samples (their waveforms correlate at 1.0), so those programs
    are not really unseen; the report also gives TimGM6mb's figures without them.
    """
    programs = sorted({p for c in D.CLASSES for p in (c.programs or (-1,))})
    clips, owner = [], []
    for p in programs:
        cls = next(i for i, c in enumerate(D.CLASSES) if p in (c.programs or (-1,)))
        c = D.CLASSES[cls]
        pitches = (36, 38, 42) if p < 0 else (c.low + 3, (c.low + c.high) // 2, c.high - 3)
        for pitch in pitches:  # low, middle and high: fonts split their samples by key
            clips.append(D.Clip(cls, p, (D.Note(pitch, 100, 0.0, 1.0),)))
            owner.append(p)
    a = D.render_clips("sfgmbank", clips)
    b = D.render_clips(D.TEST_FONT, clips)
    shared: list[int] = []
    for p, u, v in zip(owner, a, b, strict=True):
        corr = float(np.dot(u, v) / np.sqrt(np.dot(u, u) * np.dot(v, v) + 1e-12))
        if corr > 0.9 and p not in shared:
            shared.append(p)
    return shared


def timing_report(module: Any) -> dict[str, Any]:
    """Spans on "2 s piano, 2 s silence, 2 s trumpet" rendered with FluidR3 (fresh notes)."""
    import torch

    audio = sequence()
    with torch.no_grad():
        idx, ts = module(torch.from_numpy(audio)[None])
    from deepfx.engine.merge import merge_labels
    from deepfx.labels import Label

    spans = merge_labels(
        Label(float(t[0]), float(t[1]), D.NAMES[int(i)])
        for i, t in zip(idx.tolist(), ts.tolist(), strict=True)
    )
    truth = {"piano": (0.0, 2.0), "brass": (4.0, 6.0)}
    errors = {}
    for name, (s, e) in truth.items():
        mine = [lb for lb in spans if lb.text == name]
        if mine:
            errors[name] = round(
                max(abs(mine[0].start_s - s), abs(mine[-1].end_s - e), len(mine) - 1.0), 3
            )
    others = [lb for lb in spans if lb.text not in truth]
    return {
        "spans": [[round(lb.start_s, 3), round(lb.end_s, 3), lb.text] for lb in spans],
        "max_error_s": errors,
        "ok": len(errors) == 2 and all(v <= 0.3 for v in errors.values()),
        "other_labels_s": round(sum(lb.end_s - lb.start_s for lb in others), 3),
    }


def sequence() -> np.ndarray:
    """2 s piano, 2 s silence, 2 s trumpet (FluidR3, 16 kHz, peak 0.5): the timing test.

    The last note-off of each part is at 1.9 s; the part is cut at 2 s with a 50 ms fade
    (the release would otherwise ring on into the silence).
    """
    piano = D.Clip(
        0, 0, (D.Note(62, 85, 0.0, 0.5), D.Note(65, 85, 0.5, 1.0), D.Note(69, 85, 1.0, 1.9))
    )
    trumpet = D.Clip(7, 56, (D.Note(70, 95, 0.0, 1.0), D.Note(65, 95, 1.0, 1.9)))
    a = D.render_slots("fluidr3", [[piano], [trumpet]], slot_s=4.0)
    two = 2 * D.SAMPLE_RATE
    fade = np.ones(two, np.float32)
    fade[-800:] = np.linspace(1.0, 0.0, 800, dtype=np.float32)
    audio = np.zeros(3 * two, np.float32)
    audio[:two] = a[0, :two] * fade
    audio[2 * two :] = a[1, :two] * fade
    return (audio / np.abs(audio).max() * 0.5).astype(np.float32)


# -- saving --------------------------------------------------------------------------------


def save_weights(net: Any, path: Path, *, width: int, threshold: float) -> None:
    """State dict as plain arrays plus the width and threshold, in one ``.npz`` (no pickle)."""
    arrays = {k: v.detach().cpu().numpy() for k, v in net.state_dict().items()}
    arrays = {k: v for k, v in arrays.items() if k not in ("window", "mel")}
    arrays["__width__"] = np.array(width, np.int64)
    arrays["__threshold__"] = np.array(threshold, np.float64)
    arrays["__classes__"] = np.array(D.NAMES)
    tmp = path.with_name(path.name + ".part.npz")
    np.savez_compressed(tmp, **arrays)
    tmp.replace(path)


def load_threshold(path: Path, default: float = 0.25) -> float:
    """The decision threshold saved with the weights (``default`` for older files)."""
    with np.load(path, allow_pickle=False) as z:
        return float(z["__threshold__"]) if "__threshold__" in z.files else default


def choose_threshold(
    net: Any, data: dict[str, np.ndarray], seed: int, count: int = 1000
) -> tuple[float, dict[str, float]]:
    """The threshold with the best micro-F1 on 2–3-instrument mixtures of *training* clips.

    Only training audio is used (the test sets never decide anything); returns the
    threshold and the micro-F1 of every candidate.
    """
    rng = np.random.default_rng(seed + 3)
    mx, my = mixtures(data["train_x"], data["train_y"], count, rng)
    probs = predict(net, mx)
    scores = {
        f"{t:.3f}": multi_report(probs, my, t)["micro_f1"] for t in np.arange(0.05, 0.625, 0.025)
    }
    best = max(scores, key=lambda k: (scores[k], -abs(float(k) - 0.5)))
    return float(best), scores


def load_net(path: Path) -> Any:
    """The :class:`InstrumentNet` saved by :func:`save_weights`, in eval mode."""
    import torch

    from deepfx.builtins._instruments_net import InstrumentNet

    with np.load(path, allow_pickle=False) as z:
        width = int(z["__width__"])
        state = {k: torch.from_numpy(np.array(z[k])) for k in z.files if not k.startswith("__")}
    net = InstrumentNet(len(D.CLASSES), width=width)
    missing, unexpected = net.load_state_dict(state, strict=False)
    if [k for k in missing if k not in ("window", "mel")] or unexpected:
        raise ValueError(f"{path}: weights do not fit the network ({missing}, {unexpected})")
    return net.eval()


def confusion_png(report: dict[str, Any], path: Path) -> bool:
    """Draw the held-out and TimGM6mb confusion matrices (rows: truth, share of the row
    as the cell's shade, counts as text) with Qt's painter on an offscreen image.

    Qt (PySide6, deepfx's ``app`` extra) is the drawing library deepfx already has;
    returns False, drawing nothing, without it.
    """
    from deepfx.settings import process_environment

    process_environment().setdefault("QT_QPA_PLATFORM", "offscreen")  # no screen needed
    try:
        from PySide6.QtCore import QRect, Qt
        from PySide6.QtGui import QColor, QFont, QGuiApplication, QImage, QPainter
    except ImportError:
        return False
    _app = QGuiApplication.instance() or QGuiApplication([])
    names = [*D.NAMES, "none"]
    k = len(names)
    cell, left, top, gap = 34, 130, 60, 40
    panel = left + k * cell
    img = QImage(2 * panel + gap + 70, top + k * cell + 120, QImage.Format.Format_RGB32)
    img.fill(QColor("white"))
    painter = QPainter(img)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    small = QFont("DejaVu Sans", 8)
    panels = (
        ("heldout", "held-out pitches/velocities (FluidR3 + sf_GMbank)"),
        ("timgm6mb", "unseen font TimGM6mb"),
    )
    for p, (key, title) in enumerate(panels):
        x0 = p * (panel + gap)
        cm = np.array(report[key]["confusion"], float)
        norm = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
        painter.setFont(QFont("DejaVu Sans", 10))
        painter.setPen(QColor("black"))
        painter.drawText(
            QRect(x0, 5, panel, 40),
            Qt.AlignmentFlag.AlignCenter,
            f"{title}\ntop-1 {report[key]['top1']:.1%} (rows: true, columns: predicted)",
        )
        painter.setFont(small)
        for i in range(k):
            painter.setPen(QColor("black"))
            painter.drawText(
                QRect(x0, top + i * cell, left - 6, cell),
                Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                names[i],
            )
            for j in range(k):
                v = float(norm[i, j])
                shade = QColor(int(255 - 222 * v), int(255 - 150 * v), int(255 - 75 * v))
                r = QRect(x0 + left + j * cell, top + i * cell, cell - 1, cell - 1)
                painter.fillRect(r, shade)
                if cm[i, j]:
                    painter.setPen(QColor("white" if v > 0.5 else "black"))
                    painter.drawText(r, Qt.AlignmentFlag.AlignCenter, str(int(cm[i, j])))
        painter.setPen(QColor("black"))
        for j in range(k):  # column names, rotated
            painter.save()
            painter.translate(x0 + left + j * cell + cell // 2 + 4, top + k * cell + 6)
            painter.rotate(60)
            painter.drawText(0, 0, names[j])
            painter.restore()
    painter.end()
    return bool(img.save(str(path)))


# -- the command ---------------------------------------------------------------------------


def evaluate(
    net: Any, data: dict[str, np.ndarray], thr: float, cfg: Config, seed: int
) -> dict[str, Any]:
    """Every figure of the report for ``net`` (eval mode) at threshold ``thr`` on the
    held-out data."""
    from deepfx.builtins._instruments_net import InstrumentLabeller

    rng = np.random.default_rng(seed + 2)
    none_x = data["none_test_x"]
    test_x = np.concatenate([data["test_x"], none_x])
    test_y = np.concatenate([data["test_y"], np.full(none_x.shape[0], NONE)])
    tim_x = np.concatenate([data["tim_x"], none_x])
    tim_y = np.concatenate([data["tim_y"], np.full(none_x.shape[0], NONE)])
    report: dict[str, Any] = {"threshold": thr}
    report["heldout"] = single_report(predict(net, test_x), test_y, thr)
    report["timgm6mb"] = single_report(predict(net, tim_x), tim_y, thr)
    shared = shared_programs()
    fresh = ~np.isin(data["tim_prog"], shared)
    if fresh.any():
        sub = single_report(predict(net, data["tim_x"][fresh]), data["tim_y"][fresh], thr)
        sub.pop("confusion")
        report["timgm6mb_not_shared"] = {"shared_programs": shared, **sub}
    mx, my = mixtures(data["test_x"], data["test_y"], cfg.mixtures_test, rng)
    report["heldout_mixtures"] = multi_report(predict(net, mx), my, thr)
    tx, ty = mixtures(data["tim_x"], data["tim_y"], cfg.mixtures_test, rng)
    report["timgm6mb_mixtures"] = multi_report(predict(net, tx), ty, thr)
    labeller = InstrumentLabeller(net, hop=4000, threshold=thr, gate_db=-40.0).eval()
    report["timing"] = timing_report(labeller)
    return report


def _cpu_s() -> float:
    """User + system CPU seconds of this process and its finished children."""
    import resource

    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def train(cfg: Config, seed: int, out: Path, cache: Path, log: Any = print) -> dict[str, Any]:
    """Make the data, train, evaluate, save; returns the metrics written to metrics.json."""
    import torch

    from deepfx.builtins._instruments_net import InstrumentNet

    t_start = time.time()
    cpu_start = _cpu_s()
    torch.set_num_threads(cfg.threads)
    # quiet tails and -40 dB gains reach float32's subnormal range inside the network,
    # where the CPU is many times slower: flushing them to zero halved a step's time
    torch.set_flush_denormal(True)
    torch.manual_seed(seed)
    out.mkdir(parents=True, exist_ok=True)
    data = make_data(cfg, seed, cache, log)
    t_data = time.time() - t_start
    cpu_data = _cpu_s() - cpu_start
    net = InstrumentNet(len(D.CLASSES), width=cfg.width)
    n_params = sum(p.numel() for p in net.parameters())
    log(f"model: {n_params} parameters")
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=cfg.lr, total_steps=max(1, cfg.steps), pct_start=0.1
    )
    batches = Batches(data, seed + 1)
    net.train()
    t_train = time.time()
    cpu_train = time.process_time()
    running = 0.0
    for step in range(cfg.steps):
        x, y = batches.batch(cfg.batch)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(net(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        value = float(loss.item())
        running = 0.98 * running + 0.02 * value if step else value
        if step % 100 == 0 or step == cfg.steps - 1:
            cpu = time.process_time() - cpu_train
            log(
                f"step {step}/{cfg.steps} loss {running:.4f} "
                f"({time.time() - t_train:.0f} s, {cpu:.0f} CPU s)"
            )
    t_train = time.time() - t_train
    cpu_train = time.process_time() - cpu_train
    net.eval()
    if cfg.threshold is None:
        thr, scores = choose_threshold(net, data, seed)
        log(f"threshold {thr:.3f} (micro-F1 {scores[f'{thr:.3f}']:.3f} on training mixtures)")
    else:
        thr, scores = cfg.threshold, {}
    save_weights(net, out / "instruments.npz", width=cfg.width, threshold=thr)

    report = evaluate(net, data, thr, cfg, seed)
    report["threshold_on_training_mixtures"] = scores
    report["config"] = asdict(cfg)
    report["seed"] = seed
    report["parameters"] = int(n_params)
    report["wall_s"] = {
        "data": round(t_data, 1),
        "train": round(t_train, 1),
        "total": round(time.time() - t_start, 1),
    }
    # CPU seconds (this process's threads plus the fluidsynth/espeak-ng children): what
    # the run costs whatever else shares the cores; wall time depends on that sharing
    report["cpu_s"] = {
        "data": round(cpu_data, 1),
        "train": round(cpu_train, 1),
        "total": round(_cpu_s() - cpu_start, 1),
    }
    report["command"] = " ".join(["python -m deepfx.builtins.instruments_train", *sys.argv[1:]])
    report["torch"] = torch.__version__
    report["confusion_png"] = confusion_png(report, out / "confusion.png")
    (out / "metrics.json").write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    log(summary(report))
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m deepfx.builtins.instruments_train", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--out", type=Path, required=True, help="folder for the weights/report")
    parser.add_argument(
        "--cache",
        type=Path,
        default=Path.home() / ".cache" / "deepfx-train",
        help="where the rendered data is cached (outside the repository)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tiny", action="store_true", help="seconds-long CI configuration")
    parser.add_argument("--steps", type=int, default=None, help="override the step count")
    parser.add_argument(
        "--evaluate",
        type=Path,
        default=None,
        metavar="NPZ",
        help="only measure these weights (the same data and report; no training)",
    )
    args = parser.parse_args(argv)
    cfg = Config.tiny() if args.tiny else Config()
    if args.steps is not None:
        cfg = Config(**{**asdict(cfg), "steps": args.steps})

    def log(msg: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)

    if args.evaluate is not None:
        measure(args.evaluate, cfg, args.seed, args.out, args.cache, log)
    else:
        train(cfg, args.seed, args.out, args.cache, log)
    return 0


def measure(
    weights: Path, cfg: Config, seed: int, out: Path, cache: Path, log: Any = print
) -> dict[str, Any]:
    """Evaluate saved weights on the run's held-out data; writes metrics.json and the PNG."""
    import torch

    torch.set_num_threads(cfg.threads)
    out.mkdir(parents=True, exist_ok=True)
    data = make_data(cfg, seed, cache, log)
    t0 = time.time()
    thr = load_threshold(weights) if cfg.threshold is None else cfg.threshold
    report = evaluate(load_net(weights), data, thr, cfg, seed)
    report.update(seed=seed, config=asdict(cfg), weights=str(weights))
    report["evaluate_s"] = round(time.time() - t0, 1)
    report["confusion_png"] = confusion_png(report, out / "confusion.png")
    (out / "metrics.json").write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    log(summary(report))
    return report


def summary(report: dict[str, Any]) -> str:
    return (
        f"held-out top-1 {report['heldout']['top1']:.3f}, mixtures micro-F1 "
        f"{report['heldout_mixtures']['micro_f1']:.3f}, TimGM6mb top-1 "
        f"{report['timgm6mb']['top1']:.3f}, timing {report['timing']['max_error_s']} "
        f"(threshold {report['threshold']:.3f})"
    )


if __name__ == "__main__":
    raise SystemExit(main())
