"""Kernel-bypass state: PCI devices bound to DPDK drivers, and DPDK port capabilities.

A device bound to vfio-pci / igb_uio / uio_pci_generic has no kernel netdev:
AF_PACKET cannot see it and the kernel's counters say nothing about it.
/sys/bus/pci is always read; `dpdk-devbind.py --status` and testpmd output are
parsed when available (never required).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from ringlab.probe_model import DPDK_DRIVERS, DpdkDevice, DpdkPort, Quirk

_DEV_LINE = re.compile(
    r"^(?P<pci>[0-9a-fA-F]{4}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7])\s+'(?P<desc>[^']*)'\s*(?P<rest>.*)$"
)


def parse_devbind_status(text: str) -> list[DpdkDevice]:
    """`dpdk-devbind.py --status`: network sections only (crypto, dma... are skipped)."""
    out: list[DpdkDevice] = []
    section = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or set(stripped) == {"="} or stripped.startswith("#"):
            continue
        if not _DEV_LINE.match(stripped):
            section = stripped.lower()
            continue
        if "network" not in section:
            continue
        m = _DEV_LINE.match(stripped)
        assert m is not None
        rest = m.group("rest")
        kv = dict(tok.split("=", 1) for tok in rest.split() if "=" in tok)
        out.append(
            DpdkDevice(
                pci=m.group("pci"),
                driver=kv.get("drv") or None,
                description=m.group("desc"),
                interface=kv.get("if") or None,
                unused=[u for u in kv.get("unused", "").split(",") if u],
                active="*Active*" in rest,
            )
        )
    return out


def parse_tx_offload_capabilities(text: str) -> list[str]:
    """testpmd `show port N tx_offload capabilities`: per-queue and per-port lists, merged."""
    capa: list[str] = []
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() in ("Per Queue", "Per Port"):
            capa.extend(v for v in value.split() if v not in capa)
    return capa


def parse_testpmd_port_info(text: str) -> list[DpdkPort]:
    """testpmd `show port info all`: one DpdkPort per '*** Infos for port N ***' block."""
    ports: list[DpdkPort] = []
    header = re.compile(r"Infos for port (\d+)")
    current: dict[str, str] | None = None
    port_id = -1

    def flush() -> None:
        if current is not None:
            ports.append(
                DpdkPort(
                    port_id=port_id,
                    driver=current.get("Driver name"),
                    device=current.get("Device name"),
                )
            )

    for line in text.splitlines():
        m = header.search(line)
        if m:
            flush()
            current, port_id = {}, int(m.group(1))
            continue
        if current is not None and ":" in line:
            key, _, value = line.partition(":")
            current.setdefault(key.strip(), value.strip())
    flush()
    return ports


_RTE_VERSION = re.compile(r"RTE Version: 'DPDK ([^']+)'")


def parse_testpmd_version(text: str) -> str | None:
    """`dpdk-testpmd -v ...`: EAL's banner line "RTE Version: 'DPDK 22.11.11'" -> "22.11.11"."""
    m = _RTE_VERSION.search(text)
    return m.group(1).strip() if m else None


def with_tx_capabilities(port: DpdkPort, capa: list[str]) -> DpdkPort:
    return DpdkPort(port.port_id, port.driver, port.device, list(capa))


def fast_free_quirks(ports: list[DpdkPort]) -> list[Quirk]:
    offered = [str(p.port_id) for p in ports if p.mbuf_fast_free]
    if not offered:
        return []
    return [
        Quirk(
            code="dpdk_mbuf_fast_free",
            severity="warning",
            message=(
                f"DPDK port(s) {', '.join(offered)} offer TX MBUF_FAST_FREE: the driver returns "
                f"mbufs to their pool in bulk, which is only correct when every mbuf is direct, "
                f"has refcnt 1 and comes from one pool. Cloned or mirrored packets then need a "
                f"deep copy, or a separate TX queue configured without fast free."
            ),
        )
    ]


_PCI_ADDRESS = re.compile(r"[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]")


def pci_driver(device: Path) -> str | None:
    """The driver a PCI device (/sys/bus/pci/devices/ADDR) is bound to: the name its
    `driver` link points at; None when it is bound to none."""
    link = device / "driver"
    return link.resolve().name if link.exists() else None


def interface_pci_address(root: Path, interface: str) -> str | None:
    """The PCI function of a kernel interface: /sys/class/net/IF/device points at it
    (../../../0000:3b:00.1), or at a child of it (virtio: ../../../virtio0); None for an
    interface with no PCI device (veth, bridge, loopback)."""
    link = root / "sys/class/net" / interface / "device"
    if not link.exists():
        return None
    for part in (link.resolve(), *link.resolve().parents):
        if _PCI_ADDRESS.fullmatch(part.name):
            return part.name
    return None


def read_pci_bindings(root: Path) -> list[DpdkDevice]:
    """/sys/bus/pci/devices/*/driver for network-class devices (class 0x02xxxx)."""
    out: list[DpdkDevice] = []
    base = root / "sys/bus/pci/devices"
    try:
        devices = sorted(base.iterdir())
    except OSError:
        return out
    for dev in devices:
        try:
            if not (dev / "class").read_text().strip().startswith("0x02"):
                continue
        except OSError:
            continue
        driver = pci_driver(dev)
        # virtio puts its netdev one level deeper (virtio0/net/eth0).
        netdevs = sorted(p.name for p in [*dev.glob("net/*"), *dev.glob("*/net/*")])
        out.append(
            DpdkDevice(pci=dev.name, driver=driver, interface=netdevs[0] if netdevs else None)
        )
    return out


_HUGEPAGES = re.compile(r"^HugePages_(Total|Free):\s+(\d+)", re.MULTILINE)


def parse_meminfo_hugepages(text: str) -> tuple[int | None, int | None]:
    """/proc/meminfo: (HugePages_Total, HugePages_Free) of the default page size."""
    found = {name: int(value) for name, value in _HUGEPAGES.findall(text)}
    return found.get("Total"), found.get("Free")


def read_hugepages(root: Path) -> tuple[int | None, int | None]:
    try:
        return parse_meminfo_hugepages((root / "proc/meminfo").read_text())
    except OSError:
        return None, None


def run_devbind(timeout_s: float = 10.0) -> list[DpdkDevice] | None:
    """`dpdk-devbind.py --status` when the tool is installed; None otherwise or on failure."""
    tool = shutil.which("dpdk-devbind.py") or shutil.which("dpdk-devbind")
    if tool is None:
        return None
    try:
        res = subprocess.run(
            [tool, "--status-dev", "net"], capture_output=True, text=True, timeout=timeout_s
        )
        if res.returncode != 0:
            res = subprocess.run(
                [tool, "--status"], capture_output=True, text=True, timeout=timeout_s
            )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return parse_devbind_status(res.stdout) if res.returncode == 0 else None


__all__ = [
    "DPDK_DRIVERS",
    "fast_free_quirks",
    "interface_pci_address",
    "parse_devbind_status",
    "parse_meminfo_hugepages",
    "parse_testpmd_port_info",
    "parse_testpmd_version",
    "parse_tx_offload_capabilities",
    "pci_driver",
    "read_hugepages",
    "read_pci_bindings",
    "run_devbind",
    "with_tx_capabilities",
]
