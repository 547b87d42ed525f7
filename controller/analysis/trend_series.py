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
from dataclasses import dataclass
from typing import Protocol

from ringlab.controller.analysis.trend import (
    DEFAULT_ALPHA,
    ChangePoint,
    change_points,
    min_p_value,
    runs_needed,
)
from ringlab.controller.store.database import FlowPoint
from ringlab.controller.store.results import RunResult

TREND_METRICS: dict[str, Callable[[FlowPoint], float]] = {
    "rx_pps": lambda p: p.rx_pps,
    "tx_pps": lambda p: p.tx_pps,
    "loss": lambda p: p.loss,
    "kernel_drops": lambda p: float(p.kernel_drops),
}


@dataclass(frozen=True)
class TrendSeries:
    scenario: str
    metric: str
    hosts: tuple[str, ...]  # the run's host set, sorted
    phase: str
    flow: str
    run_ids: tuple[str, ...]
    started: tuple[str, ...]
    values: tuple[float, ...]
    changes: tuple[ChangePoint, ...]
    alpha: float = DEFAULT_ALPHA

    @property
    def label(self) -> str:
        return f"{self.flow} ({self.phase}) on {','.join(self.hosts)}"

    @property
    def min_p_value(self) -> float:
        """The smallest p-value a history this long can give (see ringlab.controller.analysis.trend)."""
        return min_p_value(len(self.values))

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
        runs = len(self.values)
        if not self.too_short:
            return f"no change point in {runs} run(s) at alpha {self.alpha:g}"
        needed = self.runs_needed
        takes = (
            f"it takes {needed} runs at alpha {self.alpha:g}"
            if needed is not None
            else f"no number of runs reaches alpha {self.alpha:g}"
        )
        if self.min_p_value >= 1:
            return (
                f"too few runs to show a change: {runs} run(s) cannot put two on each side; {takes}"
            )
        return (
            f"too few runs to show a change: the smallest p-value {runs} run(s) can give is"
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

    ``alpha`` is the significance level a change must reach.
    """
    if metric not in TREND_METRICS:
        raise ValueError(f"unknown metric {metric!r}; use one of {', '.join(TREND_METRICS)}")
    read = TREND_METRICS[metric]
    run_hosts: dict[str, set[str]] = {}
    for point in points:
        run_hosts.setdefault(point.run_id, set()).update((point.from_host, point.to_host))
    grouped: dict[tuple[tuple[str, ...], str, str], list[FlowPoint]] = {}
    for point in points:
        key = (tuple(sorted(run_hosts[point.run_id])), point.phase, point.flow)
        grouped.setdefault(key, []).append(point)
    series: list[TrendSeries] = []
    for (hosts, phase, flow), items in grouped.items():
        if len(items) < min_runs:
            continue
        values = tuple(read(p) for p in items)
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
                changes=tuple(change_points(values, alpha=alpha)),
                alpha=alpha,
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
