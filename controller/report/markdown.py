"""The report as Markdown (for a pull request, a wiki page or a chat message); no charts."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from ringlab.controller.analysis.compare import MetricDelta
from ringlab.controller.report import fmt
from ringlab.controller.report.deltas import HIGHLIGHT, delta_class
from ringlab.controller.report.document import Report
from ringlab.controller.store.results import measures_packets, measures_rx

DIFF_METRICS = ("tx_pps", "rx_pps", "loss", "kernel_drops", "latency_p99_us")


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
    if report.comparisons:
        out += [
            "## Differences",
            "",
            f"Against {report.runs[0].label}; bold: beyond {fmt.pct(HIGHLIGHT)}.",
            "",
        ]
        for cmp in report.comparisons:
            out += [f"### {cmp.candidate.run_id} vs {cmp.baseline.run_id}", ""]
            out += _table(
                ["phase", "flow", *DIFF_METRICS],
                (
                    [d.phase, d.flow, *(_delta(d.metric(m)) for m in DIFF_METRICS)]
                    if d.matched
                    else [
                        d.phase,
                        d.flow,
                        "only in " + ("the baseline" if d.candidate is None else "this run"),
                    ]
                    for d in cmp.flows
                ),
            )
    if report.groups:
        out += ["## Bidirectional vs time-sliced", ""]
        out += _table(
            [
                "flow",
                "engine",
                "bidirectional rx",
                "time-sliced rx",
                "change",
                "bidir loss",
                "sliced loss",
            ],
            (
                [
                    g.flow,
                    g.engine,
                    fmt.pps(g.bidirectional_rx_pps),
                    fmt.pps(g.sliced_rx_pps),
                    fmt.signed_pct(g.relative),
                    fmt.pct(g.bidirectional_loss),
                    fmt.pct(g.sliced_loss),
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
                ["flow", "engine", "tx", "rx", "lost", "loss", "tx pps", "rx pps", "kernel drops"],
                (
                    [
                        f.name,
                        f.engine,
                        fmt.number(f.tx_packets) if measures_packets(f) else "-",
                        fmt.number(f.rx_packets) if measures_rx(f) and measures_packets(f) else "-",
                        fmt.number(f.lost) if measures_rx(f) and measures_packets(f) else "-",
                        fmt.pct(f.loss_ratio) if measures_rx(f) and measures_packets(f) else "-",
                        fmt.pps(f.tx_pps) if measures_packets(f) else "-",
                        fmt.pps(f.rx_pps) if measures_rx(f) and measures_packets(f) else "-",
                        fmt.number(f.kernel_drops),
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
