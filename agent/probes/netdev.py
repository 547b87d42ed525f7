"""Per-interface facts from sysfs, rtnetlink and the ethtool ioctl.

Sources, in order of trust:
- the ethtool ioctl (driver, version, firmware, bus, rings, channels, link, features),
  always about the calling thread's network namespace;
- rtnetlink (pyroute2) for the link itself (MTU, MAC, state, queues, counters,
  qdisc) when probing live: it answers for the calling thread's namespace too,
  while /sys/class/net shows the namespace sysfs was mounted in, which differs
  for a thread that entered a namespace with setns();
- sysfs for what only the device knows (driver symlink, NUMA node, module
  version) and for fake trees in tests (`root` != "/").
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .ethtool_ioctl import EthtoolSocket


@dataclass
class LinkFacts:
    """Mutable accumulator while probing one interface; becomes an InterfaceProbe."""

    name: str
    values: dict[str, Any] = field(default_factory=dict)

    def put(self, key: str, value: Any) -> None:
        if value is not None and self.values.get(key) is None:
            self.values[key] = value


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _read_int(path: Path) -> int | None:
    text = _read(path)
    try:
        return None if text is None else int(text, 0)
    except ValueError:
        return None


def list_sysfs_interfaces(root: Path) -> list[str]:
    try:
        return sorted(p.name for p in (root / "sys/class/net").iterdir())
    except OSError:
        return []


def read_counters(stats_dir: Path) -> dict[str, int]:
    out: dict[str, int] = {}
    try:
        files = sorted(stats_dir.iterdir())
    except OSError:
        return out
    for f in files:
        value = _read_int(f)
        if value is not None:
            out[f.name] = value
    return out


def sysfs_device_facts(root: Path, facts: LinkFacts) -> None:
    """Driver, NUMA node and module version: properties of the device behind the netdev."""
    base = root / "sys/class/net" / facts.name
    driver_link = base / "device/driver"
    if driver_link.is_symlink() or driver_link.exists():
        driver = os.path.basename(os.readlink(driver_link))
        facts.put("driver", driver)
    numa = _read_int(base / "device/numa_node")
    facts.put("numa_node", None if numa is None or numa < 0 else numa)
    known = facts.values.get("driver")
    if known:
        facts.put("driver_version", _read(root / "sys/module" / str(known) / "version"))


def sysfs_link_facts(root: Path, facts: LinkFacts) -> None:
    base = root / "sys/class/net" / facts.name
    facts.put("ifindex", _read_int(base / "ifindex"))
    facts.put("mtu", _read_int(base / "mtu"))
    facts.put("mac", _read(base / "address"))
    facts.put("oper_state", _read(base / "operstate"))
    speed = _read_int(base / "speed")
    facts.put("speed_mbps", speed if speed is not None and speed > 0 else None)
    duplex = _read(base / "duplex")
    facts.put("duplex", duplex if duplex in ("full", "half") else None)
    try:
        queues = [p.name for p in (base / "queues").iterdir()]
    except OSError:
        queues = []
    if queues:
        facts.put("rx_queues", sum(q.startswith("rx-") for q in queues))
        facts.put("tx_queues", sum(q.startswith("tx-") for q in queues))
    counters = read_counters(base / "statistics")
    if counters:
        facts.put("counters", counters)


def ethtool_facts(eth: EthtoolSocket, facts: LinkFacts) -> None:
    name = facts.name
    info = eth.drvinfo(name)
    if info is not None:
        facts.put("driver", info.driver or None)
        facts.put("driver_version", info.version or None)
        facts.put("firmware", info.firmware or None)
        facts.put("bus_info", info.bus_info or None)
    rings = eth.rings(name)
    if rings is not None:
        facts.put("ring_rx", rings.rx)
        facts.put("ring_tx", rings.tx)
        facts.put("ring_rx_max", rings.rx_max)
        facts.put("ring_tx_max", rings.tx_max)
    channels = eth.channels(name)
    if channels is not None:
        facts.put("channels_combined", channels.combined)
    link = eth.link(name)
    if link is not None:
        facts.put("speed_mbps", link.speed_mbps)
        facts.put("duplex", link.duplex)
    features = eth.features(name)
    if features:
        facts.put("offloads", features)


def netlink_links() -> dict[str, dict[str, Any]]:
    """{ifname: facts} for every link of the calling thread's namespace, plus root qdiscs."""
    from pyroute2 import IPRoute

    out: dict[str, dict[str, Any]] = {}
    with IPRoute() as ipr:
        qdiscs = {
            q.get("index"): q.get("TCA_KIND")
            for q in ipr.get_qdiscs()
            if q.get("parent") == 0xFFFFFFFF
        }
        for link in ipr.get_links():
            name = link.get("IFLA_IFNAME")
            index = link.get("index")
            stats = link.get("IFLA_STATS64")
            out[name] = {
                "ifindex": index,
                "mtu": link.get("IFLA_MTU"),
                "mac": link.get("IFLA_ADDRESS"),
                "oper_state": str(link.get("IFLA_OPERSTATE") or "").lower() or None,
                "rx_queues": link.get("IFLA_NUM_RX_QUEUES"),
                "tx_queues": link.get("IFLA_NUM_TX_QUEUES"),
                "counters": {k: int(v) for k, v in dict(stats).items()}
                if stats is not None
                else None,
                "qdisc": qdiscs.get(index),
            }
    return out
