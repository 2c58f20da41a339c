"""Built-in separation effects: harmonic/percussive and centre/sides (vocal isolation).

No pretrained music separator ships its weights inside a PyPI package (demucs and
open-unmix download theirs), so these two are signal-processing separators written as
torch networks (see :mod:`deepfx.builtins._separation_nets`) and exported as TorchScript
with the STFT, the filtering and the inverse STFT inside. They have no learned weights;
their licence is deepfx's own (MIT).

* ``builtin/hpss`` -- harmonic/percussive separation by median filtering (Fitzgerald
  2010): outputs ``harmonic`` and ``percussive``, mono, summing to the (mono) input.
* ``builtin/center-sides`` -- for stereo: ``center`` (what both channels share: a lead
  vocal, bass or kick panned to the middle) and ``sides-left`` / ``sides-right`` (what is
  left of each channel: the accompaniment, still stereo). The contract gives each output
  one channel, so the stereo remainder is two tracks; ``left = center + sides-left`` and
  ``right = center + sides-right`` hold exactly, and in Audacity the two sides tracks can
  be joined into one stereo track ("Make Stereo Track").

Importing this module does not import torch; building a folder does.
"""

from __future__ import annotations

from pathlib import Path

from deepfx.builtins import BuiltinSpec
from deepfx.card import Chunking, ModelCard

__all__ = ["CENTER_SIDES_CARD", "HPSS_CARD", "SPECS", "build_center_sides", "build_hpss"]

_AUTHOR = "deepfx contributors"
_NO_DATA = "None: signal processing without learned weights."

HPSS_CARD = ModelCard(
    name="builtin/hpss",
    author=_AUTHOR,
    short_description="Split sound into harmonic and percussive parts",
    long_description=(
        "Harmonic/percussive separation by median filtering (Fitzgerald 2010): sustained "
        "notes and chords go to 'harmonic'; drums, clicks and attacks to 'percussive'. The "
        "two outputs sum to the input. Signal processing in a network, no training data."
    ),
    domain_tags=["music"],
    tags=["separation", "hpss", "drums", "harmonic", "effect"],
    effect_type="waveform-to-waveform",
    multichannel=False,
    labels=["harmonic", "percussive"],
    sample_rate=44100,
    version="1.0.0",
    license="MIT",
    authors=[_AUTHOR],
    citation=(
        "@inproceedings{fitzgerald2010hpss, author = {FitzGerald, Derry}, title = "
        "{Harmonic/Percussive Separation using Median Filtering}, booktitle = {Proc. 13th "
        "Int. Conference on Digital Audio Effects (DAFx-10)}, year = {2010}}"
    ),
    training_data=_NO_DATA,
    model_file="model.pt",
    model_format="torchscript",
    chunking=Chunking(window_s=10.0, overlap_s=1.0),
    latency_samples=0,
)

CENTER_SIDES_CARD = ModelCard(
    name="builtin/center-sides",
    author=_AUTHOR,
    short_description="Isolate centre-panned vocals from a stereo mix",
    long_description=(
        "Centre extraction for stereo: a two-channel Wiener filter keeps what left and right "
        "share ('center': a lead vocal panned to the middle) and leaves the rest of each "
        "channel in 'sides-left' and 'sides-right'. left = center + sides-left, likewise "
        "right."
    ),
    domain_tags=["music"],
    tags=["separation", "vocals", "karaoke", "stereo", "effect"],
    effect_type="waveform-to-waveform",
    multichannel=True,
    labels=["center", "sides-left", "sides-right"],
    sample_rate=44100,
    version="1.0.0",
    license="MIT",
    authors=[_AUTHOR],
    citation=(
        "@inproceedings{avendano2002frequency, author = {Avendano, Carlos and Jot, "
        "Jean-Marc}, title = {Frequency domain techniques for stereo to multichannel "
        "upmix}, booktitle = {AES 22nd International Conference}, year = {2002}}"
    ),
    training_data=_NO_DATA,
    model_file="model.pt",
    model_format="torchscript",
    chunking=Chunking(window_s=10.0, overlap_s=1.0),
    latency_samples=0,
)

_README = """\
# {name}

Built by deepfx on this machine; a signal-processing separator written as a PyTorch
network and exported as TorchScript (STFT, filtering and inverse STFT inside). No learned
weights and no training data. Licence: MIT (deepfx).

{body}
"""

_HPSS_BODY = """\
Harmonic/percussive separation by median filtering (D. FitzGerald, "Harmonic/Percussive
Separation using Median Filtering", DAFx-10, 2010): 2048-point sqrt-Hann STFT with a 512
hop at 44.1 kHz; a 31-frame median along time estimates the harmonic part, a 31-bin
median along frequency the percussive part; Wiener-like soft masks (power 2) split the
spectrum. Outputs `harmonic` and `percussive` (= input - harmonic), mono.
"""

_CENTER_BODY = """\
Centre extraction for stereo: per time-frequency bin, the cross-spectrum of left and
right (averaged over 5 frames) estimates the power of what both share, and a two-channel
Wiener filter estimates that shared signal (in the spirit of C. Avendano and J.-M. Jot,
"Frequency domain techniques for stereo to multichannel upmix", AES 22nd Conference,
2002). 4096-point sqrt-Hann STFT, 1024 hop, 44.1 kHz. Outputs `center` (mono),
`sides-left` = left - center and `sides-right` = right - center. Mono input: all centre.
"""


def build_hpss(dest: Path) -> None:
    """Write the ``builtin/hpss`` model folder into ``dest`` (offline, no weights)."""
    from deepfx.builtins._effect_build import save_effect_folder
    from deepfx.builtins._separation_nets import HarmonicPercussive

    readme = _README.format(name="builtin/hpss", body=_HPSS_BODY)
    save_effect_folder(HarmonicPercussive(), HPSS_CARD, dest, readme=readme)


def build_center_sides(dest: Path) -> None:
    """Write the ``builtin/center-sides`` model folder into ``dest`` (offline, no weights)."""
    from deepfx.builtins._effect_build import save_effect_folder
    from deepfx.builtins._separation_nets import CenterSides

    readme = _README.format(name="builtin/center-sides", body=_CENTER_BODY)
    save_effect_folder(CenterSides(), CENTER_SIDES_CARD, dest, readme=readme)


SPECS: list[BuiltinSpec] = [
    BuiltinSpec(name="builtin/hpss", card=HPSS_CARD, build=build_hpss),
    BuiltinSpec(name="builtin/center-sides", card=CENTER_SIDES_CARD, build=build_center_sides),
]
