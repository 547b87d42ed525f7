"""What a report says, computed once: runs side by side, differences, group panel, trends.

Every renderer (HTML, Markdown, JSON, CSV) formats a ``Report``; none of them
looks at a RunResult to compute something of its own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ringlab.controller.analysis.run_deltas import RunComparison
from ringlab.controller.analysis.trend_series import TrendSeries
from ringlab.controller.report.baselines import Baseline, SideBySide, plan
from ringlab.controller.store.results import FlowResult, RunResult, measures_packets, measures_rx

GROUPS = ("bidirectional", "time-sliced")


@dataclass(frozen=True)
class HostRow:
    host: str
    hostname: str
    kernel: str
    agent_version: str
    address: str


@dataclass(frozen=True)
class ProbeRow:
    host: str
    interface: str
    driver: str
    driver_version: str
    firmware: str
    speed: str
    notes: str


@dataclass(frozen=True)
class RunView:
    index: int  # 1-based position in the report
    result: RunResult
    hosts: tuple[HostRow, ...]
    probes: tuple[ProbeRow, ...]
    engines: tuple[str, ...]

    @property
    def label(self) -> str:
        return f"#{self.index} {self.result.run_id}"


@dataclass(frozen=True)
class GroupRow:
    """One flow's receive rate and loss when both directions run at once vs one at a time,
    each side the mean over the runs (and scenarios) it names."""

    flow: str
    engine: str
    frame_size: int
    bidirectional_rx_pps: float
    sliced_rx_pps: float
    bidirectional_loss: float
    sliced_loss: float
    bidirectional_runs: tuple[str, ...]
    sliced_runs: tuple[str, ...]
    bidirectional_scenarios: tuple[str, ...]
    sliced_scenarios: tuple[str, ...]

    @property
    def runs(self) -> tuple[str, ...]:
        """Every run the row averages, either side."""
        return tuple(sorted({*self.bidirectional_runs, *self.sliced_runs}))

    def averages(self, labels: Mapping[str, str]) -> str:
        """Which runs each side averages, and of which scenarios (``labels``: id -> "#n id")."""

        def side(runs: tuple[str, ...], scenarios: tuple[str, ...]) -> str:
            named = ", ".join(labels.get(r, r) for r in runs)
            mean = "mean of " if len(runs) > 1 else ""
            return f"{mean}{named} (scenario{'s' if len(scenarios) > 1 else ''} {', '.join(scenarios)})"

        return (
            f"bidirectional: {side(self.bidirectional_runs, self.bidirectional_scenarios)};"
            f" time-sliced: {side(self.sliced_runs, self.sliced_scenarios)}"
        )

    @property
    def relative(self) -> float | None:
        """How much more (or less) time-sliced receives than bidirectional."""
        if self.bidirectional_rx_pps == 0:
            return None
        return (self.sliced_rx_pps - self.bidirectional_rx_pps) / self.bidirectional_rx_pps


@dataclass(frozen=True)
class Report:
    runs: tuple[RunView, ...]
    # Each run against the baseline of its scenario and tool (report.baselines).
    comparisons: tuple[RunComparison, ...]
    groups: tuple[GroupRow, ...]
    trends: tuple[TrendSeries, ...] = ()
    generated_at: str = field(
        default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds")
    )
    baselines: tuple[Baseline, ...] = ()
    # Flows of runs of different scenarios or tools, next to each other; never a % change.
    side_by_side: tuple[SideBySide, ...] = ()
    warnings: tuple[str, ...] = ()

    def label(self, run_id: str) -> str:
        """``#n ID`` of a run in this report (the id alone for one that is not)."""
        return next((v.label for v in self.runs if v.result.run_id == run_id), run_id)

    @property
    def labels(self) -> dict[str, str]:
        return {view.result.run_id: view.label for view in self.runs}

    @property
    def title(self) -> str:
        scenarios = sorted({view.result.scenario for view in self.runs})
        return f"ringlab report: {', '.join(scenarios)}"


def _probe_rows(probes: Mapping[str, Any]) -> tuple[ProbeRow, ...]:
    """The interfaces of each host's probe report (ringlab.probe_model.ProbeReport as JSON).

    Read defensively: a run stores whatever its agents reported, and a report of old
    runs must still render.
    """
    rows: list[ProbeRow] = []
    for host, report in sorted(probes.items()):
        if not isinstance(report, Mapping):
            continue
        for itf in report.get("interfaces") or []:
            # Loopback says nothing about the test path.
            if not isinstance(itf, Mapping) or itf.get("name") == "lo":
                continue
            notes = [
                label
                for key, label in (("zc", "zero-copy"), ("management", "management"))
                if itf.get(key)
            ]
            if itf.get("kernel_bypass"):
                notes.append("kernel bypass (DPDK)")
            speed = itf.get("speed_mbps")
            rows.append(
                ProbeRow(
                    host=host,
                    interface=str(itf.get("name", "?")),
                    driver=str(itf.get("driver") or "-"),
                    driver_version=str(itf.get("driver_version") or "-"),
                    firmware=str(itf.get("firmware") or "-"),
                    speed=f"{speed} Mb/s" if speed else "-",
                    notes=", ".join(notes),
                )
            )
    return tuple(rows)


def run_view(index: int, result: RunResult) -> RunView:
    hosts = tuple(
        HostRow(name, info.hostname, info.kernel, info.agent_version, info.address)
        for name, info in sorted(result.hosts.items())
    )
    engines = tuple(sorted({flow.engine for phase in result.phases for flow in phase.flows}))
    return RunView(index, result, hosts, _probe_rows(result.probes), engines)


def group_rows(runs: Sequence[RunResult]) -> tuple[GroupRow, ...]:
    """Per flow, bidirectional vs time-sliced across all given runs; empty unless both occur."""
    # Keyed by engine and frame size too: an iperf3 reference beside a ringlab run, or
    # 64-byte frames beside 1500-byte ones, is not the same flow.
    Key = tuple[str, str, int]
    totals: dict[tuple[Key, str], list[FlowResult]] = {}
    sources: dict[tuple[Key, str], dict[str, str]] = {}  # run id -> scenario, in run order
    for run in runs:
        for phase in run.phases:
            if phase.group not in GROUPS:
                continue
            for flow in phase.flows:
                if not (measures_rx(flow) and measures_packets(flow)):
                    continue
                key = ((flow.name, flow.engine, flow.frame_size), phase.group)
                totals.setdefault(key, []).append(flow)
                sources.setdefault(key, {})[run.run_id] = run.scenario
    rows: list[GroupRow] = []
    for flow_key in dict.fromkeys(k for k, _ in totals):
        bidir = totals.get((flow_key, "bidirectional"))
        sliced = totals.get((flow_key, "time-sliced"))
        if not bidir or not sliced:
            continue
        b_runs = sources[flow_key, "bidirectional"]
        s_runs = sources[flow_key, "time-sliced"]
        name, engine, frame_size = flow_key
        rows.append(
            GroupRow(
                flow=name,
                engine=engine,
                frame_size=frame_size,
                bidirectional_rx_pps=_mean_rx(bidir),
                sliced_rx_pps=_mean_rx(sliced),
                bidirectional_loss=_loss(bidir),
                sliced_loss=_loss(sliced),
                bidirectional_runs=tuple(b_runs),
                sliced_runs=tuple(s_runs),
                bidirectional_scenarios=tuple(dict.fromkeys(b_runs.values())),
                sliced_scenarios=tuple(dict.fromkeys(s_runs.values())),
            )
        )
    return tuple(rows)


def _mean_rx(flows: Sequence[FlowResult]) -> float:
    return sum(f.rx_pps for f in flows) / len(flows)


def _loss(flows: Sequence[FlowResult]) -> float:
    sent = sum(f.tx_packets for f in flows)
    return sum(f.lost for f in flows) / sent if sent else 0.0


def build_report(
    runs: Sequence[RunResult],
    trends: Sequence[TrendSeries] = (),
    generated_at: str | None = None,
    baseline: str | None = None,
) -> Report:
    """The report of ``runs``; ``baseline`` (a run id among them) is the run its scenario
    and tool's other runs are compared with (default: the first of each)."""
    if not runs:
        raise ValueError("a report needs at least one run")
    views = tuple(run_view(i + 1, run) for i, run in enumerate(runs))
    chosen = plan(runs, [view.label for view in views], baseline)
    extra = {"generated_at": generated_at} if generated_at else {}
    return Report(
        views,
        chosen.comparisons,
        group_rows(runs),
        tuple(trends),
        baselines=chosen.baselines,
        side_by_side=chosen.side_by_side,
        warnings=chosen.warnings,
        **extra,
    )
