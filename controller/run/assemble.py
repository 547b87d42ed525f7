"""Pure assembly of phase results from what the agents reported.

Sender and receiver of a flow report separately (different agents, different
clocks); this module joins them by flow id into the numbers users read.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ringlab.controller.run.external_counts import counting
from ringlab.controller.store.results import (
    RECEIVER_FIELDS,
    SENDER_FIELDS,
    FlowResult,
    InterfaceDelta,
    Latency,
    SeriesPoint,
    XdpQueueBusy,
)
from ringlab.engines import default_rx_engine
from ringlab.v1 import agent_pb2 as pb


@dataclass(frozen=True)
class ResolvedFlow:
    """A flow of one phase with everything resolved: interfaces, MACs, wire flow id (what
    Prepare is built from and results are assembled against)."""

    flow_id: int
    name: str
    src_host: str
    dst_host: str
    src_interface: str
    dst_interface: str
    src_mac: str
    dst_mac: str
    frame_size: int
    rate_pps: float
    engine: str
    workers: int
    stamping: bool
    qdisc_bypass: bool
    paged_skb: bool
    batch: int
    ring_frames: int
    rx_block_size: int = 0
    rx_blocks: int = 0
    rx_engine: str = "ring"
    xdp_queue: int = 0
    xdp_mode: str = "auto"
    xdp_attach: str = "native"
    xdp_share: bool = False
    tool_device: str = ""
    src_pci: str = ""
    dst_pci: str = ""
    cores: str = ""
    pfring_cluster_id: int = 0


def interface_delta(host: str, result: pb.FlowResult | None) -> InterfaceDelta:
    if result is None:
        return InterfaceDelta(host=host)
    before, after = result.interface_before, result.interface_after
    fields = [field.name for field in pb.InterfaceCounters.DESCRIPTOR.fields]
    deltas = {f: max(0, getattr(after, f) - getattr(before, f)) for f in fields}
    return InterfaceDelta(host=host, interface=result.interface, **deltas)


def distinct_rate(received: pb.FlowResult | None, distinct: int) -> float:
    """The receive rate of `distinct` frames (rx_packets). The agent's rate counts every
    frame that arrived, duplicates too; over the same span, it scales by distinct / all."""
    if received is None or received.packets <= 0:
        return 0.0
    return received.pps * min(distinct, received.packets) / received.packets


def flow_result(
    flow: ResolvedFlow,
    sent: pb.FlowResult | None,
    received: pb.FlowResult | None,
    clock_offsets_ns: Mapping[str, int],
) -> FlowResult:
    tx_packets = sent.packets if sent else 0
    rx_unique = received.unique_packets if received else 0
    errors = [r.error for r in (sent, received) if r is not None and r.error]
    uncollected: dict[str, str] = {}
    if sent is None:
        errors.append(f"no sender result from {flow.src_host}")
        why = f"agent {flow.src_host} (the sender) did not report: it died or froze"
        uncollected |= {field: why for field in (*SENDER_FIELDS, "lost")}
    if received is None:
        errors.append(f"no receiver result from {flow.dst_host}")
        why = f"agent {flow.dst_host} (the receiver) did not report: it died or froze"
        uncollected |= {field: why for field in (*RECEIVER_FIELDS, "lost")}
    latency = Latency()
    if received is not None and received.latency.samples:
        # The receiver subtracted the sender's TX stamp from its own clock; take
        # out the difference between the two agents' clocks.
        shift_us = (
            clock_offsets_ns.get(flow.dst_host, 0) - clock_offsets_ns.get(flow.src_host, 0)
        ) / 1000
        summary = received.latency
        latency = Latency(
            samples=summary.samples,
            min=summary.min_us - shift_us,
            p50=summary.p50_us - shift_us,
            p99=summary.p99_us - shift_us,
            max=summary.max_us - shift_us,
            mean=summary.mean_us - shift_us,
        )
    receiver_interface = interface_delta(flow.dst_host, received)
    count = counting(
        flow.engine, flow.rx_engine, sent, received, receiver_interface, flow.src_pci, flow.dst_pci
    )
    rx_bytes = received.bytes if received else 0
    if count.rx_packets is not None and received is not None:
        rx_unique, rx_bytes = count.rx_packets, count.rx_bytes or 0
    rx_pps = distinct_rate(received, rx_unique)
    tx_start = 0
    if sent is not None and sent.actual_start_wall_ns:
        tx_start = sent.actual_start_wall_ns - clock_offsets_ns.get(flow.src_host, 0)
    return FlowResult(
        name=flow.name,
        from_host=flow.src_host,
        to_host=flow.dst_host,
        frame_size=flow.frame_size,
        engine=flow.engine,
        target_pps=flow.rate_pps,
        tx_packets=tx_packets,
        tx_bytes=sent.bytes if sent else 0,
        rx_packets=rx_unique,
        rx_bytes=rx_bytes,
        lost=max(0, tx_packets - rx_unique),
        reordered=received.reordered if received else 0,
        duplicates=received.duplicates if received else 0,
        tx_pps=sent.pps if sent else 0.0,
        rx_pps=rx_pps,
        # Bit rates count whole frames with their FCS, as `rate: 500Mbps` does, so a paced
        # flow reports the rate it was given; the byte counters are what the kernel carried
        # (no FCS: 60 of a 64-byte frame).
        tx_bps=(sent.pps if sent else 0.0) * flow.frame_size * 8,
        rx_bps=rx_pps * flow.frame_size * 8,
        kernel_packets=received.kernel_packets if received else 0,
        kernel_drops=received.kernel_drops if received else 0,
        kernel_freezes=received.kernel_freezes if received else 0,
        foreign_frames=received.foreign_frames if received else 0,
        suspect_frames=received.suspect_frames if received else 0,
        send_errors=sent.send_errors if sent else 0,
        sender_user_cpu_s=sent.user_cpu_s if sent else 0.0,
        sender_system_cpu_s=sent.system_cpu_s if sent else 0.0,
        latency_us=latency,
        sender_interface=interface_delta(flow.src_host, sent),
        receiver_interface=receiver_interface,
        tx_start_wall_ns=tx_start,
        errors=errors,
        uncollected=uncollected,
        counted_by=count.counted_by,
        not_counted={k: v for k, v in count.not_counted.items() if k not in uncollected},
        sender_tool=_tool(sent),
        receiver_tool=_tool(received),
        rx_engine=flow.rx_engine if flow.rx_engine != default_rx_engine(flow.engine) else "",
        sender_info=dict(sent.info) if sent else {},
        receiver_info=dict(received.info) if received else {},
        sender_extra=dict(sent.extra) if sent else {},
        receiver_extra=dict(received.extra) if received else {},
        xdp_queue_busy=[
            _queue_busy(host, r.xdp_queue_busy)
            for host, r in ((flow.src_host, sent), (flow.dst_host, received))
            if r is not None and r.HasField("xdp_queue_busy")
        ],
    )


def _tool(result: pb.FlowResult | None) -> dict[str, str]:
    """An external tool's run on one side: command, exit and the tail of its output."""
    if result is None or not result.tool_command:
        return {}
    return {
        "command": result.tool_command,
        "exit": result.tool_exit,
        "output": result.tool_output,
    }


def _queue_busy(host: str, busy: pb.XdpQueueBusy) -> XdpQueueBusy:
    return XdpQueueBusy(
        host=host,
        interface=busy.interface,
        queue=busy.queue,
        role=busy.role,
        owners=busy.owners,
        holders=list(busy.holders),
        tool=busy.tool,
        message=busy.message,
    )


class SeriesBuilder:
    """Turns cumulative live counters into per-interval rates per flow."""

    def __init__(self, phase_start_wall_ns: int) -> None:
        self.phase_start_wall_ns = phase_start_wall_ns
        self._last: dict[tuple[str, str], tuple[int, int]] = {}
        self.points: list[SeriesPoint] = []

    def add(self, message: pb.StatsResponse, clock_offset_ns: int) -> SeriesPoint | None:
        at = message.wall_ns - clock_offset_ns
        point = SeriesPoint(t_s=round((at - self.phase_start_wall_ns) / 1e9, 3))
        for counters in message.flows:
            role = "tx" if counters.role == pb.ROLE_SEND else "rx"
            key = (role, counters.name)
            previous = self._last.get(key)
            self._last[key] = (at, counters.packets)
            if previous is None or at <= previous[0]:
                continue
            rate = (counters.packets - previous[1]) * 1e9 / (at - previous[0])
            (point.tx_pps if role == "tx" else point.rx_pps)[counters.name] = round(rate, 1)
        if not point.tx_pps and not point.rx_pps:
            return None
        self.points.append(point)
        return point
