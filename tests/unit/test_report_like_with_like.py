"""Reports compare like with like (#20): differences per scenario and tool against a baseline
of the same kind, flows matched by name and frame size; other kinds side by side with a
warning, never as a % change. Stored runs: the captured ringlab run, a real iperf3 client's
JSON (`iperf3 -u -b 20M -l 1000 -t 3 --json`, 1046-byte frames) and trafgen's summary."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from ringlab.controller.cli import main
from ringlab.controller.report.charts import run_chart, si
from ringlab.controller.report.document import build_report, group_rows
from ringlab.controller.report.html import render_html
from ringlab.controller.report.markdown import render_markdown
from ringlab.controller.report.tabular import report_dict
from ringlab.controller.store.database import Store
from ringlab.controller.store.importers import load_reference
from ringlab.controller.store.results import RunResult, load_result

FIXTURES = Path(__file__).parents[1] / "fixtures" / "report"
IPERF3_20M = FIXTURES / "iperf3_udp_b20m.json"


def ringlab_run(run_id: str = "20261122-014834-d8281c", rx_factor: float = 1.0) -> RunResult:
    run = load_result(json.loads((FIXTURES / "run_bidir_vs_sliced.json").read_text()))
    run.run_id = run_id
    for phase in run.phases:
        for flow in phase.flows:
            flow.rx_pps *= rx_factor
    return run


def iperf3_import(scenario: str = "iperf-ref") -> RunResult:
    return load_reference(IPERF3_20M, scenario, hosts=("a", "b"))


def _section(html: str, start: str, end: str) -> str:
    begin = html.index(start)
    return html[begin : html.index(end, begin)]


def test_a_ringlab_run_beside_an_iperf3_import_warns_and_shows_no_change_in_html() -> None:
    html = render_html(build_report([ringlab_run(), iperf3_import()]))
    differences = _section(html, 'id="differences"', 'id="groups"')
    assert "different scenarios or tools" in differences
    assert "bd (ringlab): #1 20261122-014834-d8281c" in differences
    assert "iperf-ref (iperf3): #2" in differences
    assert '<table class="differences">' not in differences
    # No relative change anywhere between them: no signed percentage in the section.
    assert not re.search(r"[+-]\d+\.\d\d%", differences)
    assert "-87.51" not in html
    side = _section(html, '<table class="side-by-side">', "</table>")
    assert '<td class="flow">a-&gt;b</td><td class="num">1046</td>' in side
    assert '<td class="flow">a-&gt;b</td><td class="num">64</td>' in side


def test_a_ringlab_run_beside_an_iperf3_import_warns_in_markdown_and_json() -> None:
    report = build_report([ringlab_run(), iperf3_import()])
    md = render_markdown(report)
    differences = md[md.index("## Differences") : md.index("## Bidirectional")]
    assert "> ⚠ These runs are of 2 different scenarios or tools" in differences
    assert "### Side by side, not compared" in differences
    assert " vs baseline " not in differences
    assert not re.search(r"[+-]\d+\.\d\d%", differences)
    assert "| a->b | 1046 | #2 " in differences
    data = report_dict(report)
    assert data["differences"] == []
    assert "different scenarios or tools" in data["warnings"][0]
    rows = [(r["flow"], r["frame_size"], r["tool"]) for r in data["side_by_side"]]
    assert ("a->b", 1046, "iperf3") in rows and ("a->b", 64, "ringlab") in rows
    assert all("relative" not in row for row in data["side_by_side"])
    json.dumps(data)


def test_an_import_named_after_the_scenario_is_still_another_tool() -> None:
    # `runs import --as bd` puts the iperf3 run in the ringlab scenario's name.
    report = build_report([ringlab_run(), iperf3_import("bd")])
    assert report.comparisons == ()
    assert "bd (ringlab)" in report.warnings[0] and "bd (iperf3)" in report.warnings[0]


def test_each_scenario_is_compared_with_its_own_first_run_never_another_scenario() -> None:
    first = ringlab_run("20260101-000000-aaaa00")
    other = ringlab_run("20260102-000000-bbbb00").model_copy(update={"scenario": "other"})
    slower = ringlab_run("20260103-000000-cccc00", rx_factor=0.8)
    report = build_report([first, other, slower])
    pairs = [(c.baseline.run_id, c.candidate.run_id) for c in report.comparisons]
    assert pairs == [("20260101-000000-aaaa00", "20260103-000000-cccc00")]
    assert [(b.kind.scenario, b.run_id) for b in report.baselines] == [
        ("bd", "20260101-000000-aaaa00"),
        ("other", "20260102-000000-bbbb00"),
    ]
    md = render_markdown(report)
    assert "### #3 20260103-000000-cccc00 vs baseline #1 20260101-000000-aaaa00 · bd" in md
    assert "(-20.00%)" in md  # rx_pps of the same scenario: a real change


def test_baseline_chooses_the_run_its_scenario_is_compared_with() -> None:
    runs = [
        ringlab_run(f"2026010{i}-000000-run{i}00", rx_factor=f) for i, f in ((1, 1.0), (2, 0.5))
    ]
    report = build_report(runs, baseline="20260102-000000-run200")
    (cmp,) = report.comparisons
    assert (cmp.baseline.run_id, cmp.candidate.run_id) == (runs[1].run_id, runs[0].run_id)
    rx = cmp.flows[0].metric("rx_pps")
    assert rx is not None and rx.relative == pytest.approx(1.0)  # twice the chosen baseline
    assert report.baselines[0].chosen
    assert "chosen with --baseline" in render_markdown(report)


def test_flows_match_by_name_and_frame_size_never_by_position_across_sizes() -> None:
    base = ringlab_run("20260101-000000-aaaa00")
    candidate = ringlab_run("20260102-000000-bbbb00")
    candidate.phases[0].flows[0].frame_size = 1500  # a->b now 1500 B: another flow
    report = build_report([base, candidate])
    (cmp,) = report.comparisons
    ab = [d for d in cmp.flows if d.phase == "bidirectional" and d.flow == "a->b"]
    assert sorted((d.baseline is None, d.candidate is None) for d in ab) == [
        (False, True),
        (True, False),
    ]
    md = render_markdown(report)
    assert "| bidirectional | a->b | 64 | only in the baseline |" in md
    assert "| bidirectional | a->b | 1500 | only in this run |" in md


def test_the_group_panel_says_which_runs_of_which_scenarios_each_side_averages() -> None:
    run = ringlab_run()
    bidir = run.model_copy(update={"phases": run.phases[:1], "scenario": "rep-bidir"})
    sliced = run.model_copy(
        update={"phases": run.phases[1:], "scenario": "rep-sliced", "run_id": "20261122-1-sl"}
    )
    report = build_report([bidir, sliced])
    (ab, _) = report.groups
    assert ab.bidirectional_runs == (bidir.run_id,) and ab.sliced_runs == ("20261122-1-sl",)
    text = ab.averages(report.labels)
    assert text == (
        "bidirectional: #1 20261122-014834-d8281c (scenario rep-bidir);"
        " time-sliced: #2 20261122-1-sl (scenario rep-sliced)"
    )
    assert text in render_html(report) and text in render_markdown(report)
    # Two runs on one side: a mean, and both named.
    again = bidir.model_copy(update={"run_id": "20261122-2-bd", "scenario": "rep-bidir-2"})
    (row, _) = group_rows([bidir, again, sliced])
    assert row.bidirectional_runs == (bidir.run_id, "20261122-2-bd")
    assert row.bidirectional_scenarios == ("rep-bidir", "rep-bidir-2")


def test_a_send_only_import_reads_not_measured_in_html_and_markdown() -> None:
    trafgen = load_reference(FIXTURES / "trafgen_1cpu.txt", "tg", hosts=("a", "b"))
    report = build_report([trafgen])
    flows = _section(render_html(report), '<table class="flows">', "</table>")
    assert flows.count("not measured") == 7  # rx, lost, loss, rx pps, rx bps, k.drops, latency
    assert ">0<" not in flows
    md = render_markdown(report)
    (row,) = [line for line in md.splitlines() if line.startswith("| a->b | trafgen")]
    assert row.count("not measured") == 5  # rx, lost, loss, rx pps, kernel drops
    assert "not recorded" in row  # trafgen's summary has no target rate


def test_an_iperf3_import_keeps_its_target_bit_rate() -> None:
    run = iperf3_import()
    (flow,) = run.phases[0].flows
    assert flow.frame_size == 1046
    assert flow.sender_info["target_bitrate"] == "20000000"
    assert flow.target_pps == pytest.approx(2500)  # 20 Mbit/s of 1000-byte payloads
    html = render_html(build_report([run]))
    assert '<td class="num">20 Mbit/s (2.50kpps)</td>' in html
    assert ">max<" not in html


def test_rate_charts_start_at_zero_with_k_ticks() -> None:
    # iperf3's intervals read 2498, 2501, 2499 pps: from 0 they are flat, not a ramp.
    svg = run_chart(iperf3_import())
    assert svg is not None
    texts = re.findall(r"<text[^>]*>([^<]*)</text>", svg)  # text stays text in the SVG
    start = texts.index("packets/s") - 6
    assert texts[start : start + 7] == ["0", "500", "1k", "1.5k", "2k", "2.5k", "packets/s"]
    assert [si(v) for v in (0, 2500, 50_000, 1_488_095)] == ["0", "2.5k", "50k", "1.488M"]


def test_report_command_takes_a_baseline_and_adds_it_when_not_listed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "runs.db"
    with Store(db) as store:
        store.save(ringlab_run("20260101-000000-gold00").model_copy(update={"tags": ["gold"]}))
        store.save(ringlab_run("20260102-000000-slow00", rx_factor=0.9))
    out = tmp_path / "r.json"
    assert main(["report", "20260102", "--baseline", "gold", "-o", str(out), "--db", str(db)]) == 0
    data = json.loads(out.read_text())
    assert [r["run_id"] for r in data["runs"]] == [
        "20260101-000000-gold00",
        "20260102-000000-slow00",
    ]
    (diff,) = data["differences"]
    assert (diff["baseline"], diff["candidate"]) == (
        "20260101-000000-gold00",
        "20260102-000000-slow00",
    )
    assert data["baselines"][0]["chosen"] is True
    assert main(["report", "gold", "--baseline", "nosuch", "--db", str(db)]) == 2
    assert "no run or tag 'nosuch'" in capsys.readouterr().err


def test_compare_of_a_ringlab_run_and_an_iperf3_import_warns_of_tool_and_frame_size(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "runs.db"
    with Store(db) as store:
        ring = ringlab_run("20260101-000000-ring00")
        store.save(ring.model_copy(update={"phases": ring.phases[:1]}))  # a->b once
        store.save(iperf3_import("bd").model_copy(update={"tags": ["peer"]}))
    capsys.readouterr()
    main(["compare", "20260101", "peer", "--db", str(db)])
    err = " ".join(capsys.readouterr().err.split())
    assert "was measured by ringlab and candidate " in err and " by iperf3;" in err
    assert "flow a->b (bidirectional) is 64-byte frames in the baseline and 1046-byte" in err
