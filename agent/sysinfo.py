"""What the agent tells about its host: interfaces and their counters.

Everything is read through netlink (pyroute2) and the ethtool ioctl on a socket,
both of which answer for the network namespace the agent runs in. sysfs is not
used here: /sys/class/net shows the namespace that mounted /sys, which is not
the agent's when it entered its namespace with setns.
"""

from __future__ import annotations

import array
import fcntl
import os
import platform
import socket
import struct
from dataclasses import dataclass

from pyroute2 import IPRoute

from ringlab.v1 import agent_pb2 as pb

SIOCETHTOOL = 0x8946
ETHTOOL_GDRVINFO = 0x00000003
# struct ethtool_drvinfo: cmd u32, driver[32], version[32], fw_version[32], bus_info[32], ...
_DRVINFO_SIZE = 196

# The kernel link counters ringlab reports: the fields of the contract's InterfaceCounters.
COUNTER_FIELDS = tuple(field.name for field in pb.InterfaceCounters.DESCRIPTOR.fields)


@dataclass(frozen=True)
class Interface:
    name: str
    mac: str
    mtu: int
    driver: str
    oper_state: str
    ifindex: int


def driver_of(ifname: str) -> str:
    """The interface's driver name from ETHTOOL_GDRVINFO, or "" when it has none."""
    buf = array.array("B", struct.pack("I", ETHTOOL_GDRVINFO) + bytes(_DRVINFO_SIZE - 4))
    addr, _ = buf.buffer_info()
    ifreq = struct.pack("16sP", ifname.encode()[:15], addr)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            fcntl.ioctl(sock.fileno(), SIOCETHTOOL, ifreq)
        except OSError:
            return ""
    return bytes(buf[4:36]).split(b"\0", 1)[0].decode(errors="replace")


def list_interfaces() -> list[Interface]:
    with IPRoute() as ipr:
        links = ipr.get_links()
    result = []
    for link in links:
        name = link.get_attr("IFLA_IFNAME")
        result.append(
            Interface(
                name=name,
                mac=link.get_attr("IFLA_ADDRESS") or "",
                mtu=int(link.get_attr("IFLA_MTU") or 0),
                driver=driver_of(name),
                oper_state=str(link.get_attr("IFLA_OPERSTATE") or "UNKNOWN").lower(),
                ifindex=int(link["index"]),
            )
        )
    return sorted(result, key=lambda i: i.ifindex)


def interface_counters(ifname: str) -> dict[str, int]:
    """The kernel's 64-bit link statistics (the same numbers as /sys/class/net/IF/statistics)."""
    with IPRoute() as ipr:
        links = ipr.link("get", ifname=ifname)
    stats = links[0].get_attr("IFLA_STATS64") or {}
    return {name: int(stats.get(name, 0)) for name in COUNTER_FIELDS}


def hostname() -> str:
    return socket.gethostname()


def kernel_release() -> str:
    return platform.release()


def netns_name() -> str:
    """The namespace name given at start (RINGLAB_NETNS), for display only."""
    return os.environ.get("RINGLAB_NETNS", "")
