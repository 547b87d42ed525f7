from __future__ import annotations

import pytest

from ringlab.controller.remote.clients import estimate_clock
from ringlab.controller.run.assemble import ResolvedFlow, SeriesBuilder, flow_result
from ringlab.v1 import agent_pb2 as pb

FLOW = ResolvedFlow(
    flow_id=4097,
    name="a->b",
    src_host="a",
    dst_host="b",
    src_interface="to-b",
    dst_interface="to-a",
    src_mac="02:00:00:00:00:01",
    dst_mac="02:00:00:00:00:02",
    frame_size=64,
    rate_pps=0,
    engine="ring",
    workers=1,
    stamping=True,
    qdisc_bypass=True,
    paged_skb=False,
    batch=0,
    ring_frames=0,
)


def sent(packets: int, start_ns: int = 0) -> pb.FlowResult:
    result = pb.FlowResult(
        flow_id=4097, role=pb.ROLE_SEND, interface="to-b", packets=packets, bytes=packets * 60
    )
    result.interface_before.tx_packets = 100
    result.interface_after.tx_packets = 100 + packets
    result.actual_start_wall_ns = start_ns
    return result


def received(unique: int, duplicates: int = 0, p50_us: float = 0.0) -> pb.FlowResult:
    result = pb.FlowResult(
        flow_id=4097,
        role=pb.ROLE_RECEIVE,
        interface="to-a",
        packets=unique + duplicates,
        unique_packets=unique,
        duplicates=duplicates,
        kernel_drops=3,
    )
    result.interface_before.rx_packets = 7
    result.interface_after.rx_packets = 7 + unique
    if p50_us:
        result.latency.samples = unique
        result.latency.p50_us = p50_us
    return result


def test_lost_is_what_was_sent_but_never_received_once() -> None:
    flow = flow_result(FLOW, sent(1000), received(990, duplicates=5), {})
    assert (flow.tx_packets, flow.rx_packets, flow.lost, flow.duplicates) == (1000, 990, 10, 5)
    assert flow.rx_packets + flow.lost == flow.tx_packets
    assert flow.kernel_drops == 3
    assert flow.sender_interface.tx_packets == 1000
    assert flow.receiver_interface.rx_packets == 990


def test_bit_rates_count_whole_frames_with_fcs_like_the_rate_a_scenario_gives() -> None:
    tx, rx = sent(1000), received(1000)
    tx.pps, tx.bps = 41_172.6, 41_172.6 * 60 * 8  # the agent counts the 60 bytes it sent
    rx.pps = 41_000.0
    flow = flow_result(FLOW, tx, rx, {})
    assert flow.tx_bps == pytest.approx(41_172.6 * 64 * 8)
    assert flow.rx_bps == pytest.approx(41_000.0 * 64 * 8)
    assert flow.tx_bytes == 60_000  # bytes stay what the kernel carried


def test_missing_receiver_result_is_reported_not_hidden() -> None:
    flow = flow_result(FLOW, sent(10), None, {})
    assert flow.lost == 10
    assert any("no receiver result from b" in e for e in flow.errors)


def test_latency_is_corrected_by_the_agents_clock_offsets() -> None:
    # b's clock runs 300 µs ahead of a's: raw latency reads 300 µs too high.
    flow = flow_result(FLOW, sent(10), received(10, p50_us=350.0), {"a": 0, "b": 300_000})
    assert flow.latency_us.p50 == pytest.approx(50.0)


def test_sender_start_is_moved_to_the_controller_clock() -> None:
    # (The phase's start skew from these starts is clocksync.phase_start_skew_us's.)
    a = flow_result(FLOW, sent(1, start_ns=1_000_000_000 + 5_000), None, {"a": 5_000})
    b = flow_result(FLOW, sent(1, start_ns=2_000_000_000 + 700), None, {"a": 1_000_000_000})
    assert a.tx_start_wall_ns == 1_000_000_000
    assert b.tx_start_wall_ns == 1_000_000_700


def test_series_turns_cumulative_counters_into_rates() -> None:
    series = SeriesBuilder(phase_start_wall_ns=0)

    def message(at_ns: int, packets: int) -> pb.StatsResponse:
        return pb.StatsResponse(
            wall_ns=at_ns,
            flows=[pb.FlowCounters(name="a->b", role=pb.ROLE_RECEIVE, packets=packets)],
        )

    assert series.add(message(100_000_000, 0), 0) is None  # first sample: no rate yet
    point = series.add(message(200_000_000, 50_000), 0)
    assert point is not None
    assert point.rx_pps == {"a->b": 500_000.0}
    assert point.t_s == pytest.approx(0.2)


def test_clock_estimate_keeps_the_exchange_with_the_smallest_round_trip() -> None:
    # Agent clock is +1000 ns; the second exchange was delayed on the way back.
    exchanges = [
        (0, 1_100, 1_200, 300),  # rtt 200, offset ((1100)+(1200-300))/2 = 1000
        (1_000, 2_150, 2_250, 5_000),  # rtt 3900
    ]
    estimate = estimate_clock(exchanges)
    assert estimate.rtt_ns == 200
    assert estimate.offset_ns == 1000
    assert estimate.usable_offset_ns == 1000  # 1000 ns is outside +-rtt/2 = 100 ns
    same_host = estimate_clock([(0, 40, 60, 200)])  # offset -50 ns, rtt 180 ns
    assert same_host.offset_ns == -50 and same_host.usable_offset_ns == 0
    with pytest.raises(ValueError):
        estimate_clock([])
