"""How a change between two runs reads, the same in every renderer: beyond run-to-run
noise or not, and if so worse or better (HTML colours it, Markdown bolds it, the
terminal colours it)."""

from __future__ import annotations

from ringlab.controller.analysis.run_deltas import MetricDelta

# A change smaller than this is run-to-run noise and is not marked.
HIGHLIGHT = 0.02


def delta_class(delta: MetricDelta | None, highlight: float = HIGHLIGHT) -> str:
    """``"worse"``, ``"better"``, or ``""`` for no change or one within the noise."""
    if delta is None or delta.change == 0:
        return ""
    relative = delta.relative
    if relative is not None and abs(relative) < highlight:
        return ""
    return "worse" if delta.worse else "better"
