"""Preflight for external engines: the tool a flow's engine runs must be on its host.

Pure, like preflight.py, whose findings these join (checks/probing.py). A flow's sending
side runs its `engine`'s tool on the source host, its receiving side its `rx_engine`'s
tool on the destination host (testpmd: dpdk-testpmd; pfring: pfsend/pfcount, or
zsend/zcount on ZC: a flow with a pfring_cluster_id, or a device named `zc:IF`). The
tools and their packages are listed once, in ringlab.probe_model.EXTERNAL_TOOLS, which
the agent's probe also uses.

A testpmd end on a PCI port (testpmd_vdev: pci) needs hugepages and the port bound to a
DPDK driver; the probe's DPDK state says whether it has them (the agent refuses a port
that is not bound, or is a management interface's, itself at Prepare).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

from ringlab.controller.checks.preflight import Finding, PreflightFlow
from ringlab.probe_model import DPDK_DRIVERS, EXTERNAL_TOOLS, ProbeReport

# PF_RING's device names for ZC: "zc:eth1", or "zc:99@0" for a ZC cluster's queue.
ZC_PREFIX = "zc:"


def tool_for(engine: str, role: str, zc: bool = False) -> str | None:
    """The tool that `engine` runs for one side of a flow; None for ringlab's own engines."""
    if engine == "testpmd":
        return "dpdk-testpmd"
    if engine == "pfring":
        if role == "send":
            return "zsend" if zc else "pfsend"
        return "zcount" if zc else "pfcount"
    return None


def tool_findings(
    flows: Sequence[PreflightFlow], reports: Mapping[str, ProbeReport]
) -> list[Finding]:
    found: dict[str, Finding] = {}  # by message: two flows on one host need it once
    for flow in flows:
        for side in _sides(flow, reports):
            found.setdefault(side.message, side)
    return list(found.values())


def _sides(flow: PreflightFlow, reports: Mapping[str, ProbeReport]) -> Iterator[Finding]:
    for host, interface, role, engine, pci in (
        (flow.src_host, flow.src_interface, "send", flow.engine, flow.src_pci),
        (flow.dst_host, flow.dst_interface, "receive", flow.rx_engine, flow.dst_pci),
    ):
        zc = flow.pfring_cluster_id > 0 or interface.startswith(ZC_PREFIX)
        tool = tool_for(engine, role, zc)
        report = reports.get(host)
        # No report at all is preflight.py's probe_missing.
        if tool is None or report is None:
            continue
        where = f"flow {flow.flow!r}: engine {engine} {role}s with {tool} on host {host!r}"
        if report.tools is None:
            yield Finding(
                "tools_not_probed",
                "warning",
                f"{where}, and that host's agent does not report its tools (it predates"
                f" external engines), so whether {tool} is installed is unknown; deploy"
                f" this ringlab version to it (`ringlab deploy`).",
            )
            continue
        probe = report.tool(tool)
        if probe is None or not probe.installed:
            yield Finding(
                "tool_missing",
                "error",
                f"{where}, but {tool} is not on the PATH of {host}'s agent. Install"
                f" {EXTERNAL_TOOLS.get(tool, 'it')} on {host}, or put {tool} on the"
                " agent's PATH and restart the agent.",
            )
            continue
        if engine == "testpmd" and pci:
            yield from _pci_port(
                f"flow {flow.flow!r}: testpmd {role}s on {pci} of host {host!r}", pci, report
            )
        if engine == "pfring" and report.pf_ring is None:
            yield Finding(
                "pfring_not_loaded",
                "error",
                f"{where}, but PF_RING's kernel module is not loaded there (no"
                f" /proc/net/pf_ring), so {tool} cannot open {interface}. Load it"
                " (`modprobe pf_ring`, from ntop's `pfring-dkms` package) on"
                f" {host}.",
            )


def _pci_port(where: str, pci: str, report: ProbeReport) -> Iterator[Finding]:
    """A PCI port's host: hugepages configured, the port bound to a DPDK driver."""
    if report.dpdk.hugepages_total == 0:
        yield Finding(
            "hugepages_missing",
            "error",
            f"{where}, but that host has no hugepages configured (HugePages_Total 0 in"
            " /proc/meminfo); EAL cannot map the port's memory. Reserve some, e.g."
            " `dpdk-hugepages.py --setup 1G` (or `echo 512 >"
            " /proc/sys/vm/nr_hugepages`), on that host.",
        )
    elif report.dpdk.hugepages_total is None:
        yield Finding(
            "hugepages_not_probed",
            "warning",
            f"{where}; that host's agent does not report hugepages (it predates testpmd on"
            " PCI ports), so whether EAL can map memory is unknown. Deploy this ringlab"
            " version to it (`ringlab deploy`).",
        )
    device = next((d for d in report.dpdk.devices if d.pci == pci), None)
    if device is not None and device.driver not in DPDK_DRIVERS:
        bound = f"bound to {device.driver}" if device.driver else "bound to no driver"
        yield Finding(
            "pci_not_dpdk_bound",
            "error",
            f"{where}, but that port is {bound}, not to a DPDK driver"
            f" ({', '.join(sorted(DPDK_DRIVERS))}). Bind it on that host:"
            f" `dpdk-devbind.py -b vfio-pci {pci}`.",
        )
