"""Phases collected after their controller went away: the tail in flight is unknown.

When a controller dies, each agent stops its session when the lease runs out, the
receiver about as soon as the sender. The sender's last batch may still be on the wire:
the receiving interface counts it, our receive ring never reads it. Those frames arrived;
calling them lost (100 of them in a drill) is wrong. Where the receiving interface
carried only this flow, frames it counted beyond our ring's count are taken out of
`lost` and said to be an unknown tail (arrived after the receiver stopped).
"""

from __future__ import annotations

from collections.abc import Sequence

from ringlab.controller.store.results import Diagnosis, PhaseResult


def unknown_tail(phases: Sequence[PhaseResult]) -> list[Diagnosis]:
    """Move the tail the receiver's interface counted out of `lost`; one finding per flow."""
    found = []
    for phase in phases:
        by_interface: dict[tuple[str, str], int] = {}
        for flow in phase.flows:
            key = (flow.to_host, flow.receiver_interface.interface)
            by_interface[key] = by_interface.get(key, 0) + 1
        for flow in phase.flows:
            side = flow.receiver_interface
            if not side.interface or by_interface[(flow.to_host, side.interface)] != 1:
                continue  # the counter is shared: it cannot say which flow's frames it saw
            if not (flow.measured("lost") and flow.measured("receiver_interface")):
                continue
            # Frames the ring dropped (kernel_drops) were counted by the interface too: lost.
            tail = min(flow.lost, side.rx_packets - flow.rx_packets - flow.kernel_drops)
            if tail <= 0:
                continue
            flow.lost -= tail
            text = (
                f"{tail:,} frames of {flow.name} reached {flow.to_host}:{side.interface} (its "
                "counter counted them) after the receiver stopped, when the lease of the "
                "controller that went away ran out: whether they were whole is unknown, and they "
                f"are not counted as lost (lost {flow.lost:,}, received {flow.rx_packets:,}, "
                f"in flight {tail:,}, sent {flow.tx_packets:,})"
            )
            flow.errors.append(text)
            found.append(
                Diagnosis(
                    code="recovered_tail_unknown",
                    severity="info",
                    message=text + ".",
                    phase=phase.name,
                    flow=flow.name,
                )
            )
    return found
