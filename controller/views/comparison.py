"""A comparison of two runs (`ringlab compare`) in the terminal and as JSON.

The deltas come from ``analysis.run_deltas``; this module only lays them out.
"""

from __future__ import annotations

from typing import Any

from rich.markup import escape
from rich.table import Table

from ringlab.controller.analysis.run_deltas import NotComparable, RunComparison, Violation
from ringlab.controller.report import fmt
from ringlab.controller.report.deltas import delta_class
from ringlab.controller.views.tables import Column, fit


def comparison_tables(
    comparison: RunComparison, metrics: tuple[str, ...], width: int
) -> list[Table]:
    """Phase and flow, then baseline → candidate and the change per metric; phase and flow
    names are never cut (at 80 columns the metrics wrap or go in a second table)."""
    columns = (
        Column("phase"),
        Column("flow"),
        *(Column(metric, "right", wrap=True) for metric in metrics),
    )
    rows: list[list[str]] = []
    styles = {"worse": "red", "better": "green", "": "white"}
    for delta in comparison.flows:
        keys = [escape(delta.phase), escape(delta.flow)]
        if not delta.matched:
            side = "baseline" if delta.candidate is None else "candidate"
            rows.append([*keys, f"[red]only in the {side}[/]", *[""] * (len(metrics) - 1)])
            continue
        cells = []
        for metric in metrics:
            md = delta.metric(metric)
            if md is None:
                one_side = metric in delta.not_comparable
                cells.append("[yellow]not comparable[/]" if one_side else "[dim]not measured[/]")
                continue
            style = styles[delta_class(md)]
            cells.append(
                f"{fmt.metric(metric, md.baseline)} → {fmt.metric(metric, md.candidate)}"
                f" [{style}]{fmt.signed_pct(md.relative)}[/]"
            )
        rows.append([*keys, *cells])
    title = f"{comparison.candidate.run_id} vs baseline {comparison.baseline.run_id}"
    return fit(columns, rows, width, title=escape(title), keys=2).tables


def compare_json(
    comparison: RunComparison, found: list[Violation], unchecked: list[NotComparable]
) -> dict[str, Any]:
    return {
        "baseline": comparison.baseline.run_id,
        "candidate": comparison.candidate.run_id,
        "flows": [
            {
                "phase": d.phase,
                "flow": d.flow,
                "metrics": {
                    m.metric: {
                        "baseline": m.baseline,
                        "candidate": m.candidate,
                        "relative": m.relative,
                    }
                    for m in d.metrics
                },
                "not_comparable": list(d.not_comparable),
            }
            for d in comparison.flows
        ],
        "violations": [
            {"phase": v.phase, "flow": v.flow, "metric": v.metric, "message": v.message}
            for v in found
        ],
        "not_comparable": [
            {"phase": n.phase, "flow": n.flow, "metric": n.metric, "message": n.message}
            for n in unchecked
        ],
    }
