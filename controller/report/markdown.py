"""The report as Markdown (for a pull request, a wiki page or a chat message); no charts."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from ringlab.controller.analysis.run_deltas import FlowDelta, MetricDelta
from ringlab.controller.report import flow_cells, fmt
from ringlab.controller.report.deltas import HIGHLIGHT, delta_class
from ringlab.controller.report.document import Report
from ringlab.controller.report.flow_cells import NOT_MEASURED

DIFF_METRICS = ("tx_pps", "rx_pps", "loss", "kernel_drops", "latency_p99_us")
FLOW_COLUMNS = ("tx_packets", "rx_packets", "lost", "loss", "tx_pps", "rx_pps", "kernel_drops")
FLOW_HEADERS = ("tx", "rx", "lost", "loss", "tx pps", "rx pps", "kernel drops")
SIDE_COLUMNS = ("tx_pps", "rx_pps", "rx_bps", "loss")
SIDE_HEADERS = ("tx pps", "rx pps", "rx bps", "loss")


def _table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|").replace("\n", " ") for c in cells) + " |"

    return [line(header), line(["---"] * len(header)), *(line(row) for row in rows), ""]


def _delta(delta: MetricDelta | None) -> str:
    if delta is None:
        return "n/a"
    text = (
        f"{fmt.metric(delta.metric, delta.baseline)} → {fmt.metric(delta.metric, delta.candidate)}"
        f" ({fmt.signed_pct(delta.relative)})"
    )
    # Bold marks what the HTML colours: a change beyond run-to-run noise.
    mark = delta_class(delta)
    return f"**{text} {'▼' if mark == 'worse' else '▲'}**" if mark else text


def _frame(delta: FlowDelta) -> str:
    flow = delta.candidate if delta.candidate is not None else delta.baseline
    return str(flow.frame_size or "-") if flow is not None else "-"


def _delta_cells(delta: FlowDelta) -> list[str]:
    if not delta.matched:
        side = "the baseline" if delta.candidate is None else "this run"
        return [f"only in {side}", *[""] * (len(DIFF_METRICS) - 1)]
    cells = []
    for name in DIFF_METRICS:
        found = delta.metric(name)
        if found is None:
            cells.append("not comparable" if name in delta.not_comparable else NOT_MEASURED)
        else:
            cells.append(_delta(found))
    return cells


def render_markdown(report: Report) -> str:
    out = [
        f"# {report.title}",
        "",
        f"{len(report.runs)} run(s), generated {report.generated_at}",
        "",
    ]
    out += ["## Runs", ""]
    header = ["", *(view.label for view in report.runs)]
    rows = [
        ["scenario", *(v.result.scenario for v in report.runs)],
        ["mode", *(v.result.mode for v in report.runs)],
        ["status", *(v.result.status for v in report.runs)],
        ["started", *(v.result.started_at for v in report.runs)],
        ["tags", *(", ".join(v.result.tags) for v in report.runs)],
        ["engines", *(", ".join(v.engines) for v in report.runs)],
        [
            "hosts",
            *(
                "; ".join(
                    f"{h.host}: kernel {h.kernel or '?'}, agent {h.agent_version or '?'}"
                    for h in v.hosts
                )
                for v in report.runs
            ),
        ],
        [
            "probes",
            *(
                "; ".join(
                    f"{p.host} {p.interface}: {p.driver} {p.driver_version}, fw {p.firmware}"
                    for p in v.probes
                )
                or "-"
                for v in report.runs
            ),
        ],
    ]
    out += _table(header, rows)
    if report.comparisons or report.warnings:
        out += ["## Differences", ""]
        out += [f"> ⚠ {warning}" for warning in report.warnings]
        out += [""] if report.warnings else []
    if report.comparisons:
        against = "; ".join(
            f"{b.kind}: {report.label(b.run_id)}" + (", chosen with --baseline" if b.chosen else "")
            for b in report.baselines
            if b.candidates
        )
        out += [
            f"Each run against the baseline of its scenario and tool ({against}); flows match"
            f" by name and frame size; bold: beyond {fmt.pct(HIGHLIGHT)}.",
            "",
        ]
        for cmp in report.comparisons:
            out += [
                f"### {report.label(cmp.candidate.run_id)} vs baseline"
                f" {report.label(cmp.baseline.run_id)} · {cmp.candidate.scenario}",
                "",
            ]
            out += _table(
                ["phase", "flow", "frame", *DIFF_METRICS],
                ([d.phase, d.flow, _frame(d), *_delta_cells(d)] for d in cmp.flows),
            )
    if report.side_by_side:
        out += [
            "### Side by side, not compared",
            "",
            "Runs of different scenarios or tools: each flow's values next to each other, with"
            " no % change between them.",
            "",
        ]
        out += _table(
            ["flow", "frame", "run", "scenario (tool)", "phase", "engine", "target", *SIDE_HEADERS],
            (
                [
                    row.flow.name,
                    str(row.flow.frame_size or "-"),
                    row.run_label,
                    str(row.kind),
                    row.phase,
                    row.flow.engine,
                    flow_cells.target(row.flow),
                    *(flow_cells.cell(row.flow, c) for c in SIDE_COLUMNS),
                ]
                for row in report.side_by_side
            ),
        )
    if report.groups:
        out += [
            "## Bidirectional vs time-sliced",
            "",
            "Mean receive rate per flow (name, engine and frame size) with both directions at"
            " once and with one at a time; each row says which runs each side averages.",
            "",
        ]
        out += _table(
            [
                "flow",
                "engine",
                "frame",
                "bidirectional rx",
                "time-sliced rx",
                "change",
                "bidir loss",
                "sliced loss",
                "averages",
            ],
            (
                [
                    g.flow,
                    g.engine,
                    str(g.frame_size or "-"),
                    fmt.pps(g.bidirectional_rx_pps),
                    fmt.pps(g.sliced_rx_pps),
                    fmt.signed_pct(g.relative),
                    fmt.pct(g.bidirectional_loss),
                    fmt.pct(g.sliced_loss),
                    g.averages(report.labels),
                ]
                for g in report.groups
            ),
        )
    for view in report.runs:
        result = view.result
        out += [f"## {view.label} · {result.scenario} ({result.mode})", ""]
        for phase in result.phases:
            out += [
                f"### {phase.name} ({phase.group}, {phase.status}, {phase.duration_s:.2f} s)",
                "",
            ]
            out += _table(
                ["flow", "engine", "frame", "target", *FLOW_HEADERS],
                (
                    [
                        f.name,
                        f.engine,
                        str(f.frame_size or "-"),
                        flow_cells.target(f),
                        *(flow_cells.cell(f, c) for c in FLOW_COLUMNS),
                    ]
                    for f in phase.flows
                ),
            )
            out += [f"- error: {e}" for e in phase.errors]
        if result.diagnosis:
            out += ["Diagnoses:", ""]
            out += [
                f"- **{d.severity}** {d.code}"
                + (f" ({d.phase}{' / ' + d.flow if d.flow else ''})" if d.phase else "")
                + f": {d.message}"
                for d in result.diagnosis
            ]
            out.append("")
    if report.trends:
        out += ["## Trends", ""]
        for series in report.trends:
            steps = "; ".join(
                f"step {c.direction} at run {series.run_ids[c.index]}"
                f" ({fmt.metric(series.metric, c.before)} → {fmt.metric(series.metric, c.after)},"
                f" {fmt.signed_pct(c.relative)}, p={c.p_value:.4f})"
                for c in series.changes
            )
            out.append(
                f"- {series.scenario} · {series.label} · {series.metric}: {len(series.values)} runs;"
                f" {steps or series.no_change_note}"
            )
        out.append("")
    return "\n".join(out)
