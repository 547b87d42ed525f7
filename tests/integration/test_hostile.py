"""Hostile traffic: 10,000 forged frames land on a receiving interface during a flow.

A real sender (agent a) sends a paced flow to a real receiver (agent b); while it
runs, a raw AF_PACKET socket in a's namespace injects random frames, truncated
test headers, wrong magic and version, unknown flow ids, forged sequence numbers
far out of range and our ethertype with garbage. The flow's counts must stay
exact (every frame the sender handed to the kernel is received, none lost) and the
receiver's foreign/suspect counters must account for every injected frame that
carries our ethertype; the interface counters account for all of them.
"""

from __future__ import annotations

import random
import socket
import struct
import time
from collections.abc import Iterator

import pytest
from live_agents import agent_stub, flow_pair, link_counters, mac_of, needs_root, running_lab
from live_agents import session_id as new_session_id

from ringlab.agent.rings import frame as fr
from ringlab.controller.remote.lab import Lab, in_netns
from ringlab.v1 import agent_pb2 as pb

pytestmark = needs_root

FLOW_ID = 4097
RATE_PPS = 20_000
DURATION_S = 3.0
UNKNOWN_FLOW = 0xDEAD


@pytest.fixture
def two_agents(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with running_lab(tmp_path_factory.mktemp("labs")) as lab:
        yield lab


def header(
    dst: bytes,
    src: bytes,
    *,
    flow_id: int = FLOW_ID,
    worker: int = 0,
    seq: int = 0,
    magic: int = fr.MAGIC,
    version: int = fr.VERSION,
) -> bytes:
    return struct.pack(
        ">6s6sHIBBHIQQ", dst, src, fr.ETHERTYPE, magic, version, 0, worker, flow_id, seq, 0
    )


def hostile_frames(dst: bytes, src: bytes, rng: random.Random) -> tuple[list[bytes], int, int]:
    """10,000 frames; returns them with how many must count as foreign and as suspect."""
    pad = bytes(64 - fr.FCS_LEN - fr.HEADER_END)
    frames: list[bytes] = []
    # Not our ethertype: the receiver's socket never sees them (kernel filter).
    for _ in range(2000):
        ethertype = rng.choice([t for t in (0x0800, 0x86DD, 0x88B6, rng.randrange(1536, 65536))])
        if ethertype == fr.ETHERTYPE:
            ethertype = 0x0800
        body = rng.randbytes(rng.randrange(0, 1500))
        frames.append(rng.randbytes(6) + src + struct.pack(">H", ethertype) + body)
    foreign = suspect = 0
    # Our ethertype, cut short of the 42-byte header: suspect.
    for _ in range(2000):
        frames.append(header(dst, src)[: rng.randrange(fr.ETH_HLEN, fr.HEADER_END)])
        suspect += 1
    # Wrong magic or version: foreign.
    for _ in range(1500):
        magic = rng.randrange(0, 2**32)
        frames.append(header(dst, src, magic=magic if magic != fr.MAGIC else 0) + pad)
        foreign += 1
    for _ in range(500):
        frames.append(header(dst, src, version=rng.choice([0, 2, 255])) + pad)
        foreign += 1
    # A flow id the receiver was not asked to count: foreign.
    for _ in range(1000):
        frames.append(header(dst, src, flow_id=UNKNOWN_FLOW, seq=rng.randrange(0, 1000)) + pad)
        foreign += 1
    # Forged sequence numbers of the real flow, far ahead or behind the origin: suspect.
    for _ in range(1000):
        seq = rng.randrange(1 << 40, 1 << 63)
        frames.append(header(dst, src, worker=rng.choice([0, 0, 1, 77]), seq=seq) + pad)
        suspect += 1
    for _ in range(1000):
        frames.append(header(dst, src, seq=rng.randrange(1 << 63, 1 << 64)) + pad)
        suspect += 1
    # Our ethertype followed by garbage (a right magic by chance is 1 in 2**32).
    for _ in range(1000):
        body = rng.randbytes(rng.randrange(fr.HEADER_END - fr.ETH_HLEN, 1500))
        if body[:4] == struct.pack(">I", fr.MAGIC):
            body = b"\0" + body[1:]
        frames.append(dst + src + struct.pack(">H", fr.ETHERTYPE) + body)
        foreign += 1
    rng.shuffle(frames)
    return frames, foreign, suspect


def inject(namespace: str, interface: str, frames: list[bytes]) -> int:
    """Send every frame from a raw socket opened inside `namespace`; returns how many went out."""

    def send_all() -> int:
        with socket.socket(socket.AF_PACKET, socket.SOCK_RAW) as sock:
            sock.bind((interface, 0))
            return sum(sock.send(frame) > 0 for frame in frames)

    return in_netns(namespace, send_all)


def test_forged_frames_do_not_touch_the_flow_accounting(two_agents: Lab) -> None:
    lab = two_agents
    ns_a, ns_b = lab.hosts["a"].netns, lab.hosts["b"].netns
    with agent_stub(lab, "a") as a, agent_stub(lab, "b") as b:
        mac_a, mac_b = mac_of(a, "to-b"), mac_of(b, "to-a")
        send, receive = flow_pair(FLOW_ID, "to-b", "to-a", mac_a, mac_b, RATE_PPS)
        sid = new_session_id()
        # A long lease: this test does not renew, and the flow is short.
        b.Prepare(pb.PrepareRequest(session_id=sid, flows=[receive], lease_ms=60_000), timeout=30)
        a.Prepare(pb.PrepareRequest(session_id=sid, flows=[send], lease_ms=60_000), timeout=30)
        before = link_counters(ns_b, "to-a")
        frames, foreign, suspect = hostile_frames(
            bytes.fromhex(mac_b.replace(":", "")),
            bytes.fromhex(mac_a.replace(":", "")),
            random.Random(7),
        )
        assert len(frames) == 10_000
        start_at = time.time_ns() + 200_000_000
        for agent in (a, b):
            agent.Start(
                pb.StartRequest(
                    session_id=sid,
                    start_at_wall_ns=start_at,
                    duration_ns=int(DURATION_S * 1e9),
                    drain_ns=200_000_000,
                ),
                timeout=10,
            )
        # Inject while the flow is running: wait until the receiver counts real frames.
        stats = b.Stats(pb.StatsRequest(session_id=sid, interval_ms=20), timeout=30)
        for message in stats:
            if message.flows and message.flows[0].packets > 0:
                break
        stats.cancel()
        injected = inject(ns_a, "to-b", frames)
        live = next(iter(b.Stats(pb.StatsRequest(session_id=sid, interval_ms=20), timeout=30)))
        tx = a.GetResults(pb.GetResultsRequest(session_id=sid, wait=True), timeout=30)
        rx = b.GetResults(pb.GetResultsRequest(session_id=sid, wait=True), timeout=30)
        after = link_counters(ns_b, "to-a")
        for agent in (a, b):
            agent.Release(pb.ReleaseRequest(session_id=sid), timeout=10)

    assert injected == 10_000
    # Injection ended while the flow was still running, so it overlapped real traffic.
    assert live.state == pb.SESSION_STATE_RUNNING
    assert tx.state == rx.state == pb.SESSION_STATE_FINISHED, (tx.error, rx.error)
    sent, got = tx.flows[0], rx.flows[0]
    assert sent.packets == int(RATE_PPS * DURATION_S)
    assert got.kernel_drops == 0
    assert got.packets == got.unique_packets == sent.packets
    assert got.expected_packets == sent.packets  # lost = expected - unique = 0
    assert got.duplicates == 0
    assert got.reordered == 0
    assert got.bytes == sent.bytes
    assert (got.foreign_frames, got.suspect_frames) == (foreign, suspect)
    # The interface saw everything: the real flow plus every injected frame.
    assert after["rx_packets"] - before["rx_packets"] == sent.packets + 10_000
