"""`ringlab regress` in the terminal: a line per case as it starts and ends, the summary
table, the host sets left out, and `regress history`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from rich.console import Console
from rich.markup import escape

from ringlab.controller.analysis.history import METRIC, CaseHistory, SuiteHistory
from ringlab.controller.report import fmt
from ringlab.controller.report.verdict import CaseOutcome
from ringlab.controller.scenario.suite import SuiteCase, Unlinked
from ringlab.controller.scenario.units import format_pps
from ringlab.controller.views.tables import Column, fit, when
from ringlab.controller.views.trend import sparkline

STYLE = {
    "passed": "green",
    "new-baseline": "green",
    "regressed": "red",
    "error": "yellow",
    "not-judged": "yellow",
}
# One letter per suite run in `regress history`.
LETTER = {"passed": "P", "new-baseline": "B", "regressed": "R", "error": "E", "not-judged": "N"}
# Left-out host sets listed in the terminal; a lab wired in pairs has many (n² - n).
UNLINKED_SHOWN = 8
LEGEND = (
    "P passed, B new baseline, R regressed, E error (did not run to its end),"
    " N not judged (no baseline), - not in that suite run"
)


def _verdict(verdict: str) -> str:
    return f"[{STYLE.get(verdict, 'white')}]{verdict}[/]"


def _seconds(value: float) -> str:
    return f"{value:.1f} s"


class CaseLines:
    """Prints one line when a case starts and one when it ends (``run.regress.CaseObserver``)."""

    def __init__(self, console: Console) -> None:
        self.console = console

    def case_started(self, case: SuiteCase, number: int, total: int, limit_s: float) -> None:
        self.console.print(
            f"[cyan]start[/] [{number}/{total}] {escape(case.name)}"
            f" (time limit {_seconds(limit_s)})",
            soft_wrap=True,
        )

    def case_finished(self, outcome: CaseOutcome, number: int, total: int) -> None:
        run = f", run {outcome.candidate.run_id}" if outcome.candidate else ""
        why = f": {escape(outcome.message)}" if outcome.message and not outcome.ok else ""
        self.console.print(
            f"[bold]end[/]   [{number}/{total}] {escape(outcome.name)}"
            f" {_verdict(outcome.verdict)} in {_seconds(outcome.duration_s)}{run}{why}",
            soft_wrap=True,
        )


def counts(outcomes: Sequence[CaseOutcome]) -> str:
    passed = sum(1 for o in outcomes if o.ok)
    found = [f"{passed} passed"]
    for verdict, label in (("regressed", "regressed"), ("error", "error(s)")):
        found.append(f"{sum(1 for o in outcomes if o.verdict == verdict)} {label}")
    found.append(f"{sum(1 for o in outcomes if o.verdict == 'not-judged')} not judged")
    return ", ".join(found)


def print_summary(
    suite: str, outcomes: Sequence[CaseOutcome], unlinked: Sequence[Unlinked], console: Console
) -> None:
    columns = (
        Column("case", wrap=True),
        Column("verdict"),
        Column("run"),
        Column("baseline", optional=True),
        Column("time", "right", optional=True),
        Column("why", wrap=True),
    )
    rows = [
        [
            escape(o.name),
            _verdict(o.verdict),
            o.candidate.run_id if o.candidate else "-",
            o.baseline.run_id if o.baseline else "-",
            _seconds(o.duration_s),
            escape(o.message),
        ]
        for o in outcomes
    ]
    fitted = fit(columns, rows, console.width, title=f"regression suite {escape(suite)}")
    for table in fitted.tables:
        console.print(table)
    if fitted.dropped:
        console.print(fitted.note(console.width), style="dim")
    print_unlinked(unlinked, console)
    console.print(f"{len(outcomes)} case(s): {counts(outcomes)}")


def regress_json(
    suite: str, suite_run_id: str, outcomes: Sequence[CaseOutcome], unlinked: Sequence[Unlinked]
) -> dict[str, Any]:
    """What `regress run --json` prints: the summary table's rows with every field, the
    violations behind each regression and the host sets left out."""
    return {
        "suite": suite,
        "suite_run_id": suite_run_id,
        "cases": [
            {
                "name": o.name,
                "scenario": o.scenario,
                "hosts": list(o.hosts),
                "verdict": o.verdict,
                "run_id": o.candidate.run_id if o.candidate else None,
                "baseline_run_id": o.baseline.run_id if o.baseline else None,
                "duration_s": round(o.duration_s, 3),
                "message": o.message,
                "violations": [asdict(v) for v in o.violations],  # phase, flow, metric, message
            }
            for o in outcomes
        ],
        "left_out": [
            {"field": u.field, "scenario": u.scenario, "hosts": list(u.hosts), "reason": u.reason}
            for u in unlinked
        ],
    }


def print_unlinked(unlinked: Sequence[Unlinked], console: Console) -> None:
    if not unlinked:
        return
    console.print(
        f"{len(unlinked)} host set(s) left out, no interface at both ends of every flow"
        " (not cases, not errors):"
    )
    for item in unlinked[:UNLINKED_SHOWN]:
        console.print(f"  {escape(item.name)} ({item.field}): {escape(item.reason)}")
    if len(unlinked) > UNLINKED_SHOWN:
        console.print(
            f"  and {len(unlinked) - UNLINKED_SHOWN} more (the JUnit XML and the HTML summary"
            " list them all)"
        )


def _change_text(case: CaseHistory, history: SuiteHistory) -> str:
    if case.changes:
        parts = []
        for found in case.changes:
            change = found.change
            arrow = "▲" if change.direction == "up" else "▼"
            style = "green" if change.direction == "up" else "red"
            parts.append(
                f"[{style}]{arrow} at {when(found.started_at)}:"
                f" {format_pps(change.before)} → {format_pps(change.after)}"
                f" ({fmt.signed_pct(change.relative)}, p={change.p_value:.4f})[/]"
            )
        return "; ".join(parts)
    if case.too_short:
        needed = history.runs_needed
        takes = f"{needed}" if needed is not None else "more"
        return f"too few runs to show a change: {case.measured} measured, it takes {takes}"
    return f"no change point in {case.measured} run(s) at alpha {history.alpha:g}"


def print_history(history: SuiteHistory, console: Console) -> None:
    runs = history.suite_runs
    console.print(
        f"[bold]suite {escape(history.suite)}[/]: {len(history.cases)} case(s) over the last"
        f" {len(runs)} suite run(s), {when(runs[0].started_at)} to {when(runs[-1].started_at)};"
        f" {METRIC} is the case's received packet rate",
    )
    columns = (
        Column("case", wrap=True),
        Column("verdicts\n(oldest first)"),
        Column(f"{METRIC}\n(latest)", "right"),
        Column("trend", optional=True),
        Column("change points", wrap=True),
    )
    rows = []
    for case in history.cases:
        letters = " ".join(
            "-"
            if e is None
            else f"[{STYLE.get(e.verdict, 'white')}]{LETTER.get(e.verdict, '?')}[/]"
            for e in case.entries
        )
        values = [e.metric for e in case.entries if e is not None and e.metric is not None]
        latest = case.latest()
        shown = "-" if latest is None or latest.metric is None else format_pps(latest.metric)
        rows.append(
            [
                escape(case.name),
                letters,
                shown,
                sparkline(values),
                _change_text(case, history),
            ]
        )
    fitted = fit(columns, rows, console.width)
    for table in fitted.tables:
        console.print(table)
    if fitted.dropped:
        console.print(fitted.note(console.width), style="dim")
    console.print(LEGEND, style="dim")


def print_case_runs(history: SuiteHistory, case: CaseHistory, console: Console) -> None:
    """Every suite run of one case: its verdict, its run and baseline, the metric, why."""
    console.print(f"[bold]{escape(case.name)}[/] in suite {escape(history.suite)}")
    columns = (
        Column("suite run"),
        Column("started", wrap=True, optional=True),
        Column("verdict"),
        Column("run"),
        Column("baseline", optional=True),
        Column(METRIC, "right"),
        Column("why", wrap=True),
    )
    rows = []
    for suite_run, entry in zip(history.suite_runs, case.entries, strict=True):
        if entry is None:
            rows.append([suite_run.suite_run_id, when(suite_run.started_at), "-", "", "", "", ""])
            continue
        rows.append(
            [
                suite_run.suite_run_id,
                when(suite_run.started_at),
                _verdict(entry.verdict),
                entry.run_id or "-",
                entry.baseline_run_id or "-",
                "-" if entry.metric is None else format_pps(entry.metric),
                escape(entry.message),
            ]
        )
    fitted = fit(columns, rows, console.width)
    for table in fitted.tables:
        console.print(table)
    if fitted.dropped:
        console.print(fitted.note(console.width), style="dim")
    console.print(_change_text(case, history))
