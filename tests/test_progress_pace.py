"""Progress between the engine's events: chunk positions and the paced estimate."""

from __future__ import annotations

import pytest

from deepfx.engine.events import Pace, chunk_position


@pytest.mark.parametrize(
    ("done", "total", "window", "overlap", "expected"),
    [
        (0, 1000, None, 0, (1, 1)),  # a whole-input model: one piece
        (0, 1000, 2000, 0, (1, 1)),
        (0, 1000, 100, 0, (1, 10)),
        (100, 1000, 100, 0, (2, 10)),
        (1000, 1000, 100, 0, (10, 10)),
        (0, 1000, 200, 100, (1, 9)),
        (0, 0, 100, 0, (0, 0)),
    ],
)
def test_chunk_position(
    done: int, total: int, window: int | None, overlap: int, expected: tuple[int, int]
) -> None:
    assert chunk_position(done, total, window, overlap) == expected


def test_pace_moves_between_events_but_never_past_the_chunk() -> None:
    pace = Pace()
    pace.update(0, 1000, now=0.0)
    assert pace.estimate(now=5.0) == 0 and pace.eta_s(now=5.0) is None  # no rate yet
    pace.update(100, 1000, now=10.0)  # 10 samples/s, chunks of 100
    assert pace.estimate(now=10.0) == 100
    assert pace.estimate(now=15.0) == pytest.approx(150)  # half a chunk later
    assert pace.estimate(now=100.0) == pytest.approx(195)  # capped inside the chunk
    assert pace.eta_s(now=15.0) == pytest.approx(85)
    pace.update(1000, 1000, now=20.0)
    assert pace.estimate(now=30.0) == 1000 and pace.eta_s(now=30.0) == 0


def test_pace_restarts_for_a_new_input() -> None:
    pace = Pace()
    pace.update(500, 1000, now=0.0)
    pace.update(1000, 1000, now=1.0)
    pace.update(0, 4000, now=2.0)  # another track
    assert pace.estimate(now=3.0) == 0 and pace.eta_s(now=3.0) is None
