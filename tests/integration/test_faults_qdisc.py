"""The sender's own qdisc drops frames (qdisc_bypass: false): real agents, real tc.

Two known-answer faults on agent a's interface (qdisc_lab.py): a cls_bpf egress filter
that drops one sequence number every time it is sent, and a tbf whose 1 ms queue is
too short for the flow, so it drops frames that a later try gets through. The agents
must count per frame (not per try), give up a frame dropped on every try instead of
retrying it for the rest of the run, account for every frame of the schedule, and the
diagnosis must name the qdisc that did it (kind, handle, its own drop counter).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from live_agents import (
    agent_stub,
    flow_pair,
    mac_of,
    needs_root,
    running_lab,
    session_id,
    start_controller,
)
from qdisc_lab import dropping_seq, tbf

from ringlab.controller.remote.lab import Lab
from ringlab.v1 import agent_pb2 as pb

pytestmark = needs_root

FLOW_ID = 21
RATE_PPS = 20_000
DURATION_S = 2.0
SCHEDULE = int(RATE_PPS * DURATION_S)
DROPPED_SEQ = 1000


@pytest.fixture(scope="module")
def qdisc_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with running_lab(tmp_path_factory.mktemp("labs")) as lab:
        yield lab


def run_flow(
    lab: Lab, engine: int = pb.ENGINE_RING
) -> tuple[pb.FlowResult, pb.FlowResult, pb.GetResultsResponse]:
    """One 2 s paced flow a -> b through a's qdiscs; (sent, received, a's reply)."""
    with agent_stub(lab, "a") as a, agent_stub(lab, "b") as b:
        send, receive = flow_pair(
            FLOW_ID, "to-b", "to-a", mac_of(a, "to-b"), mac_of(b, "to-a"), RATE_PPS
        )
        send.qdisc_bypass = False
        send.engine = engine
        sid = session_id()
        # A long lease: this test does not renew, and the flow is short.
        b.Prepare(pb.PrepareRequest(session_id=sid, flows=[receive], lease_ms=60_000), timeout=30)
        a.Prepare(pb.PrepareRequest(session_id=sid, flows=[send], lease_ms=60_000), timeout=30)
        start_at = time.time_ns() + 200_000_000
        for agent in (a, b):
            agent.Start(
                pb.StartRequest(
                    session_id=sid,
                    start_at_wall_ns=start_at,
                    duration_ns=int(DURATION_S * 1e9),
                    drain_ns=300_000_000,
                ),
                timeout=10,
            )
        tx = a.GetResults(pb.GetResultsRequest(session_id=sid, wait=True), timeout=30)
        rx = b.GetResults(pb.GetResultsRequest(session_id=sid, wait=True), timeout=30)
        for agent in (a, b):
            agent.Release(pb.ReleaseRequest(session_id=sid), timeout=10)
    return tx.flows[0], rx.flows[0], tx


@pytest.mark.parametrize("engine", [pb.ENGINE_RING, pb.ENGINE_SENDTO])
def test_a_frame_the_filter_always_drops_is_given_up_and_the_ring_goes_on(
    qdisc_lab: Lab, engine: int
) -> None:
    with dropping_seq(qdisc_lab.hosts["a"].netns, "to-b", FLOW_ID, DROPPED_SEQ):
        sent, got, reply = run_flow(qdisc_lab, engine)
    assert reply.state == pb.SESSION_STATE_FINISHED, reply.error
    # One frame given up, every other frame of the schedule sent: the ring did not stop at
    # the dropped frame (it used to send 1,000 frames and retry the next for the rest).
    assert sent.packets == SCHEDULE - 1
    assert sent.send_errors == 1  # the frame, not the tries
    assert sent.extra["qdisc_given_up"] == 1 and sent.extra["qdisc_dropped_frames"] == 1
    assert "not_sent" not in sent.extra
    # Every try the kernel answered with a drop is one the filter counted (tc -s qdisc).
    assert sent.extra["qdisc_drops"] == sent.extra["tc/clsact/ffff:/drops"] >= 4
    assert "clsact ffff:" in sent.info["qdisc"] and "given up" in sent.info["qdisc_drops"]
    # The receiver got everything else, exactly once, and sees the one gap.
    assert got.unique_packets == got.packets == sent.packets
    assert got.expected_packets == SCHEDULE
    assert got.duplicates == 0


def test_tbf_drops_are_counted_per_frame_and_every_frame_is_accounted(qdisc_lab: Lab) -> None:
    with tbf(qdisc_lab.hosts["a"].netns, "to-b", rate="8mbit", burst=3000, latency="1ms"):
        sent, got, reply = run_flow(qdisc_lab)
    assert reply.state == pb.SESSION_STATE_FINISHED, reply.error
    drops = sent.extra["qdisc_drops"]
    # The agent's count of dropped tries is tbf's own drop counter, to the frame.
    assert drops > 0 and drops == sent.extra["tc/tbf/1:/drops"], dict(sent.extra)
    # A full tbf queue frees room within a frame time: nothing was given up, every
    # dropped frame went out on a later try, so none is a send error.
    assert sent.extra["qdisc_given_up"] == 0 and sent.send_errors == 0
    assert 0 < sent.extra["qdisc_dropped_frames"] <= drops
    # Sent + not sent (held back by the shaper, given up behind schedule) = the schedule.
    assert sent.packets + sent.extra.get("not_sent", 0) == SCHEDULE
    # Every frame the agent counted as sent arrived, once, with no gap.
    assert got.unique_packets == got.packets == got.expected_packets == sent.packets


def test_the_diagnosis_names_the_senders_qdisc(qdisc_lab: Lab, tmp_path: Path) -> None:
    scenario = (
        "version: 1\nname: qdisc-drops\nmode: unidirectional\nduration: 2s\nlease: 3s\n"
        "hosts: {a: {}, b: {}}\n"
        f"flows:\n  - {{from: a, to: b, frame_size: 64, rate: {RATE_PPS}pps, "
        "qdisc_bypass: false}\n"
    )
    with tbf(qdisc_lab.hosts["a"].netns, "to-b", rate="8mbit", burst=3000, latency="1ms"):
        controller = start_controller(qdisc_lab, scenario, tmp_path)
        try:
            code = controller.wait(120)
        finally:
            controller.stop()
    assert "Traceback" not in controller.errors()
    assert code == 1, controller.errors()  # frames of the schedule were not sent
    result = controller.output()
    codes = [d["code"] for d in result["diagnosis"]]
    finding = next(d for d in result["diagnosis"] if d["code"] == "sender_qdisc_drops")
    flow = result["phases"][0]["flows"][0]
    drops = flow["sender_extra"]["tc/tbf/1:/drops"]
    assert f"tbf 1: ({drops:,} drops)" in finding["message"] and "a:to-b" in finding["message"]
    # Not a guess at the cause: no "CPU-bound" shortfall, no "descheduled" frames not sent.
    assert "sender_shortfall" not in codes and "frames_not_sent" not in codes, codes
