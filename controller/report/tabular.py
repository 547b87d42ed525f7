"""Machine-readable output: one CSV row per run × phase × flow, and the report as JSON."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from ringlab.controller.report.document import Report
from ringlab.controller.store.results import FlowResult, RunResult

REPORT_FORMAT_VERSION = 1

CSV_COLUMNS = (
    "run_id",
    "scenario",
    "mode",
    "status",
    "started_at",
    "tags",
    "phase",
    "group",
    "flow",
    "from",
    "to",
    "engine",
    "frame_size",
    "target_pps",
    "tx_packets",
    "rx_packets",
    "lost",
    "loss_ratio",
    "reordered",
    "duplicates",
    "tx_pps",
    "rx_pps",
    "tx_bps",
    "rx_bps",
    "kernel_drops",
    "latency_p50_us",
    "latency_p99_us",
    "latency_max_us",
)


def flow_rows(runs: Sequence[RunResult]) -> list[dict[str, Any]]:
    rows = []
    for run in runs:
        for phase in run.phases:
            for f in phase.flows:
                lat = f.latency_us
                rows.append(
                    {
                        "run_id": run.run_id,
                        "scenario": run.scenario,
                        "mode": run.mode,
                        "status": run.status,
                        "started_at": run.started_at,
                        "tags": " ".join(run.tags),
                        "phase": phase.name,
                        "group": phase.group,
                        "flow": f.name,
                        "from": f.from_host,
                        "to": f.to_host,
                        "engine": f.engine,
                        "frame_size": f.frame_size,
                        "target_pps": f.target_pps,
                        "tx_packets": f.tx_packets,
                        "rx_packets": f.rx_packets,
                        "lost": f.lost,
                        "loss_ratio": f.loss_ratio,
                        "reordered": f.reordered,
                        "duplicates": f.duplicates,
                        "tx_pps": f.tx_pps,
                        "rx_pps": f.rx_pps,
                        "tx_bps": f.tx_bps,
                        "rx_bps": f.rx_bps,
                        "kernel_drops": f.kernel_drops,
                        "latency_p50_us": lat.p50 if lat.samples else "",
                        "latency_p99_us": lat.p99 if lat.samples else "",
                        "latency_max_us": lat.max if lat.samples else "",
                    }
                )
                # What the flow's tool never collected is an empty cell, not 0.
                for column in rows[-1]:
                    if _FIELD_OF_COLUMN.get(column, column) in f.not_measured:
                        rows[-1][column] = ""
    return rows


# CSV columns that show a flow field under another name.
_FIELD_OF_COLUMN = {
    "loss_ratio": "lost",
    "latency_p50_us": "latency_us",
    "latency_p99_us": "latency_us",
    "latency_max_us": "latency_us",
}


def render_csv(runs: Sequence[RunResult]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(flow_rows(runs))
    return buffer.getvalue()


def _frame_size(flow: FlowResult | None) -> int:
    return flow.frame_size if flow is not None else 0


def report_dict(report: Report) -> dict[str, Any]:
    """The report as plain JSON data; runs are full result documents (schema_version inside)."""
    return {
        "report_format": REPORT_FORMAT_VERSION,
        "generated_at": report.generated_at,
        "runs": [view.result.to_json_dict() for view in report.runs],
        "warnings": list(report.warnings),
        "baselines": [
            {
                "scenario": b.kind.scenario,
                "tool": b.kind.tool,
                "run_id": b.run_id,
                "chosen": b.chosen,
                "compared_runs": b.candidates,
            }
            for b in report.baselines
        ],
        "differences": [
            {
                "scenario": cmp.candidate.scenario,
                "baseline": cmp.baseline.run_id,
                "candidate": cmp.candidate.run_id,
                "flows": [
                    {
                        "phase": d.phase,
                        "flow": d.flow,
                        "frame_size": _frame_size(d.candidate or d.baseline),
                        "in_baseline": d.baseline is not None,
                        "in_candidate": d.candidate is not None,
                        "metrics": {
                            m.metric: {
                                "baseline": m.baseline,
                                "candidate": m.candidate,
                                "change": m.change,
                                "relative": m.relative,
                                "worse": m.worse,
                            }
                            for m in d.metrics
                        },
                        "not_comparable": list(d.not_comparable),
                    }
                    for d in cmp.flows
                ],
            }
            for cmp in report.comparisons
        ],
        # Runs of different scenarios or tools: values only, never a relative change.
        "side_by_side": [
            {
                "run_id": row.run_id,
                "scenario": row.kind.scenario,
                "tool": row.kind.tool,
                "phase": row.phase,
                "flow": row.flow.name,
                "frame_size": row.flow.frame_size,
                "engine": row.flow.engine,
                **{
                    column: getattr(row.flow, column) if row.flow.measured(column) else None
                    for column in ("tx_pps", "rx_pps", "rx_bps")
                },
                "loss": row.flow.loss_ratio if row.flow.measured("lost") else None,
            }
            for row in report.side_by_side
        ],
        "bidirectional_vs_time_sliced": [
            {**asdict(g), "runs": list(g.runs), "relative": g.relative} for g in report.groups
        ],
        "trends": [
            {
                "scenario": s.scenario,
                "metric": s.metric,
                "hosts": list(s.hosts),
                "phase": s.phase,
                "flow": s.flow,
                "run_ids": list(s.run_ids),
                "values": list(s.values),
                "change_points": [
                    {
                        "run_id": s.run_ids[c.index],
                        "index": c.index,
                        "direction": c.direction,
                        "before": c.before,
                        "after": c.after,
                        "relative": c.relative,
                        "p_value": c.p_value,
                    }
                    for c in s.changes
                ],
            }
            for s in report.trends
        ],
    }
