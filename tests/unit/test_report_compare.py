"""Per-flow deltas between two runs and the thresholds a candidate must meet."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ringlab.controller.analysis.run_deltas import (
    Thresholds,
    compare_runs,
    not_comparable,
    violations,
)
from ringlab.controller.store.importers import load_reference
from ringlab.controller.store.results import RunResult, load_result

FIXTURES = Path(__file__).parents[1] / "fixtures" / "report"


def captured_run() -> RunResult:
    """A real `ringlab run` of bidirectional + time-sliced (compare) at 50 kpps per flow."""
    return load_result(json.loads((FIXTURES / "run_bidir_vs_sliced.json").read_text()))


def slower(run: RunResult, flow: str, factor: float, lost: int = 0) -> RunResult:
    changed = run.model_copy(deep=True)
    changed.run_id = "candidate"
    for phase in changed.phases:
        for item in phase.flows:
            if item.name == flow:
                item.rx_pps *= factor
                item.lost = lost
    return changed


def test_identical_runs_have_zero_deltas_and_pass() -> None:
    run = captured_run()
    comparison = compare_runs(run, run)
    assert [(d.phase, d.flow) for d in comparison.flows] == [
        ("bidirectional", "a->b"),
        ("bidirectional", "b->a"),
        ("time-sliced/r1/a->b", "a->b"),
        ("time-sliced/r1/b->a", "b->a"),
    ]
    for delta in comparison.flows:
        assert delta.matched
        assert all(m.change == 0 for m in delta.metrics)
    assert violations(comparison, Thresholds(0.0, 0.0)) == []


def test_rx_pps_drop_is_computed_per_flow_and_phase() -> None:
    base = captured_run()
    comparison = compare_runs(base, slower(base, "a->b", 0.8))
    rx = comparison.flows[0].metric("rx_pps")
    assert rx is not None
    assert rx.baseline == pytest.approx(50349.20557533107)
    assert rx.candidate == pytest.approx(50349.20557533107 * 0.8)
    assert rx.relative == pytest.approx(-0.2)
    assert rx.worse
    untouched = comparison.flows[1].metric("rx_pps")
    assert untouched is not None and untouched.relative == 0


def test_a_drop_beyond_the_threshold_names_flow_phase_and_delta() -> None:
    base = captured_run()
    found = violations(compare_runs(base, slower(base, "a->b", 0.8)), Thresholds(0.05, None))
    assert [(v.flow, v.phase, v.metric) for v in found] == [
        ("a->b", "bidirectional", "rx_pps"),
        ("a->b", "time-sliced/r1/a->b", "rx_pps"),
    ]
    assert "rx_pps dropped 20.00%" in found[0].message
    assert "50.35kpps -> 40.28kpps" in found[0].message
    assert "5% allowed" in found[0].message


def test_a_drop_within_the_threshold_passes() -> None:
    base = captured_run()
    assert violations(compare_runs(base, slower(base, "a->b", 0.96)), Thresholds(0.05)) == []


def test_loss_above_the_limit_is_a_violation() -> None:
    base = captured_run()
    candidate = slower(base, "b->a", 1.0, lost=100)  # 100 of 50,000 = 0.2%
    found = violations(compare_runs(base, candidate), Thresholds(max_loss=0.001))
    assert {(v.flow, v.metric) for v in found} == {("b->a", "loss")}
    assert "loss 0.20% (100 of 50,000 frames) is above the 0.1% allowed" in found[0].message
    assert violations(compare_runs(base, candidate), Thresholds(max_loss=0.005)) == []


def test_a_flow_missing_from_the_candidate_is_a_violation() -> None:
    base = captured_run()
    candidate = base.model_copy(deep=True)
    candidate.phases = candidate.phases[:1]
    comparison = compare_runs(base, candidate)
    missing = [d for d in comparison.flows if not d.matched]
    assert [(d.phase, d.candidate) for d in missing] == [
        ("time-sliced/r1/a->b", None),
        ("time-sliced/r1/b->a", None),
    ]
    found = violations(comparison, Thresholds())
    assert [v.metric for v in found] == ["missing", "missing"]


def test_flows_of_other_phase_names_match_by_flow_name() -> None:
    base = captured_run()
    candidate = base.model_copy(deep=True)
    candidate.phases = candidate.phases[:1]
    candidate.phases[0].name = "main"
    comparison = compare_runs(base.model_copy(update={"phases": base.phases[:1]}), candidate)
    assert all(d.matched for d in comparison.flows)


def test_a_send_only_reference_has_no_rx_metrics_to_compare() -> None:
    base = captured_run()
    base.phases = base.phases[:1]  # bidirectional: a->b and b->a, once each
    trafgen = load_reference(FIXTURES / "trafgen_1cpu.txt", "peer", hosts=("a", "b"))
    comparison = compare_runs(base, trafgen)
    delta = comparison.flows[0]
    assert delta.matched
    assert delta.metric("tx_pps") is not None
    assert delta.metric("rx_pps") is None
    assert delta.metric("loss") is None
    # Not measured is not a drop.
    assert not [v for v in violations(comparison, Thresholds(0.05, 0.001)) if v.metric != "missing"]


def test_limits_a_send_only_candidate_cannot_meet_are_not_comparable() -> None:
    base = captured_run()
    base.phases = base.phases[:1]
    trafgen = load_reference(FIXTURES / "trafgen_1cpu.txt", "peer", hosts=("a", "b"))
    comparison = compare_runs(base, trafgen)
    assert {"rx_pps", "loss"} <= set(comparison.flows[0].not_comparable)
    assert "tx_pps" not in comparison.flows[0].not_comparable
    unchecked = not_comparable(comparison, Thresholds(0.05, 0.001))
    assert [(n.phase, n.flow, n.metric) for n in unchecked] == [
        ("bidirectional", "a->b", "rx_pps"),
        ("bidirectional", "a->b", "loss"),
    ]
    assert unchecked[0].message == (
        "flow a->b in phase bidirectional: the baseline measures rx_pps but the candidate"
        " (engine trafgen) does not, so the rx_pps drop limit was not checked"
    )
    # A limit that is off leaves nothing unchecked.
    assert not_comparable(comparison, Thresholds()) == []


def test_a_send_only_baseline_leaves_only_the_rx_pps_drop_unchecked() -> None:
    trafgen = load_reference(FIXTURES / "trafgen_1cpu.txt", "peer", hosts=("a", "b"))
    iperf3 = load_reference(FIXTURES / "iperf3_udp.json", "peer", hosts=("a", "b"))
    unchecked = not_comparable(compare_runs(trafgen, iperf3), Thresholds(0.05, 0.9))
    # The loss limit holds for the candidate alone, which measures loss.
    assert [(n.metric, "the baseline (engine trafgen)" in n.message) for n in unchecked] == [
        ("rx_pps", True)
    ]
    # Neither of two send-only runs measures rx: nothing is compared, nothing is missing.
    assert not_comparable(compare_runs(trafgen, trafgen), Thresholds(0.05, 0.001)) == []


def test_a_send_only_candidate_is_not_judged_on_loss_it_cannot_measure() -> None:
    base = captured_run()
    candidate = base.model_copy(deep=True)
    for phase in candidate.phases:
        for flow in phase.flows:
            flow.engine, flow.lost = "trafgen", flow.tx_packets
    comparison = compare_runs(base, candidate)
    assert violations(comparison, Thresholds(max_loss=0.001)) == []
    assert {n.metric for n in not_comparable(comparison, Thresholds(max_loss=0.001))} == {"loss"}


def test_thresholds_merge_key_by_key_and_describe_themselves() -> None:
    suite = Thresholds(max_rx_pps_drop=0.05, max_loss=0.001)
    merged = suite.merged(Thresholds(max_rx_pps_drop=0.10))
    assert merged == Thresholds(max_rx_pps_drop=0.10, max_loss=0.001)
    assert merged.describe() == "rx_pps drop ≤ 10%, loss ≤ 0.1%"
    assert Thresholds().describe() == "no thresholds"
