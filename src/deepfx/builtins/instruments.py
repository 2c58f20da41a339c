"""Built-in instrument recognizer ``builtin/instruments``: trained by deepfx, weights committed.

No permissively licensed instrument tagger ships with its weights, so deepfx trains its
own (:mod:`deepfx.builtins.instruments_train`) from notes it renders with FluidSynth from
two General MIDI soundfonts of Debian (FluidR3_GM, MIT; sf_GMbank, public domain). The
trained weights are small (0.98 M parameters, ``instruments.npz`` beside this module,
plain arrays read with ``allow_pickle=False``), so unlike the other built-ins they are
part of deepfx. The folder is made from them offline with deepfx's own exporter
(:func:`deepfx.exporting.export`, which reloads and checks what it wrote).

Importing this module does not import torch; building the folder does.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from deepfx.builtins import BuiltinSpec
from deepfx.card import Chunking, ModelCard
from deepfx.errors import ModelLoadError

if TYPE_CHECKING:
    from torch import nn

__all__ = ["CARD", "LABELS", "SPECS", "WEIGHTS", "build_instruments", "instruments_module"]

#: The committed weights (written by ``python -m deepfx.builtins.instruments_train``).
WEIGHTS = Path(__file__).with_name("instruments.npz")
SAMPLE_RATE = 16000
#: Labels, in the order of the network's outputs (see ``_instruments_data.CLASSES``).
LABELS = [
    "piano",
    "organ",
    "acoustic guitar",
    "electric guitar",
    "bass",
    "strings",
    "cello",
    "brass",
    "saxophone",
    "flute",
    "clarinet",
    "drums",
]
#: The exact command (and seed) that produced :data:`WEIGHTS`.
TRAINING_COMMAND = "python -m deepfx.builtins.instruments_train --out build/instruments --seed 0"

CARD = ModelCard(
    name="builtin/instruments",
    author="deepfx",
    short_description="Instruments: labels which instruments play (piano, drums...)",
    long_description=(
        "A 0.98 M-parameter CNN on log-mel windows of 1 s (computed in the network), trained "
        "by deepfx on notes it rendered with FluidSynth. Labels 12 instrument families "
        "every 0.25 s, several at once; silence, noise and speech get no label."
    ),
    domain_tags=["music"],
    tags=["instruments", "tagging", "classification", "analyzer", "multi-label"],
    effect_type="waveform-to-labels",
    multichannel=False,
    labels=LABELS,
    sample_rate=SAMPLE_RATE,
    version="1.0.0",
    license="MIT",
    authors=["deepfx contributors"],
    citation=(
        "deepfx contributors (2026). builtin/instruments: a log-mel CNN instrument "
        "recognizer trained on FluidSynth renderings of FluidR3_GM (Frank Wen, MIT) and "
        "sf_GMbank (public domain); training and figures in docs/builtins-instruments.md."
    ),
    links={
        "fluidr3-licence": "https://packages.debian.org/bookworm/fluid-soundfont-gm",
        "sf-gmbank-licence": "https://packages.debian.org/bookworm/csound-soundfont",
    },
    training_data=(
        "Notes and 2-3-instrument mixtures rendered with FluidSynth 2.3 from Debian's "
        "FluidR3_GM.sf2 (fluid-soundfont-gm, MIT) and sf_GMbank.sf2 (csound-soundfont, "
        "public domain), plus espeak-ng speech and synthetic noise; augmented with gain, EQ "
        "tilt, reverb, noise, resampling and MP3 round trips. Command: "
        f"`{TRAINING_COMMAND}` (seed 0). Measured on held-out notes (pitches and "
        "velocities never trained on): top-1 97.3 %; 2-3-instrument mixtures micro-F1 0.78; "
        "the unseen TimGM6mb font 96.2 % top-1 (93.1 % on its programs that share no "
        "samples with the training fonts). Details: docs/builtins-instruments.md."
    ),
    model_file="model.pt",
    model_format="torchscript",
    chunking=Chunking(window_s=60.0, overlap_s=2.0),
)


def instruments_module(
    weights: Path | None = None,
    *,
    hop_s: float = 0.25,
    threshold: float | None = None,
    gate_db: float = -40.0,
    bridge_s: float = 0.5,
) -> nn.Module:
    """The trained network wrapped as a :class:`deepfx.nn.WaveformToLabels` (not scripted).

    Parameters
    ----------
    weights
        A ``.npz`` written by the training command (default: the committed one).
    hop_s
        Seconds between decisions (each decision looks at 1 s centred on its hop).
    threshold
        Probability (0..1) at which an instrument counts as present (default: the one
        saved with the weights, which had the best micro-F1 on mixtures of training
        clips; 0.25 for weights saved without one).
    gate_db
        Span ends move in to the first/last frame within this many dB of the span's
        loudest frame, so labels stop with the sound rather than with the 1 s window.
    """
    from deepfx.builtins._instruments_net import InstrumentLabeller
    from deepfx.builtins.instruments_train import load_net, load_threshold

    path = WEIGHTS if weights is None else Path(weights)
    if not path.is_file():
        raise ModelLoadError(
            path,
            "the trained weights are missing; reinstall deepfx, or train them with "
            f"`{TRAINING_COMMAND}` and pass the .npz",
        )
    try:
        net = load_net(path)
        if threshold is None:
            threshold = load_threshold(path)
    except (ValueError, KeyError, OSError) as exc:
        raise ModelLoadError(path, f"unreadable weights ({exc}); retrain or reinstall") from None
    hop = int(round(hop_s * SAMPLE_RATE))
    bridge = int(round(bridge_s / hop_s))
    return InstrumentLabeller(
        net, hop=hop, threshold=threshold, gate_db=gate_db, bridge=bridge
    ).eval()


def build_instruments(dest: Path) -> None:
    """Write the ``builtin/instruments`` folder into ``dest`` with deepfx's exporter."""
    import torch

    from deepfx.exporting import export

    module = torch.jit.script(instruments_module())
    export(module, CARD, dest, formats=("torchscript",), overwrite=True)


SPECS: list[BuiltinSpec] = [
    BuiltinSpec(name="builtin/instruments", card=CARD, build=build_instruments)
]
