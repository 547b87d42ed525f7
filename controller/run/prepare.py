"""PrepareRequests from resolved flows: what each host of a phase is asked to open. Pure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ringlab.controller.run.assemble import ResolvedFlow
from ringlab.engine_codes import ENGINE_CODES
from ringlab.engines import EXTERNAL_ENGINES
from ringlab.v1 import agent_pb2 as pb


def prepare_requests(
    session_id: str,
    flows: Sequence[ResolvedFlow],
    lease_ns: int,
    *,
    management_addresses: Mapping[str, Sequence[str]],
    allow_management_interface: bool,
) -> dict[str, pb.PrepareRequest]:
    """One PrepareRequest per involved host: its sending and receiving flows.

    Each request carries the addresses the controller reaches that host by, so the agent
    refuses flows on the interfaces holding them; every flow carries the scenario's
    allow_management_interface, the only thing that lifts that refusal.
    """
    requests: dict[str, pb.PrepareRequest] = {}

    def request_for(host: str) -> pb.PrepareRequest:
        if host not in requests:
            requests[host] = pb.PrepareRequest(
                session_id=session_id,
                lease_ms=max(1, lease_ns // 1_000_000),
                management_addresses=list(management_addresses.get(host, ())),
            )
        return requests[host]

    for flow in flows:
        common = {
            "flow_id": flow.flow_id,
            "name": flow.name,
            "frame_size": flow.frame_size,
            "rate_pps": flow.rate_pps,
            "engine": ENGINE_CODES[flow.engine],
            "workers": flow.workers,
            "static_template": not flow.stamping,
            "qdisc_bypass": flow.qdisc_bypass,
            "paged_skb": flow.paged_skb,
            "ring_frames": flow.ring_frames,
            "batch": flow.batch,
            "rx_block_size": flow.rx_block_size,
            "rx_blocks": flow.rx_blocks,
            "allow_management_interface": allow_management_interface,
            "rx_engine": ENGINE_CODES[flow.rx_engine],
            "xdp_queue": flow.xdp_queue,
            "xdp_mode": flow.xdp_mode,
            "xdp_attach": flow.xdp_attach,
            "xdp_share": flow.xdp_share,
            "tool_device": flow.tool_device,
            "cores": flow.cores,
            "pfring_cluster_id": flow.pfring_cluster_id,
        }
        request_for(flow.src_host).flows.append(
            pb.FlowSpec(
                role=pb.ROLE_SEND,
                interface=flow.src_interface,
                pci_address=flow.src_pci,
                src_mac=flow.src_mac,
                dst_mac=flow.dst_mac,
                **common,  # type: ignore[arg-type]
            )
        )
        # A receiver of ringlab's own cannot count an external sender's frames by sequence.
        peer = (
            ENGINE_CODES[flow.engine] if flow.engine in EXTERNAL_ENGINES else pb.ENGINE_UNSPECIFIED
        )
        request_for(flow.dst_host).flows.append(
            pb.FlowSpec(
                role=pb.ROLE_RECEIVE,
                interface=flow.dst_interface,
                pci_address=flow.dst_pci,
                peer_engine=peer,
                **common,  # type: ignore[arg-type]
            )
        )
    return requests
