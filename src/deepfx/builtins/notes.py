"""Built-in note transcriber: Spotify's basic-pitch (Apache-2.0) as one TorchScript analyzer.

basic-pitch ships its network as ``saved_models/icassp_2022/nmp.onnx`` in the
``basic-pitch==0.4.0`` wheel: a small CNN with a constant-Q front end and harmonic
stacking that maps 43,844 samples at 22050 Hz to note, onset and contour posteriors
(172 frames x 88 piano keys). At build time the ONNX graph is executed with torch
operators and traced (:mod:`deepfx.builtins._onnx_torch`), so its real weights end up in
one TorchScript file; the windowing of long audio and basic-pitch's note decoding
(:mod:`deepfx.builtins._notes_net`) are scripted around it. The folder's labels are the
88 piano keys "A0".."C8": class ``i`` is MIDI note ``21 + i``.

Importing this module does not import torch; building the folder does (and needs the
``onnx`` package to read the graph).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from deepfx.builtins import BuiltinSpec
from deepfx.builtins._weights import exported_with, package_file, write_torchscript_folder
from deepfx.card import Chunking, ModelCard
from deepfx.errors import ModelLoadError

if TYPE_CHECKING:
    from torch import nn

__all__ = ["NOTE_NAMES", "REQUIREMENT", "SPECS", "build_notes", "notes_module", "onnx_path"]

#: The pip requirement whose wheel carries the weights.
REQUIREMENT = "basic-pitch==0.4.0"
ONNX_FILE = "saved_models/icassp_2022/nmp.onnx"
SAMPLE_RATE = 22050

_PITCH_CLASSES = ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"]
#: Label of class ``i``: the piano key of MIDI note ``21 + i`` ("A0" .. "C8").
NOTE_NAMES = [f"{_PITCH_CLASSES[m % 12]}{m // 12 - 1}" for m in range(21, 109)]

#: Names of basic-pitch's outputs in the ONNX graph (from basic_pitch.inference).
NOTE_OUTPUT = "StatefulPartitionedCall:1"
ONSET_OUTPUT = "StatefulPartitionedCall:2"

CARD = ModelCard(
    name="builtin/notes",
    author="Spotify Audio Intelligence Lab (weights); deepfx (packaging)",
    short_description="Notes: labels each played note (A4, C#3...)",
    long_description=(
        "Spotify's basic-pitch (ICASSP 2022) polyphonic note transcription: a small CNN "
        "on a constant-Q spectrogram, with basic-pitch's note decoding built in. Labels "
        "are piano keys A0..C8 with onset and offset times. Any instrument or voice."
    ),
    domain_tags=["music"],
    tags=["transcription", "notes", "pitch", "basic-pitch", "analyzer"],
    effect_type="waveform-to-labels",
    multichannel=False,
    labels=NOTE_NAMES,
    sample_rate=SAMPLE_RATE,
    version="0.4.0",
    license="Apache-2.0",
    authors=[
        "Rachel M. Bittner",
        "Juan José Bosch",
        "David Rubinstein",
        "Gabriel Meseguer-Brocal",
        "Sebastian Ewert",
    ],
    citation=(
        "@inproceedings{2022_BittnerBRME_LightweightNoteTranscription_ICASSP, "
        "author = {Bittner, Rachel M. and Bosch, Juan Jos\\'e and Rubinstein, David and "
        "Meseguer-Brocal, Gabriel and Ewert, Sebastian}, title = {A Lightweight "
        "Instrument-Agnostic Model for Polyphonic Note Transcription and Multipitch "
        "Estimation}, booktitle = {Proceedings of the IEEE International Conference on "
        "Acoustics, Speech, and Signal Processing (ICASSP)}, address = {Singapore}, "
        "year = 2022}"
    ),
    links={
        "code": "https://github.com/spotify/basic-pitch",
        "paper": "https://arxiv.org/abs/2203.09893",
        "weights": "https://pypi.org/project/basic-pitch/0.4.0/",
        "license": "https://github.com/spotify/basic-pitch/blob/main/LICENSE",
    },
    training_data=(
        "GuitarSet, iKala, MAESTRO, MedleyDB-Pitch and Slakh (see the basic-pitch paper)."
    ),
    model_file="model.pt",
    model_format="torchscript",
    chunking=Chunking(window_s=60.0, overlap_s=2.0),
)


def onnx_path() -> Path:
    """Path of basic-pitch's ``nmp.onnx`` in the installed package (not imported)."""
    return package_file("basic_pitch", ONNX_FILE, requirement=REQUIREMENT)


def notes_module(
    *,
    onset_threshold: float = 0.5,
    frame_threshold: float = 0.3,
    min_note_s: float = 0.1277,
    energy_tolerance: int = 11,
    melodia_trick: bool = True,
) -> nn.Module:
    """basic-pitch's network and note decoding as a scripted :class:`~deepfx.nn.WaveformToLabels`.

    Parameters
    ----------
    onset_threshold
        Onset posterior (0..1) a peak must reach to start a note (basic-pitch's default).
    frame_threshold
        Note posterior (0..1) below which a note is considered off.
    min_note_s
        Shortest note kept, in seconds (basic-pitch's 127.7 ms, i.e. 11 frames).
    energy_tolerance
        Frames below ``frame_threshold`` a note may bridge before it ends.
    melodia_trick
        Also grow notes from strong frames that had no onset peak (basic-pitch's default).

    Returns
    -------
    torch.jit.ScriptModule
        ``forward(x: float32 (channels, samples) at 22050 Hz) -> (class_indices int64
        (n,), timestamps float64 (n, 2) in seconds)``; class ``i`` is MIDI ``21 + i``.
    """
    import torch

    try:
        import onnx
    except ImportError:
        raise ModelLoadError(
            onnx_path(),
            "reading basic-pitch's network needs the onnx package; install it with "
            "`pip install onnx`",
        ) from None
    from deepfx.builtins._notes_net import HOP, WINDOW, BasicPitchNotes
    from deepfx.builtins._onnx_torch import trace_onnx

    path = onnx_path()
    outputs = [o.name for o in onnx.load(str(path), load_external_data=False).graph.output]
    if NOTE_OUTPUT not in outputs or ONSET_OUTPUT not in outputs:
        raise ModelLoadError(
            path,
            f"unexpected basic-pitch outputs {outputs}; reinstall it with "
            f"`pip install --no-deps --force-reinstall {REQUIREMENT}`",
        )
    net = trace_onnx(str(path), torch.zeros(1, WINDOW, 1))
    module = BasicPitchNotes(
        net,
        note_index=outputs.index(NOTE_OUTPUT),
        onset_index=outputs.index(ONSET_OUTPUT),
        onset_threshold=onset_threshold,
        frame_threshold=frame_threshold,
        min_note_frames=int(round(min_note_s * SAMPLE_RATE / HOP)),
        energy_tolerance=energy_tolerance,
        melodia_trick=melodia_trick,
    )
    from deepfx.builtins._weights import reproducible_script

    return reproducible_script(module.eval())


def build_notes(dest: Path) -> None:
    """Write the ``builtin/notes`` model folder into ``dest`` from the installed basic-pitch."""

    module = notes_module()
    card = CARD.model_copy(update={"exported_with": exported_with("basic-pitch", "onnx")})

    write_torchscript_folder(dest, card, module)


SPECS: list[BuiltinSpec] = [
    BuiltinSpec(name="builtin/notes", card=CARD, build=build_notes, requires=(REQUIREMENT,))
]
