"""Report content in every format, from captured runs: tables, charts, differences, panels."""

from __future__ import annotations

import csv
import io
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from ringlab.controller.analysis.trend_series import build_trends
from ringlab.controller.report.document import build_report, group_rows
from ringlab.controller.report.html import render_html
from ringlab.controller.report.markdown import render_markdown
from ringlab.controller.report.tabular import CSV_COLUMNS, render_csv, report_dict
from ringlab.controller.store.database import FlowPoint
from ringlab.controller.store.importers import load_reference
from ringlab.controller.store.results import RunResult, load_result

FIXTURES = Path(__file__).parents[1] / "fixtures" / "report"


def captured_run() -> RunResult:
    return load_result(json.loads((FIXTURES / "run_bidir_vs_sliced.json").read_text()))


def candidate_run() -> RunResult:
    run = captured_run()
    run.run_id = "20261122-020000-cafe00"
    flow = run.phases[0].flows[0]  # bidirectional a->b
    flow.rx_pps = 40_000.0
    flow.lost = 10_000
    flow.rx_packets = flow.tx_packets - flow.lost
    run.probes = {
        "a": {
            "hostname": "a",
            "interfaces": [
                {
                    "name": "to-b",
                    "driver": "veth",
                    "driver_version": "1.0",
                    "firmware": None,
                    "zc": True,
                }
            ],
        }
    }
    run.diagnosis = []
    return run


def history() -> list[FlowPoint]:
    rng = np.random.default_rng(7)
    values = [*rng.normal(50_000, 300, 8), *rng.normal(42_000, 300, 8)]
    return [
        FlowPoint(
            f"run{i:02d}",
            f"2026-01-{i + 1:02d}",
            "bidirectional",
            "a->b",
            "a",
            "b",
            50_000,
            50_000,
            0,
            50_000.0,
            float(v),
            0,
        )
        for i, v in enumerate(values)
    ]


@pytest.fixture(scope="module")
def html() -> str:
    trends = build_trends("bd", history())
    return render_html(
        build_report([captured_run(), candidate_run()], trends, "2026-01-01T00:00:00+00:00")
    )


def _tables(html: str) -> list[str]:
    return re.findall(r"<table class=\"(\w+)\">", html)


def test_html_is_one_well_formed_offline_document(html: str) -> None:
    assert html.startswith("<!DOCTYPE html>")
    # Nothing is fetched: no scripts, stylesheets, images or fonts from anywhere.
    assert "<script" not in html
    assert "<link" not in html
    assert not re.search(r"(src|href)=\"(https?:)?//", html)
    assert "url(http" not in html and "@import" not in html
    assert "<style>" in html


def test_html_has_runs_side_by_side_flow_tables_and_differences(html: str) -> None:
    tables = _tables(html)
    assert tables.count("runs") == 1
    assert tables.count("differences") == 1
    assert tables.count("flows") == 6  # 3 phases in each of 2 runs
    assert tables.count("groups") == 1
    assert "#1 20261122-014834-d8281c" in html and "#2 20261122-020000-cafe00" in html
    assert "kernel 6.18.44-fc-v669" in html and "agent 0.1.0" in html
    assert "veth 1.0" in html and "zero-copy" in html  # probe summary of run 2
    assert "no probe data" in html  # run 1 has none


def test_html_differences_are_computed_and_highlighted(html: str) -> None:
    diff = html[
        html.index('<table class="differences">') : html.index(
            "</table>", html.index('<table class="differences">')
        )
    ]
    # rx_pps of a->b went from 50,349.2 to 40,000: -20.55%, coloured as worse.
    assert re.search(
        r'class="num worse">50\.35kpps → 40\.00kpps<br><span class="delta">-20\.55%', diff
    )
    # Loss from 0 to 20%: no base to divide by, still coloured worse.
    assert re.search(r'class="num worse">0\.00% → 20\.00%<br><span class="delta">n/a', diff)
    # Unchanged flows are not coloured.
    assert re.search(r'class="num ">50\.10kpps → 50\.10kpps<br><span class="delta">\+0\.00%', diff)


def test_html_charts_are_inline_svg(html: str) -> None:
    # 2 run charts + the group chart + 1 trend chart.
    assert html.count("<svg") == 4
    assert "<?xml" not in html and "<!DOCTYPE svg" not in html
    for match in re.finditer(r"<svg.*?</svg>", html, re.DOTALL):
        ET.fromstring(match.group(0))  # every chart is well-formed XML
    # Text stays text: phase titles and legends are searchable.
    assert "time-sliced/r1/a-&gt;b (time-sliced)" in html
    assert "a-&gt;b rx" in html


def test_svg_element_ids_do_not_collide_between_charts(html: str) -> None:
    ids = re.findall(r'\bid="([^"]+)"', html)
    assert len(ids) > 100 and len(ids) == len(set(ids))
    # Every reference inside a chart points at an id that exists.
    refs = set(re.findall(r'(?:url\(#|href="#)([^)"]+)', html))
    assert refs and refs <= set(ids)


def test_html_group_panel_compares_bidirectional_with_time_sliced(html: str) -> None:
    panel = html[html.index('id="groups"') :]
    panel = panel[: panel.index("</table>")]
    # a->b: bidirectional mean of (50,349.2, 40,000) = 45,174.6; time-sliced mean 50,493.8.
    assert "45.17kpps" in panel and "50.49kpps" in panel
    assert "+11.77%" in panel
    assert "10.00%" in panel  # bidirectional loss: 10,000 of 100,000 frames


def test_html_trend_section_marks_the_step(html: str) -> None:
    trends = html[html.index('id="trends"') :]
    assert "step down at run run08" in trends
    assert re.search(
        r"step down at run run08: 49\.\d\dkpps → 4\d\.\d\dkpps \(-1\d\.\d\d%, p = 0\.00\d\d\)",
        trends,
    )


def test_group_rows_need_both_groups() -> None:
    run = captured_run()
    only_bidir = run.model_copy(update={"phases": run.phases[:1]})
    assert group_rows([only_bidir]) == ()
    sliced = run.model_copy(update={"phases": run.phases[1:]})
    rows = group_rows([only_bidir, sliced])  # a bidirectional run beside a time-sliced one
    assert [r.flow for r in rows] == ["a->b", "b->a"]
    assert rows[0].runs == (run.run_id,)


def test_an_iperf3_reference_is_not_mixed_into_ringlab_flows_in_the_panel() -> None:
    iperf = load_reference(FIXTURES / "iperf3_udp_bidir.json", "peer", hosts=("a", "b"))
    rows = group_rows([captured_run(), iperf])
    assert {r.engine for r in rows} == {"ring"}
    assert rows[0].bidirectional_rx_pps == pytest.approx(50349.20557533107)


def test_a_report_of_one_run_works_in_every_format() -> None:
    report = build_report([captured_run()])
    html = render_html(report)
    assert "Differences" not in html
    assert html.count("<svg") == 2  # run chart + group panel (this run has both groups)
    md = render_markdown(report)
    assert md.startswith("# ringlab report: bd")
    assert "| bidirectional | a->b | 50.32kpps" not in md  # flow tables show counts, not diffs
    assert (
        "| a->b | ring | 64 | 50.00kpps | 50,000 | 50,000 | 0 | 0.00% | 50.32kpps | 50.35kpps | 0 |"
        in md
    )
    data = report_dict(report)
    assert data["differences"] == []
    assert data["runs"][0]["schema_version"] == 1


def test_markdown_marks_changes_beyond_noise() -> None:
    md = render_markdown(build_report([captured_run(), candidate_run()]))
    assert "**50.35kpps → 40.00kpps (-20.55%) ▼**" in md
    assert (
        "| bidirectional | b->a | 64 | 50.13kpps → 50.13kpps (+0.00%) | 50.10kpps → 50.10kpps (+0.00%) |"
        in md
    )


def test_csv_has_one_row_per_run_phase_and_flow() -> None:
    text = render_csv([captured_run(), candidate_run()])
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 8
    assert tuple(rows[0]) == CSV_COLUMNS
    changed = rows[4]
    assert (changed["run_id"], changed["phase"], changed["flow"]) == (
        "20261122-020000-cafe00",
        "bidirectional",
        "a->b",
    )
    assert float(changed["rx_pps"]) == 40_000.0
    assert float(changed["loss_ratio"]) == pytest.approx(0.2)


def test_json_report_carries_the_deltas() -> None:
    data = report_dict(build_report([captured_run(), candidate_run()]))
    (diff,) = data["differences"]
    first = diff["flows"][0]
    assert (first["phase"], first["flow"]) == ("bidirectional", "a->b")
    assert first["metrics"]["rx_pps"]["relative"] == pytest.approx(40_000 / 50349.20557533107 - 1)
    assert first["metrics"]["rx_pps"]["worse"] is True
    json.dumps(data)  # plain JSON all the way down
