"""Diagnosis of AF_XDP flows. Pure.

- The queue collision: a bind refused with EBUSY because another socket owns the
  interface queue (the one-owner-per-queue rule zero-copy drivers share with PF_RING
  ZC), from the structured `xdp_queue_busy` the agents reported.
- Receive drops: the sockets' XDP_STATISTICS, where the ring engine has tp_drops."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from ringlab.controller.store.results import (
    Diagnosis,
    FlowResult,
    PhaseResult,
    RunResult,
    XdpQueueBusy,
)

CODE = "xdp_queue_busy"
# Text of a flow, phase or run error that this rule explains (device_busy leaves it alone).
MARKER = "xdp queue busy"


def collided_only(phase: PhaseResult) -> bool:
    """The phase failed only because AF_XDP binds collided: a measured result (the run
    goes on to its next phases, so `compare` holds the collision beside the remedy)."""
    failing = [flow for flow in phase.flows if flow.errors]
    return (
        bool(failing)
        and all(flow.xdp_queue_busy and not flow.uncollected for flow in failing)
        and all(MARKER in error.lower() for error in phase.errors)
    )


def queue_busy(result: RunResult) -> Iterator[Diagnosis]:
    for phase in result.phases:
        for flow in phase.flows:
            for busy in flow.xdp_queue_busy:
                yield Diagnosis(
                    code=CODE,
                    severity="error",
                    message=_message(flow.name, busy),
                    phase=phase.name,
                    flow=flow.name,
                )


def _message(flow: str, busy: XdpQueueBusy) -> str:
    if busy.holders:
        holder = f"this run's {', '.join(busy.holders)} held it"
    else:
        holder = f"no flow of this run was on it; {busy.owners or 'the owner is unknown'}"
    # Who was refused: ringlab's own socket (EBUSY), or an external tool in its own words.
    refused = f"{busy.tool} ({busy.role})" if busy.tool else busy.role
    said = f", saying {busy.message!r}" if busy.tool and busy.message else " (EBUSY)"
    return (
        f"AF_XDP queue collision on {busy.host}: flow {flow}'s {refused} could not bind"
        f" {busy.interface} queue {busy.queue}{said}: {holder}. AF_XDP, like PF_RING ZC,"
        " lets one socket own an interface queue, in copy mode as well as zero-copy, so a host"
        " that sends and receives on the same queue with two sockets (two applications) gets"
        " the second one refused. Remedies: run the directions time-sliced (mode: time-sliced,"
        " one owner at a time); send and receive through one socket (xdp_share: true on the"
        " flows); or give each direction its own queue (xdp_queue: 1 on one of them, on links"
        " with several queues: `ringlab lab up --queues 2`, or `ethtool -L IF combined 2` on a"
        " NIC)."
    )


def xdp_drops(
    phase: str, host: str, interface: str, flows: Sequence[FlowResult], drops: int
) -> Diagnosis:
    """kernel_ring_drops for AF_XDP receivers: their drops are the sockets' XDP_STATISTICS."""
    stats: dict[str, int] = {}
    for flow in flows:
        for key in ("xdp_rx_dropped", "xdp_rx_ring_full", "xdp_rx_invalid_descs"):
            stats[key] = max(stats.get(key, 0), flow.receiver_extra.get(key, 0))
    parts = ", ".join(f"{key.removeprefix('xdp_')} {value:,}" for key, value in stats.items())
    return Diagnosis(
        code="kernel_ring_drops",
        severity="warning",
        message=(
            f"The AF_XDP receive sockets on {host}:{interface} dropped {drops:,} frames"
            f" (XDP_STATISTICS: {parts}): rx_ring_full means the receiver read too slowly,"
            " rx_dropped that the fill ring had no free chunk. What to do: keep the receiver's"
            " core free of other work, spread the flow over queues (`workers:` binds"
            " xdp_queue + w on links with that many queues), or lower the rate."
        ),
        phase=phase,
        flow=", ".join(f.name for f in flows),
    )
