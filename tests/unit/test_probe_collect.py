"""probe_host over a fake sysfs/procfs tree reproducing the PF_RING #917 host."""

from __future__ import annotations

import os
from pathlib import Path

from ringlab.agent.probes.collect import probe_host

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "probes"

NICS = {
    "eno12399": ("i40e", "0000:31:00.0"),
    "eno12409": ("i40e", "0000:31:00.1"),
    "ens3f0": ("ice", "0000:4b:00.0"),
    "ens3f1": ("ice", "0000:4b:00.1"),
}


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def build_tree(root: Path) -> None:
    for idx, (name, (driver, pci)) in enumerate(sorted(NICS.items()), start=2):
        base = root / "sys/class/net" / name
        write(base / "ifindex", f"{idx}\n")
        write(base / "mtu", "1500\n")
        write(base / "address", f"3c:fd:fe:00:00:{idx:02x}\n")
        write(base / "operstate", "up\n")
        write(base / "speed", "25000\n")
        write(base / "duplex", "full\n")
        for q in ("rx-0", "rx-1", "tx-0", "tx-1"):
            (base / "queues" / q).mkdir(parents=True)
        write(base / "statistics/rx_packets", "123\n")
        write(base / "statistics/tx_packets", "45\n")
        drv_dir = root / "sys/bus/pci/drivers" / driver
        drv_dir.mkdir(parents=True, exist_ok=True)
        (base / "device").mkdir()
        os.symlink(drv_dir, base / "device/driver")
        write(base / "device/numa_node", "1\n")
        write(root / "sys/module" / driver / "version", "1.12.7\n")
        pci_dev = root / "sys/bus/pci/devices" / pci
        write(pci_dev / "class", "0x020000\n")
        os.symlink(drv_dir, pci_dev / "driver")
        (pci_dev / "net" / name).mkdir(parents=True)
    # A port handed to DPDK: no netdev, driver vfio-pci.
    vfio = root / "sys/bus/pci/drivers/vfio-pci"
    vfio.mkdir(parents=True)
    write(root / "sys/bus/pci/devices/0000:4b:00.2/class", "0x020000\n")
    os.symlink(vfio, root / "sys/bus/pci/devices/0000:4b:00.2/driver")
    modules_text = (FIXTURES / "proc_modules_ice_irdma_i40e.txt").read_text()
    write(root / "proc/modules", modules_text)
    (root / "sys/module/i40e/holders").mkdir(parents=True, exist_ok=True)
    (root / "sys/module/i40e/holders/irdma").mkdir()
    write(
        root / "proc/net/route",
        "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
        "eno12399\t00000000\t0100000A\t0003\t0\t0\t0\t00000000\t0\t0\t0\n",
    )
    write(root / "proc/net/pf_ring/info", (FIXTURES / "pf_ring_info.txt").read_text())
    write(
        root / "proc/net/pf_ring/dev/ens3f1/info",
        (FIXTURES / "pf_ring_dev_i40e_zc.txt").read_text(),
    )
    write(root / "proc/sys/kernel/osrelease", "4.18.0-477.27.1.el8_8.x86_64\n")
    write(root / "proc/sys/kernel/hostname", "capture1\n")
    write(root / "proc/sys/net/core/wmem_max", "212992\n")


def test_fake_host_report(tmp_path: Path) -> None:
    build_tree(tmp_path)
    report = probe_host(reload_impact_module="ice", root=tmp_path)
    assert report.hostname == "capture1"
    assert [i.name for i in report.interfaces] == sorted(NICS)
    mgmt = report.interface("eno12399")
    assert mgmt is not None
    assert mgmt.management
    assert "default route (via 10.0.0.1)" in mgmt.management_reason
    assert (mgmt.driver, mgmt.driver_version, mgmt.numa_node) == ("i40e", "1.12.7", 1)
    assert (mgmt.rx_queues, mgmt.tx_queues, mgmt.speed_mbps, mgmt.duplex) == (2, 2, 25000, "full")
    assert mgmt.counters == {"rx_packets": 123, "tx_packets": 45}
    capture = report.interface("ens3f1")
    assert capture is not None
    assert capture.zc and "ZC polling mode" in capture.zc_reason
    assert not capture.management
    assert report.pf_ring is not None and report.pf_ring.zc_interfaces == ["ens3f1"]
    assert report.modules is not None
    impact = report.reload_impact
    assert impact is not None
    assert impact.dangerous
    assert impact.modules_removed == ["irdma", "ice", "i40e"]
    assert impact.interfaces_down == sorted(NICS)
    assert report.sysctls == {"net.core.wmem_max": 212992}
    # 4.18 has qdisc bypass, TPACKET_V3 and the MSG_DONTWAIT fix: only the DPDK port is noted.
    assert [(q.code, q.severity) for q in report.quirks] == [("kernel_bypass_devices", "info")]
    assert "0000:4b:00.2 (vfio-pci)" in report.quirks[0].message
    assert report.dpdk.source == "sysfs"
    by_pci = {d.pci: d for d in report.dpdk.devices}
    assert by_pci["0000:31:00.0"].interface == "eno12399"
    assert [d.pci for d in report.dpdk.bypass_devices] == ["0000:4b:00.2"]


def test_empty_tree_is_an_empty_report_not_an_error(tmp_path: Path) -> None:
    report = probe_host(reload_impact_module="ice", root=tmp_path)
    assert report.interfaces == []
    assert report.modules is None
    assert report.reload_impact is not None and not report.reload_impact.dangerous
    assert {q.code for q in report.quirks} == {"kernel_version_unknown"}
