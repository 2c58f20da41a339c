"""Built-in voice activity detector: Silero VAD (MIT) with its decision logic inside.

The network is silero-vad's own TorchScript model (``silero_vad/data/silero_vad.jit`` in
the ``silero-vad==6.2.3`` wheel). Silero's 16 kHz core is a stateful frame classifier:
it takes 512 new samples plus 64 samples of context and a recurrent state, and returns
the probability that the frame holds speech. Turning those probabilities into spans
(hysteresis thresholds, minimum speech and silence durations, padding) is normally done
in silero's Python helpers; here it is scripted *into* the exported model, so any host
that runs the folder (deepfx, the original Audacity host) gets finished ``speech``
labels. The folder holds one TorchScript file that embeds silero's network unchanged.

Importing this module does not import torch; building the folder does.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from deepfx.builtins import BuiltinSpec
from deepfx.builtins._weights import exported_with, package_file, write_torchscript_folder
from deepfx.card import Chunking, ModelCard

if TYPE_CHECKING:
    from torch import nn

__all__ = ["REQUIREMENT", "SPECS", "build_vad", "vad_module"]

#: The pip requirement whose wheel carries the weights.
REQUIREMENT = "silero-vad==6.2.3"

SAMPLE_RATE = 16000
FRAME = 512  # samples per decision at 16 kHz (silero's only supported frame size)
CONTEXT = 64  # samples of the previous frame silero prepends at 16 kHz

CARD = ModelCard(
    name="builtin/vad",
    author="Silero Team (weights); deepfx (packaging)",
    short_description="Voice activity: labels the spans that hold speech",
    long_description=(
        "Silero VAD 6.2.3, a small recurrent network trained on speech in many languages, "
        "with hysteresis (0.5 on / 0.35 off), 250 ms minimum speech, 300 ms minimum "
        "silence and 30 ms padding built in. Finds speech under noise; ignores tones."
    ),
    domain_tags=["speech"],
    tags=["vad", "voice-activity", "speech-detection", "silero", "analyzer"],
    effect_type="waveform-to-labels",
    multichannel=False,
    labels=["speech"],
    sample_rate=SAMPLE_RATE,
    version="6.2.3",
    license="MIT",
    authors=["Silero Team"],
    citation=(
        "@misc{SileroVAD, author = {Silero Team}, title = {Silero VAD: pre-trained "
        "enterprise-grade Voice Activity Detector (VAD), Number Detector and Language "
        "Classifier}, year = {2024}, publisher = {GitHub}, journal = {GitHub repository}, "
        "howpublished = {\\url{https://github.com/snakers4/silero-vad}}}"
    ),
    links={
        "code": "https://github.com/snakers4/silero-vad",
        "weights": "https://pypi.org/project/silero-vad/6.2.3/",
        "license": "https://github.com/snakers4/silero-vad/blob/master/LICENSE",
    },
    training_data="Silero's private multi-language speech and noise corpora (see the project).",
    model_file="model.pt",
    model_format="torchscript",
    chunking=Chunking(window_s=60.0, overlap_s=2.0),
    min_input_s=FRAME / SAMPLE_RATE,
)


def vad_module(
    *,
    threshold: float = 0.5,
    neg_threshold: float = 0.35,
    min_speech_s: float = 0.25,
    min_silence_s: float = 0.3,
    pad_s: float = 0.03,
    tail_level: float = 0.9,
    max_tail_s: float = 0.25,
) -> nn.Module:
    """Silero's network wrapped as a scripted :class:`deepfx.nn.WaveformToLabels`.

    Parameters
    ----------
    threshold
        Speech probability (0..1) at which a span opens.
    neg_threshold
        Probability below which an open span starts to close (hysteresis; lower than
        ``threshold`` so a span does not flicker on a word's quiet tail).
    min_speech_s
        Spans shorter than this (seconds) are dropped: clicks and coughs.
    min_silence_s
        A span closes only after this much continuous non-speech (seconds), so short
        pauses between words stay inside one phrase.
    pad_s
        Seconds added before and after each span (clamped to the input and to
        neighbouring spans), so word onsets and tails are not cut.
    tail_level, max_tail_s
        In noise silero's probability fades over a few frames after speech stops; a span's
        end moves back to the last frame at ``tail_level`` or above, by at most
        ``max_tail_s`` seconds (measured: ends 0.25 s late at 10 dB SNR without this).

    Returns
    -------
    torch.jit.ScriptModule
        ``forward(x: float32 (channels, samples) at 16 kHz) -> (class_indices int64 (n,),
        timestamps float32 (n, 2) in seconds)``; every index is 0 (``"speech"``).
    """
    import warnings

    import torch

    from deepfx.builtins._vad_net import SileroSpeech

    path = package_file("silero_vad", "data/silero_vad.jit", requirement=REQUIREMENT)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        silero: Any = torch.jit.load(str(path), map_location="cpu")
    core = silero._model  # the 16 kHz network: (x (b, 64+512), state) -> (prob (b, 1), state)

    from deepfx.builtins._weights import reproducible_script

    return reproducible_script(
        SileroSpeech(
            core,
            threshold=threshold,
            neg_threshold=neg_threshold,
            min_speech=int(round(min_speech_s * SAMPLE_RATE)),
            min_silence=int(round(min_silence_s * SAMPLE_RATE)),
            pad=int(round(pad_s * SAMPLE_RATE)),
            tail_level=tail_level,
            max_tail=int(round(max_tail_s * SAMPLE_RATE)),
        ).eval()
    )


def build_vad(dest: Path) -> None:
    """Write the ``builtin/vad`` model folder into ``dest`` from the installed silero-vad."""

    module = vad_module()
    card = CARD.model_copy(update={"exported_with": exported_with("silero-vad")})

    write_torchscript_folder(dest, card, module)


SPECS: list[BuiltinSpec] = [
    BuiltinSpec(name="builtin/vad", card=CARD, build=build_vad, requires=(REQUIREMENT,))
]
