"""Labelled time spans: what analyzers produce."""

from __future__ import annotations

from dataclasses import asdict, dataclass

__all__ = ["Label"]


@dataclass(frozen=True, order=True)
class Label:
    """One labelled span of time, in seconds from the start of the input.

    Ordered by ``(start_s, end_s, text)`` so ``sorted(labels)`` is time order.
    """

    start_s: float
    end_s: float
    text: str

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s

    def to_dict(self) -> dict[str, float | str]:
        return asdict(self)
