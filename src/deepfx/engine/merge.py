"""Label merging for analyzers run on overlapping windows."""

from __future__ import annotations

from collections.abc import Iterable

from deepfx.labels import Label

__all__ = ["merge_labels"]

#: Two spans of the same label closer than this (seconds) are one span.
MERGE_TOLERANCE_S = 1e-3


def merge_labels(labels: Iterable[Label], *, tolerance_s: float = MERGE_TOLERANCE_S) -> list[Label]:
    """Join the labels of overlapping windows into one clean, time-sorted list.

    Windows overlap, so one event can be reported twice (a duplicate) or cut in two at a
    window edge (two pieces that touch or overlap). For each label text, spans are
    sorted by start and any span starting at or before the current span's end (plus
    ``tolerance_s``) is folded into it. Different texts never merge. The result is sorted
    by ``(start, end, text)``.

    Examples
    --------
    >>> merge_labels([Label(0, 2, "speech"), Label(1.5, 3, "speech"), Label(0, 2, "speech")])
    [Label(start_s=0, end_s=3, text='speech')]
    """
    by_text: dict[str, list[Label]] = {}
    for lb in labels:
        by_text.setdefault(lb.text, []).append(lb)
    merged: list[Label] = []
    for text, spans in by_text.items():
        spans.sort()
        start, end = spans[0].start_s, spans[0].end_s
        for lb in spans[1:]:
            if lb.start_s <= end + tolerance_s:
                end = max(end, lb.end_s)
            else:
                merged.append(Label(start, end, text))
                start, end = lb.start_s, lb.end_s
        merged.append(Label(start, end, text))
    return sorted(merged)
