"""Render probe reports for the CLI (`ringlab probe`, `ringlab probe --reload-impact MOD`).

Computation lives in the agent (agent.probes) and controller.checks.preflight; this
module only formats what a ProbeReport already says.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.console import Console
from rich.markup import escape

from ringlab.controller.remote.holders import AgentHold, hold_json, hold_text
from ringlab.controller.views.tables import Column, Fitted, fit
from ringlab.probe_model import InterfaceProbe, ProbeReport, ReloadImpact

_QUIRK_STYLE = {"info": "cyan", "warning": "yellow", "error": "bold red"}


def _opt(value: object) -> str:
    return "-" if value is None or value == "" else str(value)


def _link(itf: InterfaceProbe) -> str:
    speed = f"{itf.speed_mbps // 1000}G" if itf.speed_mbps and itf.speed_mbps >= 1000 else None
    speed = speed or (f"{itf.speed_mbps}M" if itf.speed_mbps else None)
    parts = [p for p in (itf.oper_state, speed, itf.duplex) if p]
    return " ".join(parts) or "-"


def _pair(a: int | None, b: int | None) -> str:
    return "-" if a is None and b is None else f"{_opt(a)}/{_opt(b)}"


def _rings(itf: InterfaceProbe) -> str:
    if itf.ring_rx is None and itf.ring_tx is None:
        return "-"
    return f"{_pair(itf.ring_rx, itf.ring_tx)} (max {_pair(itf.ring_rx_max, itf.ring_tx_max)})"


def _flags(itf: InterfaceProbe) -> str:
    flags = []
    if itf.management:
        flags.append("[bold red]MGMT[/]")
    if itf.zc:
        flags.append("[magenta]ZC[/]")
    if itf.kernel_bypass:
        flags.append("[magenta]BYPASS[/]")
    return " ".join(flags)


# Interface names, MACs and counts are never cut: at 80 columns the table goes in three
# stacked tables (driver and link; MAC, queues and rings; counters), each led by the
# interface.
INTERFACE_COLUMNS = (
    Column("interface"),
    Column("driver", wrap=True),
    Column("firmware", wrap=True),
    Column("bus/numa", wrap=True),
    Column("link", wrap=True),
    Column("mtu", "right"),
    Column("mac"),
    Column("queues\nrx/tx", "right"),
    Column("rings rx/tx", wrap=True),
    Column("qdisc", wrap=True),
    Column("rx pkts", "right"),
    Column("tx pkts", "right"),
    Column("drops\nrx/tx", "right"),
    Column("flags", wrap=True),
)
INTERFACE_GROUPS = ((1, 2, 3, 4, 5), (6, 7, 8, 9), (10, 11, 12, 13))


def interface_tables(host: str, report: ProbeReport, width: int) -> Fitted:
    title = f"{host}  ({report.hostname}, kernel {report.kernel}"
    title += ", network namespace)" if report.netns else ")"
    rows = []
    for itf in report.interfaces:
        driver = _opt(itf.driver) + (f" {itf.driver_version}" if itf.driver_version else "")
        bus = _opt(itf.bus_info) + (f" n{itf.numa_node}" if itf.numa_node is not None else "")
        c = itf.counters
        rows.append(
            [
                escape(itf.name),
                escape(driver),
                escape(_opt(itf.firmware)),
                escape(bus),
                _link(itf),
                _opt(itf.mtu),
                _opt(itf.mac),
                _pair(itf.rx_queues, itf.tx_queues),
                _rings(itf),
                escape(_opt(itf.qdisc)),
                _count(c.get("rx_packets")),
                _count(c.get("tx_packets")),
                _pair(c.get("rx_dropped"), c.get("tx_dropped")),
                _flags(itf),
            ]
        )
    return fit(INTERFACE_COLUMNS, rows, width, title=escape(title), groups=INTERFACE_GROUPS)


def _count(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def tools_summary(report: ProbeReport) -> str:
    """External engines' tools: found (version, or why none) and missing."""
    if report.tools is None:
        return "not reported (this agent predates external engines)"
    found = [
        f"{t.name} {t.version or '(version unknown: ' + t.version_note + ')'}"
        for t in report.tools
        if t.installed
    ]
    missing = [t.name for t in report.tools if not t.installed]
    parts = found + ([f"missing {', '.join(missing)}"] if missing else [])
    return "; ".join(parts) or "none looked for"


def render_probe(
    reports: Mapping[str, ProbeReport],
    console: Console,
    holds: Mapping[str, AgentHold] | None = None,
) -> None:
    for host, report in reports.items():
        for table in interface_tables(host, report, console.width).tables:
            console.print(table)
        if holds is not None and host in holds:
            console.print(f"  held by: {hold_text(holds[host])}", highlight=False, markup=False)
        mgmt = [i for i in report.interfaces if i.management]
        if mgmt:
            for itf in mgmt:
                console.print(f"  management: [bold]{itf.name}[/] {itf.management_reason}")
        else:
            console.print("  management: none (no default route, no session address)")
        for itf in report.interfaces:
            if itf.zc:
                console.print(f"  zero-copy: [magenta]{itf.name}[/] {itf.zc_reason}")
            if itf.xdp_attached not in (None, "none"):
                program = f" program {itf.xdp_prog_id} {itf.xdp_prog_name or ''}".rstrip()
                console.print(f"  XDP: {itf.name} {itf.xdp_attached}{program}", highlight=False)
        if report.pf_ring is not None:
            console.print(
                f"  PF_RING {_opt(report.pf_ring.version)} loaded, "
                f"{_opt(report.pf_ring.total_rings)} ring(s) open"
            )
        for dev in report.dpdk.bypass_devices:
            console.print(
                f"  kernel bypass: {dev.pci} {dev.description} bound to [magenta]{dev.driver}[/]"
            )
        for port in report.dpdk.ports:
            fast = " (offers MBUF_FAST_FREE)" if port.mbuf_fast_free else ""
            console.print(f"  DPDK port {port.port_id}: {_opt(port.driver)}{fast}")
        console.print(f"  tools: {tools_summary(report)}", highlight=False)
        for q in report.quirks:
            style = _QUIRK_STYLE.get(q.severity, "")
            console.print(f"  [{style}]{q.severity}[/] {q.code}: {q.message}")
        if report.reload_impact is not None:
            render_reload_impact(host, report.reload_impact, console)
        console.print()


def probe_json(
    reports: Mapping[str, ProbeReport], holds: Mapping[str, AgentHold]
) -> dict[str, Any]:
    """What `probe --json` prints: each host's report, with `holder` and `waiting` of its
    agent (none for --local: no agent)."""
    return {
        host: {**report.to_dict(), **(hold_json(holds[host]) if host in holds else {})}
        for host, report in reports.items()
    }


def render_reload_impact(host: str, impact: ReloadImpact, console: Console) -> None:
    verdict = "[bold red]DANGEROUS[/]" if impact.dangerous else "[green]no management impact[/]"
    console.print(f"[bold]{host}[/]: reloading {impact.module} with modprobe -r — {verdict}")
    console.print(f"  modules removed: {', '.join(impact.modules_removed) or 'none'}")
    console.print(f"  interfaces down: {', '.join(impact.interfaces_down) or 'none'}")
    if impact.explanation:
        console.print(f"  {impact.explanation}", highlight=False)
    if impact.safer_alternative:
        console.print(f"  safer: {impact.safer_alternative}", highlight=False)
