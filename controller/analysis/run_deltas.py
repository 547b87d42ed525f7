"""Differences between two runs, flow by flow, and the thresholds a candidate must meet.

(What `ringlab compare`, reports and regress verdicts compute from. Not the scenario's
``compare:`` key, which runs several modes within one run: run/plan.py.)

Pure: takes results, returns values. Renderers (terminal, HTML, Markdown, JUnit)
format what this module computes; none of them computes a delta of its own.

Flows are matched by (phase, flow name). Runs of one scenario on one host set
always match this way; runs of different host sets or of a peer tool (an
imported iperf3 run) fall back to the flow name alone, then to the position of
the flow in the run. With ``match_frame_size`` (what reports use) a flow only
ever matches one of the same frame size, by name or by position: a 1046-byte
iperf3 flow is never a 64-byte ringlab flow.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ringlab.controller.report.fmt import pct
from ringlab.controller.scenario import units
from ringlab.controller.scenario.units import format_pps
from ringlab.controller.store.results import FlowResult, RunResult, measures_packets, measures_rx
from ringlab.engines import BUILTIN_ENGINES

# None: the flow's engine does not measure it (trafgen has no receiver, iperf3 TCP no packets).
Metric = Callable[[FlowResult], float | None]


def _when(condition: bool, value: float) -> float | None:
    return value if condition else None


# Metric name -> how to read it, and whether a higher value is better.
METRICS: dict[str, tuple[Metric, bool]] = {
    "tx_pps": (lambda f: _when(measures_packets(f), f.tx_pps), True),
    "rx_pps": (lambda f: _when(measures_packets(f) and measures_rx(f), f.rx_pps), True),
    "rx_bps": (lambda f: _when(measures_rx(f), f.rx_bps), True),
    "loss": (lambda f: _when(measures_packets(f) and measures_rx(f), f.loss_ratio), False),
    # Only ringlab's own engines' receivers read kernel statistics (tp_drops, XDP_STATISTICS).
    "kernel_drops": (lambda f: _when(f.engine in BUILTIN_ENGINES, float(f.kernel_drops)), False),
    "latency_p99_us": (lambda f: _when(f.latency_us.samples > 0, f.latency_us.p99), False),
}


@dataclass(frozen=True)
class MetricDelta:
    metric: str
    baseline: float
    candidate: float
    higher_is_better: bool

    @property
    def change(self) -> float:
        return self.candidate - self.baseline

    @property
    def relative(self) -> float | None:
        """(candidate - baseline) / baseline; None when the baseline is 0."""
        if self.baseline == 0:
            return None
        return self.change / abs(self.baseline)

    @property
    def worse(self) -> bool:
        return self.change < 0 if self.higher_is_better else self.change > 0


@dataclass(frozen=True)
class FlowDelta:
    """One flow in both runs (or in only one of them: the other side is None)."""

    phase: str
    flow: str
    baseline: FlowResult | None
    candidate: FlowResult | None
    metrics: tuple[MetricDelta, ...] = ()
    # Metrics one side measures and the other does not: no delta, and no pass either.
    not_comparable: tuple[str, ...] = ()

    @property
    def matched(self) -> bool:
        return self.baseline is not None and self.candidate is not None

    def metric(self, name: str) -> MetricDelta | None:
        return next((m for m in self.metrics if m.metric == name), None)

    @property
    def label(self) -> str:
        return f"{self.flow} ({self.phase})"


@dataclass(frozen=True)
class RunComparison:
    baseline: RunResult
    candidate: RunResult
    flows: tuple[FlowDelta, ...]


def _keyed(run: RunResult) -> list[tuple[str, FlowResult]]:
    return [(phase.name, flow) for phase in run.phases for flow in phase.flows]


def _deltas(base: FlowResult, cand: FlowResult) -> tuple[tuple[MetricDelta, ...], tuple[str, ...]]:
    """The metrics both flows measure, and the names of those only one side measures."""
    deltas = []
    one_sided = []
    for name, (read, higher) in METRICS.items():
        b, c = read(base), read(cand)
        if b is not None and c is not None:
            deltas.append(MetricDelta(name, b, c, higher))
        elif b is not None or c is not None:
            one_sided.append(name)
    return tuple(deltas), tuple(one_sided)


def compare_runs(
    baseline: RunResult, candidate: RunResult, *, match_frame_size: bool = False
) -> RunComparison:
    base = _keyed(baseline)
    cand = _keyed(candidate)
    pairs: list[tuple[int | None, int | None]] = []
    unmatched_base = set(range(len(base)))
    unmatched_cand = set(range(len(cand)))

    def match(key: Callable[[str, FlowResult], object]) -> None:
        # A key matches only when it is unique on both sides, so nothing is paired by guess.
        def unique(items: list[tuple[str, FlowResult]], free: set[int]) -> dict[object, int]:
            seen: dict[object, list[int]] = {}
            for index in sorted(free):
                seen.setdefault(key(*items[index]), []).append(index)
            return {k: v[0] for k, v in seen.items() if len(v) == 1}

        left = unique(base, unmatched_base)
        right = unique(cand, unmatched_cand)
        for k, i in left.items():
            if k in right:
                pairs.append((i, right[k]))
                unmatched_base.discard(i)
                unmatched_cand.discard(right[k])

    def size(flow: FlowResult) -> int:
        return flow.frame_size if match_frame_size else 0

    match(lambda phase, flow: (phase, flow.name, size(flow)))
    match(lambda phase, flow: (flow.name, size(flow)))
    by_position = zip(sorted(unmatched_base), sorted(unmatched_cand), strict=False)
    if len(unmatched_base) == len(unmatched_cand) and all(
        size(base[i][1]) == size(cand[j][1]) for i, j in by_position
    ):
        pairs.extend(zip(sorted(unmatched_base), sorted(unmatched_cand), strict=True))
        unmatched_base.clear()
        unmatched_cand.clear()
    pairs.extend((i, None) for i in sorted(unmatched_base))
    pairs.extend((None, j) for j in sorted(unmatched_cand))
    pairs.sort(key=lambda p: (p[0] if p[0] is not None else len(base), p[1] or 0))

    flows: list[FlowDelta] = []
    for i, j in pairs:
        b = base[i] if i is not None else None
        c = cand[j] if j is not None else None
        ref = b if b is not None else c
        assert ref is not None  # every pair has at least one side
        phase, flow = ref
        if b is not None and c is not None:
            flows.append(FlowDelta(phase, flow.name, b[1], c[1], *_deltas(b[1], c[1])))
        else:
            flows.append(FlowDelta(phase, flow.name, b[1] if b else None, c[1] if c else None))
    return RunComparison(baseline, candidate, tuple(flows))


@dataclass(frozen=True)
class Thresholds:
    """What a candidate may not do; fractions (0.05 = 5%), None = not checked."""

    max_rx_pps_drop: float | None = None
    max_loss: float | None = None

    def merged(self, override: Thresholds) -> Thresholds:
        return Thresholds(
            max_rx_pps_drop=(
                override.max_rx_pps_drop
                if override.max_rx_pps_drop is not None
                else self.max_rx_pps_drop
            ),
            max_loss=override.max_loss if override.max_loss is not None else self.max_loss,
        )

    def describe(self) -> str:
        parts = []
        if self.max_rx_pps_drop is not None:
            parts.append(f"rx_pps drop ≤ {units.format_percent(self.max_rx_pps_drop)}")
        if self.max_loss is not None:
            parts.append(f"loss ≤ {units.format_percent(self.max_loss)}")
        return ", ".join(parts) or "no thresholds"


@dataclass(frozen=True)
class Violation:
    phase: str
    flow: str
    metric: str
    message: str


@dataclass(frozen=True)
class NotComparable:
    """A threshold that could not be checked on a flow: one run does not measure its metric."""

    phase: str
    flow: str
    metric: str
    message: str


def violations(comparison: RunComparison, thresholds: Thresholds) -> list[Violation]:
    """Every place the candidate crosses a threshold; it passes when this and
    ``not_comparable`` are both empty."""
    found: list[Violation] = []
    for delta in comparison.flows:
        found.extend(_flow_violations(delta, thresholds))
    return found


def not_comparable(comparison: RunComparison, thresholds: Thresholds) -> list[NotComparable]:
    """Every threshold left unchecked on a flow because one run does not measure its metric.

    Not a regression (nothing was seen to get worse) and not a pass (nothing was
    seen at all): a trafgen candidate has no receiver, so a rx_pps drop limit says
    nothing about it. A metric neither run measures is not listed.
    """
    # The rx_pps limit is a drop from the baseline, so it needs both sides; the loss
    # limit holds for the candidate alone, so only a candidate without loss misses it.
    checks = (
        ("rx_pps", "rx_pps drop", thresholds.max_rx_pps_drop, True),
        ("loss", "loss", thresholds.max_loss, False),
    )
    found: list[NotComparable] = []
    for delta in comparison.flows:
        if delta.baseline is None or delta.candidate is None:
            continue
        for metric, what, limit, needs_baseline in checks:
            if limit is None or metric not in delta.not_comparable:
                continue
            read = METRICS[metric][0]
            if read(delta.candidate) is None:
                side, other, engine = "candidate", "baseline", delta.candidate.engine
            elif needs_baseline:
                side, other, engine = "baseline", "candidate", delta.baseline.engine
            else:
                continue
            found.append(
                NotComparable(
                    delta.phase,
                    delta.flow,
                    metric,
                    f"flow {delta.flow} in phase {delta.phase}: the {other} measures {metric}"
                    f" but the {side} (engine {engine}) does not, so the {what} limit was not"
                    " checked",
                )
            )
    return found


def _flow_violations(delta: FlowDelta, limits: Thresholds) -> Iterable[Violation]:
    where = f"flow {delta.flow} in phase {delta.phase}"
    if delta.candidate is None:
        yield Violation(
            delta.phase,
            delta.flow,
            "missing",
            f"{where} is in the baseline but not in the candidate run",
        )
        return
    loss = METRICS["loss"][0](delta.candidate)
    # A candidate that does not measure loss (no receiver) has none to exceed the limit.
    if limits.max_loss is not None and loss is not None and loss > limits.max_loss:
        flow = delta.candidate
        yield Violation(
            delta.phase,
            delta.flow,
            "loss",
            f"{where}: loss {pct(flow.loss_ratio)} ({flow.lost:,} of {flow.tx_packets:,}"
            f" frames) is above the {units.format_percent(limits.max_loss)} allowed",
        )
    rx = delta.metric("rx_pps")
    if limits.max_rx_pps_drop is not None and rx is not None and rx.relative is not None:
        drop = -rx.relative
        if drop > limits.max_rx_pps_drop:
            yield Violation(
                delta.phase,
                delta.flow,
                "rx_pps",
                f"{where}: rx_pps dropped {pct(drop)} ({format_pps(rx.baseline)}"
                f" -> {format_pps(rx.candidate)}), more than the"
                f" {units.format_percent(limits.max_rx_pps_drop)} allowed",
            )
