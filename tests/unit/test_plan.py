"""The planner: phases, names, durations and gaps for every mode, and flow details."""

from __future__ import annotations

import pytest

from ringlab.controller.run.plan import (
    FlowExpectation,
    Plan,
    build_plan,
    plan_headline,
    planned_frames,
)
from ringlab.controller.scenario import load_scenario_text

HEAD = """\
version: 1
name: t
hosts: {a: {interface: eth1}, b: {}, c: {interface: eth3}}
"""
TWO_WAYS = """\
flows:
  - {from: a, to: b, frame_size: 64, rate: max}
  - {from: b, to: a, frame_size: 128, rate: 1Mpps}
"""


def plan_of(body: str) -> Plan:
    return build_plan(load_scenario_text(HEAD + body, "t.yaml"))


def test_unidirectional_is_one_main_phase() -> None:
    plan = plan_of(
        "mode: unidirectional\nduration: 5s\nlease: 2s\ndrain: 0s\n"
        "flows:\n  - {from: c, to: b, frame_size: 64, rate: max}\n"
        "  - {from: c, to: b, frame_size: 1518, rate: 1Gbps}\n"
    )
    (phase,) = plan.phases
    assert (phase.name, phase.group, phase.duration_ns, phase.gap_before_ns) == (
        "main",
        "unidirectional",
        5_000_000_000,
        0,
    )
    assert [f.name for f in phase.flows] == ["c->b", "c->b#2"]
    assert (plan.mode, plan.lease_ns, plan.drain_ns) == ("unidirectional", 2 * 10**9, 0)
    assert plan.hosts == ("c", "b")  # only hosts that carry traffic, in first-use order


def test_bidirectional_is_one_phase_with_every_flow() -> None:
    plan = plan_of("mode: bidirectional\nduration: 3s\n" + TWO_WAYS)
    (phase,) = plan.phases
    assert (phase.name, phase.group, phase.duration_ns) == ("bidirectional", "bidirectional", 3e9)
    assert [f.direction for f in phase.flows] == ["a->b", "b->a"]
    assert plan.total_ns == 3_000_000_000


def test_time_sliced_runs_each_direction_per_round_with_gaps() -> None:
    plan = plan_of(
        "mode: time-sliced\ntime_slice: {slice: 2s, gap: 100ms, rounds: 3}\n"
        "flows:\n"
        "  - {from: b, to: a, frame_size: 64, rate: max}\n"
        "  - {from: a, to: b, frame_size: 64, rate: max}\n"
        "  - {from: b, to: a, frame_size: 512, rate: max}\n"
    )
    assert [p.name for p in plan.phases] == [
        f"time-sliced/r{r}/{d}" for r in (1, 2, 3) for d in ("b->a", "a->b")
    ]
    assert {p.group for p in plan.phases} == {"time-sliced"}
    assert [p.gap_before_ns for p in plan.phases] == [0] + [100_000_000] * 5
    assert {p.duration_ns for p in plan.phases} == {2_000_000_000}
    assert [f.name for f in plan.phases[0].flows] == ["b->a", "b->a#2"]
    assert [f.name for f in plan.phases[1].flows] == ["a->b"]
    assert plan.total_ns == 6 * 2_000_000_000 + 5 * 100_000_000


def test_time_sliced_defaults_to_one_round_without_gap() -> None:
    plan = plan_of("mode: time-sliced\ntime_slice: {slice: 1s}\n" + TWO_WAYS)
    assert [(p.name, p.gap_before_ns) for p in plan.phases] == [
        ("time-sliced/r1/a->b", 0),
        ("time-sliced/r1/b->a", 0),
    ]


def test_compare_runs_each_mode_in_order() -> None:
    plan = plan_of(
        "mode: bidirectional\nduration: 4s\ncompare: [bidirectional, time-sliced]\n"
        "time_slice: {slice: 1s, gap: 50ms, rounds: 2}\n" + TWO_WAYS
    )
    assert [(p.name, p.group, p.duration_ns, p.gap_before_ns) for p in plan.phases] == [
        ("bidirectional", "bidirectional", 4 * 10**9, 0),
        ("time-sliced/r1/a->b", "time-sliced", 10**9, 0),
        ("time-sliced/r1/b->a", "time-sliced", 10**9, 50_000_000),
        ("time-sliced/r2/a->b", "time-sliced", 10**9, 50_000_000),
        ("time-sliced/r2/b->a", "time-sliced", 10**9, 50_000_000),
    ]
    assert plan.mode == "bidirectional"


def test_compare_with_unidirectional_names_its_phase_by_mode() -> None:
    plan = plan_of(
        "compare: [unidirectional, bidirectional]\nduration: 1s\n"
        "flows:\n  - {from: a, to: b, frame_size: 64, rate: max}\n"
    )
    assert [(p.name, p.group) for p in plan.phases] == [
        ("unidirectional", "unidirectional"),
        ("bidirectional", "bidirectional"),
    ]
    assert plan.mode == "unidirectional"


def test_flow_details_interfaces_rates_and_expectations() -> None:
    plan = plan_of(
        "mode: bidirectional\nduration: 1s\nexpect: {max_loss: 0.1%, min_rx_pps: 100k}\n"
        "flows:\n"
        "  - {from: a, to: b, frame_size: 64, rate: 1Gbps, engine: sendto, workers: 4,"
        " stamping: false, qdisc_bypass: false, expect: {max_loss: 1%}}\n"
        "  - {from: b, to: c, frame_size: 1518, rate: 250kpps, batch: 64, ring_frames: 2048,"
        " tx_skb: paged, rx_block_size: 4MiB, rx_blocks: 64, from_interface: veth9,"
        " to_interface: veth8,"
        " expect: {min_rx_pps: 5k}}\n"
    )
    first, second = plan.phases[0].flows
    assert (first.src_interface, first.dst_interface) == ("eth1", None)
    assert first.rate_pps == 1e9 / (64 * 8)
    assert (first.engine, first.workers, first.stamping, first.qdisc_bypass) == (
        "sendto",
        4,
        False,
        False,
    )
    assert first.expect == FlowExpectation(max_loss=0.01, min_rx_pps=100_000.0)
    assert (second.src_interface, second.dst_interface) == ("veth9", "veth8")
    assert (first.paged_skb, second.paged_skb) == (False, True)
    assert (second.rate_pps, second.batch, second.ring_frames) == (250_000.0, 64, 2048)
    assert (first.rx_block_size, first.rx_blocks) == (0, 0)
    assert (second.rx_block_size, second.rx_blocks) == (4 << 20, 64)
    assert second.expect.max_loss == pytest.approx(0.001)
    assert second.expect.min_rx_pps == 5_000.0


def test_no_expectations_means_none() -> None:
    plan = plan_of("mode: bidirectional\nduration: 1s\n" + TWO_WAYS)
    assert plan.phases[0].flows[0].expect == FlowExpectation(max_loss=None, min_rx_pps=None)
    assert plan.phases[0].flows[0].rate_pps == 0.0


def test_plan_is_deterministic_and_immutable() -> None:
    body = "mode: bidirectional\nduration: 1s\n" + TWO_WAYS
    assert plan_of(body) == plan_of(body)
    with pytest.raises(AttributeError):
        plan_of(body).phases[0].duration_ns = 1  # type: ignore[misc]


def test_headline_names_mode_phases_time_and_hosts() -> None:
    plan = plan_of("mode: time-sliced\ntime_slice: {slice: 2s, gap: 100ms, rounds: 2}\n" + TWO_WAYS)
    assert plan_headline(plan) == "t: time-sliced, 4 phase(s), 8.3s of traffic and gaps, hosts a, b"


def test_planned_frames_is_what_each_worker_paces_and_none_at_max_rate() -> None:
    paced = plan_of(
        "mode: unidirectional\nduration: 1s\nflows:\n"
        "  - {from: a, to: b, frame_size: 64, rate: 1kpps, workers: 3}\n"
        "  - {from: a, to: b, frame_size: 64, rate: 1kpps}\n"
        "  - {from: a, to: b, frame_size: 64, rate: max}\n"
    ).phases[0]
    three, one, flat_out = paced.flows
    # 3 workers pace 333.3 pps each: 333 frames each in 1 s, not 1000.
    assert planned_frames(three, paced.duration_ns) == 999
    assert planned_frames(one, paced.duration_ns) == 1000
    assert planned_frames(one, 2_500_000_000) == 2500
    assert planned_frames(flat_out, paced.duration_ns) is None
