"""Default routes from /proc/net/route and /proc/net/ipv6_route.

The probe reads these files in fake trees (tests); on a live host it reads rtnetlink
(ringlab.agent.management), which also sees ECMP next hops and other routing tables.
Parsers are pure; `read_default_route_ifaces` reads the calling thread's network
namespace (/proc/thread-self/net: /proc/net follows the process's main thread).
"""

from __future__ import annotations

import socket
import struct
from pathlib import Path


def parse_proc_net_route(text: str) -> dict[str, str]:
    """/proc/net/route -> {iface: gateway} for default routes (destination and mask 0)."""
    out: dict[str, str] = {}
    for line in text.splitlines()[1:]:
        parts = line.split()
        if len(parts) < 8:
            continue
        iface, dest, gw, mask = parts[0], parts[1], parts[2], parts[7]
        if dest == "00000000" and mask == "00000000":
            out.setdefault(iface, socket.inet_ntoa(struct.pack("<I", int(gw, 16))))
    return out


def parse_ipv6_route(text: str) -> dict[str, str]:
    """/proc/net/ipv6_route -> {iface: gateway} for ::/0 routes (lo's reject routes skipped)."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 10:
            continue
        dest, plen, gw, flags, iface = parts[0], parts[1], parts[4], parts[8], parts[9]
        if dest != "0" * 32 or plen != "00" or iface == "lo":
            continue
        if int(flags, 16) & 0x0200:  # RTF_REJECT
            continue
        out.setdefault(iface, socket.inet_ntop(socket.AF_INET6, bytes.fromhex(gw)))
    return out


def _net_dir(root: Path) -> Path:
    if root == Path("/"):
        thread_self = Path("/proc/thread-self/net")
        if thread_self.exists():
            return thread_self
    return root / "proc/net"


def read_default_route_ifaces(root: Path) -> dict[str, str]:
    net = _net_dir(root)
    out: dict[str, str] = {}
    for name, parser in (("route", parse_proc_net_route), ("ipv6_route", parse_ipv6_route)):
        try:
            for iface, gw in parser((net / name).read_text()).items():
                out.setdefault(iface, gw)
        except OSError:
            continue
    return out
