"""Preflight: check a run's flows against the hosts' probe reports before any traffic.

Pure: flows and reports in, findings out. `ringlab run` refuses to start when a
finding has severity "error" (exit 2) and prints the warnings. Every message
names the flow, host and interface, and says how to fix or override it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ringlab.controller.scenario import units
from ringlab.probe_model import InterfaceProbe, ProbeReport
from ringlab.severity import Severity

# Ethernet header (14) + FCS (4): frame_size counts both, the MTU neither.
_DOWN_STATES = frozenset({"down", "lowerlayerdown", "notpresent", "missing"})


@dataclass(frozen=True)
class PreflightFlow:
    """What preflight checks of a flow against the probe reports (checks.probing builds
    it from the run's ResolvedFlow; tests build it directly)."""

    flow: str
    src_host: str
    src_interface: str
    dst_host: str
    dst_interface: str
    # Ethernet frame size in bytes including the 4-byte FCS.
    frame_size: int
    # Socket buffer the sender's TX ring needs (0: not known); compared with net.core.wmem_max.
    tx_buffer_bytes: int = 0
    # AF_XDP on the sending / receiving side (controller/checks/xdp.py checks these).
    send_xdp: bool = False
    receive_xdp: bool = False
    xdp_mode: str = "auto"
    xdp_queue: int = 0
    workers: int = 1
    xdp_share: bool = False
    # The scenario's engine names on each side; an external engine's tool must be on
    # that host (controller/checks/tools.py checks these).
    engine: str = "ring"
    rx_engine: str = "ring"
    # pfring: a ZC cluster id makes it zsend/zcount on zc:IF (0: pfsend/pfcount).
    pfring_cluster_id: int = 0
    # testpmd_vdev: pci — the PCI port of each testpmd end ("" for an interface); such an
    # end has no kernel interface to check (controller/checks/tools.py checks the port).
    src_pci: str = ""
    dst_pci: str = ""

    def __post_init__(self) -> None:
        if self.frame_size < 64:
            raise ValueError(f"flow {self.flow!r}: frame_size must be >= 64, got {self.frame_size}")


@dataclass(frozen=True)
class Finding:
    code: str
    severity: Severity
    message: str

    def __post_init__(self) -> None:
        # Before traffic a finding either refuses the run or warns; facts that are
        # neither (info quirks) are left to `ringlab probe`, not reported here.
        if self.severity not in ("error", "warning"):
            raise ValueError(f"finding {self.code!r}: severity must be error or warning")


def has_errors(findings: Sequence[Finding]) -> bool:
    return any(f.severity == "error" for f in findings)


def preflight(
    plan_flows: Sequence[PreflightFlow],
    reports: Mapping[str, ProbeReport],
    mode: str,
    allow_zc_bidirectional: bool,
    allow_management_interface: bool,
) -> list[Finding]:
    findings: list[Finding] = []
    for flow in plan_flows:
        findings += _check_flow(flow, reports, allow_management_interface)
    if mode == "bidirectional":
        findings += _check_zc(plan_flows, reports, allow_zc_bidirectional)
    findings += _quirks(plan_flows, reports)
    return _unique(findings)


def _endpoint(
    flow: PreflightFlow, reports: Mapping[str, ProbeReport], host: str, iface: str, role: str
) -> tuple[InterfaceProbe | None, list[Finding]]:
    report = reports.get(host)
    if report is None:
        return None, [
            Finding(
                "probe_missing",
                "error",
                f"flow {flow.flow!r}: no probe report for host {host!r}; check that its agent "
                f"is reachable (`ringlab probe {host}`).",
            )
        ]
    itf = report.interface(iface)
    if itf is None or itf.oper_state == "missing":
        known = ", ".join(i.name for i in report.interfaces) or "none"
        hint = ""
        if report.dpdk.bypass_devices:
            hint = " Devices bound to DPDK drivers are invisible to the kernel; bind it back."
        return None, [
            Finding(
                "interface_missing",
                "error",
                f"flow {flow.flow!r}: {role} interface {iface!r} does not exist on host "
                f"{host!r} (it has: {known}).{hint}",
            )
        ]
    return itf, []


def _check_flow(
    flow: PreflightFlow, reports: Mapping[str, ProbeReport], allow_mgmt: bool
) -> list[Finding]:
    out: list[Finding] = []
    for host, iface, role, pci in (
        (flow.src_host, flow.src_interface, "send", flow.src_pci),
        (flow.dst_host, flow.dst_interface, "receive", flow.dst_pci),
    ):
        if pci and host in reports:
            continue  # a port bound to DPDK has no kernel interface (tools.py checks it)
        itf, problems = _endpoint(flow, reports, host, iface, role)
        out += problems
        if itf is None:
            continue
        where = f"flow {flow.flow!r}: {host}:{iface}"
        # The commands to fix it must reach the interface inside the agent's namespace.
        netns = reports[host].netns_name
        ip = f"ip -n {netns}" if netns else "ip"
        if role == "send" and itf.management:
            out.append(
                Finding(
                    "management_interface",
                    "warning" if allow_mgmt else "error",
                    f"{where} is the management interface ({itf.management_reason}); sending "
                    f"test traffic on it can cut the controller off from the host."
                    + (
                        " Allowed by allow_management_interface: true."
                        if allow_mgmt
                        else " Pick another interface, or set allow_management_interface: true "
                        "if you really mean it."
                    ),
                )
            )
        if itf.oper_state in _DOWN_STATES:
            out.append(
                Finding(
                    "interface_down",
                    "error",
                    f"{where} is {itf.oper_state}; the flow would {role} nothing. Bring it up "
                    f"(`{ip} link set {iface} up`) and check its link.",
                )
            )
        needed_mtu = flow.frame_size - units.ETHERNET_OVERHEAD
        if itf.mtu is not None and needed_mtu > itf.mtu:
            out.append(
                Finding(
                    "frame_exceeds_mtu",
                    "error",
                    f"{where}: frame_size {flow.frame_size} exceeds MTU {itf.mtu} + "
                    f"{units.ETHERNET_OVERHEAD} = {itf.mtu + units.ETHERNET_OVERHEAD} bytes. Lower frame_size "
                    f"or raise the MTU (`{ip} link set {iface} mtu {needed_mtu}`).",
                )
            )
        if role == "send" and flow.tx_buffer_bytes:
            limit = reports[host].sysctls.get("net.core.wmem_max")
            if limit is not None and flow.tx_buffer_bytes > limit:
                out.append(
                    Finding(
                        "wmem_max_too_small",
                        "warning",
                        f"{where}: the TX ring needs a {flow.tx_buffer_bytes}-byte send buffer but "
                        f"net.core.wmem_max is {limit}; fewer frames can be in flight. Raise it "
                        f"(`sysctl -w net.core.wmem_max={flow.tx_buffer_bytes}`) or use smaller "
                        f"rings.",
                    )
                )
    return out


def _check_zc(
    flows: Sequence[PreflightFlow], reports: Mapping[str, ProbeReport], allowed: bool
) -> list[Finding]:
    out: list[Finding] = []
    for flow in flows:
        for host, iface in (
            (flow.src_host, flow.src_interface),
            (flow.dst_host, flow.dst_interface),
        ):
            report = reports.get(host)
            itf = report.interface(iface) if report else None
            if itf is None or not itf.zc:
                continue
            text = (
                f"{host}:{iface} uses zero-copy ({itf.zc_reason}). ZC lets one process own an "
                f"interface, so in bidirectional mode receivers can read 0 while TX climbs."
            )
            if allowed:
                out.append(
                    Finding("zc_bidirectional", "warning", text + " Allowed by the override.")
                )
            else:
                out.append(
                    Finding(
                        "zc_bidirectional",
                        "error",
                        text + " Use mode: time-sliced (one direction at a time), or set "
                        "allow_zc_bidirectional: true to run it anyway.",
                    )
                )
    return out


def _quirks(flows: Sequence[PreflightFlow], reports: Mapping[str, ProbeReport]) -> list[Finding]:
    hosts = sorted({f.src_host for f in flows} | {f.dst_host for f in flows})
    out: list[Finding] = []
    for host in hosts:
        report = reports.get(host)
        if report is None:
            continue
        for q in report.quirks:
            if q.severity == "info":
                continue
            out.append(Finding(f"quirk:{q.code}", q.severity, f"{host}: {q.message}"))
    return out


def _unique(findings: list[Finding]) -> list[Finding]:
    seen: set[tuple[str, str]] = set()
    out = []
    for f in findings:
        if (f.code, f.message) not in seen:
            seen.add((f.code, f.message))
            out.append(f)
    return out
