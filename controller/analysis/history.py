"""A suite's history per case: verdicts and the key metric over its last suite runs. Pure.

A case is a scenario on a set of hosts (``CaseRecord.case_key``); its history
has one entry per suite run, ``None`` where that suite run did not have it (a
host set a later inventory no longer links, a test added later).

The key metric is the received packet rate of the case's run: the rx_pps of
its flows added up, averaged over its phases (the run's throughput, whatever
the mode). Flows that do not measure received packets are left out; a run
none of whose flows does has no metric. Change points come from
``analysis.trend.change_points`` over the entries whose run completed and has
a metric; when there are too few of them for ``alpha`` the history says how
many it takes, as `ringlab runs trend` does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ringlab.controller.analysis.trend import (
    DEFAULT_ALPHA,
    ChangePoint,
    change_points,
    min_p_value,
    runs_needed,
)
from ringlab.controller.store.results import RunResult
from ringlab.controller.store.suites import CaseRecord, SuiteRunRecord, SuiteRuns

METRIC = "rx_pps"
# Verdicts whose run completed: their metric belongs in the series.
_MEASURED = ("passed", "new-baseline", "regressed", "not-judged")


def key_metric(result: RunResult) -> float | None:
    """Received packets per second, all flows added up, averaged over the phases that
    measured any; None when no flow measures received packets."""
    totals = [
        sum(flow.rx_pps for flow in phase.flows if flow.measured(METRIC))
        for phase in result.phases
        if any(flow.measured(METRIC) for flow in phase.flows)
    ]
    return sum(totals) / len(totals) if totals else None


@dataclass(frozen=True)
class CaseChange:
    """The case's metric changed level from ``suite_run_id`` on."""

    suite_run_id: str
    started_at: str
    change: ChangePoint


@dataclass(frozen=True)
class CaseHistory:
    key: str
    name: str  # as the newest suite run named it
    scenario: str
    hosts: tuple[str, ...]
    entries: tuple[CaseRecord | None, ...]  # one per suite run, oldest first
    changes: tuple[CaseChange, ...]
    measured: int  # entries in the metric series
    too_short: bool  # fewer than runs_needed: no change could reach alpha

    def latest(self) -> CaseRecord | None:
        return next((e for e in reversed(self.entries) if e is not None), None)


@dataclass(frozen=True)
class SuiteHistory:
    suite: str
    alpha: float
    runs_needed: int | None
    suite_runs: tuple[SuiteRunRecord, ...]  # oldest first
    cases: tuple[CaseHistory, ...]  # in the newest suite run's order, then older cases

    def to_json(self) -> dict[str, Any]:
        return {
            "suite": self.suite,
            "metric": METRIC,
            "alpha": self.alpha,
            "runs_needed": self.runs_needed,
            "suite_runs": [
                {
                    "id": r.suite_run_id,
                    "started_at": r.started_at,
                    "finished_at": r.finished_at or None,
                    "baseline_tag": r.baseline_tag,
                }
                for r in self.suite_runs
            ],
            "cases": [_case_json(case) for case in self.cases],
        }


def _case_json(case: CaseHistory) -> dict[str, Any]:
    return {
        "case": case.name,
        "key": case.key,
        "scenario": case.scenario,
        "hosts": list(case.hosts),
        "runs": [
            None
            if e is None
            else {
                "suite_run": e.suite_run_id,
                "verdict": e.verdict,
                "run_id": e.run_id,
                "baseline_run_id": e.baseline_run_id,
                METRIC: e.metric,
                "message": e.message,
                "duration_s": e.duration_s,
            }
            for e in case.entries
        ],
        "change_points": [
            {
                "suite_run": c.suite_run_id,
                "started_at": c.started_at,
                "before": c.change.before,
                "after": c.change.after,
                "relative": c.change.relative,
                "direction": c.change.direction,
                "p_value": c.change.p_value,
            }
            for c in case.changes
        ],
        "measured_runs": case.measured,
        "too_short": case.too_short,
    }


def build_history(
    suite: str,
    suite_runs: Sequence[SuiteRunRecord],
    records: Sequence[CaseRecord],
    alpha: float = DEFAULT_ALPHA,
) -> SuiteHistory:
    """Each case's entries across ``suite_runs`` (oldest first) and where its metric changed."""
    position = {run.suite_run_id: i for i, run in enumerate(suite_runs)}
    grouped: dict[str, list[CaseRecord | None]] = {}
    # Newest suite run first, so its cases (in file order) lead the table.
    for record in sorted(records, key=lambda r: (-position[r.suite_run_id], r.position)):
        entries = grouped.setdefault(record.case_key, [None] * len(suite_runs))
        entries[position[record.suite_run_id]] = record
    cases = [_case(key, entries, suite_runs, alpha) for key, entries in grouped.items()]
    return SuiteHistory(suite, alpha, runs_needed(alpha), tuple(suite_runs), tuple(cases))


def _case(
    key: str,
    entries: list[CaseRecord | None],
    suite_runs: Sequence[SuiteRunRecord],
    alpha: float,
) -> CaseHistory:
    newest = next(e for e in reversed(entries) if e is not None)
    points = [
        (i, e.metric)
        for i, e in enumerate(entries)
        if e is not None and e.verdict in _MEASURED and e.metric is not None
    ]
    values = [metric for _, metric in points]
    changes = tuple(
        CaseChange(
            suite_runs[points[c.index][0]].suite_run_id,
            suite_runs[points[c.index][0]].started_at,
            c,
        )
        for c in change_points(values, alpha=alpha)
    )
    return CaseHistory(
        key=key,
        name=newest.name,
        scenario=newest.scenario,
        hosts=newest.hosts,
        entries=tuple(entries),
        changes=changes,
        measured=len(values),
        too_short=min_p_value(len(values)) > alpha,
    )


def read_history(
    suites: SuiteRuns, suite: str, last: int, alpha: float = DEFAULT_ALPHA
) -> SuiteHistory:
    """The history of ``suite`` over its last ``last`` suite runs (none: no suite runs)."""
    runs = suites.last_runs(suite, last)
    return build_history(suite, runs, suites.cases([r.suite_run_id for r in runs]), alpha)
