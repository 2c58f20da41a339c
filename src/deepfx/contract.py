"""The model contract, checked on the host side.

These checks are the single authority on what a model may return; the engine calls
them on every chunk and ``deepfx validate`` on every test input. They work on NumPy
arrays so they apply to every format (TorchScript, torch.export, ONNX) alike.

* Input: float32 ``(channels, samples)``, finite.
* waveform-to-waveform: ``(n_outputs, samples)`` with ``n_outputs == len(labels)`` and
  the input's length, finite.
* waveform-to-labels: a pair ``(class_indices (n,), timestamps (n, 2))`` with indices in
  ``range(len(labels))``, ``0 <= start < end <= duration`` (seconds), finite.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from deepfx.errors import ContractError

__all__ = [
    "OUTPUT_TOLERANCE",
    "TIME_TOLERANCE_S",
    "check_batch_output",
    "check_effect_output",
    "check_input",
    "check_labels_output",
    "compare_outputs",
]

#: Slack allowed when checking that timestamps lie inside the input (float rounding).
TIME_TOLERANCE_S = 1e-3

#: Largest difference allowed between two runs of "the same" network: the module and its
#: exported file (``deepfx export``), or two formats of one model (``deepfx validate``).
OUTPUT_TOLERANCE = 1e-5


def check_input(x: np.ndarray) -> np.ndarray:
    """Check a host-side input block; returns it as C-contiguous float32."""
    if not isinstance(x, np.ndarray) or x.ndim != 2:
        raise ContractError(f"input must be a 2-D array (channels, samples), got {_shape(x)}")
    if x.shape[1] == 0:
        raise ContractError("input has zero samples")
    x = np.ascontiguousarray(x, dtype=np.float32)
    if not np.isfinite(x).all():
        raise ContractError("input contains NaN or infinite values")
    return x


def check_batch_output(
    out: Any,
    *,
    n_items: int,
    n_labels: int,
    n_samples: int,
    model: str | None = None,
    at_s: float | None = None,
) -> list[np.ndarray]:
    """Check a batched waveform-to-waveform output (card ``batch: true``).

    The model must return one ``(batch, n_outputs, samples)`` array; a list of arrays of
    different shapes (ragged), a wrong batch size or rank is a :class:`ContractError`,
    never a NumPy crash. Returns one checked ``(n_outputs, samples)`` array per item.
    """

    def fail(rule: str) -> ContractError:
        return ContractError(rule, model=model, at_s=at_s)

    if isinstance(out, (tuple, list)):
        shapes = {tuple(np.shape(o)) for o in out}
        if len(shapes) > 1:
            listed = ", ".join(str(s) for s in sorted(shapes)[:4])
            raise fail(
                f"with batch: true the output must be one (batch, n_outputs, samples) array; "
                f"got {len(out)} arrays of different shapes ({listed})"
            )
    try:
        arr = np.asarray(out)
    except (ValueError, TypeError) as exc:
        raise fail(f"with batch: true the output is not an array ({str(exc)[:120]})") from None
    if arr.ndim != 3 or arr.shape[0] != n_items:
        raise fail(
            f"with batch: true the output must be (batch, n_outputs, samples) with batch "
            f"{n_items}, got shape {tuple(arr.shape)}"
        )
    return [
        check_effect_output(o, n_labels=n_labels, n_samples=n_samples, model=model, at_s=at_s)
        for o in arr
    ]


def check_effect_output(
    out: Any,
    *,
    n_labels: int,
    n_samples: int,
    model: str | None = None,
    at_s: float | None = None,
    allow_fewer: bool = False,
) -> np.ndarray:
    """Check a waveform-to-waveform output; returns it as float32 ``(n_outputs, samples)``.

    ``allow_fewer``: accept 1..``n_labels`` rows (the original host made
    ``min(len(labels), rows)`` tracks, e.g. for a channel processor on a mono track); the
    caller names the rows by the first labels and says so once.
    """

    def fail(rule: str) -> ContractError:
        return ContractError(rule, model=model, at_s=at_s)

    if isinstance(out, (tuple, list)):
        raise fail(
            f"a waveform-to-waveform model must return one tensor, got a {type(out).__name__} "
            f"of {len(out)} (is this an analyzer? check effect_type in metadata.json)"
        )
    arr = _as_array(out, "output", fail)
    if arr.ndim != 2:
        raise fail(
            f"output must be 2-D (n_outputs, samples), got shape {tuple(arr.shape)} "
            f"(rank {arr.ndim})"
        )
    if arr.shape[0] != n_labels and not (allow_fewer and 1 <= arr.shape[0] < n_labels):
        more_or_fewer = "fewer" if arr.shape[0] < n_labels else "more"
        raise fail(
            f"returned {arr.shape[0]} output tracks but the card lists {n_labels} labels "
            f"({more_or_fewer} outputs than labels)"
        )
    if arr.shape[1] != n_samples:
        raise fail(f"returned {arr.shape[1]} samples for an input of {n_samples} samples")
    if not np.issubdtype(arr.dtype, np.floating):
        raise fail(f"output must be floating point audio, got dtype {arr.dtype}")
    bad = ~np.isfinite(arr)
    if bad.any():
        track, sample = np.argwhere(bad)[0]
        raise fail(f"output contains NaN or infinite values (output {track}, sample {sample})")
    return np.ascontiguousarray(arr, dtype=np.float32)


def check_labels_output(
    out: Any,
    *,
    n_labels: int,
    duration_s: float,
    model: str | None = None,
    at_s: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Check a waveform-to-labels output.

    Returns ``(class_indices int64 (n,), timestamps float64 (n, 2))`` with timestamps
    clipped to ``[0, duration_s]`` (after the tolerance check).
    """

    def fail(rule: str) -> ContractError:
        return ContractError(rule, model=model, at_s=at_s)

    if not isinstance(out, (tuple, list)) or len(out) != 2:
        got = f"a {type(out).__name__}" + (
            f" of {len(out)}" if isinstance(out, (tuple, list)) else ""
        )
        raise fail(
            f"a waveform-to-labels model must return a pair (class_indices, timestamps), got {got}"
        )
    idx = _as_array(out[0], "class_indices", fail)
    ts = _as_array(out[1], "timestamps", fail)
    if idx.ndim != 1:
        raise fail(f"class_indices must be 1-D (n,), got shape {tuple(idx.shape)}")
    if ts.ndim != 2 or ts.shape[1] != 2:
        raise fail(f"timestamps must have shape (n, 2), got {tuple(ts.shape)}")
    if idx.shape[0] != ts.shape[0]:
        raise fail(
            f"class_indices has {idx.shape[0]} entries but timestamps has {ts.shape[0]} rows"
        )
    if idx.size:
        if np.issubdtype(idx.dtype, np.floating):
            if not np.isfinite(idx).all() or not np.all(idx == np.round(idx)):
                raise fail("class_indices must be whole numbers")
        idx_i = idx.astype(np.int64)
        bad = (idx_i < 0) | (idx_i >= n_labels)
        if bad.any():
            i = int(np.argmax(bad))
            raise fail(
                f"label index {int(idx_i[i])} is out of range: the card has {n_labels} labels "
                f"(valid indices 0..{n_labels - 1})"
            )
    else:
        idx_i = idx.astype(np.int64)
    ts_f = ts.astype(np.float64)
    if ts_f.size:
        if not np.isfinite(ts_f).all():
            raise fail("timestamps contain NaN or infinite values")
        if (ts_f < 0).any():
            row = int(np.argwhere(ts_f < 0)[0][0])
            raise fail(f"timestamp {row} is negative ({ts_f[row].tolist()})")
        rev = ts_f[:, 0] >= ts_f[:, 1]
        if rev.any():
            row = int(np.argmax(rev))
            raise fail(
                f"timestamp {row} ends before it starts (start {ts_f[row, 0]:.4f} s, "
                f"end {ts_f[row, 1]:.4f} s)"
            )
        late = ts_f[:, 1] > duration_s + TIME_TOLERANCE_S
        if late.any():
            row = int(np.argmax(late))
            raise fail(
                f"timestamp {row} ends at {ts_f[row, 1]:.4f} s, after the end of the "
                f"{duration_s:.4f} s input"
            )
        ts_f = np.clip(ts_f, 0.0, duration_s)
    return idx_i, ts_f.reshape(-1, 2)


def _as_array(value: Any, what: str, fail: Any) -> np.ndarray:
    if isinstance(value, np.ndarray):
        return value
    # torch tensors (and anything array-like) without importing torch here
    if hasattr(value, "detach") and hasattr(value, "cpu"):
        return value.detach().cpu().numpy()
    try:
        arr = np.asarray(value)
    except Exception:  # noqa: BLE001 - anything unconvertible is a contract break
        raise fail(f"{what} is not an array (got {type(value).__name__})") from None
    if arr.dtype == object:
        raise fail(f"{what} is not a numeric array (got {type(value).__name__})")
    return arr


def _shape(x: Any) -> str:
    return str(tuple(x.shape)) if hasattr(x, "shape") else type(x).__name__


def compare_outputs(a: Any, b: Any, *, tolerance: float = OUTPUT_TOLERANCE) -> str | None:
    """``None`` when two model outputs agree within ``tolerance``, else what differs.

    Effects: same shape, max absolute difference <= ``tolerance``. Analyzers: same number
    of labels, same class indices, timestamps within ``tolerance`` seconds.
    """
    if isinstance(a, tuple) != isinstance(b, tuple):
        return "one output is a tuple and the other is not"
    if isinstance(a, tuple):
        ia, ta = np.asarray(a[0]), np.asarray(a[1], dtype=np.float64)
        ib, tb = np.asarray(b[0]), np.asarray(b[1], dtype=np.float64)
        if ia.shape != ib.shape or ta.shape != tb.shape:
            return f"{ia.shape[0]} labels vs {ib.shape[0]} labels"
        if not np.array_equal(ia.astype(np.int64), ib.astype(np.int64)):
            return "different class indices"
        if ta.size and float(np.max(np.abs(ta - tb))) > tolerance:
            return f"timestamps differ by up to {float(np.max(np.abs(ta - tb))):.3g} s"
        return None
    fa, fb = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if fa.shape != fb.shape:
        return f"shape {fa.shape} vs {fb.shape}"
    if fa.size == 0:
        return None
    diff = float(np.max(np.abs(fa - fb)))
    if not diff <= tolerance:
        return f"max abs difference {diff:.3g} > {tolerance:g}"
    return None
