"""Inputs for the batch tests: short files of mixed formats, some broken; output checks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

FORMATS = ("wav", "flac", "ogg", "mp3")


def make_inputs(
    root: Path, n: int, *, broken: int = 0, seed: int = 0, formats: tuple[str, ...] = FORMATS
) -> list[Path]:
    """``n`` files (the last ``broken`` of them corrupt) spread over sub-folders, cycling
    through wav/flac/ogg/mp3, mono and stereo, 16 and 22.05 kHz, 0.3-0.8 s long. Two good
    files share a name in different folders (a/dup.wav, b/dup.wav)."""
    rng = np.random.default_rng(seed)
    paths: list[Path] = []
    for i in range(n - broken):
        ext = formats[i % len(formats)]
        folder = root / ("a", "b", "c/deep")[i % 3]
        name = "dup" if i in (0, 1) else f"f{i:03d}"
        if i == 1:
            folder = root / "b"
        rate = (16000, 22050)[i % 2]
        channels = 1 + (i % 5 == 0)
        frames = int(rate * rng.uniform(0.3, 0.8))
        t = np.arange(frames) / rate
        tone = 0.4 * np.sin(2 * np.pi * rng.uniform(100, 900) * t)
        x = (tone[:, None] + 0.05 * rng.standard_normal((frames, channels))).astype("float32")
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{name}.{ext}"
        sf.write(path, x, rate)
        paths.append(path)
    for j in range(broken):
        path = root / "bad" / f"broken{j}.{('wav', 'mp3')[j % 2]}"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunk" if j % 2 == 0 else b"\xff\xfb" + bytes(64))
        paths.append(path)
    return paths


def same_output(a: Path, b: Path) -> bool:
    """Byte-equal, or for Ogg (libsndfile gives each stream a random serial number)
    equal samples."""
    if a.suffix == ".ogg":
        xa, ra = sf.read(a, dtype="float32")
        xb, rb = sf.read(b, dtype="float32")
        return ra == rb and xa.shape == xb.shape and np.array_equal(xa, xb)
    return a.read_bytes() == b.read_bytes()


def files_under(root: Path) -> set[str]:
    """Every file below ``root`` (relative, posix), hidden ones included."""
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}
