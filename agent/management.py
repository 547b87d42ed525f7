"""Which of this host's interfaces are management interfaces, and why.

An interface is a management interface when test traffic on it can cut this host off
from the people and the controller that manage it:
- it carries a default route (IPv4 or IPv6, in any routing table: a management VRF keeps
  its default route in a table of its own);
- it holds the local address of the SSH session the agent was started from
  (`SSH_CONNECTION`, read once when the agent starts; `ringlab deploy` starts agents from
  an SSH session with setsid, which keeps the environment);
- it holds one of the addresses the controller says it reaches this host by (a
  PrepareRequest's or ProbeRequest's `management_addresses`, e.g. the inventory's
  ssh address).

`management_interfaces` decides, from plain values; `read_network` reads the facts it
needs through rtnetlink (pyroute2) for the calling thread's network namespace. The probe
and the agent's Prepare guard both use them, so they agree on what is management.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ringlab.agent.probes import dpdk

MAIN_TABLE = 254
_RTN_UNICAST = 1

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class DefaultRoute:
    """One path of a default route: the interface it leaves by and its gateway ("" for none)."""

    interface: str
    gateway: str = ""
    table: int = MAIN_TABLE
    ipv6: bool = False

    def describe(self) -> str:
        where = f"via {self.gateway}" if self.gateway else "on-link, no gateway"
        if self.ipv6:
            where = f"IPv6 {where}"
        return where if self.table == MAIN_TABLE else f"{where}, table {self.table}"


@dataclass(frozen=True)
class NetworkFacts:
    """What the decision needs from the host: its default routes and interface addresses."""

    default_routes: tuple[DefaultRoute, ...] = ()
    addresses: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


def parse_address(text: str) -> Address | None:
    """An IP address from "10.0.0.5", "10.0.0.5/24", "[fe80::1%eth0]" or "::ffff:10.0.0.5"
    (as the IPv4 address it maps); None for anything else (a host name, garbage)."""
    text = text.strip().removeprefix("[").split("]")[0].split("/")[0].split("%")[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def ssh_server_address(ssh_connection: str | None) -> str | None:
    """This host's address in an SSH_CONNECTION value ("client_ip client_port server_ip
    server_port"); None when the value is missing or not of that form."""
    parts = (ssh_connection or "").split()
    if len(parts) != 4:
        return None
    address = parse_address(parts[2])
    return None if address is None else str(address)


def management_interfaces(
    facts: NetworkFacts,
    controller_addresses: Sequence[str] = (),
    ssh_address: str | None = None,
) -> dict[str, str]:
    """{interface: why it is a management interface}; the reason reads after the name:
    "eth0 carries the default route (via 10.0.0.1)"."""
    reasons: dict[str, list[str]] = {}
    routes: dict[str, list[str]] = {}
    for route in facts.default_routes:
        described = route.describe()
        if described not in routes.setdefault(route.interface, []):
            routes[route.interface].append(described)
    for interface, paths in routes.items():
        noun = "the default route" if len(paths) == 1 else "default routes"
        reasons.setdefault(interface, []).append(f"carries {noun} ({'; '.join(paths)})")

    held = {
        interface: {a for a in map(parse_address, addresses) if a is not None}
        for interface, addresses in facts.addresses.items()
    }

    def holders(address: Address) -> list[str]:
        return sorted(interface for interface, mine in held.items() if address in mine)

    ssh = parse_address(ssh_address) if ssh_address else None
    if ssh is not None:
        for interface in holders(ssh):
            reasons.setdefault(interface, []).append(
                f"holds {ssh}, the local address of the SSH session the agent was started from"
            )
    wanted = sorted({a for a in map(parse_address, controller_addresses) if a is not None}, key=str)
    for address in wanted:
        for interface in holders(address):
            reasons.setdefault(interface, []).append(
                f"holds {address}, the address the controller reaches this host by"
            )
    return {interface: " and ".join(why) for interface, why in sorted(reasons.items())}


# --- reading the host (rtnetlink) ----------------------------------------------------


def _default_routes(message: Any, names: Mapping[int, str]) -> list[DefaultRoute]:
    """The paths of one route message if it is a unicast default route, else none."""
    if message["dst_len"] != 0 or message["type"] != _RTN_UNICAST:
        return []
    table = int(message.get_attr("RTA_TABLE") or message["table"])
    gateway = str(message.get_attr("RTA_GATEWAY") or "")
    ipv6 = message["family"] == socket.AF_INET6
    paths = []
    oif = message.get_attr("RTA_OIF")
    if oif is not None:
        paths.append(DefaultRoute(names.get(oif, f"ifindex {oif}"), gateway, table, ipv6))
    # ECMP: every next hop's interface carries the route. Routes that use nexthop
    # objects are dumped with these attributes too (net.ipv4.nexthop_compat_mode, on
    # by default).
    for hop in message.get_attr("RTA_MULTIPATH") or ():
        hop_gateway = str(hop.get_attr("RTA_GATEWAY") or gateway)
        oif = hop["oif"]
        paths.append(DefaultRoute(names.get(oif, f"ifindex {oif}"), hop_gateway, table, ipv6))
    return paths


def read_network() -> NetworkFacts:
    """Default routes (all tables, IPv4 and IPv6) and addresses of the calling thread's
    network namespace."""
    from pyroute2 import IPRoute

    with IPRoute() as ipr:
        names = {int(link["index"]): str(link.get_attr("IFLA_IFNAME")) for link in ipr.get_links()}
        addresses: dict[str, list[str]] = {}
        for message in ipr.get_addr():
            name = names.get(int(message["index"]))
            if name is not None:
                addresses.setdefault(name, []).append(str(message.get_attr("IFA_ADDRESS")))
        routes = [
            route
            for family in (socket.AF_INET, socket.AF_INET6)
            for message in ipr.route("dump", family=family)
            for route in _default_routes(message, names)
        ]
    return NetworkFacts(tuple(routes), {n: tuple(a) for n, a in addresses.items()})


class ManagementInterfaces:
    """This agent's management interfaces: routes and addresses are read at every call
    (they change), the SSH session's address once, when the agent starts."""

    def __init__(
        self, ssh_address: str | None, read: Callable[[], NetworkFacts] = read_network
    ) -> None:
        self.ssh_address = ssh_address
        self._read = read

    @classmethod
    def from_environment(
        cls,
        environ: Mapping[str, str] = os.environ,
        read: Callable[[], NetworkFacts] = read_network,
    ) -> ManagementInterfaces:
        return cls(ssh_server_address(environ.get("SSH_CONNECTION")), read)

    def find(self, controller_addresses: Iterable[str] = ()) -> dict[str, str]:
        return management_interfaces(self._read(), list(controller_addresses), self.ssh_address)


# --- PCI ports (testpmd_vdev: pci) ------------------------------------------------------


def pci_port_refusal(
    address: str,
    management: Mapping[str, str],
    allow_management_interface: bool = False,
    sysfs_root: Path = Path("/"),
) -> str | None:
    """Why testpmd may not take the PCI port `address`, or None when it may.

    A management interface's device is refused (unless allowed): binding it to DPDK, or
    driving it, takes the interface from the kernel. A device not bound to a DPDK driver
    is refused too: testpmd cannot drive it, and `-a ADDR` would fail later, less clearly.
    `management` is `management_interfaces`' answer; the interfaces' devices are read from
    /sys/class/net/IF/device under `sysfs_root`."""
    if not allow_management_interface:
        for interface, why in sorted(management.items()):
            if dpdk.interface_pci_address(sysfs_root, interface) == address:
                return (
                    f"PCI device {address} is the device of management interface {interface}"
                    f" ({interface} {why}); ringlab refuses to hand it to testpmd. Use a test"
                    " port, or set allow_management_interface: true in the scenario if this"
                    " is intended"
                )
    device = sysfs_root / "sys/bus/pci/devices" / address
    if not device.exists():
        return (
            f"there is no PCI device {address} on this host (no /sys/bus/pci/devices/{address});"
            " check the address with lspci -D"
        )
    driver = dpdk.pci_driver(device)
    if driver not in dpdk.DPDK_DRIVERS:
        bound = f"is bound to {driver}" if driver else "is bound to no driver"
        return (
            f"PCI device {address} {bound}, not to a DPDK driver"
            f" ({', '.join(sorted(dpdk.DPDK_DRIVERS))}): testpmd cannot drive it. Bind it"
            f" first: dpdk-devbind.py -b vfio-pci {address}"
        )
    return None
