"""Which run each run of a report is compared with: like with like, never across kinds.

A run's *kind* is its scenario and the tool that measured it (ringlab, or the peer
tool of an import: iperf3, trafgen). A run is compared, flow by flow (name and
frame size), only with the baseline of its own kind: the ``--baseline`` run when
it is of that kind, else the first run of that kind in the report. Runs of
different kinds are put side by side with a warning, never as a % change: an
iperf3 import's 1046-byte flow is not a 64-byte ringlab flow, and a scenario
that runs both directions at once is not one that runs them in turn.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ringlab.controller.analysis.run_deltas import RunComparison, compare_runs
from ringlab.controller.store.results import FlowResult, RunResult

# Engines of runs `ringlab runs import` made, by the tool that measured them.
IMPORTED_TOOLS = {"iperf3": "iperf3", "iperf3-tcp": "iperf3", "trafgen": "trafgen"}


def run_tool(run: RunResult) -> str:
    """``ringlab``, or the peer tool(s) an imported run came from."""
    tools = {IMPORTED_TOOLS.get(f.engine, "ringlab") for p in run.phases for f in p.flows}
    return "+".join(sorted(tools)) or "ringlab"


@dataclass(frozen=True)
class Kind:
    scenario: str
    tool: str

    def __str__(self) -> str:
        return f"{self.scenario} ({self.tool})"


def run_kind(run: RunResult) -> Kind:
    return Kind(run.scenario, run_tool(run))


@dataclass(frozen=True)
class Baseline:
    """The run every other run of ``kind`` is compared with."""

    kind: Kind
    run_id: str
    chosen: bool  # named by --baseline, not just the first of its kind
    candidates: int  # runs compared with it (0: the only run of its kind)


@dataclass(frozen=True)
class SideBySide:
    """One flow of one run, for runs of different kinds read next to each other."""

    run_id: str
    run_label: str
    kind: Kind
    phase: str
    flow: FlowResult


@dataclass(frozen=True)
class Plan:
    baselines: tuple[Baseline, ...]
    comparisons: tuple[RunComparison, ...]
    side_by_side: tuple[SideBySide, ...]
    warnings: tuple[str, ...]


def plan(runs: Sequence[RunResult], labels: Sequence[str], baseline: str | None = None) -> Plan:
    """Baselines per kind, each run's comparison with its baseline, and the side-by-side
    rows and warning when the report holds runs of more than one kind.

    ``labels`` name the runs in the report (``#1 ID``); ``baseline`` is a run id among
    ``runs`` (``--baseline``).
    """
    if baseline is not None and baseline not in {run.run_id for run in runs}:
        raise ValueError(f"baseline {baseline} is not one of the report's runs")
    by_kind: dict[Kind, list[int]] = {}
    for index, run in enumerate(runs):
        by_kind.setdefault(run_kind(run), []).append(index)
    baselines: list[Baseline] = []
    comparisons: list[RunComparison] = []
    for kind, members in by_kind.items():
        chosen = [i for i in members if runs[i].run_id == baseline]
        base = chosen[0] if chosen else members[0]
        baselines.append(Baseline(kind, runs[base].run_id, bool(chosen), len(members) - 1))
        comparisons.extend(
            compare_runs(runs[base], runs[i], match_frame_size=True) for i in members if i != base
        )
    warnings: list[str] = []
    rows: tuple[SideBySide, ...] = ()
    if len(by_kind) > 1:
        listed = "; ".join(
            f"{kind}: {', '.join(labels[i] for i in members)}" for kind, members in by_kind.items()
        )
        warnings.append(
            f"These runs are of {len(by_kind)} different scenarios or tools ({listed}). Each run"
            " is compared only with a run of its own scenario and tool; across them the flows"
            " are shown side by side, never as a % change."
        )
        rows = _side_by_side(runs, labels)
    if baseline is not None and not any(b.chosen and len(by_kind[b.kind]) > 1 for b in baselines):
        warnings.append(
            f"--baseline {baseline}: no other run of its scenario and tool is in the report,"
            " so nothing is compared with it."
        )
    return Plan(tuple(baselines), tuple(comparisons), rows, tuple(warnings))


def _side_by_side(runs: Sequence[RunResult], labels: Sequence[str]) -> tuple[SideBySide, ...]:
    """Every flow of every run; the runs of one flow (name and frame size) next to each
    other, flows in the order they first appear."""
    rows = [
        SideBySide(run.run_id, label, run_kind(run), phase.name, flow)
        for run, label in zip(runs, labels, strict=True)
        for phase in run.phases
        for flow in phase.flows
    ]
    first: dict[tuple[str, int], int] = {}
    for row in rows:
        first.setdefault((row.flow.name, row.flow.frame_size), len(first))
    # sorted() is stable: within one flow, rows keep run and phase order.
    return tuple(sorted(rows, key=lambda row: first[row.flow.name, row.flow.frame_size]))
