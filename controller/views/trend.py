"""Trends in the terminal (`ringlab runs trend`) and as JSON.

A run that never measured the metric (a send-only trafgen import's rx_pps) reads "not
measured" in the table and null in JSON, never 0; imported runs carry their source, and a
step between runs of different tools says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.markup import escape

from ringlab.controller.analysis.trend import ChangePoint
from ringlab.controller.analysis.trend_series import TrendSeries
from ringlab.controller.report import fmt
from ringlab.controller.views.tables import Column, fit, when

_BARS = "▁▂▃▄▅▆▇█"
NOT_MEASURED = "not measured"
# A sparkline's mark for a run that never measured the metric.
_GAP = "·"


def sparkline(values: Sequence[float | None]) -> str:
    known = [v for v in values if v is not None]
    low, high = (min(known), max(known)) if known else (0.0, 0.0)
    span = high - low

    def bar(value: float | None) -> str:
        if value is None:
            return _GAP
        if span == 0:
            return _BARS[3]
        return _BARS[round((value - low) / span * (len(_BARS) - 1))]

    return "".join(bar(v) for v in values)


def tool_change_note(item: TrendSeries, change: ChangePoint) -> str:
    """ ", across a change of tool: ringlab → trafgen" when the step is between tools."""
    tools = item.tool_change(change)
    if tools is None:
        return ""
    before, after = (", ".join(side) or "none" for side in tools)
    return f"; across a change of tool: {before} → {after}, not like for like"


def print_trends(series: Sequence[TrendSeries], console: Console) -> None:
    for item in series:
        marks = {c.index: c for c in item.changes}
        console.print(
            f"[bold]{item.scenario}[/] · {item.label} · {item.metric}  {sparkline(item.values)}"
        )
        imported = any(item.source(i) != "ringlab" for i in range(len(item.values)))
        columns = (
            Column("run"),
            Column("started", wrap=True, optional=True),
            *((Column("source"),) if imported else ()),
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
                    + escape(tool_change_note(item, change))
                )
            shown = NOT_MEASURED if value is None else fmt.metric(item.metric, value)
            source = (escape(item.source(index)),) if imported else ()
            rows.append([escape(run_id), when(started), *source, shown, mark])
        fitted = fit(columns, rows, console.width)
        for table in fitted.tables:
            console.print(table)
        if fitted.dropped:
            console.print(fitted.note(console.width), style="dim")
        for reason in dict.fromkeys(r for r in item.not_measured if r):
            console.print(f"  {NOT_MEASURED}: {escape(reason)}", style="dim")
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
            "points": [_point_json(s, i) for i in range(len(s.values))],
            "change_points": [_change_json(s, c) for c in s.changes],
        }
        for s in series
    ]


def _point_json(series: TrendSeries, index: int) -> dict[str, Any]:
    source = series.source(index)
    point: dict[str, Any] = {
        "run_id": series.run_ids[index],
        "started_at": series.started[index],
        "value": series.values[index],
        "source": source,
        "imported": source != "ringlab",
    }
    if series.values[index] is None:
        point["not_measured"] = series.not_measured[index]
    return point


def _change_json(series: TrendSeries, change: ChangePoint) -> dict[str, Any]:
    tools = series.tool_change(change)
    return {
        "run_id": series.run_ids[change.index],
        "direction": change.direction,
        "before": change.before,
        "after": change.after,
        "relative": change.relative,
        "p_value": change.p_value,
        # null when both sides were measured by the same tool(s).
        "tool_change": None
        if tools is None
        else {"before": list(tools[0]), "after": list(tools[1])},
    }
