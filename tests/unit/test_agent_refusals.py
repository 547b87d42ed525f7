"""How agents' CheckPrepare verdicts become findings: per phase, deduplicated, old agents.

The agents here are stand-ins for one call: a real agent's verdicts are covered by
tests/integration/test_agent_api.py, and an agent older than CheckPrepare cannot be
started from this checkout.
"""

from __future__ import annotations

import asyncio

from test_endpoints import SCENARIO, two_host_lab

from ringlab.controller.checks.probing import agent_refusals
from ringlab.controller.remote.clients import AgentError
from ringlab.controller.run.plan import build_plan
from ringlab.controller.scenario import load_scenario_text
from ringlab.v1 import agent_pb2 as pb


class Verdict:
    """check_prepare of one host: refuses with `code` when it is set, and records calls."""

    def __init__(self, host: str, code: str = "", refuse_sending: bool = True) -> None:
        self.host = host
        self.address = f"unix:/{host}.sock"
        self.code = code
        self.refuse_sending = refuse_sending
        self.requests: list[pb.PrepareRequest] = []

    async def check_prepare(self, request: pb.PrepareRequest) -> None:
        self.requests.append(request)
        sends = any(f.role == pb.ROLE_SEND for f in request.flows)
        if self.code and (sends or not self.refuse_sending):
            raise AgentError(self.host, self.address, f"{self.code}: no", self.code)


def refusals(agents: dict[str, Verdict]) -> list[tuple[str, str, str]]:
    plan = build_plan(load_scenario_text(SCENARIO, "t.yaml"))
    resolve, infos = two_host_lab()
    phases = [resolve(phase, i, infos) for i, phase in enumerate(plan.phases)]
    found = asyncio.run(agent_refusals(agents, plan, phases, {}))  # type: ignore[arg-type]
    return [(f.code, f.severity, f.message) for f in found]


def test_every_phase_is_checked_on_every_host_it_involves() -> None:
    agents = {"a": Verdict("a"), "b": Verdict("b")}
    assert refusals(agents) == []
    # 4 phases (2 directions x 2 rounds), each on both hosts, with that phase's lease.
    assert len(agents["a"].requests) == len(agents["b"].requests) == 4
    assert {r.session_id for r in agents["a"].requests} == {f"check-{i}" for i in range(4)}


def test_a_refusal_repeated_every_round_is_one_error_naming_its_first_phase() -> None:
    # a refuses whenever it sends: the a->b phase of both rounds.
    found = refusals({"a": Verdict("a", "INVALID_ARGUMENT"), "b": Verdict("b")})
    assert found == [
        (
            "agent_refuses_prepare",
            "error",
            "phase time-sliced/r1/a->b: agent a (unix:/a.sock): INVALID_ARGUMENT: no",
        )
    ]


def test_an_agent_older_than_check_prepare_is_a_warning_once() -> None:
    agents = {"a": Verdict("a"), "b": Verdict("b", "UNIMPLEMENTED", refuse_sending=False)}
    found = refusals(agents)
    assert [(code, severity) for code, severity, _ in found] == [
        ("agent_cannot_check_prepare", "warning")
    ]
    assert "ringlab deploy" in found[0][2]


def test_check_prepare_asks_what_the_run_would_ask() -> None:
    """The scenario's allow_management_interface and the controller's addresses of each
    host reach every CheckPrepare, so an agent judges the requests a run would send."""
    text = SCENARIO + "allow_management_interface: true\n"
    plan = build_plan(load_scenario_text(text, "t.yaml"))
    resolve, infos = two_host_lab()
    phases = [resolve(phase, i, infos) for i, phase in enumerate(plan.phases)]
    agents = {"a": Verdict("a"), "b": Verdict("b")}
    addresses = {"a": ["192.0.2.10"], "b": ["192.0.2.11"]}
    asyncio.run(agent_refusals(agents, plan, phases, addresses))  # type: ignore[arg-type]
    for host, agent in agents.items():
        assert {tuple(r.management_addresses) for r in agent.requests} == {(addresses[host][0],)}
        flags = {f.allow_management_interface for r in agent.requests for f in r.flows}
        assert flags == {True}
