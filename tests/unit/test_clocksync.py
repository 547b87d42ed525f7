"""Start skew measured on the wire, and sequential clock sync."""

from __future__ import annotations

import asyncio

import pytest

from ringlab.controller.remote.clients import ClockEstimate
from ringlab.controller.run.clocksync import (
    FirstFrame,
    controller_clock_skew_ns,
    phase_start_skew_us,
    start_moments,
    sync_clocks,
    wire_skew_ns,
)
from ringlab.v1 import agent_pb2 as pb

T = 1_700_000_000_000_000_000
B_AHEAD = 10_000_000  # b's clock reads 10 ms ahead of a's
LATENCY = 40_000


def test_both_ways_the_latency_and_the_clock_difference_cancel() -> None:
    # True starts: a at T, b 300 µs later. Each agent stamps in its own clock.
    moments = {"a": T, "b": T + 300_000 + B_AHEAD}
    frames = [
        FirstFrame("a", "b", T + LATENCY + B_AHEAD),  # a's first frame, b's clock
        FirstFrame("b", "a", T + 300_000 + LATENCY),  # b's first frame, a's clock
    ]
    assert wire_skew_ns(moments, frames) == 300_000


def test_one_way_keeps_the_latency_as_an_upper_bound() -> None:
    # Only a sends; b's start moment is its schedule, which its clock puts 200 µs late.
    moments = {"a": T, "b": T + B_AHEAD + 200_000}
    frames = [FirstFrame("a", "b", T + LATENCY + B_AHEAD)]
    assert wire_skew_ns(moments, frames) == 200_000 - LATENCY


def test_wire_skew_takes_each_pairs_earliest_frame_and_the_worst_pair() -> None:
    moments = {"a": T, "b": T, "c": T}
    frames = [
        FirstFrame("a", "b", T + 900_000),
        FirstFrame("a", "b", T + 50_000),  # a second flow a->b arrived first
        FirstFrame("c", "b", T + 700_000),
        FirstFrame("x", "b", T + 1),  # unknown host: ignored
        FirstFrame("a", "c", 0),  # nothing received: ignored
    ]
    assert wire_skew_ns(moments, frames) == 700_000
    assert wire_skew_ns(moments, []) is None


def test_start_moments_prefer_actual_sender_starts() -> None:
    moments = start_moments({"a": 100, "b": 200}, {"a": [150, 140, 0], "b": [0]})
    assert moments == {"a": 140, "b": 200}


def test_controller_clock_skew_moves_moments_by_the_offsets() -> None:
    assert controller_clock_skew_ns({"a": T, "b": T + B_AHEAD + 5_000}, {"b": B_AHEAD}) == 5_000
    assert controller_clock_skew_ns({"a": T}, {}) == 0


def _reply(*flows: pb.FlowResult) -> pb.GetResultsResponse:
    return pb.GetResultsResponse(state=pb.SESSION_STATE_FINISHED, flows=list(flows))


def test_phase_skew_from_agent_replies_bidirectional() -> None:
    # The controller scheduled T (its clock); a's clock = controller, b's = controller + 10 ms.
    offsets = {"a": 0, "b": B_AHEAD}
    a = _reply(
        pb.FlowResult(flow_id=1, role=pb.ROLE_SEND, actual_start_wall_ns=T + 100_000),
        pb.FlowResult(flow_id=2, role=pb.ROLE_RECEIVE, first_wall_ns=T + 600_000 + LATENCY),
    )
    b = _reply(
        pb.FlowResult(flow_id=2, role=pb.ROLE_SEND, actual_start_wall_ns=T + B_AHEAD + 600_000),
        pb.FlowResult(
            flow_id=1, role=pb.ROLE_RECEIVE, first_wall_ns=T + B_AHEAD + 100_000 + LATENCY
        ),
    )
    flows = [("a", "b", 1), ("b", "a", 2)]
    assert phase_start_skew_us(flows, {"a": a, "b": b}, T, offsets) == pytest.approx(500.0)


def test_phase_skew_one_sender_measures_against_the_receivers_schedule() -> None:
    # b's clock estimate is 300 µs off: the agents disagree on when T is. The wire sees it.
    offsets = {"a": 0, "b": B_AHEAD - 300_000}
    a = _reply(pb.FlowResult(flow_id=1, role=pb.ROLE_SEND, actual_start_wall_ns=T + 80_000))
    b = _reply(pb.FlowResult(flow_id=1, role=pb.ROLE_RECEIVE, first_wall_ns=T + B_AHEAD + 120_000))
    skew = phase_start_skew_us([("a", "b", 1)], {"a": a, "b": b}, T, offsets)
    assert skew == pytest.approx(420.0)  # 300 µs clock error + 80 µs late + 40 µs latency


def test_phase_skew_falls_back_to_the_controller_clock_without_frames() -> None:
    offsets = {"a": 0, "b": B_AHEAD}
    a = _reply(pb.FlowResult(flow_id=1, role=pb.ROLE_SEND, actual_start_wall_ns=T + 250_000))
    b = _reply(pb.FlowResult(flow_id=1, role=pb.ROLE_RECEIVE))
    assert phase_start_skew_us([("a", "b", 1)], {"a": a, "b": b}, T, offsets) == 250.0


class _Agent:
    """Just enough of AgentApi for sync: records how many syncs overlap."""

    def __init__(self, host: str, state: dict[str, int]) -> None:
        self.host = host
        self.state = state

    async def sync_clock(self, exchanges: int = 8) -> ClockEstimate:
        self.state["now"] += 1
        self.state["most"] = max(self.state["most"], self.state["now"])
        await asyncio.sleep(0)
        self.state["now"] -= 1
        return ClockEstimate(offset_ns=len(self.host), rtt_ns=exchanges, samples=exchanges)


def test_sync_clocks_talks_to_one_agent_at_a_time() -> None:
    state = {"now": 0, "most": 0}
    agents = {h: _Agent(h, state) for h in ("a", "bb", "ccc")}
    estimates = asyncio.run(sync_clocks(agents, 8))  # type: ignore[arg-type]
    assert state["most"] == 1
    assert {h: e.offset_ns for h, e in estimates.items()} == {"a": 1, "bb": 2, "ccc": 3}
