"""Self-contained HTML: inline CSS, charts as inline SVG, no script, nothing fetched.

The file opens offline in any browser and can be mailed or attached to a CI job
as is. Templates live in ``templates/`` (Jinja2, autoescaped); this module only
prepares what they show.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from ringlab import __version__
from ringlab.controller.analysis.history import SuiteHistory
from ringlab.controller.report import flow_cells, fmt
from ringlab.controller.report.deltas import HIGHLIGHT, delta_class
from ringlab.controller.report.document import Report
from ringlab.controller.report.verdict import CaseOutcome
from ringlab.controller.scenario.suite import Unlinked, case_key
from ringlab.controller.store.results import measures_packets, measures_rx

_TEMPLATES = Path(__file__).parent / "templates"

# (flow_cells column, header) of each run's flow tables and of the side-by-side table.
FLOW_COLUMNS = (
    ("tx_packets", "tx"),
    ("rx_packets", "rx"),
    ("lost", "lost"),
    ("loss", "loss"),
    ("tx_pps", "tx pps"),
    ("rx_pps", "rx pps"),
    ("rx_bps", "rx bps"),
    ("kernel_drops", "kernel drops"),
    ("latency", "latency p50/p99/max µs"),
)
SIDE_BY_SIDE_COLUMNS = (
    ("tx_pps", "tx pps"),
    ("rx_pps", "rx pps"),
    ("rx_bps", "rx bps"),
    ("loss", "loss"),
    ("latency", "latency p50/p99/max µs"),
)


def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(_TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        pps=fmt.pps,
        bps=fmt.bps,
        pct=fmt.pct,
        signed_pct=fmt.signed_pct,
        number=fmt.number,
        metric=lambda value, name: fmt.metric(name, value),
        delta_class=delta_class,
        target=flow_cells.target,
        cell=flow_cells.cell,
    )
    env.globals.update(
        measures_rx=measures_rx,
        measures_packets=measures_packets,
        version=__version__,
        not_measured=flow_cells.NOT_MEASURED,
    )
    return env


def _svg(text: str | None) -> Markup | None:
    # matplotlib's own output, never user text: safe to embed unescaped.
    return Markup(text) if text else None


def render_html(report: Report) -> str:
    # matplotlib takes most of a second to import: only commands that draw pay for it.
    from ringlab.controller.report.charts import groups_chart, run_chart, trend_chart

    run_charts = {view.result.run_id: _svg(run_chart(view.result)) for view in report.runs}
    trends: Sequence[Any] = [
        (series, _svg(trend_chart(series, f"trend-{i}"))) for i, series in enumerate(report.trends)
    ]
    template = environment().get_template("report.html.j2")
    return template.render(
        report=report,
        run_charts=run_charts,
        groups_svg=_svg(groups_chart(report.groups)),
        trends=trends,
        metrics=("tx_pps", "rx_pps", "loss", "kernel_drops", "latency_p99_us"),
        flow_columns=FLOW_COLUMNS,
        side_columns=SIDE_BY_SIDE_COLUMNS,
        highlight=HIGHLIGHT,
    )


VERDICT_CLASSES = {
    "passed": "pass",
    "new-baseline": "pass",
    "regressed": "fail",
    "error": "error",
    "not-judged": "error",
}


def render_regress_html(
    suite: str,
    baseline_tag: str,
    outcomes: Sequence[CaseOutcome],
    generated_at: str,
    unlinked: Sequence[Unlinked] = (),
    history: SuiteHistory | None = None,
) -> str:
    """The suite run's summary; with ``history``, each case's section lists its runs over
    the suite runs that history covers."""
    by_key = {case.key: case for case in history.cases} if history else {}
    keys = [case_key(o.scenario, o.hosts) for o in outcomes]
    histories = {i: by_key[key] for i, key in enumerate(keys) if key in by_key}
    template = environment().get_template("regress.html.j2")
    return template.render(
        suite=suite,
        baseline_tag=baseline_tag,
        outcomes=outcomes,
        passed=sum(1 for o in outcomes if o.ok),
        regressed=sum(1 for o in outcomes if o.verdict == "regressed"),
        errors=sum(1 for o in outcomes if o.verdict == "error"),
        not_judged=sum(1 for o in outcomes if o.verdict == "not-judged"),
        unlinked=unlinked,
        histories=histories,
        suite_runs=history.suite_runs if history else (),
        alpha=history.alpha if history else 0.0,
        runs_needed=history.runs_needed if history else None,
        classes=VERDICT_CLASSES,
        generated_at=generated_at,
        metrics=("tx_pps", "rx_pps", "loss"),
    )
