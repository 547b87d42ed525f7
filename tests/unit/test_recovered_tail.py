"""The tail a recovered phase's receiver never read is unknown, not lost (#17 item 7): the
drill's numbers (100 frames counted by b:to-a after the receiver stopped)."""

from __future__ import annotations

from ringlab.controller.analysis.recovered import unknown_tail
from ringlab.controller.store.results import FlowResult, InterfaceDelta, PhaseResult


def phase(*flows: FlowResult) -> PhaseResult:
    return PhaseResult(name="p0", group="g", status="aborted", flows=list(flows))


def flow(name: str, tx: int, rx: int, counted: int, drops: int = 0) -> FlowResult:
    return FlowResult(
        name=name,
        **{"from": "a", "to": "b"},
        tx_packets=tx,
        rx_packets=rx,
        lost=tx - rx,
        kernel_drops=drops,
        receiver_interface=InterfaceDelta(host="b", interface="to-a", rx_packets=counted),
    )


def test_the_counted_tail_leaves_lost_and_is_said() -> None:
    recovered = phase(flow("f", tx=291_800, rx=291_700, counted=291_800))
    [said] = unknown_tail([recovered])
    [f] = recovered.flows
    assert f.lost == 0
    assert (
        said.code == "recovered_tail_unknown" and "100 frames of f reached b:to-a" in said.message
    )


def test_ring_drops_and_uncounted_frames_stay_lost() -> None:
    recovered = phase(flow("f", tx=1_000, rx=800, counted=950, drops=100))
    unknown_tail([recovered])
    # 50 never reached b:to-a, 100 the ring dropped: lost; 50 counted past the ring: tail.
    assert recovered.flows[0].lost == 150


def test_a_shared_receive_interface_says_nothing() -> None:
    recovered = phase(flow("f", 1_000, 900, 2_000), flow("g", 1_000, 900, 2_000))
    assert unknown_tail([recovered]) == []
    assert [f.lost for f in recovered.flows] == [100, 100]
