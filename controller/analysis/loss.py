"""Where a flow's lost frames went: sender, link, receiver kernel ring, receiver, or
unknown (blind or missing interface counters). Pure; the parts add up to `lost`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ringlab.controller.store.results import FlowResult


@dataclass(frozen=True)
class LossAttribution:
    """Where the `lost` frames of a flow (or of flows sharing both interfaces) went.

    sender + link + kernel_ring + receiver + unknown == lost. `unknown` is what
    could not be placed because the interface counters are blind (zero-copy
    drivers) or missing: lost somewhere between the sender and the receive ring.
    """

    tx: int
    lost: int
    sender: int
    link: int
    kernel_ring: int
    receiver: int
    unknown: int


def attribute_loss(flows: Sequence[FlowResult]) -> LossAttribution:
    """Place the lost frames of flows sharing one sender and one receiver interface."""
    tx = sum(f.tx_packets for f in flows)
    rx = sum(f.rx_packets for f in flows)
    lost = sum(f.lost for f in flows)
    sent_if, recv_if = flows[0].sender_interface, flows[0].receiver_interface
    # Blind counters (zero-copy drivers count nothing) or missing ones cannot place frames.
    sender_usable = bool(sent_if.interface) and sent_if.tx_packets > 0
    receiver_usable = bool(recv_if.interface) and recv_if.rx_packets >= rx
    left = lost
    sender = min(left, max(0, tx - sent_if.tx_packets)) if sender_usable else 0
    left -= sender
    link = 0
    if sender_usable and receiver_usable:
        # Other traffic (neighbour discovery) shows up in both counters and cancels out.
        link = min(left, max(0, sent_if.tx_packets - recv_if.rx_packets))
    left -= link
    kernel_ring = min(left, max(f.kernel_drops for f in flows))
    left -= kernel_ring
    receiver, unknown = (left, 0) if receiver_usable and sender_usable else (0, left)
    return LossAttribution(tx, lost, sender, link, kernel_ring, receiver, unknown)
