"""Probe agents and check a plan against the reports before traffic starts."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence

from ringlab.controller.assemble import FlowEndpoints
from ringlab.controller.clients import AgentApi
from ringlab.controller.preflight import Finding, preflight
from ringlab.controller.preflight import FlowEndpoints as PreflightFlow
from ringlab.probe_model import ProbeReport
from ringlab.v1 import agent_pb2 as pb


async def probe_agents(
    agents: Mapping[str, AgentApi],
    management_addresses: Mapping[str, Sequence[str]] | None = None,
    reload_impact_module: str = "",
) -> dict[str, ProbeReport]:
    hosts = list(agents)

    async def one(host: str) -> ProbeReport:
        reply = await agents[host].probe(
            pb.ProbeRequest(
                management_addresses=list((management_addresses or {}).get(host, ())),
                reload_impact_module=reload_impact_module,
            )
        )
        return ProbeReport.from_dict(json.loads(reply.report_json))

    reports = await asyncio.gather(*(one(h) for h in hosts))
    return dict(zip(hosts, reports, strict=True))


def check_flows(
    flows: Sequence[FlowEndpoints],
    reports: Mapping[str, ProbeReport],
    mode: str,
    allow_zc_bidirectional: bool,
    allow_management_interface: bool,
) -> list[Finding]:
    endpoints = [
        PreflightFlow(
            flow=f.name,
            src_host=f.src_host,
            src_interface=f.src_interface,
            dst_host=f.dst_host,
            dst_interface=f.dst_interface,
            frame_size=f.frame_size,
        )
        for f in flows
    ]
    return preflight(
        endpoints,
        reports,
        mode,
        allow_zc_bidirectional=allow_zc_bidirectional,
        allow_management_interface=allow_management_interface,
    )
