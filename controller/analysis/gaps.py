"""The quiet between two time slices, measured: the configured `gap` is only part of it.

Between slices the controller waits `gap`, then prepares the next phase and starts its
senders a start margin later, and the previous phase drains first: a `gap: 100ms` was
measured at 707-720 ms of quiet on a lab. The quiet is measured from the senders' own
start times (controller clock): from the end of the previous slice's traffic (its first
sender start + its duration) to the first sender start of the next.
"""

from __future__ import annotations

from ringlab.controller.store.results import Diagnosis, PhaseResult

# A slice boundary whose quiet exceeds the configured gap by more than this is a warning.
GAP_TOLERANCE_NS = 50_000_000


def _first_start(phase: PhaseResult) -> int | None:
    starts = [f.tx_start_wall_ns for f in phase.flows if f.tx_start_wall_ns > 0]
    return min(starts) if starts else None


def measured_gap_ns(previous: PhaseResult, current: PhaseResult) -> int | None:
    """Quiet between `previous`'s traffic and `current`'s; None when a start is unknown."""
    before, after = _first_start(previous), _first_start(current)
    if before is None or after is None:
        return None
    return after - (before + round(previous.duration_s * 1e9))


def slice_gap(previous: PhaseResult, current: PhaseResult, gap_ns: int) -> Diagnosis | None:
    """What the boundary before `current` (configured `gap_ns`) measured: info when within
    GAP_TOLERANCE_NS of the gap, a warning beyond; None when it could not be measured."""
    quiet = measured_gap_ns(previous, current)
    if quiet is None:
        return None
    over = quiet - gap_ns
    text = (
        f"the quiet between slices {previous.name} and {current.name} was {quiet / 1e6:.0f} ms"
        f" (measured from the senders' start times); the configured gap is {gap_ns / 1e6:g} ms"
    )
    if over <= GAP_TOLERANCE_NS:
        return Diagnosis(code="slice_gap", severity="info", message=text + ".", phase=current.name)
    return Diagnosis(
        code="slice_gap_longer",
        severity="warning",
        message=(
            f"{text}, {over / 1e6:.0f} ms more (tolerance {GAP_TOLERANCE_NS / 1e6:g} ms): "
            "between slices the controller also drains the previous phase, prepares the next "
            "one and starts it after a start margin. Links idle that long between directions; "
            "a test that needs the gap short should not rely on `gap` alone."
        ),
        phase=current.name,
    )
