"""Trend series: a stored history cut into one series per host set × phase × flow,
each with its change points.

The statistics (change points, what a history this long can show) are
``analysis.trend``; this module groups a scenario's stored flows into the series
they apply to. ``views.trend`` prints them and the report draws them. Shared by
`ringlab runs trend` and the report's trend section. ``build_trends`` is pure (the
caller reads the points from the store); ``report_trends`` reads them through any
store that has ``flow_history``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from ringlab.controller.analysis.trend import (
    DEFAULT_ALPHA,
    ChangePoint,
    change_points,
    min_p_value,
    runs_needed,
)
from ringlab.controller.store.database import FlowPoint
from ringlab.controller.store.results import RunResult, source_tool

TREND_METRICS: dict[str, Callable[[FlowPoint], float]] = {
    "rx_pps": lambda p: p.rx_pps,
    "tx_pps": lambda p: p.tx_pps,
    "loss": lambda p: p.loss,
    "kernel_drops": lambda p: float(p.kernel_drops),
}
# The stored fields each metric is computed from: a point that never measured one of
# them has no value (null, with the reason), never 0.
METRIC_FIELDS: dict[str, tuple[str, ...]] = {
    "rx_pps": ("rx_pps",),
    "tx_pps": ("tx_pps",),
    "loss": ("lost", "tx_packets"),
    "kernel_drops": ("kernel_drops",),
}


def metric_value(point: FlowPoint, metric: str) -> tuple[float | None, str]:
    """The metric of one point, or None with the reason it was never measured."""
    for field in METRIC_FIELDS[metric]:
        reason = point.not_measured.get(field)
        if reason is not None:
            return None, f"{field}: {reason}"
    return TREND_METRICS[metric](point), ""


@dataclass(frozen=True)
class TrendSeries:
    scenario: str
    metric: str
    hosts: tuple[str, ...]  # the run's host set, sorted
    phase: str
    flow: str
    run_ids: tuple[str, ...]
    started: tuple[str, ...]
    # None: the run never measured the metric (``not_measured`` says why), never 0.
    values: tuple[float | None, ...]
    # Change points index ``values`` (and ``run_ids``); found among the measured values.
    changes: tuple[ChangePoint, ...]
    alpha: float = DEFAULT_ALPHA
    # Per run: "ringlab", or the import it came by (iperf3, trafgen, ringlab-export).
    sources: tuple[str, ...] = ()
    # Per run: why its value is None ("" when measured).
    not_measured: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        return f"{self.flow} ({self.phase}) on {','.join(self.hosts)}"

    @property
    def measured(self) -> list[tuple[int, float]]:
        """(index, value) of every run that measured the metric."""
        return [(i, v) for i, v in enumerate(self.values) if v is not None]

    def source(self, index: int) -> str:
        return self.sources[index] if self.sources else "ringlab"

    def tool_change(self, change: ChangePoint) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
        """The tools on either side of ``change`` when they differ (then the step may be
        the tools', not the system's); None when both segments were measured alike."""
        bounds = [0, *(c.index for c in self.changes), len(self.values)]
        at = bounds.index(change.index)
        sides = (range(bounds[at - 1], change.index), range(change.index, bounds[at + 1]))
        before, after = (
            tuple(
                dict.fromkeys(
                    source_tool(self.source(i)) for i in side if self.values[i] is not None
                )
            )
            for side in sides
        )
        return None if before == after else (before, after)

    @property
    def min_p_value(self) -> float:
        """The smallest p-value a history this long can give (see ringlab.controller.analysis.trend)."""
        return min_p_value(len(self.measured))

    @property
    def too_short(self) -> bool:
        """No change, however clear, could reach ``alpha`` in this few runs."""
        return self.min_p_value > self.alpha

    @property
    def runs_needed(self) -> int | None:
        """Runs a history needs before a change can reach ``alpha`` (None: never)."""
        return runs_needed(self.alpha)

    @property
    def no_change_note(self) -> str:
        """Why there is no change point: none at ``alpha``, or too few runs to show one."""
        count = len(self.measured)
        # Runs that did not measure the metric are no evidence either way: say so.
        runs = f"{count} run(s)" if count == len(self.values) else f"{count} measured run(s)"
        if not self.too_short:
            return f"no change point in {runs} at alpha {self.alpha:g}"
        needed = self.runs_needed
        takes = (
            f"it takes {needed} runs at alpha {self.alpha:g}"
            if needed is not None
            else f"no number of runs reaches alpha {self.alpha:g}"
        )
        if self.min_p_value >= 1:
            return f"too few runs to show a change: {runs} cannot put two on each side; {takes}"
        return (
            f"too few runs to show a change: the smallest p-value {runs} can give is"
            f" {self.min_p_value:.3g}, above alpha {self.alpha:g}; {takes}"
        )


def build_trends(
    scenario: str,
    points: Sequence[FlowPoint],
    metric: str = "rx_pps",
    *,
    min_runs: int = 2,
    alpha: float = DEFAULT_ALPHA,
) -> list[TrendSeries]:
    """Group ``points`` (oldest first) into series and find each series' change points.

    ``alpha`` is the significance level a change must reach. A series needs
    ``min_runs`` runs that measured the metric; with ``min_runs`` 1 every series is
    kept, even one whose runs all did not (it says so instead of plotting zeros).
    """
    if metric not in TREND_METRICS:
        raise ValueError(f"unknown metric {metric!r}; use one of {', '.join(TREND_METRICS)}")
    run_hosts: dict[str, set[str]] = {}
    for point in points:
        run_hosts.setdefault(point.run_id, set()).update((point.from_host, point.to_host))
    grouped: dict[tuple[tuple[str, ...], str, str], list[FlowPoint]] = {}
    for point in points:
        key = (tuple(sorted(run_hosts[point.run_id])), point.phase, point.flow)
        grouped.setdefault(key, []).append(point)
    series: list[TrendSeries] = []
    for (hosts, phase, flow), items in grouped.items():
        read = [metric_value(p, metric) for p in items]
        values = tuple(value for value, _ in read)
        measured = [(i, v) for i, v in enumerate(values) if v is not None]
        if len(measured if min_runs > 1 else items) < min_runs:
            continue
        # Found among the measured runs, then placed back at their run in the series.
        found = change_points([v for _, v in measured], alpha=alpha)
        changes = tuple(replace(c, index=measured[c.index][0]) for c in found)
        series.append(
            TrendSeries(
                scenario=scenario,
                metric=metric,
                hosts=hosts,
                phase=phase,
                flow=flow,
                run_ids=tuple(p.run_id for p in items),
                started=tuple(p.started_at for p in items),
                values=values,
                changes=changes,
                alpha=alpha,
                sources=tuple(p.source for p in items),
                not_measured=tuple(reason for _, reason in read),
            )
        )
    return series


# A trend needs a few points before a step can be told from noise.
REPORT_MIN_RUNS = 4


class FlowHistory(Protocol):
    def flow_history(self, scenario: str) -> Sequence[FlowPoint]: ...


def report_trends(
    store: FlowHistory, runs: Sequence[RunResult], metric: str, *, min_runs: int = REPORT_MIN_RUNS
) -> list[TrendSeries]:
    """Trends of every scenario in a report, limited to series the reported runs belong to."""
    wanted = {run.run_id for run in runs}
    series: list[TrendSeries] = []
    for scenario in dict.fromkeys(run.scenario for run in runs):
        history = store.flow_history(scenario)
        for item in build_trends(scenario, history, metric, min_runs=min_runs):
            if wanted.intersection(item.run_ids):
                series.append(item)
    return series
