"""Preflight for AF_XDP flows: what the hosts' probe reports say will fail or collide.
Pure, like preflight.py, whose findings these join (checks/probing.py)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

from ringlab.controller.checks.preflight import Finding, PreflightFlow
from ringlab.probe_model import InterfaceProbe, ProbeReport
from ringlab.ring_limits import NO_XSK_ZEROCOPY_DRIVERS as NO_ZEROCOPY_DRIVERS

OUR_PROGRAM = "ringlab_xsk"


def xdp_findings(
    flows: Sequence[PreflightFlow], reports: Mapping[str, ProbeReport], mode: str
) -> list[Finding]:
    found: list[Finding] = []
    for flow in flows:
        for host, iface, role, on in (
            (flow.src_host, flow.src_interface, "send", flow.send_xdp),
            (flow.dst_host, flow.dst_interface, "receive", flow.receive_xdp),
        ):
            report = reports.get(host)
            itf = report.interface(iface) if report is not None else None
            if on and itf is not None and report is not None:
                found += _endpoint(flow, f"flow {flow.flow!r}: {host}:{iface}", itf, report, role)
    if mode == "bidirectional":
        found += _collisions(flows)
    return found


def _endpoint(
    flow: PreflightFlow, where: str, itf: InterfaceProbe, report: ProbeReport, role: str
) -> Iterator[Finding]:
    if flow.xdp_mode == "zerocopy" and itf.driver in NO_ZEROCOPY_DRIVERS:
        yield Finding(
            "xdp_zerocopy_unsupported",
            "error",
            f"{where}: xdp_mode zerocopy, but driver {itf.driver} has no AF_XDP zero-copy"
            " (the bind would get EOPNOTSUPP). Use xdp_mode: auto (zero-copy where the driver"
            " has it, else copy) or copy, or a NIC whose driver has it (i40e, ice, mlx5).",
        )
    queues = itf.xdp_queues or itf.rx_queues
    last = flow.xdp_queue + flow.workers - 1
    if queues is not None and last >= queues:
        yield Finding(
            "xdp_queue_missing",
            "error",
            f"{where}: the flow binds queues {flow.xdp_queue}..{last} (xdp_queue + workers) but"
            f" {itf.name} has {queues} queue(s) (0..{queues - 1}). Use a lower xdp_queue or"
            f" fewer workers, or more queues: `ringlab lab up --queues {last + 1}` on the"
            f" built-in lab, `ethtool -L {itf.name} combined {last + 1}` on a NIC.",
        )
    if role == "receive" and not flow.send_xdp and queues is not None and queues > flow.workers:
        yield Finding(
            "xdp_queue_steering",
            "warning",
            f"{where}: an AF_XDP receiver sees only the queues it binds"
            f" ({flow.xdp_queue}..{last}) and {itf.name} has {queues}; this flow's sender does"
            " not use AF_XDP, so nothing picks the queue its frames arrive on (AF_PACKET"
            " chooses a TX queue per CPU) and frames on other queues pass to the stack"
            " uncounted. Use engine: xdp on the sender, one queue on the link, or steer the"
            " flow (`ethtool -N IF flow-type ether proto 0x88b5 action Q` on a NIC).",
        )
    foreign = itf.xdp_prog_name != OUR_PROGRAM
    if role == "receive" and itf.xdp_attached not in (None, "none") and foreign:
        name = itf.xdp_prog_name or "unknown name"
        yield Finding(
            "xdp_program_present",
            "warning",
            f"{where}: an XDP program ({itf.xdp_attached}, id {itf.xdp_prog_id}, {name}) is"
            " already attached; ringlab never replaces one, so its receiver will be refused."
            " Detach it if it is not needed (`ip link set dev IF xdp off`).",
        )


def _collisions(flows: Sequence[PreflightFlow]) -> Iterator[Finding]:
    """Hosts that send and receive on one interface queue with two sockets."""
    sockets: dict[tuple[str, str, int], list[tuple[str, str, bool]]] = {}
    for flow in flows:
        for host, iface, role, on in (
            (flow.src_host, flow.src_interface, "sender", flow.send_xdp),
            (flow.dst_host, flow.dst_interface, "receiver", flow.receive_xdp),
        ):
            if on:
                for queue in range(flow.xdp_queue, flow.xdp_queue + flow.workers):
                    users = sockets.setdefault((host, iface, queue), [])
                    if (flow.flow, role, flow.xdp_share) not in users:  # compare: once
                        users.append((flow.flow, role, flow.xdp_share))
    for (host, iface, queue), users in sockets.items():
        roles = {role for _, role, _ in users}
        if roles == {"sender", "receiver"} and not all(share for _, _, share in users):
            named = ", ".join(f"{name} ({role})" for name, role, _ in users)
            yield Finding(
                "xdp_queue_collision",
                "warning",
                f"{host}:{iface} queue {queue} gets AF_XDP sockets from {named}: one socket may"
                " own a queue, so the second bind will get EBUSY and the run will fail with"
                " xdp_queue_busy. To run clean: mode: time-sliced, xdp_share: true on these"
                " flows, or a separate xdp_queue per direction.",
            )
