"""Where a flow's lost frames went: sender, link, receiver kernel ring, receiver, or
unknown (blind or missing interface counters). Pure; the parts add up to `lost`."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from ringlab.controller.store.results import Diagnosis, FlowResult, RunResult
from ringlab.severity import Severity

# A flow losing less than this is clean: its attribution is info, not a warning.
CLEAN_LOSS = 0.001


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
    kernel_ring = min(left, max(_ring_drops(f) for f in flows))
    left -= kernel_ring
    receiver, unknown = (left, 0) if receiver_usable and sender_usable else (0, left)
    return LossAttribution(tx, lost, sender, link, kernel_ring, receiver, unknown)


# An external receiving tool's own count of frames its ring had no room for.
_TOOL_RING_DROPS = ("testpmd_rx_missed", "pfring_drops")


def _ring_drops(flow: FlowResult) -> int:
    tool = max((flow.receiver_extra.get(key, 0) for key in _TOOL_RING_DROPS), default=0)
    return max(flow.kernel_drops, tool)


def _counted_by(flows: Sequence[FlowResult]) -> str:
    """External engines: say the figures are the tool's or the interface's, not sequences."""
    counted = flows[0].counted_by
    if not counted:
        return ""
    return (
        f"not counted by sequence: tx by {counted.get('tx', '?')}, rx by"
        f" {counted.get('rx', '?')} (an external tool writes no ringlab header; an interface"
        " count includes any other frame on it)"
    )


def _pct(ratio: float) -> str:
    return f"{ratio:.2%}" if ratio >= 0.0001 or ratio == 0 else f"{ratio:.4%}"


def loss_findings(result: RunResult) -> Iterator[Diagnosis]:
    """One finding per sender/receiver interface pair that lost frames: where they went."""
    for phase in result.phases:
        groups: dict[tuple[str, str, str, str], list[FlowResult]] = {}
        for flow in phase.flows:
            key = (
                flow.from_host,
                flow.sender_interface.interface,
                flow.to_host,
                flow.receiver_interface.interface,
            )
            groups.setdefault(key, []).append(flow)
        for (src, src_if, dst, dst_if), flows in groups.items():
            part = attribute_loss(flows)
            if not part.lost:
                continue
            ratio = part.lost / part.tx if part.tx else 0.0
            severity: Severity = "warning" if ratio >= CLEAN_LOSS else "info"
            text = (
                f"{part.lost:,} of {part.tx:,} frames lost ({_pct(ratio)}): "
                f"sender {part.sender:,} (our count above {src}:{src_if or '?'}'s TX counter), "
                f"link {part.link:,} ({src} TX counter above {dst}:{dst_if or '?'}'s RX counter), "
                f"receiver kernel ring {part.kernel_ring:,} (tp_drops; xdp: XDP_STATISTICS;"
                " testpmd: RX-missed; pfcount: drops), "
                f"receiver {part.receiver:,} (reached {dst} but not our count: filters, XDP, a "
                "zero-copy owner, or our reader)"
            )
            counted = _counted_by(flows)
            if counted:
                text += f"; {counted}"
            if part.unknown:
                text += (
                    f", unplaced {part.unknown:,} (interface counters blind or missing: lost "
                    "between the sender and the receive ring)"
                )
            yield Diagnosis(
                code="loss_attribution",
                severity=severity,
                message=text + ".",
                phase=phase.name,
                flow=", ".join(f.name for f in flows),
            )
