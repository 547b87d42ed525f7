"""What a report says, computed once: runs side by side, differences, group panel, trends.

Every renderer (HTML, Markdown, JSON, CSV) formats a ``Report``; none of them
looks at a RunResult to compute something of its own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ringlab.controller.analysis.compare import RunComparison, compare_runs
from ringlab.controller.analysis.trend_series import TrendSeries
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
    """One flow's receive rate and loss when both directions run at once vs one at a time."""

    flow: str
    engine: str
    bidirectional_rx_pps: float
    sliced_rx_pps: float
    bidirectional_loss: float
    sliced_loss: float
    runs: tuple[str, ...]

    @property
    def relative(self) -> float | None:
        """How much more (or less) time-sliced receives than bidirectional."""
        if self.bidirectional_rx_pps == 0:
            return None
        return (self.sliced_rx_pps - self.bidirectional_rx_pps) / self.bidirectional_rx_pps


@dataclass(frozen=True)
class Report:
    runs: tuple[RunView, ...]
    comparisons: tuple[RunComparison, ...]  # every later run against the first
    groups: tuple[GroupRow, ...]
    trends: tuple[TrendSeries, ...] = ()
    generated_at: str = field(
        default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds")
    )

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
    # Keyed by engine too: an iperf3 reference beside a ringlab run is not the same flow.
    totals: dict[tuple[str, str, str], list[FlowResult]] = {}
    run_ids: dict[tuple[str, str], set[str]] = {}
    for run in runs:
        for phase in run.phases:
            if phase.group not in GROUPS:
                continue
            for flow in phase.flows:
                if not (measures_rx(flow) and measures_packets(flow)):
                    continue
                totals.setdefault((flow.name, flow.engine, phase.group), []).append(flow)
                run_ids.setdefault((flow.name, flow.engine), set()).add(run.run_id)
    rows: list[GroupRow] = []
    for name, engine in dict.fromkeys((name, engine) for name, engine, _ in totals):
        bidir = totals.get((name, engine, "bidirectional"))
        sliced = totals.get((name, engine, "time-sliced"))
        if not bidir or not sliced:
            continue
        rows.append(
            GroupRow(
                flow=name,
                engine=engine,
                bidirectional_rx_pps=_mean_rx(bidir),
                sliced_rx_pps=_mean_rx(sliced),
                bidirectional_loss=_loss(bidir),
                sliced_loss=_loss(sliced),
                runs=tuple(sorted(run_ids[name, engine])),
            )
        )
    return tuple(rows)


def _mean_rx(flows: Sequence[FlowResult]) -> float:
    return sum(f.rx_pps for f in flows) / len(flows)


def _loss(flows: Sequence[FlowResult]) -> float:
    sent = sum(f.tx_packets for f in flows)
    return sum(f.lost for f in flows) / sent if sent else 0.0


def build_report(
    runs: Sequence[RunResult], trends: Sequence[TrendSeries] = (), generated_at: str | None = None
) -> Report:
    if not runs:
        raise ValueError("a report needs at least one run")
    views = tuple(run_view(i + 1, run) for i, run in enumerate(runs))
    comparisons = tuple(compare_runs(runs[0], other) for other in runs[1:])
    extra = {"generated_at": generated_at} if generated_at else {}
    return Report(views, comparisons, group_rows(runs), tuple(trends), **extra)
