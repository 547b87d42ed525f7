"""Probe agents and check a plan against the reports before traffic starts."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ringlab.controller.checks.preflight import Finding, PreflightFlow, preflight
from ringlab.controller.checks.tools import tool_findings
from ringlab.controller.checks.xdp import xdp_findings
from ringlab.controller.remote.clients import AgentApi, AgentError
from ringlab.controller.run.assemble import ResolvedFlow
from ringlab.controller.run.endpoints import PhaseResolver
from ringlab.controller.run.plan import Plan
from ringlab.controller.run.prepare import prepare_requests
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
    flows: Sequence[ResolvedFlow],
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
            send_xdp=f.engine == "xdp",
            receive_xdp=f.rx_engine == "xdp",
            xdp_mode=f.xdp_mode,
            xdp_queue=f.xdp_queue,
            workers=f.workers,
            xdp_share=f.xdp_share,
            engine=f.engine,
            rx_engine=f.rx_engine,
            pfring_cluster_id=f.pfring_cluster_id,
            src_pci=f.src_pci,
            dst_pci=f.dst_pci,
        )
        for f in flows
    ]
    findings = preflight(
        endpoints,
        reports,
        mode,
        allow_zc_bidirectional=allow_zc_bidirectional,
        allow_management_interface=allow_management_interface,
    )
    return findings + xdp_findings(endpoints, reports, mode) + tool_findings(endpoints, reports)


@dataclass(frozen=True)
class PlanCheck:
    """What preflight found for a whole plan, before any frame is sent."""

    reports: dict[str, ProbeReport]
    flows: list[ResolvedFlow]  # every phase's flows, resolved
    findings: list[Finding]

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    def refusal(self) -> str:
        return "preflight refused the run before any traffic was sent:\n" + "\n".join(
            f"  {f.code}: {f.message}" for f in self.errors
        )


async def check_plan(
    agents: Mapping[str, AgentApi],
    management_addresses: Mapping[str, Sequence[str]],
    plan: Plan,
    resolve: PhaseResolver,
    infos: Mapping[str, pb.GetInfoResponse],
    *,
    allow_zc_bidirectional: bool,
    allow_management_interface: bool,
) -> PlanCheck:
    """Probe every host, check every phase's flows against the reports, and have each
    agent check the Prepare it would get for each phase (CheckPrepare: nothing opens)."""
    reports = await probe_agents(agents, management_addresses)
    phases = [resolve(phase, index, infos) for index, phase in enumerate(plan.phases)]
    flows = [flow for phase_flows in phases for flow in phase_flows]
    findings = check_flows(
        flows,
        reports,
        plan.mode,
        allow_zc_bidirectional=allow_zc_bidirectional,
        allow_management_interface=allow_management_interface,
    )
    findings += await agent_refusals(agents, plan, phases, management_addresses)
    return PlanCheck(reports, flows, findings)


async def agent_refusals(
    agents: Mapping[str, AgentApi],
    plan: Plan,
    phases: Sequence[Sequence[ResolvedFlow]],
    management_addresses: Mapping[str, Sequence[str]],
) -> list[Finding]:
    """What each agent's Prepare would refuse, phase by phase (the same requests the
    orchestrator sends: management addresses and allow_management_interface included)."""

    async def verdict(host: str, request: pb.PrepareRequest) -> AgentError | None:
        try:
            await agents[host].check_prepare(request)
        except AgentError as error:
            return error
        return None

    where: list[tuple[str, str]] = []
    checks = []
    for index, (phase, flows) in enumerate(zip(plan.phases, phases, strict=True)):
        requests = prepare_requests(
            f"check-{index}",
            flows,
            plan.lease_ns,
            management_addresses=management_addresses,
            allow_management_interface=plan.allow_management_interface,
        )
        for host, request in sorted(requests.items()):
            where.append((phase.name, host))
            checks.append(verdict(host, request))
    findings: dict[str, Finding] = {}  # by message: a refusal repeated every round is one
    for (phase_name, host), error in zip(where, await asyncio.gather(*checks), strict=True):
        if error is None:
            continue
        if error.code == "UNIMPLEMENTED":
            # An agent older than CheckPrepare: its Prepare still checks, phase by phase.
            findings.setdefault(
                f"old:{host}",
                Finding(
                    "agent_cannot_check_prepare",
                    "warning",
                    f"{error.host}: this agent predates CheckPrepare, so what it would refuse"
                    " shows only when its phase starts; deploy this ringlab version to it"
                    " (`ringlab deploy`) to have every phase checked before any traffic",
                ),
            )
            continue
        findings.setdefault(
            str(error),
            Finding("agent_refuses_prepare", "error", f"phase {phase_name}: {error}"),
        )
    return list(findings.values())
