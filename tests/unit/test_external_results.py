"""Results of external engines (testpmd, PF_RING): who counted what, what stays null, and
the busy finding naming the tool. Pure: agent replies built as the agents send them."""

from __future__ import annotations

import dataclasses

from helpers import resolved_testpmd_flow

from ringlab.controller.analysis.loss import attribute_loss
from ringlab.controller.analysis.unreported import collected_only
from ringlab.controller.analysis.xdp import queue_busy
from ringlab.controller.run.assemble import flow_result
from ringlab.controller.store.results import PhaseResult, RunResult
from ringlab.v1 import agent_pb2 as pb

FLOW = resolved_testpmd_flow()


def reply(role: int, packets: int, source: str, if_rx: int = 0) -> pb.FlowResult:
    result = pb.FlowResult(
        flow_id=4097, role=role, packets=packets, unique_packets=packets, count_source=source
    )
    result.interface_after.rx_packets = if_rx
    result.interface_after.tx_packets = packets
    return result


def test_testpmd_on_both_sides_counts_with_testpmd_and_leaves_sequence_figures_null() -> None:
    result = flow_result(
        FLOW, reply(pb.ROLE_SEND, 1000, "tool"), reply(pb.ROLE_RECEIVE, 990, "tool"), {}
    )
    assert (result.tx_packets, result.rx_packets, result.lost) == (1000, 990, 10)
    assert result.counted_by == {"tx": "testpmd", "rx": "testpmd"}
    assert not result.measured("reordered") and not result.measured("latency_us")
    flow_doc = RunResult(
        run_id="r",
        scenario="s",
        mode="unidirectional",
        phases=[PhaseResult(name="main", group="", flows=[result])],
    ).to_json_dict()["phases"][0]["flows"][0]
    assert flow_doc["duplicates"] is None and "testpmd" in flow_doc["not_measured"]["duplicates"]
    assert flow_doc["counted_by"] == {"tx": "testpmd", "rx": "testpmd"}


def test_ringlabs_receiver_of_testpmd_frames_counts_by_the_interface() -> None:
    flow = dataclasses.replace(FLOW, rx_engine="ring")
    # The ring saw none of them (not its ethertype); the interface counted 1,000.
    received = reply(pb.ROLE_RECEIVE, 0, "none", if_rx=1000)
    result = flow_result(flow, reply(pb.ROLE_SEND, 1000, "tool"), received, {})
    assert (result.rx_packets, result.lost) == (1000, 0)
    assert result.counted_by == {"tx": "testpmd", "rx": "interface"}
    assert "writes no ringlab header" in result.not_measured["reordered"]


def test_ringlabs_own_engines_say_nothing_about_counting() -> None:
    flow = dataclasses.replace(FLOW, engine="ring", rx_engine="ring")
    result = flow_result(
        flow, reply(pb.ROLE_SEND, 10, "sequence"), reply(pb.ROLE_RECEIVE, 10, "sequence"), {}
    )
    assert result.counted_by == {} and result.not_counted == {}


def test_the_busy_finding_names_the_tool_and_quotes_it() -> None:
    received = reply(pb.ROLE_RECEIVE, 0, "tool")
    received.error = "xdp queue busy: dpdk-testpmd: xsk_configure(): Failed to create xsk socket."
    received.xdp_queue_busy.CopyFrom(
        pb.XdpQueueBusy(
            interface="to-a",
            queue=0,
            role="receiver",
            holders=["b->a (sender)"],
            tool="dpdk-testpmd",
            message="xsk_configure(): Failed to create xsk socket.",
        )
    )
    result = flow_result(FLOW, reply(pb.ROLE_SEND, 5, "tool"), received, {})
    run = RunResult(
        run_id="r",
        scenario="s",
        mode="bidirectional",
        phases=[PhaseResult(name="main", group="", flows=[result])],
    )
    [finding] = queue_busy(run)
    assert "flow a->b's dpdk-testpmd (receiver) could not bind to-a queue 0" in finding.message
    assert "'xsk_configure(): Failed to create xsk socket.'" in finding.message
    assert "b->a (sender) held it" in finding.message


def test_a_receiving_tool_that_failed_leaves_rx_unknown_and_out_of_the_evidence() -> None:
    received = reply(pb.ROLE_RECEIVE, 0, "tool")
    received.error = "dpdk-testpmd exited before forwarding (signal 11): (no output)"
    result = flow_result(FLOW, reply(pb.ROLE_SEND, 1000, "tool"), received, {})
    assert not result.measured("rx_packets") and not result.measured("lost")
    assert "signal 11" in result.not_measured["rx_packets"]
    run = RunResult(
        run_id="r",
        scenario="s",
        mode="unidirectional",
        phases=[PhaseResult(name="main", group="", flows=[result])],
    )
    assert collected_only(run).phases[0].flows == []


def test_testpmds_own_missed_count_places_the_loss_at_the_receive_ring() -> None:
    received = reply(pb.ROLE_RECEIVE, 990, "tool", if_rx=1000)
    received.extra["testpmd_rx_missed"] = 10
    sent = reply(pb.ROLE_SEND, 1000, "tool")
    result = flow_result(FLOW, sent, received, {})
    part = attribute_loss([result])
    assert (part.lost, part.kernel_ring, part.receiver, part.unknown) == (10, 10, 0, 0)
