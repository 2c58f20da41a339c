"""The demo: deepfx's built-in models on a short clip made on this machine, offline.

:func:`run_demo` writes a stereo clip (espeak-ng speech in the centre, a four-note melody
on the left, clicks on the right, a little hiss), makes sure the built-in models are
installed (they are built from packaged weights, so no network is needed), runs each one
with the engine exactly as a user's own model would run, and returns what it wrote::

    from deepfx.demo import run_demo
    result = run_demo("deepfx-demo")
    for step in result.steps:
        print(step.model, step.seconds, [p.name for p in step.files])

``deepfx demo`` is the command-line face of this function.

The clip is made, not shipped: speech comes from espeak-ng when it is installed
(``apt install espeak-ng``); without it a synthetic vowel-like hum stands in, and the
melody is there either way.
"""

from __future__ import annotations

import math
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from deepfx.errors import DeepfxError
from deepfx.labels import Label

__all__ = [
    "DEMO_SENTENCE",
    "DEMO_TASKS",
    "DemoClip",
    "DemoResult",
    "DemoStep",
    "DemoTask",
    "make_clip",
    "model_folder",
    "run_demo",
]

#: What the demo clip says (when espeak-ng is installed).
DEMO_SENTENCE = "Hello from deepfx. Every sound in this clip was made on your computer."
#: Rate of the demo clip (Hz).
CLIP_RATE = 44100
#: The melody: (note name, frequency in Hz), half a second each.
MELODY: tuple[tuple[str, float], ...] = (
    ("C4", 261.63),
    ("E4", 329.63),
    ("G4", 392.00),
    ("C5", 523.25),
)


@dataclass(frozen=True)
class DemoTask:
    """One model the demo runs: its name and what it shows."""

    model: str
    task: str


#: The models the demo runs, in order.
DEMO_TASKS: tuple[DemoTask, ...] = (
    DemoTask("builtin/hpss", "separation: harmonic / percussive"),
    DemoTask("builtin/center-sides", "separation: centre vocal / sides"),
    DemoTask("builtin/enhance", "speech enhancement"),
    DemoTask("builtin/vad", "voice activity"),
    DemoTask("builtin/notes", "notes"),
    DemoTask("builtin/instruments", "instruments"),
)


@dataclass(frozen=True)
class DemoClip:
    """The clip the demo made, and where its parts are (seconds)."""

    path: Path
    sample_rate: int
    duration_s: float
    speech_source: str  # "espeak-ng" or "synthetic"
    speech_span: tuple[float, float]
    melody: tuple[Label, ...]
    #: the instrument passage after the melody (piano, then trumpet), when FluidSynth and
    #: the FluidR3 soundfont are installed; empty otherwise
    instruments: tuple[Label, ...] = ()


@dataclass
class DemoStep:
    """What one model did in the demo.

    ``files`` are the outputs written (stems or a label file), ``labels`` the analyzer's
    labels, ``seconds`` the time the engine took (loading the network, reading, running,
    writing), ``ready_s`` the time it took to find or build the model folder. ``error``
    holds the message when this step failed (the other steps still run).
    """

    model: str
    task: str
    kind: str = ""
    outputs: list[str] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    labels: list[Label] = field(default_factory=list)
    levels_db: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    ready_s: float = 0.0
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class DemoResult:
    """Everything the demo made: the clip, one :class:`DemoStep` per model."""

    clip: DemoClip
    out_dir: Path
    steps: list[DemoStep]

    @property
    def ok(self) -> bool:
        return all(step.ok for step in self.steps)


# --- where the built-in folders live ------------------------------------------------------


def model_folder(name: str) -> Path:
    """The folder of built-in model ``name``: its installed copy in the store, which
    builds it from the packaged weights on first use (atomically; ``deepfx models list``
    then shows it). The one place the demo decides where models live."""
    from deepfx.store import ensure_installed

    return ensure_installed(name)


# --- the clip -----------------------------------------------------------------------------


def make_clip(path: Path | str, *, use_espeak: bool = True) -> DemoClip:
    """Write the demo clip (stereo float WAV, 44.1 kHz, about 7 s) to ``path``.

    Layout: speech in the centre from 0.5 s; then the melody C4 E4 G4 C5 (half a second
    per note, harmonic tones) on the left; then, when FluidSynth and its General MIDI
    soundfont are installed, an instrument passage in the centre (1.5 s of piano, 1.5 s
    of trumpet); clicks every half second on the right; soft hiss on both channels
    throughout. The speech is espeak-ng's when ``use_espeak`` and
    espeak-ng is installed, else a synthetic vowel-like hum of the same length.
    """
    import soundfile as sf

    from deepfx._fs import atomic_path

    rate = CLIP_RATE
    speech = _espeak(DEMO_SENTENCE, rate) if use_espeak else None
    source = "espeak-ng"
    if speech is None:
        speech = _synthetic_voice(3.0, rate)
        source = "synthetic"
    speech = 0.5 * speech / max(float(np.abs(speech).max()), 1e-9)
    speech_start = 0.5
    melody_start = speech_start + len(speech) / rate + 0.5
    note_s = 0.5
    passage_start = melody_start + note_s * len(MELODY) + 0.5
    passage, parts = _instrument_passage(rate)
    duration = passage_start + (len(passage) / rate + 0.5 if len(passage) else 0.0)
    n = int(duration * rate)

    left = np.zeros(n)
    right = np.zeros(n)
    i0 = int(speech_start * rate)
    left[i0 : i0 + len(speech)] += speech
    right[i0 : i0 + len(speech)] += speech
    notes = []
    for k, (note, freq) in enumerate(MELODY):
        start = melody_start + k * note_s
        tone = 0.12 * _harmonic_tone(freq, note_s, rate)
        j = int(start * rate)
        left[j : j + len(tone)] += tone
        notes.append(Label(start, start + note_s, note))
    j = int(passage_start * rate)
    left[j : j + len(passage)] += passage
    right[j : j + len(passage)] += passage
    right += 0.3 * _clicks(duration, rate, every_s=0.5)
    rng = np.random.default_rng(7)
    left += 0.01 * rng.standard_normal(n)
    right += 0.01 * rng.standard_normal(n)
    stereo = np.stack([left, right], axis=1)
    stereo *= 0.9 / max(float(np.abs(stereo).max()), 1e-9)

    path = Path(path)
    with atomic_path(path) as tmp:
        sf.write(str(tmp), stereo.astype(np.float32), rate, subtype="FLOAT")
    return DemoClip(
        path=path,
        sample_rate=rate,
        duration_s=n / rate,
        speech_source=source,
        speech_span=(speech_start, speech_start + len(speech) / rate),
        melody=tuple(notes),
        instruments=tuple(
            Label(passage_start + a, passage_start + b, text) for a, b, text in parts
        ),
    )


def _instrument_passage(rate: int) -> tuple[np.ndarray, list[tuple[float, float, str]]]:
    """1.5 s of piano then 1.5 s of trumpet, rendered by FluidSynth (General MIDI).

    Returns the mono passage (peak 0.4) at ``rate`` and its parts as (start, end, label)
    in seconds from the passage's start; nothing when FluidSynth or the soundfont is
    missing (``apt install fluidsynth fluid-soundfont-gm``).
    """
    import soxr

    from deepfx.builtins import _instruments_data as D

    piano = D.Clip(
        0,
        0,
        (
            D.Note(60, 90, 0.0, 0.75),
            D.Note(64, 90, 0.0, 0.75),
            D.Note(67, 90, 0.75, 1.5),
            D.Note(72, 90, 0.75, 1.5),
        ),
    )
    trumpet = D.Clip(7, 56, (D.Note(67, 100, 0.0, 0.75), D.Note(72, 100, 0.75, 1.5)))
    try:
        audio = D.render_slots("fluidr3", [[piano], [trumpet]], slot_s=1.5)
    except DeepfxError:
        return np.zeros(0), []
    mono = np.concatenate([audio[0], audio[1]]).astype(np.float64)
    mono = np.asarray(soxr.resample(mono, D.SAMPLE_RATE, rate), dtype=np.float64)
    mono *= 0.4 / max(float(np.abs(mono).max()), 1e-9)
    return mono, [(0.0, 1.5, "piano"), (1.5, 3.0, "brass")]


def _espeak(text: str, rate: int) -> np.ndarray | None:
    exe = shutil.which("espeak-ng")
    if exe is None:
        return None
    import soundfile as sf
    import soxr

    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "speech.wav"
        try:
            subprocess.run(
                [exe, "-v", "en-us", "-w", str(wav), text],
                check=True,
                capture_output=True,
                timeout=60,
            )
            audio, src_rate = sf.read(str(wav), dtype="float64", always_2d=True)
        except (OSError, subprocess.SubprocessError, RuntimeError):
            return None
    mono = audio.mean(axis=1)
    if mono.size == 0 or not np.abs(mono).max() > 0:
        return None
    return np.asarray(soxr.resample(mono, src_rate, rate), dtype=np.float64)


def _synthetic_voice(seconds: float, rate: int) -> np.ndarray:
    """A voice stand-in: a 140 Hz buzz shaped by two formants, in four 'syllables'."""
    t = np.arange(int(seconds * rate)) / rate
    f0 = 140.0 * (1 + 0.05 * np.sin(2 * np.pi * 0.7 * t))
    phase = 2 * np.pi * np.cumsum(f0) / rate
    voice = np.zeros_like(t)
    for k in range(1, 40):
        freq = 140.0 * k
        formants = math.exp(-(((freq - 700) / 200) ** 2)) + 0.6 * math.exp(
            -(((freq - 1200) / 250) ** 2)
        )
        voice += (0.05 + formants) / k * np.sin(k * phase)
    syllables = np.clip(np.sin(np.pi * t * 4 / seconds), 0, None) ** 0.5
    return voice * syllables


def _harmonic_tone(freq: float, seconds: float, rate: int) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    tone = sum(np.sin(2 * np.pi * freq * k * t) / k for k in range(1, 7))
    env = np.minimum(1.0, np.minimum(t / 0.01, (seconds - t) / 0.05))
    return np.asarray(tone * np.clip(env, 0, 1), dtype=np.float64)


def _clicks(seconds: float, rate: int, *, every_s: float) -> np.ndarray:
    rng = np.random.default_rng(0)
    out = np.zeros(int(seconds * rate))
    length = int(0.005 * rate)
    env = np.exp(-np.arange(length) / (0.001 * rate))
    for start in np.arange(0.25, seconds - 0.1, every_s):
        i = int(start * rate)
        out[i : i + length] += rng.standard_normal(length) * env
    return out


# --- running ------------------------------------------------------------------------------


def run_demo(
    out_dir: Path | str,
    *,
    device: str = "auto",
    use_espeak: bool = True,
    tasks: tuple[DemoTask, ...] = DEMO_TASKS,
    on_step: Callable[[str], None] | None = None,
) -> DemoResult:
    """Make the demo clip in ``out_dir`` and run the built-in models on it.

    Each model writes into its own subfolder of ``out_dir`` (``hpss/``, ``enhance/``...):
    audio stems for effects, an Audacity label file for analyzers. A model that cannot
    be built or run (for instance its weight package is missing) is reported in its
    :class:`DemoStep` and the others still run; a bug is raised.

    Parameters
    ----------
    out_dir:
        Folder for the clip and the outputs (created if needed).
    device:
        ``auto``, ``cpu``, ``cuda`` or ``mps``.
    use_espeak:
        Use espeak-ng for the speech when it is installed (else a synthetic voice).
    tasks:
        The models to run (default :data:`DEMO_TASKS`).
    on_step:
        Called with a short line before each step, for progress display.
    """
    from deepfx.engine import run

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    _say(on_step, "making the demo clip")
    clip = make_clip(out / "demo-clip.wav", use_espeak=use_espeak)
    steps: list[DemoStep] = []
    for task in tasks:
        step = DemoStep(model=task.model, task=task.task)
        steps.append(step)
        short = task.model.split("/", 1)[-1]
        try:
            _say(on_step, f"{task.model}: preparing the model")
            t0 = time.monotonic()
            folder = model_folder(task.model)
            step.ready_s = time.monotonic() - t0
            _say(on_step, f"{task.model}: {task.task}")
            t1 = time.monotonic()
            results = run(folder, [clip.path], out / short, device=device, overwrite=True)
            step.seconds = time.monotonic() - t1
        except DeepfxError as exc:
            step.error = str(exc)
            continue
        res = results[0]
        step.kind = res.kind
        step.files = list(res.files.values())
        step.outputs = list(res.files)
        step.labels = sorted(res.labels)
        if res.kind == "effect":
            step.levels_db = {label: _level_db(path) for label, path in res.files.items()}
    return DemoResult(clip=clip, out_dir=out, steps=steps)


def _say(cb: Callable[[str], None] | None, text: str) -> None:
    if cb is not None:
        cb(text)


def _level_db(path: Path) -> float:
    """RMS level of an audio file in dBFS (-inf for silence)."""
    import soundfile as sf

    audio, _ = sf.read(str(path), dtype="float64", always_2d=True)
    rms = float(np.sqrt(np.mean(audio**2))) if audio.size else 0.0
    return 20 * math.log10(rms) if rms > 0 else float("-inf")
