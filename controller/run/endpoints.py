"""Pure resolution of a phase's flows to interfaces, MAC addresses and wire flow ids."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from ringlab.controller.run.assemble import ResolvedFlow
from ringlab.controller.run.plan import PlannedFlow, PlannedPhase
from ringlab.errors import EndpointError
from ringlab.v1 import agent_pb2 as pb

# Wire flow ids: phase index in the high bits so a late frame of one phase can
# never be counted as a frame of another.
FLOWS_PER_PHASE = 1 << 12
# The destination MAC toward a port bound to DPDK: GetInfo lists only kernel interfaces,
# so its MAC is not known here; testpmd's receiver takes broadcast frames (promiscuous or
# not).
UNKNOWN_PORT_MAC = "ff:ff:ff:ff:ff:ff"


def wire_flow_id(phase_index: int, flow_index: int) -> int:
    return (phase_index + 1) * FLOWS_PER_PHASE + flow_index + 1


def choose_interface(
    flow_override: str | None,
    scenario_interface: str | None,
    links: Mapping[str, str],
    default_interface: str | None,
    peer: str,
) -> str | None:
    """Flow override, then the scenario's host interface, then the inventory's link to the peer."""
    return flow_override or scenario_interface or links.get(peer) or default_interface


def _mac_of(host: str, interface: str, info: pb.GetInfoResponse, source: str) -> str:
    for candidate in info.interfaces:
        if candidate.name == interface:
            return candidate.mac
    names = ", ".join(i.name for i in info.interfaces)
    raise EndpointError(
        f"host {host} has no interface {interface!r} (it has {names}); {interface!r} comes"
        f" from {source}: change it to one of those"
    )


def interface_source(flow: PlannedFlow, host: str, resolver: Resolver | None) -> str:
    """Where the interface a flow uses on `host` was chosen, in choose_interface's order."""
    sending = host == flow.src_host
    # The plan folds hosts.<host>.interface into the flow's own interface.
    planned = flow.src_interface if sending else flow.dst_interface
    from_host = resolver.scenario_interfaces.get(host) if resolver is not None else None
    if planned and planned == from_host:
        return f"hosts.{host}.interface in the scenario"
    if planned:
        return f"flow {flow.name}'s {'from' if sending else 'to'}_interface in the scenario"
    peer = flow.dst_host if sending else flow.src_host
    if resolver is not None and resolver.links.get(host, {}).get(peer):
        return f"the inventory's link from {host} to {peer}"
    return f"the inventory's interface of {host}"


def resolve_flow(
    flow: PlannedFlow,
    flow_id: int,
    src_interface: str | None,
    dst_interface: str | None,
    infos: Mapping[str, pb.GetInfoResponse],
    resolver: Resolver | None = None,
) -> ResolvedFlow:
    # A testpmd end on a PCI port (testpmd_vdev: pci) has no kernel interface.
    src_interface = "" if flow.src_pci else src_interface or ""
    dst_interface = "" if flow.dst_pci else dst_interface or ""
    for host, interface, pci in (
        (flow.src_host, src_interface, flow.src_pci),
        (flow.dst_host, dst_interface, flow.dst_pci),
    ):
        if not interface and not pci:
            raise EndpointError(
                f"flow {flow.name}: no interface is known for host {host}; set "
                f"hosts.{host}.interface in the scenario or links in the inventory"
            )
    src_mac = ""
    if src_interface:
        source = interface_source(flow, flow.src_host, resolver)
        src_mac = _mac_of(flow.src_host, src_interface, infos[flow.src_host], source)
    dst_mac = UNKNOWN_PORT_MAC
    if dst_interface:
        source = interface_source(flow, flow.dst_host, resolver)
        dst_mac = _mac_of(flow.dst_host, dst_interface, infos[flow.dst_host], source)
    return ResolvedFlow(
        flow_id=flow_id,
        name=flow.name,
        src_host=flow.src_host,
        dst_host=flow.dst_host,
        src_interface=src_interface,
        dst_interface=dst_interface,
        src_mac=src_mac,
        dst_mac=dst_mac,
        frame_size=flow.frame_size,
        rate_pps=flow.rate_pps,
        engine=flow.engine,
        workers=flow.workers,
        stamping=flow.stamping,
        qdisc_bypass=flow.qdisc_bypass,
        paged_skb=flow.paged_skb,
        batch=flow.batch,
        ring_frames=flow.ring_frames,
        rx_block_size=flow.rx_block_size,
        rx_blocks=flow.rx_blocks,
        rx_engine=flow.rx_engine,
        xdp_queue=flow.xdp_queue,
        xdp_mode=flow.xdp_mode,
        xdp_attach=flow.xdp_attach,
        xdp_share=flow.xdp_share,
        tool_device=flow.tool_device,
        src_pci=flow.src_pci,
        dst_pci=flow.dst_pci,
        cores=flow.cores,
        pfring_cluster_id=flow.pfring_cluster_id,
    )


# What the orchestrator and preflight call to resolve one phase's flows (phase, its index,
# the agents' GetInfo replies); a Resolver is one.
PhaseResolver = Callable[[PlannedPhase, int, Mapping[str, pb.GetInfoResponse]], list[ResolvedFlow]]


class Resolver:
    """Resolves phases against an inventory's links and the scenario's host interfaces."""

    def __init__(
        self,
        links: Mapping[str, Mapping[str, str]],
        default_interfaces: Mapping[str, str | None],
        scenario_interfaces: Mapping[str, str | None],
    ) -> None:
        self.links = links
        self.default_interfaces = default_interfaces
        self.scenario_interfaces = scenario_interfaces

    def interface(self, host: str, peer: str, override: str | None) -> str | None:
        return choose_interface(
            override,
            self.scenario_interfaces.get(host),
            self.links.get(host, {}),
            self.default_interfaces.get(host),
            peer,
        )

    def __call__(
        self, phase: PlannedPhase, index: int, infos: Mapping[str, pb.GetInfoResponse]
    ) -> list[ResolvedFlow]:
        return [
            resolve_flow(
                flow,
                wire_flow_id(index, i),
                self.interface(flow.src_host, flow.dst_host, flow.src_interface),
                self.interface(flow.dst_host, flow.src_host, flow.dst_interface),
                infos,
                self,
            )
            for i, flow in enumerate(phase.flows)
        ]
