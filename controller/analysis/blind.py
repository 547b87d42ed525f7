"""What an interface counter below ringlab's own ring count means, by how far below it is.

A counter that read 0 while our rings counted traffic is the kernel-bypass signature:
under PF_RING ZC, DPDK or AF_XDP zero-copy the kernel never sees the packets. A counter
that counted part of them (75 %, say) is not blind, and saying "zero-copy" would send
the reader after the wrong cause: it missed frames that reached the ring some other way.
"""

from __future__ import annotations


def blind_message(host: str, interface: str, way: str, counted: int, ours: int, more: str) -> str:
    """The interface_counters_blind text for `counted` (the interface) against `ours`."""
    seen = f"{host}:{interface}'s {way} counter saw {counted:,} frames, ringlab's own rings {ours:,}{more}."
    if counted == 0:
        return (
            f"{seen} Under a zero-copy or kernel-bypass driver (PF_RING ZC, DPDK, AF_XDP "
            "zero-copy) the kernel never sees the packets, so sysfs/ethtool counters read 0 even "
            "when the application gets everything. ringlab counts from its own rings: trust "
            "tx_packets/rx_packets, not the interface counters."
        )
    return (
        f"{seen} The counter is not blind (that reads 0): it counted {counted / ours:.0%} and "
        f"missed {ours - counted:,}. Frames that reach our ring without passing this interface's "
        "counter do this: frames redirected or mirrored to it (tc mirred, XDP redirect) from "
        "another interface, or a driver that leaves some queues out of its totals; a counter read "
        "before the last frames arrived does too. ringlab counts from its own rings: trust "
        "rx_packets/tx_packets, and look at what else feeds or steers this interface."
    )
