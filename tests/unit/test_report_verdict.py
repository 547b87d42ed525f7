"""Regression verdicts and the JUnit XML and HTML summary that carry them."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

from ringlab.controller.analysis.history import build_history
from ringlab.controller.analysis.run_deltas import Thresholds
from ringlab.controller.report.html import render_regress_html
from ringlab.controller.report.junit import render_junit
from ringlab.controller.report.verdict import CaseOutcome, failed_to_run, judge
from ringlab.controller.scenario.suite import Unlinked
from ringlab.controller.store.results import RunResult, load_result
from ringlab.controller.store.suites import CaseRecord, SuiteRunRecord

FIXTURES = Path(__file__).parents[1] / "fixtures" / "report"
LIMITS = Thresholds(max_rx_pps_drop=0.05, max_loss=0.001)


def captured_run(run_id: str = "base") -> RunResult:
    run = load_result(json.loads((FIXTURES / "run_bidir_vs_sliced.json").read_text()))
    run.run_id = run_id
    return run


def slower(factor: float) -> RunResult:
    run = captured_run("cand")
    for phase in run.phases:
        for flow in phase.flows:
            if flow.name == "b->a":
                flow.rx_pps *= factor
    return run


def verdict(candidate: RunResult, baseline: RunResult | None, **kw: bool) -> CaseOutcome:
    return judge(
        "bd on a,b", "bd", ("a", "b"), LIMITS, candidate, baseline, baseline_tag="gold", **kw
    )


def test_an_unchanged_candidate_passes() -> None:
    outcome = verdict(captured_run("cand"), captured_run())
    assert (outcome.verdict, outcome.ok, outcome.message) == ("passed", True, "")


def test_a_slower_candidate_regresses_naming_flow_and_delta() -> None:
    outcome = verdict(slower(0.7), captured_run())
    assert outcome.verdict == "regressed" and not outcome.ok
    assert [(v.flow, v.phase) for v in outcome.violations] == [
        ("b->a", "bidirectional"),
        ("b->a", "time-sliced/r1/b->a"),
    ]
    assert "flow b->a in phase bidirectional: rx_pps dropped 30.00%" in outcome.message


def test_a_failed_run_is_an_error_and_a_missing_baseline_is_not_judged() -> None:
    failed = captured_run("cand")
    failed.status, failed.error = "failed", "agent b did not answer"
    outcome = verdict(failed, captured_run())
    assert (outcome.verdict, outcome.ok) == ("error", False)
    assert outcome.message == "run cand failed: agent b did not answer"
    missing = verdict(captured_run("cand"), None)
    assert (missing.verdict, missing.ok) == ("not-judged", False)
    assert "no completed run of bd on a,b is tagged gold" in missing.message
    assert "--update-baseline" in missing.message
    new = verdict(captured_run("cand"), None, becomes_baseline=True)
    assert (new.verdict, new.ok) == ("new-baseline", True)


def send_only(run_id: str = "cand") -> RunResult:
    run = captured_run(run_id)
    for phase in run.phases:
        for flow in phase.flows:
            flow.engine = "trafgen"
    return run


def test_a_candidate_whose_limits_cannot_be_checked_is_not_judged() -> None:
    outcome = verdict(send_only(), captured_run())
    assert (outcome.verdict, outcome.ok, outcome.violations) == ("not-judged", False, ())
    assert [(n.flow, n.metric) for n in outcome.not_comparable][:2] == [
        ("a->b", "rx_pps"),
        ("a->b", "loss"),
    ]
    assert outcome.message.startswith(
        "flow a->b in phase bidirectional: the baseline measures rx_pps but the candidate"
        " (engine trafgen) does not, so the rx_pps drop limit was not checked; "
    )
    root = ET.fromstring(render_junit("nightly", [outcome]))
    error = root.find("testsuite/testcase/error")
    assert error is not None and error.get("type") == "not-judged"


def test_a_regression_outweighs_limits_that_could_not_be_checked() -> None:
    candidate = slower(0.7)
    candidate.phases[0].flows[0].engine = "trafgen"  # a->b: send only
    outcome = verdict(candidate, captured_run())
    assert outcome.verdict == "regressed"
    assert outcome.not_comparable and outcome.violations
    assert "rx_pps dropped 30.00%" in outcome.message and "not checked" in outcome.message


def test_junit_has_one_testcase_per_case_with_failure_and_error() -> None:
    outcomes = [
        verdict(captured_run("c1"), captured_run()),
        verdict(slower(0.7), captured_run()),
        failed_to_run("bd on c,d", "bd", ("c", "d"), LIMITS, "the run did not start: no host c"),
    ]
    root = ET.fromstring(render_junit("nightly", outcomes))
    suite = root.find("testsuite")
    assert suite is not None
    assert (suite.get("name"), suite.get("tests"), suite.get("failures"), suite.get("errors")) == (
        "nightly",
        "3",
        "1",
        "1",
    )
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == ["bd on a,b", "bd on a,b", "bd on c,d"]
    assert cases[0].find("failure") is None and cases[0].find("error") is None
    failure = cases[1].find("failure")
    assert failure is not None
    assert "flow b->a in phase bidirectional: rx_pps dropped 30.00%" in (
        failure.get("message") or ""
    )
    assert "b->a (bidirectional): rx_pps 50.10kpps -> 35.07kpps (-30.00%)" in (failure.text or "")
    assert "baseline run: base" in (failure.text or "")
    error = cases[2].find("error")
    assert error is not None and error.get("message") == "the run did not start: no host c"
    assert error.get("type") == "infrastructure"  # apart from a regression's failure
    assert failure.get("type") == "regression"


def test_regress_html_summary_lists_verdicts_and_deltas() -> None:
    outcomes = [verdict(captured_run("c1"), captured_run()), verdict(slower(0.7), captured_run())]
    html = render_regress_html("nightly", "gold", outcomes, "2026-01-01T00:00:00+00:00")
    assert "1 passed" in html and "1 regressed" in html
    assert html.count('class="pass">passed') == 2  # summary row and case heading
    assert 'class="worse">flow b-&gt;a in phase bidirectional: rx_pps dropped 30.00%' in html
    assert "50.10kpps → 35.07kpps (-30.00%)" in html
    assert "<script" not in html


def test_left_out_host_sets_are_listed_but_are_no_test_cases() -> None:
    unlinked = [Unlinked("tests[0].select", "bd", ("a", "d"), "flow a->d: no interface on a")]
    outcomes = [verdict(captured_run("c1"), captured_run())]
    root = ET.fromstring(render_junit("nightly", outcomes, unlinked))
    suite = root.find("testsuite")
    assert suite is not None and suite.get("tests") == "1" and suite.get("errors") == "0"
    assert len(suite.findall("testcase")) == 1
    note = suite.find("system-out")
    assert note is not None and "bd on a,d (tests[0].select): flow a->d" in (note.text or "")
    html = render_regress_html("nightly", "gold", outcomes, "2026-01-01", unlinked)
    assert "1 host set(s) left out" in html and "flow a-&gt;d: no interface on a" in html


def test_the_html_summary_links_each_case_to_its_runs() -> None:
    outcomes = [verdict(captured_run("c1"), captured_run())]
    runs = [
        SuiteRunRecord(f"suite-{n}", "nightly", "gold", f"2026-01-0{n}T00:00:00+00:00", "")
        for n in range(1, 10)
    ]
    records = [
        CaseRecord(
            f"suite-{n}",
            "bd on a,b",
            0,
            "bd on a,b",
            "bd",
            ("a", "b"),
            "passed" if n < 6 else "regressed",
            f"run-{n}",
            "base",
            20_000.0 if n < 6 else 10_000.0,
            "",
            1.0,
        )
        for n in range(1, 10)
    ]
    history = build_history("nightly", runs, records)
    html = render_regress_html("nightly", "gold", outcomes, "2026-01-01", (), history)
    assert 'id="case-1-runs"' in html and "last 9 suite run(s)" in html
    assert all(f"<code>run-{n}</code>" in html for n in range(1, 10))
    assert "rx_pps stepped down at suite run <code>suite-6</code>" in html
