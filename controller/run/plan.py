"""Turn a validated Scenario into the ordered phases to run. Pure: no I/O, no clock.

A phase is a set of flows that run together for a fixed time. unidirectional and
bidirectional runs are one phase each; a time-sliced run is ``rounds`` rounds of one
phase per direction (src, dst), with ``gap`` of silence before every phase but the
first. ``compare`` runs the phases of each listed mode back to back.
"""

from __future__ import annotations

from dataclasses import dataclass

from ringlab.controller.scenario import Expect, Flow, Scenario, flow_names, units
from ringlab.controller.scenario.fields import Mode
from ringlab.engines import Engine, RxEngine, XdpAttach, XdpMode

__all__ = [
    "FlowExpectation",
    "Mode",
    "Plan",
    "PlannedFlow",
    "PlannedPhase",
    "build_plan",
    "frame_sizes",
    "highest_xdp_queue",
    "plan_headline",
    "planned_frames",
]


@dataclass(frozen=True)
class FlowExpectation:
    """A flow's pass criteria: its own ``expect:`` merged field by field over the scenario's
    (scenario.Expect is what the YAML says). None means not checked; ``max_loss`` is a
    fraction (0.001 = 0.1%)."""

    max_loss: float | None
    min_rx_pps: float | None


@dataclass(frozen=True)
class PlannedFlow:
    name: str
    src_host: str
    dst_host: str
    src_interface: str | None  # None: the agent picks its test interface
    dst_interface: str | None
    frame_size: int
    rate_pps: float  # 0.0 = max
    engine: Engine
    workers: int
    stamping: bool
    qdisc_bypass: bool
    paged_skb: bool
    batch: int  # 0 = auto
    ring_frames: int  # 0 = auto
    rx_block_size: int  # bytes; 0 = auto
    rx_blocks: int  # 0 = auto
    expect: FlowExpectation  # the flow's own, falling back field by field to the scenario's
    # AF_XDP (docs/afxdp.md): the receiving side's engine, first queue, mode, attach, sharing.
    rx_engine: RxEngine = "ring"
    xdp_queue: int = 0
    xdp_mode: XdpMode = "auto"
    xdp_attach: XdpAttach = "native"
    xdp_share: bool = False
    # External engines (docs/external-engines.md).
    tool_device: str = ""
    # testpmd_vdev: pci — each testpmd end's PCI port ("" for an interface).
    src_pci: str = ""
    dst_pci: str = ""
    cores: str = ""
    pfring_cluster_id: int = 0

    @property
    def direction(self) -> str:
        return f"{self.src_host}->{self.dst_host}"


@dataclass(frozen=True)
class PlannedPhase:
    name: str  # "main", "bidirectional", "time-sliced/r1/a->b"; "unidirectional" in compare
    group: Mode  # the mode this phase belongs to
    flows: tuple[PlannedFlow, ...]
    duration_ns: int
    gap_before_ns: int  # idle time before this phase starts (time-sliced gap; 0 for the first)


@dataclass(frozen=True)
class Plan:
    scenario: str
    mode: Mode  # the scenario's mode (the first compared mode when only compare is given)
    phases: tuple[PlannedPhase, ...]
    lease_ns: int
    drain_ns: int
    hosts: tuple[str, ...]  # hosts the plan uses, in order of first appearance
    # The scenario's allow_management_interface: each flow tells its agents it may use a
    # management interface (they refuse one otherwise).
    allow_management_interface: bool

    @property
    def total_ns(self) -> int:
        """Traffic time plus gaps, without drain or setup."""
        return sum(phase.duration_ns + phase.gap_before_ns for phase in self.phases)


def build_plan(scenario: Scenario) -> Plan:
    """The phases for ``scenario``, in run order."""
    flows = _planned_flows(scenario)
    comparing = len(scenario.modes) > 1
    phases: list[PlannedPhase] = []
    for mode in scenario.modes:
        phases.extend(_phases_for(mode, scenario, flows, comparing))
    hosts: dict[str, None] = {}
    for flow in flows:
        hosts.setdefault(flow.src_host)
        hosts.setdefault(flow.dst_host)
    return Plan(
        scenario=scenario.name,
        mode=scenario.primary_mode,
        phases=tuple(phases),
        lease_ns=scenario.lease,
        drain_ns=scenario.drain,
        hosts=tuple(hosts),
        allow_management_interface=scenario.allow_management_interface,
    )


def _phases_for(
    mode: Mode, scenario: Scenario, flows: tuple[PlannedFlow, ...], comparing: bool
) -> list[PlannedPhase]:
    if mode == "time-sliced":
        return _time_sliced(scenario, flows)
    assert scenario.duration is not None  # the scenario rules require it for this mode
    if mode == "unidirectional":
        name = "unidirectional" if comparing else "main"
    else:
        name = "bidirectional"
    return [PlannedPhase(name, mode, flows, scenario.duration, 0)]


def _time_sliced(scenario: Scenario, flows: tuple[PlannedFlow, ...]) -> list[PlannedPhase]:
    assert scenario.time_slice is not None  # the scenario rules require it for this mode
    spec = scenario.time_slice
    by_direction: dict[str, list[PlannedFlow]] = {}
    for flow in flows:
        by_direction.setdefault(flow.direction, []).append(flow)
    phases: list[PlannedPhase] = []
    for round_number in range(1, spec.rounds + 1):
        for direction, group in by_direction.items():
            phases.append(
                PlannedPhase(
                    name=f"time-sliced/r{round_number}/{direction}",
                    group="time-sliced",
                    flows=tuple(group),
                    duration_ns=spec.slice,
                    gap_before_ns=spec.gap if phases else 0,
                )
            )
    return phases


def _planned_flows(scenario: Scenario) -> tuple[PlannedFlow, ...]:
    names = flow_names(scenario.flows)
    return tuple(
        _planned_flow(name, flow, scenario)
        for name, flow in zip(names, scenario.flows, strict=True)
    )


def _planned_flow(name: str, flow: Flow, scenario: Scenario) -> PlannedFlow:
    return PlannedFlow(
        name=name,
        src_host=flow.src,
        dst_host=flow.dst,
        src_interface=flow.from_interface or scenario.hosts[flow.src].interface,
        dst_interface=flow.to_interface or scenario.hosts[flow.dst].interface,
        frame_size=flow.frame_size,
        rate_pps=flow.rate.pps(flow.frame_size),
        engine=flow.engine,
        workers=flow.workers,
        stamping=flow.stamping,
        qdisc_bypass=flow.qdisc_bypass,
        paged_skb=flow.tx_skb == "paged",
        batch=flow.batch,
        ring_frames=flow.ring_frames,
        rx_block_size=flow.rx_block_size,
        rx_blocks=flow.rx_blocks,
        expect=_merged(flow.expect, scenario.expect),
        rx_engine=flow.receive_engine,  # type: ignore[arg-type]  # one of RxEngine's names
        xdp_queue=flow.xdp_queue,
        xdp_mode=flow.xdp_mode,
        xdp_attach=flow.xdp_attach,
        xdp_share=flow.xdp_share,
        tool_device=flow.testpmd_vdev or "",
        src_pci=(flow.from_pci or "").lower(),
        dst_pci=(flow.to_pci or "").lower(),
        cores=flow.cores or "",
        pfring_cluster_id=flow.pfring_cluster_id or 0,
    )


def _merged(own: Expect, default: Expect) -> FlowExpectation:
    return FlowExpectation(
        max_loss=own.max_loss if own.max_loss is not None else default.max_loss,
        min_rx_pps=own.min_rx_pps if own.min_rx_pps is not None else default.min_rx_pps,
    )


def frame_sizes(plan: Plan) -> set[int]:
    return {flow.frame_size for phase in plan.phases for flow in phase.flows}


def highest_xdp_queue(plan: Plan) -> int:
    """The highest interface queue an AF_XDP flow binds (xdp_queue + workers - 1); 0 without."""
    return max(
        (
            flow.xdp_queue + flow.workers - 1
            for phase in plan.phases
            for flow in phase.flows
            # testpmd's af_xdp vdev binds xdp_queue + w too (docs/external-engines.md).
            if flow.engine == "xdp" or flow.rx_engine == "xdp" or flow.tool_device == "af_xdp"
        ),
        default=0,
    )


def planned_frames(flow: PlannedFlow, duration_ns: int) -> int | None:
    """Frames a paced flow sends in a phase of ``duration_ns``; None at max rate.

    Each worker paces rate / workers and sends floor(duration x its rate) (pacing.Pacer).
    """
    if flow.rate_pps == 0:
        return None
    per_worker = int(duration_ns * (flow.rate_pps / flow.workers) // 1_000_000_000)
    return per_worker * flow.workers


def plan_headline(plan: Plan) -> str:
    """One line for people: mode, phases, how long, which hosts."""
    return (
        f"{plan.scenario}: {plan.mode}, {len(plan.phases)} phase(s),"
        f" {units.format_duration_ns(plan.total_ns)} of traffic and gaps,"
        f" hosts {', '.join(plan.hosts)}"
    )
