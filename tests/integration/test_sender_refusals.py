"""A link outage under the xdp and sendto senders (real agents): the kernel refuses the
whole ring, so the sender holds its frames (at most a batch leaves late), reports the
outage and the frames of the schedule it gave up as not sent, and counts no send errors
(the xdp sender used to count one per refused kick, sendto one per refused try)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from live_agents import (
    agent_stub,
    flow_pair,
    link_counters,
    mac_of,
    needs_root,
    running_lab,
    session_id,
    wait_until,
)
from pyroute2 import NetNS

from ringlab.controller.remote.lab import Lab
from ringlab.v1 import agent_pb2 as pb

pytestmark = needs_root

RATE_PPS = 20_000
DURATION_S = 3.0
OUTAGE_S = 1.0


@pytest.fixture(scope="module")
def outage_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with running_lab(tmp_path_factory.mktemp("labs")) as lab:
        yield lab


def _set_link(netns: str, interface: str, state: str) -> None:
    with NetNS(netns) as ns:
        ns.link("set", index=ns.link_lookup(ifname=interface)[0], state=state)


@pytest.mark.parametrize("engine", [pb.ENGINE_XDP, pb.ENGINE_SENDTO])
def test_an_outage_is_held_and_reported_not_counted_as_send_errors(
    outage_lab: Lab, engine: int
) -> None:
    lab = outage_lab
    ns_a, ns_b = lab.hosts["a"].netns, lab.hosts["b"].netns
    with agent_stub(lab, "a") as a, agent_stub(lab, "b") as b:
        send, receive = flow_pair(
            31, "to-b", "to-a", mac_of(a, "to-b"), mac_of(b, "to-a"), RATE_PPS
        )
        send.engine = engine
        sid = session_id()
        b.Prepare(pb.PrepareRequest(session_id=sid, flows=[receive], lease_ms=60_000), timeout=30)
        a.Prepare(pb.PrepareRequest(session_id=sid, flows=[send], lease_ms=60_000), timeout=30)
        base = link_counters(ns_b, "to-a")["rx_packets"]
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
        wait_until(
            lambda: link_counters(ns_b, "to-a")["rx_packets"] - base > 5000,
            10,
            "the flow's frames at b",
        )
        _set_link(ns_a, "to-b", "down")
        try:
            time.sleep(OUTAGE_S)  # the outage itself: a fault we make, not a wait
        finally:
            _set_link(ns_a, "to-b", "up")
        tx = a.GetResults(pb.GetResultsRequest(session_id=sid, wait=True), timeout=30)
        rx = b.GetResults(pb.GetResultsRequest(session_id=sid, wait=True), timeout=30)
        for agent in (a, b):
            agent.Release(pb.ReleaseRequest(session_id=sid), timeout=10)
    sent, got = tx.flows[0], rx.flows[0]
    # The outage's refused tries are not send errors (they used to be thousands). At
    # link-up veth may refuse a frame or two (xdp: EBUSY, its peer not yet polling): real
    # drops, counted as such.
    assert sent.send_errors <= 2, sent.error
    if sent.send_errors:
        assert "dropped a frame" in sent.error, sent.error
    assert sent.extra["refusals"] == 1, dict(sent.extra)
    assert 0.9e9 <= sent.extra["refused_ns"] <= 2e9
    not_sent = sent.extra["not_sent"]
    # What the schedule released during the outage, less the bounded catch-up.
    assert abs(not_sent - sent.extra["refused_ns"] * RATE_PPS / 1e9) <= 0.1 * RATE_PPS
    assert sent.packets + not_sent == int(RATE_PPS * DURATION_S)
    assert "to-b" in sent.info["not_sent"]
    # Whatever the sender counted as sent arrived, less what the kernel had queued on the
    # device when it went down (purged with the queue) and frames veth refused at link-up.
    assert 0 <= sent.packets - got.unique_packets <= 64 + sent.send_errors
