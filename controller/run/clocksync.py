"""Clock sync with the agents, and the start skew of a phase measured on the wire.

Sync: agents are synced one after the other. Exchanging with several at once
makes each reply wait behind the others' on the controller's event loop, which
skews the round trips unevenly; measured here (two lab agents, one real clock),
parallel sync put the two estimates up to 450 µs apart, sequential within 20-80.

Skew: converting each agent's start time back with the same offsets that
scheduled it cannot see an error in those offsets (it cancels out), so the
skew is measured on the wire instead. An agent's start moment is its first
sender's actual start, or, for an agent that only receives, the moment it was
scheduled to start; both are in the agent's own clock. For a flow s->r, the
first frame's kernel RX stamp minus r's start moment, both in r's clock, is
`start_s - start_r + latency`. With flows both ways the latency cancels:
`start_s - start_r = (e_sr - e_rs) / 2`; one way, the latency (tens of µs on a
veth, a few on a LAN) stays in as an upper bound. A phase's skew is the largest
such difference between two of its agents. Without any frame received the
controller-clock estimate is the only one left and is used instead.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ringlab.controller.remote.clients import AgentApi, ClockEstimate
from ringlab.v1 import agent_pb2 as pb


async def sync_clocks(agents: Mapping[str, AgentApi], exchanges: int) -> dict[str, ClockEstimate]:
    """Each agent's clock offset, estimated one agent at a time."""
    return {host: await agent.sync_clock(exchanges) for host, agent in agents.items()}


@dataclass(frozen=True)
class FirstFrame:
    """When the first frame of a flow src->dst reached dst's ring, in dst's clock (ns)."""

    src_host: str
    dst_host: str
    rx_wall_ns: int


def start_moments(
    scheduled_local_ns: Mapping[str, int], sender_starts_ns: Mapping[str, Sequence[int]]
) -> dict[str, int]:
    """Each agent's start moment in its own clock: first sender start, else its schedule."""
    moments = dict(scheduled_local_ns)
    for host, starts in sender_starts_ns.items():
        actual = [s for s in starts if s]
        if actual:
            moments[host] = min(actual)
    return moments


def wire_skew_ns(moments: Mapping[str, int], first_frames: Sequence[FirstFrame]) -> int | None:
    """Largest start difference between two agents seen on the wire; None without frames."""
    seen: dict[tuple[str, str], int] = {}
    for frame in first_frames:
        if not frame.rx_wall_ns or frame.dst_host not in moments or frame.src_host not in moments:
            continue
        key = (frame.src_host, frame.dst_host)
        offset = frame.rx_wall_ns - moments[frame.dst_host]
        seen[key] = min(seen.get(key, offset), offset)
    if not seen:
        return None
    worst = 0
    for (src, dst), there in seen.items():
        back = seen.get((dst, src))
        difference = (there - back) // 2 if back is not None else there
        worst = max(worst, abs(difference))
    return worst


def controller_clock_skew_ns(moments: Mapping[str, int], offsets_ns: Mapping[str, int]) -> int:
    """Spread of the start moments moved to the controller's clock with the estimated offsets."""
    if len(moments) < 2:
        return 0
    on_controller = [moment - offsets_ns.get(host, 0) for host, moment in moments.items()]
    return max(on_controller) - min(on_controller)


def phase_start_skew_us(
    flows: Sequence[tuple[str, str, int]],
    collected: Mapping[str, pb.GetResultsResponse],
    start_at_ns: int,
    offsets_ns: Mapping[str, int],
) -> float:
    """The phase's start skew from what the agents reported.

    `flows` are (src_host, dst_host, wire flow id); `start_at_ns` is the
    scheduled start on the controller's clock.
    """
    hosts = {h for src, dst, _ in flows for h in (src, dst)}
    scheduled = {h: start_at_ns + offsets_ns.get(h, 0) for h in hosts}
    sender_starts: dict[str, list[int]] = {}
    first_rx: dict[tuple[str, int], int] = {}
    for host, reply in collected.items():
        for result in reply.flows:
            if result.role == pb.ROLE_SEND:
                sender_starts.setdefault(host, []).append(result.actual_start_wall_ns)
            elif result.role == pb.ROLE_RECEIVE and result.first_wall_ns:
                first_rx[(host, result.flow_id)] = result.first_wall_ns
    moments = start_moments(scheduled, sender_starts)
    frames = [
        FirstFrame(src, dst, first_rx[(dst, flow_id)])
        for src, dst, flow_id in flows
        if (dst, flow_id) in first_rx
    ]
    skew = wire_skew_ns(moments, frames)
    if skew is None:
        skew = controller_clock_skew_ns(moments, offsets_ns)
    return round(skew / 1000, 1)
