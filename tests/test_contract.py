"""deepfx.contract: the host-side rules every model output must follow (NumPy only)."""

from __future__ import annotations

import numpy as np
import pytest

from deepfx.contract import check_effect_output, check_input, check_labels_output
from deepfx.errors import ContractError


def test_input_must_be_2d_finite_and_nonempty() -> None:
    with pytest.raises(ContractError, match=r"2-D array \(channels, samples\)"):
        check_input(np.zeros(10, dtype=np.float32))
    with pytest.raises(ContractError, match="zero samples"):
        check_input(np.zeros((1, 0), dtype=np.float32))
    with pytest.raises(ContractError, match="NaN or infinite"):
        check_input(np.array([[0.0, np.inf]], dtype=np.float32))
    out = check_input(np.zeros((2, 5), dtype=np.float64))
    assert out.dtype == np.float32 and out.flags.c_contiguous


def test_effect_output_rules() -> None:
    good = np.zeros((2, 100), dtype=np.float32)
    assert check_effect_output(good, n_labels=2, n_samples=100).shape == (2, 100)
    with pytest.raises(ContractError, match=r"must be 2-D .* \(rank 3\)"):
        check_effect_output(np.zeros((1, 2, 100)), n_labels=2, n_samples=100)
    with pytest.raises(ContractError, match="fewer outputs than labels"):
        check_effect_output(np.zeros((1, 100)), n_labels=2, n_samples=100)
    with pytest.raises(ContractError, match="more outputs than labels"):
        check_effect_output(np.zeros((3, 100)), n_labels=2, n_samples=100)
    with pytest.raises(ContractError, match="returned 99 samples for an input of 100"):
        check_effect_output(np.zeros((2, 99)), n_labels=2, n_samples=100)
    bad = good.copy()
    bad[1, 42] = np.nan
    with pytest.raises(ContractError, match=r"NaN or infinite values \(output 1, sample 42\)"):
        check_effect_output(bad, n_labels=2, n_samples=100)
    with pytest.raises(ContractError, match="is this an analyzer"):
        check_effect_output((good, good), n_labels=2, n_samples=100)


def test_labels_output_rules() -> None:
    idx = np.array([0, 1])
    ts = np.array([[0.0, 0.5], [0.5, 1.0]])
    got_idx, got_ts = check_labels_output((idx, ts), n_labels=2, duration_s=1.0)
    assert got_idx.dtype == np.int64 and got_ts.shape == (2, 2)
    with pytest.raises(ContractError, match="ends before it starts"):
        check_labels_output((idx, ts[:, ::-1]), n_labels=2, duration_s=1.0)
    with pytest.raises(ContractError, match=r"label index 5 is out of range.*0\.\.1"):
        check_labels_output((np.array([5, 0]), ts), n_labels=2, duration_s=1.0)
    with pytest.raises(ContractError, match="is negative"):
        check_labels_output((idx, ts - 0.25), n_labels=2, duration_s=1.0)
    with pytest.raises(ContractError, match="after the end of the"):
        check_labels_output((idx, ts * 3), n_labels=2, duration_s=1.0)
    with pytest.raises(ContractError, match="must return a pair"):
        check_labels_output(idx, n_labels=2, duration_s=1.0)
    with pytest.raises(ContractError, match=r"timestamps must have shape \(n, 2\)"):
        check_labels_output((idx, ts[:, :1]), n_labels=2, duration_s=1.0)
    with pytest.raises(ContractError, match="whole numbers"):
        check_labels_output((np.array([0.5, 1.0]), ts), n_labels=2, duration_s=1.0)
    empty = check_labels_output(
        (np.zeros(0, dtype=np.int64), np.zeros((0, 2))), n_labels=2, duration_s=1.0
    )
    assert empty[0].shape == (0,) and empty[1].shape == (0, 2)
    # timestamps within the tolerance past the end are clipped, not refused
    _, clipped = check_labels_output(
        (np.array([0]), np.array([[0.0, 1.0005]])), n_labels=2, duration_s=1.0
    )
    assert clipped[0, 1] == 1.0
