"""The paper's network for benchmarks: Demucs v2 (about 265 M parameters) and HTDemucs.

Random, seeded weights (time and memory do not depend on training). Built from the
``demucs`` package's own classes (``pip install --no-deps demucs`` plus julius, einops,
tqdm, pyyaml; only ``demucs.demucs``, ``demucs.htdemucs`` and ``demucs.apply`` are
imported, none of which needs torchaudio).

Demucs v2 as in the paper's speed figure: ``Demucs(channels=64, depth=6, lstm_layers=2,
context=1, glu=True, rewrite=True, resample=True)`` with v2's plain layers (ReLU, no
group norm, no DConv branches, no input normalisation), 4 sources, mono 44.1 kHz
(``audio_channels=1``): 265.7 M parameters.

Wrapped the way the original contributors did (audacitorch's ``WaveformToWaveformBase``
with a ``do_forward_pass``): ``(1, samples)`` mono in, ``(4, samples)`` out, one row per
stem. The demucs package's ``Demucs.forward`` does not script (``valid_length`` and
julius' resampling are plain Python), so :class:`DemucsV2Core` is its forward written
for TorchScript over the *same* submodules and weights; it gives the same output
(``tests/test_bench_demucs.py`` checks it).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

STEMS = ["drums", "bass", "other", "vocals"]
RATE = 44100


def demucs_v2(*, channels: int = 64, depth: int = 6, seed: int = 0) -> nn.Module:
    """The Demucs v2 network (``demucs.demucs.Demucs``), random weights, eval mode."""
    from demucs.demucs import Demucs

    torch.manual_seed(seed)
    net = Demucs(
        sources=list(STEMS),
        audio_channels=1,
        channels=channels,
        depth=depth,
        lstm_layers=2,
        context=1,
        glu=True,
        rewrite=True,
        resample=True,
        # v2's layers: ReLU, no GroupNorm, no DConv residual branches, no normalisation
        gelu=False,
        norm_starts=depth + 1,
        dconv_mode=0,
        normalize=False,
        samplerate=RATE,
        segment=40,  # v2's segment_length = 4 * 10 * 44100 samples: apply_model's chunks
    )
    return net.eval()


def htdemucs(*, seed: int = 0, segment: float = 10.0, tiny: bool = False) -> nn.Module:
    """HTDemucs (``demucs.htdemucs.HTDemucs``, the v4 hybrid transformer), mono, random;
    its defaults (26.9 M parameters), or a few-thousand-parameter one for smoke tests."""
    from demucs.htdemucs import HTDemucs

    torch.manual_seed(seed)
    small: dict[str, Any] = {}
    if tiny:
        small = {"channels": 8, "depth": 2, "nfft": 512, "t_layers": 1, "dconv_comp": 2}
    return HTDemucs(
        sources=list(STEMS), audio_channels=1, samplerate=RATE, segment=segment, **small
    ).eval()


class _Bottleneck(nn.Module):
    """Demucs' BLSTM between encoder and decoder (time-major in, channels-first out)."""

    def __init__(self, lstm: nn.Module, linear: nn.Module) -> None:
        super().__init__()
        self.lstm = lstm
        self.linear = linear

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.lstm(x.permute(2, 0, 1))[0]
        return self.linear(y).permute(1, 2, 0)


class _Resample(nn.Module):
    """julius' ``ResampleFrac`` forward on a ``(batch, channels, time)`` signal, with its
    own filter (same output bit for bit) and integer lengths: julius computes the output
    length with ``torch.floor`` of a float tensor, which scripts but exports to an ONNX
    graph onnxruntime rejects (``Floor`` of int64)."""

    def __init__(self, resample: nn.Module) -> None:
        super().__init__()
        self.old_sr = int(resample.old_sr)
        self.new_sr = int(resample.new_sr)
        self.width = int(resample._width)
        self.register_buffer("kernel", resample.kernel.detach().clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, channels, length = x.shape[0], x.shape[1], x.shape[-1]
        x = x.reshape(-1, length)
        x = F.pad(x[:, None], (self.width, self.width + self.old_sr), mode="replicate")
        ys = F.conv1d(x, self.kernel, stride=self.old_sr)
        y = ys.transpose(1, 2).reshape(batch, channels, -1)
        return y.narrow(-1, 0, self.new_sr * length // self.old_sr)


class _Level(nn.Module):
    """One U-Net level: encode, the levels below, decode with the centre-trimmed skip."""

    def __init__(self, encode: nn.Module, inner: nn.Module, decode: nn.Module) -> None:
        super().__init__()
        self.encode = encode
        self.inner = inner
        self.decode = decode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skip = self.encode(x)
        y = self.inner(skip)
        return self.decode(y + _center_trim(skip, y.shape[-1]))


class DemucsV2Core(nn.Module):
    """``demucs.demucs.Demucs.forward`` (``normalize=False``) in TorchScript-able form.

    Same submodules (so the same weights), julius' resampling filters, same centre trims of
    the skip connections. The U-Net is nested levels (:class:`_Level`) instead of
    Demucs' list of saved skips: torch's ONNX exporter cannot convert a scripted list
    of tensors ("Rank must be 0 or 1"), and an artist's install derives its ONNX network
    from the TorchScript file.

    ``pad="centre"`` pads to the valid length as Demucs does, half before and half
    after: bit for bit the package's forward. ``pad="end"`` (what the benchmark's
    contributor ships) pads after the audio only, so output sample ``t`` always sits at
    the same phase of the network's 2,048-sample stride grid (:func:`grid_samples`)
    wherever the input starts: chunks cut on that grid give the whole-input output
    (centred padding moves the grid with every chunk's length, a seam error of about
    0.1 of the peak). Both agree on inputs of a valid length.
    """

    def __init__(self, net: nn.Module, pad: str = "end") -> None:
        super().__init__()
        import julius

        if pad not in ("end", "centre"):
            raise ValueError("pad is 'end' or 'centre'")
        self.pad_end = pad == "end"
        unet: nn.Module = _Bottleneck(net.lstm.lstm, net.lstm.linear)
        for encode, decode in zip(reversed(list(net.encoder)), net.decoder, strict=True):
            unet = _Level(encode, unet, decode)
        self.unet = unet
        self.up = _Resample(julius.ResampleFrac(1, 2))
        self.down = _Resample(julius.ResampleFrac(2, 1))
        self.depth = int(net.depth)
        self.kernel_size = int(net.kernel_size)
        self.stride = int(net.stride)
        self.n_sources = len(net.sources)
        self.audio_channels = int(net.audio_channels)
        self.total_stride = self.stride**self.depth  # of the 2x-upsampled signal
        self.geometric = (self.total_stride - 1) // (self.stride - 1)  # 1 + s + ... + s^(d-1)

    def valid_length(self, length: int) -> int:
        """Demucs' ``valid_length`` in closed form: ``depth`` encoder levels
        ``l -> ceil((l - k) / s) + 1`` compose to one floor division and the decoder's
        ``l -> (l - 1) s + k`` to one affine map (same values for every length,
        ``tests/test_bench_demucs.py``; no loop state for the ONNX exporter)."""
        s, k = self.stride, self.kernel_size
        level = (2 * length + (2 * s - 1 - k) * self.geometric) // self.total_stride
        level = max(1, level)
        return (self.total_stride * level + (k - s) * self.geometric + 1) // 2

    def forward(self, mix: torch.Tensor) -> torch.Tensor:
        length = mix.shape[-1]
        delta = self.valid_length(length) - length
        before = 0 if self.pad_end else delta // 2
        x = F.pad(mix, (before, delta - before))
        x = self.down(self.unet(self.up(x)))
        x = x.narrow(-1, 0, length) if self.pad_end else _center_trim(x, length)
        return x.view(x.size(0), self.n_sources, self.audio_channels, x.size(-1))


def _center_trim(t: torch.Tensor, length: int) -> torch.Tensor:
    delta = t.shape[-1] - length
    # narrow keeps the output length the input's (symbolic) length on export
    return t.narrow(-1, delta // 2, length)


def _effect_base() -> Any:
    """audacitorch's base class, as the original contributors used (deepfx.nn's twin
    when audacitorch is not installed)."""
    try:
        from audacitorch import WaveformToWaveformBase

        return WaveformToWaveformBase
    except ImportError:  # pragma: no cover - audacitorch is installed by scripts/install.sh
        from deepfx.nn import WaveformToWaveform

        return WaveformToWaveform


class _Separator(_effect_base()):  # type: ignore[misc]
    """Mono mix in ``(1, samples)``, the four stems out ``(4, samples)``."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__(model)

    def do_forward_pass(self, x: torch.Tensor) -> torch.Tensor:
        mono = x.mean(dim=0, keepdim=True).unsqueeze(0)  # (1, 1, n)
        stems = self.model(mono)  # (1, sources, channels, n)
        return stems[0].mean(dim=1)


def effect_v2(net: nn.Module, pad: str = "end") -> nn.Module:
    """The deepfx / Audacity effect around a Demucs v2 network (same weights); ``pad``
    as in :class:`DemucsV2Core`."""
    return _Separator(DemucsV2Core(net, pad)).eval()


def grid_samples(net: nn.Module) -> int:
    """The network's stride grid at the input rate: ``stride ** depth`` samples of the
    2x-upsampled signal (v2: 4 ** 6 = 4,096), so 2,048 input samples."""
    upsampled = int(net.stride) ** int(net.depth)
    return upsampled // 2 if getattr(net, "resample", True) else upsampled


def effect_ht(net: nn.Module) -> nn.Module:
    """The effect around an HTDemucs network (eager; HTDemucs does not script)."""
    return _Separator(net).eval()


def traced_ht(net: nn.Module) -> torch.jit.ScriptModule:
    """The HTDemucs effect traced at its training segment (``net.segment`` seconds).

    HTDemucs neither scripts (einops, Python control flow) nor exports with
    ``torch.export`` (a data-dependent guard in its padding), and its eager forward takes
    no input longer than its segment. A trace at exactly that length is what a
    contributor can ship: TorchScript that gives the eager output bit for bit on inputs
    of that length (``tests/test_bench_demucs.py``) and refuses any other length, so its
    card sets ``min_input_s`` to the window and every chunk is one segment long.
    """
    import warnings

    n = int(round(float(net.segment) * RATE))
    example = torch.zeros(1, n)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tracer's "might not generalize": it does not
        return torch.jit.trace(effect_ht(net), (example,), check_trace=False)


def card(
    name: str,
    *,
    window_s: float,
    overlap_s: float,
    grid: int | None = None,
    min_input_s: float | None = None,
) -> Any:
    """The benchmark model's card. ``min_input_s`` equal to the window makes every chunk
    exactly one window long (what a network traced at a fixed length needs)."""
    from deepfx.card import Chunking, ModelCard

    return ModelCard.model_validate(
        {
            "name": f"bench/{name}",
            "short_description": f"Benchmark {name} separator (random weights)",
            "long_description": "Demucs-architecture network used by benchmarks/bench_demucs.py.",
            "domain_tags": ["music"],
            "tags": ["benchmark"],
            "effect_type": "waveform-to-waveform",
            "multichannel": False,
            "labels": STEMS,
            "sample_rate": RATE,
            "min_input_s": min_input_s,
            "chunking": Chunking(window_s=window_s, overlap_s=overlap_s, grid_samples=grid),
        }
    )


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
