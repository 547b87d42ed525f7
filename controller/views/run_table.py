"""Terminal rendering: the result tables and the live view (rich)."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from ringlab.controller.run.plan import PlannedPhase
from ringlab.controller.scenario.units import format_pps
from ringlab.controller.store.database import RunSummary
from ringlab.controller.store.results import PhaseResult, RunResult
from ringlab.controller.views.tables import Column, fit, when
from ringlab.v1 import agent_pb2 as pb

STATUS_STYLE = {"completed": "green", "failed": "red", "aborted": "yellow", "running": "cyan"}
SEVERITY_STYLE = {"info": "cyan", "warning": "yellow", "error": "red"}


# The run table. Where it does not fit (80 columns) the counts and the rates with the
# latency go in two tables, so no count and no latency is cut.
PHASE_COLUMNS = (
    Column("flow"),
    Column("tx", "right"),
    Column("rx", "right"),
    Column("lost", "right"),
    Column("reord", "right"),
    Column("dup", "right"),
    Column("tx pps", "right"),
    Column("rx pps", "right"),
    Column("k.drops", "right"),
    Column("latency p50/p99/max µs", "right"),
)
PHASE_GROUPS = ((1, 2, 3, 4, 5, 8), (6, 7, 9))


# What each column of the run table shows, to mark the fields a tool never collected.
PHASE_FIELDS = (
    "name",
    "tx_packets",
    "rx_packets",
    "lost",
    "reordered",
    "duplicates",
    "tx_pps",
    "rx_pps",
    "kernel_drops",
    "latency_us",
)
NOT_MEASURED = "n/m"


def phase_tables(phase: PhaseResult, width: int) -> list[Table]:
    """The phase's flows as one table, or two (counts; rates and latency) when narrow."""
    title = f"{phase.name} [{STATUS_STYLE.get(phase.status, 'white')}]{phase.status}[/]"
    if phase.start_skew_us:
        title += f"  start skew {phase.start_skew_us:.0f} µs"
    rows = []
    for flow in phase.flows:
        lat = flow.latency_us
        latency = f"{lat.p50:.0f}/{lat.p99:.0f}/{lat.max:.0f}" if lat.samples else "-"
        cells = [
            escape(flow.name),
            f"{flow.tx_packets:,}",
            f"{flow.rx_packets:,}",
            f"[red]{flow.lost:,}[/]" if flow.lost else "0",
            f"{flow.reordered:,}",
            f"{flow.duplicates:,}",
            format_pps(flow.tx_pps),
            format_pps(flow.rx_pps),
            f"[red]{flow.kernel_drops:,}[/]" if flow.kernel_drops else "0",
            latency,
        ]
        rows.append(
            [
                cell if flow.measured(field) else f"[dim]{NOT_MEASURED}[/]"
                for field, cell in zip(PHASE_FIELDS, cells, strict=True)
            ]
        )
    return fit(PHASE_COLUMNS, rows, width, title=title, groups=PHASE_GROUPS).tables


def not_measured_notes(phase: PhaseResult) -> list[str]:
    """Per flow with columns a tool never collected: which, and why (one line per reason)."""
    notes = []
    for flow in phase.flows:
        reasons = flow.not_measured
        by_reason: dict[str, list[str]] = {}
        for column, field in zip(PHASE_COLUMNS, PHASE_FIELDS, strict=True):
            if field in reasons:
                name = "latency" if field == "latency_us" else column.header
                by_reason.setdefault(reasons[field], []).append(name)
        for reason, headers in by_reason.items():
            notes.append(
                f"{NOT_MEASURED} = not measured: {', '.join(headers)} of {flow.name} ({reason})"
            )
    return notes


_XDP_STATS = (
    ("xdp_rx_dropped", "rx_dropped"),
    ("xdp_rx_ring_full", "rx_ring_full"),
    ("xdp_rx_invalid_descs", "rx_invalid"),
    ("xdp_rx_fill_ring_empty_descs", "fill_empty"),
    ("xdp_tx_invalid_descs", "tx_invalid"),
)


def _xdp_side(info: dict[str, str], extra: dict[str, int], receiving: bool) -> str:
    mode = info.get("xdp_mode", "?")
    text = f"{mode} q{extra.get('xdp_queue', 0)}"
    if extra.get("xdp_shared"):
        text += " shared"
    if receiving and "xdp_attach" in info:
        text += f" {info['xdp_attach']} via {info.get('xdp_attach_via', '?')}"
    counts = [f"{label} {extra[key]:,}" for key, label in _XDP_STATS if extra.get(key)]
    if not receiving and extra.get("xdp_device_drops"):
        counts.append(f"device drops {extra['xdp_device_drops']:,}")
    return text + (f" ({', '.join(counts)})" if counts else "")


def xdp_notes(phase: PhaseResult) -> list[str]:
    """Per AF_XDP flow: the mode and attach each side used and XDP_STATISTICS; collisions."""
    notes = []
    for flow in phase.flows:
        sides = []
        if flow.sender_info.get("engine") == "xdp":
            sides.append("tx " + _xdp_side(flow.sender_info, flow.sender_extra, False))
        if flow.receiver_info.get("engine") == "xdp":
            sides.append("rx " + _xdp_side(flow.receiver_info, flow.receiver_extra, True))
        if sides:
            notes.append(f"xdp {flow.name}: {'; '.join(sides)}")
        for busy in flow.xdp_queue_busy:
            holders = f", held by {', '.join(busy.holders)}" if busy.holders else ""
            notes.append(
                f"xdp {flow.name}: {busy.host} {busy.interface} queue {busy.queue} busy"
                f" (EBUSY) for the {busy.role}{holders}"
            )
    return notes


def print_phase(phase: PhaseResult, console: Console) -> None:
    for table in phase_tables(phase, console.width):
        console.print(table)
    for note in not_measured_notes(phase):
        console.print(f"  {note}", style="dim", highlight=False)
    for note in xdp_notes(phase):
        console.print(f"  {escape(note)}", highlight=False)


def wide_console(stderr: bool = False) -> Console:
    """A console that keeps result tables readable when output is piped (no terminal width).

    COLUMNS, when set, is the width either way (a script that asks for 80 gets 80).
    """
    console = Console(stderr=stderr)
    if console.is_terminal or os.environ.get("COLUMNS", "").strip().isdigit():
        return console
    return Console(stderr=stderr, width=160)


def print_run(result: RunResult, console: Console) -> None:
    style = STATUS_STYLE.get(result.status, "white")
    console.print(
        f"run [bold]{result.run_id}[/]  scenario {result.scenario}  mode {result.mode}  "
        f"status [{style}]{result.status}[/]"
    )
    for phase in result.phases:
        print_phase(phase, console)
        for error in phase.errors:
            console.print(f"  [red]error[/] {error}")
    for item in result.diagnosis:
        where = f" ({item.phase}{' / ' + item.flow if item.flow else ''})" if item.phase else ""
        sev = SEVERITY_STYLE.get(item.severity, "white")
        console.print(f"[{sev}]{item.severity}[/] {item.code}{where}: {item.message}")
    for failure in result.expect_failures:
        console.print(
            f"[red]expect failed[/] {failure.flow} in {failure.phase}: {failure.criterion} "
            f"expected {failure.expected}, measured {failure.measured}"
        )
    if result.error:
        console.print(f"[red]{result.error}[/]")


# Run ids and statuses are never cut; at 80 columns the start time (the run id begins
# with it, in UTC) and the mode are left out, and tags wrap between tags.
RUN_LIST_COLUMNS = (
    Column("run"),
    Column("started", wrap=True, optional=True),
    Column("scenario"),
    Column("mode", optional=True),
    Column("status"),
    Column("tags", wrap=True),
)


def print_run_list(runs: Sequence[RunSummary], console: Console) -> None:
    rows = [
        [
            escape(run.run_id),
            when(run.started_at),
            escape(run.scenario),
            run.mode,
            f"[{STATUS_STYLE.get(run.status, 'white')}]{run.status}[/]",
            escape(", ".join(run.tags)),
        ]
        for run in runs
    ]
    fitted = fit(RUN_LIST_COLUMNS, rows, console.width)
    for table in fitted.tables:
        console.print(table)
    if fitted.dropped:
        console.print(fitted.note(console.width), style="dim")


class LiveView:
    """Observer that shows phase progress and live per-flow rates."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.progress = Progress(
            TextColumn("{task.description}"), BarColumn(), TimeRemainingColumn(), console=console
        )
        self._task: int | None = None
        self._phase_end = 0.0
        self._rates: dict[tuple[str, str], float] = {}
        self._last: dict[tuple[str, str, str], tuple[int, int]] = {}
        self._live = Live(Group(self.progress, Table()), console=console, transient=True)

    def __enter__(self) -> LiveView:
        self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._live.__exit__(None, None, None)

    def phase_started(self, index: int, phase: PlannedPhase, total: int) -> None:
        if self._task is not None:
            self.progress.remove_task(self._task)  # type: ignore[arg-type]
        seconds = phase.duration_ns / 1e9
        self._task = self.progress.add_task(  # type: ignore[assignment]
            f"phase {index + 1}/{total} {phase.name}", total=seconds
        )
        self._phase_end = time.monotonic() + seconds
        self._rates.clear()
        self._refresh()

    def stats(self, phase: PlannedPhase, host: str, message: pb.StatsResponse) -> None:
        for counters in message.flows:
            role = "tx" if counters.role == pb.ROLE_SEND else "rx"
            key = (host, role, counters.name)
            previous = self._last.get(key)
            self._last[key] = (message.wall_ns, counters.packets)
            if previous and message.wall_ns > previous[0]:
                self._rates[(counters.name, role)] = (
                    (counters.packets - previous[1]) * 1e9 / (message.wall_ns - previous[0])
                )
        if self._task is not None:
            remaining = max(0.0, self._phase_end - time.monotonic())
            self.progress.update(self._task, completed=phase.duration_ns / 1e9 - remaining)  # type: ignore[arg-type]
        self._refresh()

    def phase_finished(self, result: PhaseResult) -> None:
        print_phase(result, self.console)

    def _refresh(self) -> None:
        table = Table(title="live", title_justify="left")
        table.add_column("flow")
        table.add_column("tx pps", justify="right")
        table.add_column("rx pps", justify="right")
        for name in sorted({n for n, _ in self._rates}):
            table.add_row(
                name,
                format_pps(self._rates.get((name, "tx"), 0)),
                format_pps(self._rates.get((name, "rx"), 0)),
            )
        self._live.update(Group(self.progress, table))


def run_summary_json(run: RunSummary) -> dict[str, Any]:
    """One run of `runs list --json` (fields documented in docs/cli.md)."""
    return {
        "run_id": run.run_id,
        "started_at": run.started_at,
        "scenario": run.scenario,
        "mode": run.mode,
        "status": run.status,
        "tags": list(run.tags),
    }
