"""`ringlab check` in the terminal and as JSON: the plan's rows, the resolved ends and
the preflight findings. The command computes nothing of this; it prints it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape

from ringlab.controller.checks.probing import PlanCheck
from ringlab.controller.run.plan import Plan, plan_headline, planned_frames
from ringlab.controller.scenario import units
from ringlab.controller.views.tables import Column, fit


def plan_rows(plan: Plan) -> list[dict[str, Any]]:
    """One row per flow per phase: when it starts (after the run's setup), for how long, what."""
    rows: list[dict[str, Any]] = []
    start_ns = 0
    for phase in plan.phases:
        start_ns += phase.gap_before_ns
        for flow in phase.flows:
            rows.append(
                {
                    "phase": phase.name,
                    "start_ns": start_ns,
                    "duration_ns": phase.duration_ns,
                    "flow": flow.name,
                    "from": flow.src_host,
                    "to": flow.dst_host,
                    "frame_size": flow.frame_size,
                    "rate_pps": flow.rate_pps,
                    "engine": flow.engine,
                    "workers": flow.workers,
                    "frames": planned_frames(flow, phase.duration_ns),
                }
            )
        start_ns += phase.duration_ns
    return rows


def check_json(plan: Plan, preflight: PlanCheck | None) -> dict[str, Any]:
    document: dict[str, Any] = {
        "scenario": plan.scenario,
        "mode": plan.mode,
        "hosts": list(plan.hosts),
        "total_ns": plan.total_ns,
        "flows": plan_rows(plan),
        "preflight": None,
    }
    if preflight is not None:
        document["preflight"] = {
            "refused": bool(preflight.errors),
            "endpoints": _endpoints(preflight),
            "findings": [
                {"code": f.code, "severity": f.severity, "message": f.message}
                for f in preflight.findings
            ],
        }
    return document


def _endpoints(preflight: PlanCheck) -> list[dict[str, Any]]:
    """Each flow's resolved interfaces, once per flow name (phases repeat them)."""
    by_name: dict[str, dict[str, Any]] = {}
    for flow in preflight.flows:
        by_name.setdefault(
            flow.name,
            {
                "flow": flow.name,
                "from": _end(preflight, flow.src_host, flow.src_interface, flow.src_mac),
                "to": _end(preflight, flow.dst_host, flow.dst_interface, flow.dst_mac),
            },
        )
    return list(by_name.values())


def _end(preflight: PlanCheck, host: str, interface: str, mac: str) -> dict[str, Any]:
    report = preflight.reports.get(host)
    found = next((i for i in report.interfaces if i.name == interface), None) if report else None
    return {
        "host": host,
        "interface": interface,
        "mac": mac,
        "driver": found.driver if found else None,
        "mtu": found.mtu if found else None,
    }


def _flow_label(row: dict[str, Any]) -> str:
    direction = f"{row['from']}->{row['to']}"
    return direction if row["flow"] == direction else f"{row['flow']} ({direction})"


# Phase and flow names and counts are never cut; at 80 columns the engine goes first.
PLAN_COLUMNS = (
    Column("phase"),
    Column("starts", "right"),
    Column("lasts", "right"),
    Column("flow"),
    Column("frame", "right"),
    Column("rate", "right"),
    Column("engine", "right", optional=True),
    Column("frames", "right", wrap=True),
)


def print_check(path: Path, plan: Plan, preflight: PlanCheck | None, console: Console) -> None:
    console.print(f"{path}: valid. {plan_headline(plan)}", highlight=False)
    rows = []
    for row in plan_rows(plan):
        frames = row["frames"]
        rows.append(
            [
                escape(row["phase"]),
                units.format_duration_ns(row["start_ns"]),
                units.format_duration_ns(row["duration_ns"]),
                escape(_flow_label(row)),
                f"{row['frame_size']} B",
                "max" if row["rate_pps"] == 0 else units.format_pps(row["rate_pps"]),
                f"{row['engine']} x{row['workers']}",
                f"{frames:,}" if frames is not None else "as many as fit",
            ]
        )
    fitted = fit(
        PLAN_COLUMNS,
        rows,
        console.width,
        title="plan: traffic and gaps in order (each phase's setup comes on top)",
    )
    for table in fitted.tables:
        console.print(table)
    if fitted.dropped:
        console.print(fitted.note(console.width), style="dim")
    if preflight is None:
        console.print(
            "preflight: not run. Pass --inventory FILE or --lab NAME to probe the hosts;"
            " `ringlab run` without either runs it on the temporary lab it creates.",
            soft_wrap=True,
        )
        return
    for endpoint in _endpoints(preflight):
        ends = [
            f"{e['host']}:{e['interface']} ({e['driver'] or 'driver ?'}, MTU {e['mtu'] or '?'})"
            for e in (endpoint["from"], endpoint["to"])
        ]
        console.print(
            f"  {endpoint['flow']}: {ends[0]} -> {ends[1]}", highlight=False, soft_wrap=True
        )
    for finding in preflight.findings:
        style = "red" if finding.severity == "error" else "yellow"
        console.print(
            f"  [{style}]{finding.severity}[/] {finding.code}: {finding.message}",
            highlight=False,
            soft_wrap=True,
        )
    if preflight.errors:
        console.print(
            f"[red]preflight would refuse this run ({len(preflight.errors)} error(s) above);"
            " no frame was sent.[/]"
        )
    else:
        console.print(
            f"preflight: {len(preflight.reports)} host(s) probed, nothing refused;"
            " no frame was sent."
        )
