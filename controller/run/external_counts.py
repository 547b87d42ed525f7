"""How a flow's figures were counted when a side is an external tool (testpmd, PF_RING). Pure.

ringlab's own engines count every frame by the sequence in ringlab's header: exact, with
duplicates, reordering and latency. External tools write no such header, so:

- a tool's side is counted by the tool (`count_source` "tool"): its own counters, no
  duplicates, reordering or latency;
- ringlab's receiver of a tool's frames cannot tell them by sequence (its socket takes
  only ringlab's ethertype): the flow's rx is the receiving interface's rx_packets over the
  phase (count "interface"), which also counts any other frame that reached it.

A side on a PCI port bound to DPDK (testpmd_vdev: pci) has no kernel interface: its
interface counters are not measured (null with the reason), never 0.

`counted_by` says for tx and rx which it was; `not_counted` names what was therefore never
measured, with the reason, so it reads null, not 0 (docs/external-engines.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ringlab.controller.store.results import InterfaceDelta
from ringlab.v1 import agent_pb2 as pb

_SEQUENCE_ONLY = ("reordered", "duplicates", "latency_us")
_RECEIVED = ("rx_packets", "rx_bytes", "lost", "rx_pps", "rx_bps")
_RING_ONLY = (
    "kernel_packets",
    "kernel_drops",
    "kernel_freezes",
    "foreign_frames",
    "suspect_frames",
)


@dataclass(frozen=True)
class Counting:
    counted_by: dict[str, str] = field(default_factory=dict)
    not_counted: dict[str, str] = field(default_factory=dict)
    # Set when the flow's rx comes from the receiving interface's counters.
    rx_packets: int | None = None
    rx_bytes: int | None = None


def counting(
    engine: str,
    rx_engine: str,
    sent: pb.FlowResult | None,
    received: pb.FlowResult | None,
    receiver_interface: InterfaceDelta,
    sender_pci: str = "",
    receiver_pci: str = "",
) -> Counting:
    bypassed = _bypassed_interfaces(sent, received, sender_pci, receiver_pci)
    counting = _counting(engine, rx_engine, sent, received, receiver_interface)
    if not bypassed:
        return counting
    return Counting(
        counted_by=counting.counted_by,
        not_counted={**counting.not_counted, **bypassed},
        rx_packets=counting.rx_packets,
        rx_bytes=counting.rx_bytes,
    )


def _bypassed_interfaces(
    sent: pb.FlowResult | None,
    received: pb.FlowResult | None,
    sender_pci: str,
    receiver_pci: str,
) -> dict[str, str]:
    """The interface counters of a side on a PCI port bound to DPDK, with the reason."""
    reasons: dict[str, str] = {}
    for field_name, pci, result in (
        ("sender_interface", sender_pci, sent),
        ("receiver_interface", receiver_pci, received),
    ):
        if pci:
            driver = result.info.get("pci_driver", "") if result is not None else ""
            bound = f"DPDK ({driver})" if driver else "DPDK"
            reasons[field_name] = (
                f"the port {pci} is bound to {bound}; the kernel does not count it"
            )
    return reasons


def _counting(
    engine: str,
    rx_engine: str,
    sent: pb.FlowResult | None,
    received: pb.FlowResult | None,
    receiver_interface: InterfaceDelta,
) -> Counting:
    tx_source = sent.count_source if sent is not None and sent.count_source else ""
    rx_source = received.count_source if received is not None and received.count_source else ""
    if "tool" not in (tx_source, rx_source) and rx_source != "none":
        return Counting()
    counted: dict[str, str] = {}
    missing: dict[str, str] = {}
    if tx_source:
        counted["tx"] = engine if tx_source == "tool" else "sequence"
    result = Counting(counted_by=counted, not_counted=missing)
    if rx_source == "tool" and received is not None and received.error and not received.packets:
        # The receiving tool failed before it counted anything: unknown, not 0.
        counted["rx"] = rx_engine
        why = f"the receiving {rx_engine} failed: {received.error}"
        missing |= {name: why for name in (*_RECEIVED, *_SEQUENCE_ONLY, *_RING_ONLY)}
    elif rx_source == "tool":
        counted["rx"] = rx_engine
        why = f"{rx_engine} counts frames, not ringlab's sequence numbers"
        missing |= {name: why for name in _SEQUENCE_ONLY}
        missing |= {name: f"{rx_engine} has no ringlab receive ring" for name in _RING_ONLY}
    elif rx_source == "none":
        counted["rx"] = "interface"
        why = (
            f"the sender ({engine}) writes no ringlab header: frames were counted by the"
            f" receiving interface {receiver_interface.interface}, not by sequence"
        )
        missing |= {name: why for name in (*_SEQUENCE_ONLY, "rx_pps", "rx_bps")}
        result = Counting(
            counted_by=counted,
            not_counted=missing,
            rx_packets=receiver_interface.rx_packets,
            rx_bytes=receiver_interface.rx_bytes,
        )
    return result
