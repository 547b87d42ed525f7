"""Conversions between ringlab.v1 messages and the agent's own types."""

from __future__ import annotations

from ringlab.agent.flows import FlowOutcome, FlowPlan, SessionError
from ringlab.agent.rings.api import LatencyStats, StreamStats
from ringlab.agent.rx_merge import merge_extra, merge_info
from ringlab.agent.sysinfo import COUNTER_FIELDS
from ringlab.engine_codes import ENGINE_CODES
from ringlab.engines import (
    ENGINES,
    EXTERNAL_ENGINES,
    RX_ENGINES,
    XDP_ATTACH,
    XDP_MODES,
    Engine,
    RxEngine,
    default_rx_engine,
)
from ringlab.v1 import agent_pb2 as pb

_ENGINES: dict[pb.Engine, Engine] = {ENGINE_CODES[name]: name for name in ENGINES}
_ENGINES[pb.ENGINE_UNSPECIFIED] = "ring"  # a request that names no engine
_RX_ENGINES: dict[pb.Engine, RxEngine] = {ENGINE_CODES[name]: name for name in RX_ENGINES}
_ROLES = {pb.ROLE_SEND: "send", pb.ROLE_RECEIVE: "receive"}


def parse_mac(text: str, what: str) -> bytes:
    parts = text.split(":")
    try:
        if len(parts) != 6:
            raise ValueError
        return bytes(int(p, 16) for p in parts)
    except ValueError:
        raise SessionError(
            "invalid", f"{what} {text!r} is not a MAC address like 02:00:00:00:00:01"
        ) from None


def flow_plan_from_proto(spec: pb.FlowSpec) -> FlowPlan:
    where = f"flow {spec.name!r}"
    role = _ROLES.get(spec.role)
    if role is None:
        raise SessionError("invalid", f"{where}: role must be ROLE_SEND or ROLE_RECEIVE")
    engine = _ENGINES.get(spec.engine)
    if engine is None:
        raise SessionError("invalid", f"{where}: unknown engine {spec.engine}")
    if spec.rx_engine == pb.ENGINE_UNSPECIFIED:
        rx_engine: RxEngine = default_rx_engine(engine)  # type: ignore[assignment]
    elif spec.rx_engine in _RX_ENGINES:
        rx_engine = _RX_ENGINES[spec.rx_engine]
    else:
        raise SessionError(
            "invalid",
            f"{where}: rx_engine {spec.rx_engine} cannot receive; use ring or xdp (or testpmd, pfring)",
        )
    xdp_mode = spec.xdp_mode or "auto"
    if xdp_mode not in XDP_MODES:
        raise SessionError(
            "invalid",
            f"{where}: xdp_mode {spec.xdp_mode!r} is unknown; use {', '.join(XDP_MODES)}",
        )
    xdp_attach = spec.xdp_attach or "native"
    if xdp_attach not in XDP_ATTACH:
        raise SessionError(
            "invalid",
            f"{where}: xdp_attach {spec.xdp_attach!r} is unknown; use {', '.join(XDP_ATTACH)}",
        )
    is_sender = role == "send"
    return FlowPlan(
        flow_id=spec.flow_id,
        name=spec.name,
        role=role,
        interface=spec.interface,
        # A testpmd sender on a PCI port sends from the port's own MAC (none given).
        src_mac=parse_mac(spec.src_mac, f"{where} src_mac")
        if is_sender and (spec.src_mac or not spec.pci_address)
        else b"",
        dst_mac=parse_mac(spec.dst_mac, f"{where} dst_mac") if is_sender else b"",
        frame_size=spec.frame_size,  # 0 (not set) is refused by validation: no default
        rate_pps=spec.rate_pps,
        engine=engine,
        workers=spec.workers or 1,
        stamping=not spec.static_template,
        qdisc_bypass=spec.qdisc_bypass,
        paged_skb=spec.paged_skb,
        ring_frames=spec.ring_frames,
        batch=spec.batch,
        rx_block_size=spec.rx_block_size,
        rx_blocks=spec.rx_blocks,
        allow_management_interface=spec.allow_management_interface,
        rx_engine=rx_engine,
        xdp_queue=spec.xdp_queue,
        xdp_mode=xdp_mode,  # type: ignore[arg-type]  # checked against XDP_MODES above
        xdp_attach=xdp_attach,  # type: ignore[arg-type]
        xdp_share=spec.xdp_share,
        xdp_frames=spec.xdp_frames,
        tool_device=spec.tool_device,
        cores=spec.cores,
        pfring_cluster_id=spec.pfring_cluster_id,
        pci_address=spec.pci_address,
        peer_engine=_ENGINES.get(spec.peer_engine, "") if spec.peer_engine else "",
    )


def _counters(values: dict[str, int]) -> pb.InterfaceCounters:
    return pb.InterfaceCounters(**{k: values.get(k, 0) for k in COUNTER_FIELDS})


def _latency(stats: LatencyStats) -> pb.LatencySummary:
    return pb.LatencySummary(
        samples=stats.samples,
        min_us=stats.min_us,
        p50_us=stats.p50_us,
        p99_us=stats.p99_us,
        max_us=stats.max_us,
        mean_us=stats.mean_us,
    )


def _rate(count: int, first_ns: int, last_ns: int) -> float:
    span = last_ns - first_ns
    return count * 1e9 / span if span > 0 and count > 1 else 0.0


def _count_source(plan: FlowPlan) -> str:
    """How this side's `packets` is counted (FlowResult.count_source)."""
    if plan.external:
        return "tool"
    if plan.role == "receive" and plan.peer_engine in EXTERNAL_ENGINES:
        return "none"  # the peer's frames carry no ringlab header: the interface counts them
    return "sequence"


def flow_result_to_proto(outcome: FlowOutcome) -> pb.FlowResult:
    plan = outcome.plan
    message = pb.FlowResult(
        flow_id=plan.flow_id,
        name=plan.name,
        role=pb.ROLE_SEND if plan.role == "send" else pb.ROLE_RECEIVE,
        interface=plan.interface or plan.pci_address,
        interface_before=_counters(outcome.interface_before),
        interface_after=_counters(outcome.interface_after),
        error=outcome.error,
    )
    busy = outcome.queue_busy
    if busy is not None:
        message.xdp_queue_busy.CopyFrom(
            pb.XdpQueueBusy(
                interface=busy.interface,
                queue=busy.queue,
                role=busy.role,
                owners=busy.owners,
                holders=list(busy.holders),
                tool=busy.tool,
                message=busy.message,
            )
        )
    if outcome.tool is not None:
        message.tool_command = outcome.tool.command
        message.tool_output = outcome.tool.output
        message.tool_exit = outcome.tool.exit
    message.count_source = _count_source(plan)
    if plan.role == "send" and outcome.tx:
        tx = outcome.tx
        first = min((r.first_wall_ns for r in tx if r.first_wall_ns), default=0)
        last = max(r.last_wall_ns for r in tx)
        packets = sum(r.packets for r in tx)
        size = sum(r.bytes for r in tx)
        message.packets = packets
        message.bytes = size
        message.send_errors = sum(r.send_errors for r in tx)
        reasons = sorted({r.last_error for r in tx if r.last_error})
        not_sent = [r.info["not_sent"] for r in tx if r.info.get("not_sent")]
        if message.send_errors and reasons and not message.error:
            # Informative only: the session still finished; diagnosis weighs the count.
            message.error = f"{message.send_errors} send error(s): {', '.join(reasons)}"
        elif not_sent and not message.error:
            # A link outage: frames of the schedule given up, not frames the kernel rejected.
            message.error = "; ".join(sorted(set(not_sent)))
        message.user_cpu_s = sum(r.user_cpu_s for r in tx)
        message.system_cpu_s = sum(r.system_cpu_s for r in tx)
        message.first_wall_ns = first
        message.last_wall_ns = last
        message.actual_start_wall_ns = min(r.started_wall_ns for r in tx)
        message.pps = _rate(packets, first, last)
        message.bps = _rate(size * 8, first, last)
        message.extra.update(merge_extra(r.extra for r in tx))
        message.info.update(merge_info(r.info for r in tx))
    elif plan.role == "receive" and outcome.rx is not None:
        rx = outcome.rx
        stream = rx.flows.get(plan.flow_id, StreamStats())
        message.packets = stream.packets
        message.bytes = stream.bytes
        message.unique_packets = stream.unique_packets
        message.duplicates = stream.duplicates
        message.reordered = stream.reordered
        message.expected_packets = stream.expected_packets
        message.first_wall_ns = stream.first_wall_ns
        message.last_wall_ns = stream.last_wall_ns
        message.pps = _rate(stream.packets, stream.first_wall_ns, stream.last_wall_ns)
        message.bps = _rate(stream.bytes * 8, stream.first_wall_ns, stream.last_wall_ns)
        if plan.external:
            # A tool's window comes from its 0.2 s readings, not from frames' stamps: the
            # rate stands (a lower bound), but no first frame is known to time a start by.
            message.first_wall_ns = message.last_wall_ns = 0
        message.latency.CopyFrom(_latency(rx.latency.get(plan.flow_id, LatencyStats())))
        # Interface-wide numbers: shared by every flow received on this interface.
        message.foreign_frames = rx.foreign_frames
        message.suspect_frames = rx.suspect_frames
        message.kernel_packets = rx.kernel_packets
        message.kernel_drops = rx.kernel_drops
        message.kernel_freezes = rx.kernel_freezes
        message.actual_start_wall_ns = rx.started_wall_ns
        message.extra.update(rx.extra)
        message.info.update(rx.info)
    return message
