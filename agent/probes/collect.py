"""`probe_host`: everything the agent reports about its host, as a ProbeReport.

The gRPC servicer calls this (in a worker thread: it reads files and issues
ioctls). `root` points at a fake sysfs/procfs tree in tests; with the real root
"/" the live sources (ethtool ioctl, rtnetlink) are used as well, and they
describe the calling thread's network namespace.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from pathlib import Path

from ringlab.agent import management, sysinfo
from ringlab.probe_model import (
    DpdkState,
    InterfaceProbe,
    ModuleSnapshot,
    ProbeReport,
    Quirk,
)

from . import dpdk, modules, netdev, pfring, quirks, routes, tools, xdp
from .ethtool_ioctl import EthtoolSocket

_SYSCTLS = (
    "net.core.wmem_max",
    "net.core.rmem_max",
    "net.core.wmem_default",
    "net.core.rmem_default",
)


def probe_host(
    interfaces: Sequence[str] = (),
    management_addresses: Sequence[str] = (),
    reload_impact_module: str = "",
    root: Path = Path("/"),
    ssh_address: str | None = None,
) -> ProbeReport:
    live = Path(root) == Path("/")
    root = Path(root)
    same_ns_sysfs = not live or _sysfs_matches_thread_ns()
    links = netdev.netlink_links() if live else {}
    names = sorted(links) if live else netdev.list_sysfs_interfaces(root)
    wanted = list(interfaces) or names

    pf = pfring.read_pf_ring(root)
    zc_by_pfring = set(pf.zc_interfaces) if pf else set()
    facts_list: list[netdev.LinkFacts] = []
    programs = xdp.program_names() if live else None
    eth = EthtoolSocket() if live else None
    try:
        for name in wanted:
            facts = netdev.LinkFacts(name)
            if live and name not in links:
                facts.put("oper_state", "missing")
                facts_list.append(facts)
                continue
            if live:
                for key, value in links[name].items():
                    facts.put(key, value)
            if eth is not None:
                netdev.ethtool_facts(eth, facts)
                xdp.xdp_facts(facts, programs)
            if same_ns_sysfs:
                netdev.sysfs_device_facts(root, facts)
                netdev.sysfs_link_facts(root, facts)
            facts_list.append(facts)
    finally:
        if eth is not None:
            eth.__exit__(None, None, None)

    # The agent's Prepare guard decides with the same function on the same facts.
    network = management.read_network() if live else _network_from_proc(root)
    mgmt = management.management_interfaces(network, management_addresses, ssh_address)

    probes = [_to_probe(f, mgmt, zc_by_pfring) for f in facts_list]
    snapshot = modules.read_module_snapshot(root)
    impact = None
    if reload_impact_module:
        drivers = {p.name: p.driver for p in probes if p.driver}
        # No /proc/modules (a kernel without loadable modules): nothing can be unloaded.
        impact = modules.reload_impact(
            snapshot or ModuleSnapshot(),
            reload_impact_module,
            drivers,
            mgmt,
            built_in=modules.is_built_in(root, reload_impact_module),
            loadable_modules=snapshot is not None,
        )

    sysctls = _read_sysctls(root)
    kernel = _kernel_release(root, live)
    found_quirks: list[Quirk] = [*quirks.kernel_quirks(kernel)]
    dpdk_state = _dpdk_state(root, live)
    found_quirks += dpdk.fast_free_quirks(dpdk_state.ports)
    if dpdk_state.bypass_devices:
        listed = ", ".join(f"{d.pci} ({d.driver})" for d in dpdk_state.bypass_devices)
        found_quirks.append(
            Quirk(
                "kernel_bypass_devices",
                "info",
                f"{listed} bound to a DPDK driver: invisible to the kernel, so AF_PACKET flows "
                f"cannot use them and their traffic does not show in kernel counters.",
            )
        )
    return ProbeReport(
        hostname=_hostname(root, live),
        kernel=kernel,
        netns=_in_non_initial_netns() if live else False,
        netns_name=sysinfo.netns_name() if live else "",
        interfaces=probes,
        pf_ring=pf,
        dpdk=dpdk_state,
        modules=snapshot,
        quirks=found_quirks,
        reload_impact=impact,
        sysctls=sysctls,
        # The tools are looked for on this machine's PATH: a fake tree has none.
        tools=tools.probe_tools() if live else None,
    )


def _to_probe(facts: netdev.LinkFacts, mgmt: dict[str, str], zc_pfring: set[str]) -> InterfaceProbe:
    v = facts.values
    driver = v.get("driver")
    zc_reason = ""
    if pfring.zc_driver_name(driver):
        zc_reason = f"driver {driver} is a PF_RING ZC driver"
    elif facts.name in zc_pfring:
        zc_reason = f"/proc/net/pf_ring/dev/{facts.name}/info reports a ZC polling mode"
    return InterfaceProbe(
        name=facts.name,
        driver=driver,
        driver_version=v.get("driver_version"),
        firmware=v.get("firmware"),
        bus_info=v.get("bus_info"),
        numa_node=v.get("numa_node"),
        speed_mbps=v.get("speed_mbps"),
        duplex=v.get("duplex"),
        mtu=v.get("mtu"),
        mac=v.get("mac"),
        oper_state=v.get("oper_state"),
        ifindex=v.get("ifindex"),
        rx_queues=v.get("rx_queues"),
        tx_queues=v.get("tx_queues"),
        ring_rx=v.get("ring_rx"),
        ring_tx=v.get("ring_tx"),
        ring_rx_max=v.get("ring_rx_max"),
        ring_tx_max=v.get("ring_tx_max"),
        channels_combined=v.get("channels_combined"),
        offloads=dict(v.get("offloads") or {}),
        qdisc=v.get("qdisc"),
        counters=dict(v.get("counters") or {}),
        management=facts.name in mgmt,
        management_reason=mgmt.get(facts.name, ""),
        zc=bool(zc_reason),
        zc_reason=zc_reason,
        xdp_attached=v.get("xdp_attached"),
        xdp_prog_id=v.get("xdp_prog_id"),
        xdp_prog_name=v.get("xdp_prog_name"),
        xdp_queues=v.get("xdp_queues"),
    )


def _network_from_proc(root: Path) -> management.NetworkFacts:
    """Default routes of a fake tree's /proc/net (main table only; no addresses)."""
    found = routes.read_default_route_ifaces(root)
    return management.NetworkFacts(
        tuple(
            management.DefaultRoute(iface, "" if gw in ("0.0.0.0", "::") else gw, ipv6=":" in gw)
            for iface, gw in found.items()
        )
    )


def _dpdk_state(root: Path, live: bool) -> DpdkState:
    total, free = dpdk.read_hugepages(root)
    devices = dpdk.run_devbind() if live else None
    if devices is not None:
        return DpdkState(
            source="dpdk-devbind", devices=devices, hugepages_total=total, hugepages_free=free
        )
    pci = dpdk.read_pci_bindings(root)
    return DpdkState(
        source="sysfs" if pci else "", devices=pci, hugepages_total=total, hugepages_free=free
    )


def _read_sysctls(root: Path) -> dict[str, int]:
    out: dict[str, int] = {}
    for name in _SYSCTLS:
        try:
            out[name] = int((root / "proc/sys" / name.replace(".", "/")).read_text().split()[0])
        except (OSError, ValueError, IndexError):
            continue
    return out


def _kernel_release(root: Path, live: bool) -> str:
    if live:
        return os.uname().release
    try:
        return (root / "proc/sys/kernel/osrelease").read_text().strip()
    except OSError:
        return "unknown"


def _hostname(root: Path, live: bool) -> str:
    if live:
        return socket.gethostname()
    try:
        return (root / "proc/sys/kernel/hostname").read_text().strip()
    except OSError:
        return "unknown"


def _ns_inode(path: str) -> int | None:
    try:
        return os.stat(path).st_ino
    except OSError:
        return None


def _sysfs_matches_thread_ns() -> bool:
    """sysfs shows the namespace it was mounted in; a setns() thread may be elsewhere."""
    mine = _ns_inode("/proc/thread-self/ns/net")
    process = _ns_inode("/proc/self/ns/net")
    return mine is None or mine == process


def _in_non_initial_netns() -> bool:
    mine = _ns_inode("/proc/thread-self/ns/net") or _ns_inode("/proc/self/ns/net")
    initial = _ns_inode("/proc/1/ns/net")
    if mine is None:
        return False
    if initial is not None:
        return mine != initial
    # PID 1's namespace can be unreadable (sandboxes); a named namespace is still recognisable.
    try:
        named = [p for p in Path("/run/netns").iterdir()]
    except OSError:
        return False
    return any(_ns_inode(str(p)) == mine for p in named)
