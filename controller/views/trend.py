"""Trends in the terminal (`ringlab runs trend`) and as JSON."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.markup import escape

from ringlab.controller.analysis.trend_series import TrendSeries
from ringlab.controller.report import fmt
from ringlab.controller.views.tables import Column, fit, when

_BARS = "▁▂▃▄▅▆▇█"


def sparkline(values: Sequence[float]) -> str:
    if not values:
        return ""
    low, high = min(values), max(values)
    span = high - low
    if span == 0:
        return _BARS[3] * len(values)
    return "".join(_BARS[round((v - low) / span * (len(_BARS) - 1))] for v in values)


def print_trends(series: Sequence[TrendSeries], console: Console) -> None:
    for item in series:
        marks = {c.index: c for c in item.changes}
        console.print(
            f"[bold]{item.scenario}[/] · {item.label} · {item.metric}  {sparkline(item.values)}"
        )
        columns = (
            Column("run"),
            Column("started", wrap=True, optional=True),
            Column(item.metric, "right"),
            Column("change point", wrap=True),
        )
        rows = []
        higher_is_better = item.metric.endswith("pps")
        for index, (run_id, started, value) in enumerate(
            zip(item.run_ids, item.started, item.values, strict=True)
        ):
            mark = ""
            change = marks.get(index)
            if change is not None:
                good = (change.direction == "up") == higher_is_better
                arrow = "▲" if change.direction == "up" else "▼"
                mark = (
                    f"[{'green' if good else 'red'}]{arrow} step {change.direction}"
                    f" {fmt.metric(item.metric, change.before)} → {fmt.metric(item.metric, change.after)}"
                    f" ({fmt.signed_pct(change.relative)}, p={change.p_value:.4f})[/]"
                )
            rows.append([escape(run_id), when(started), fmt.metric(item.metric, value), mark])
        fitted = fit(columns, rows, console.width)
        for table in fitted.tables:
            console.print(table)
        if fitted.dropped:
            console.print(fitted.note(console.width), style="dim")
        if not item.changes:
            console.print(f"  {no_change_note(item)}")


def no_change_note(item: TrendSeries) -> str:
    """Why a series has no change point, and what `--alpha` can do about it."""
    if item.too_short and item.min_p_value < 1:
        return f"{item.no_change_note}, or use a larger --alpha"
    return item.no_change_note


def trends_json(series: Sequence[TrendSeries]) -> list[dict[str, Any]]:
    return [
        {
            "scenario": s.scenario,
            "metric": s.metric,
            "hosts": list(s.hosts),
            "phase": s.phase,
            "flow": s.flow,
            "alpha": s.alpha,
            "min_p_value": s.min_p_value,
            "too_short": s.too_short,
            "runs_needed": s.runs_needed,
            "points": [
                {"run_id": r, "started_at": t, "value": v}
                for r, t, v in zip(s.run_ids, s.started, s.values, strict=True)
            ],
            "change_points": [
                {
                    "run_id": s.run_ids[c.index],
                    "direction": c.direction,
                    "before": c.before,
                    "after": c.after,
                    "relative": c.relative,
                    "p_value": c.p_value,
                }
                for c in s.changes
            ],
        }
        for s in series
    ]
