from __future__ import annotations

import asyncio
from typing import Any

import pytest

from ringlab.controller.remote.clients import AgentError
from ringlab.controller.remote.connect import Connection
from ringlab.controller.remote.inventory import Inventory, InventoryHost, SshSpec
from ringlab.controller.run.endpoints import Resolver, choose_interface, wire_flow_id
from ringlab.controller.run.orchestrator import Orchestrator
from ringlab.controller.run.plan import build_plan
from ringlab.controller.run.prepare import prepare_requests
from ringlab.controller.scenario import load_scenario_text
from ringlab.controller.store.results import RunResult
from ringlab.errors import EndpointError
from ringlab.v1 import agent_pb2 as pb

NO_MANAGEMENT: dict[str, Any] = {"management_addresses": {}, "allow_management_interface": False}

SCENARIO = """
version: 1
name: t
mode: time-sliced
hosts: {a: {}, b: {interface: eth9}}
flows:
  - {from: a, to: b, frame_size: 64, rate: 1kpps}
  - {from: b, to: a, frame_size: 64, rate: 1kpps}
time_slice: {slice: 1s, gap: 100ms, rounds: 2}
"""


def info(*interfaces: tuple[str, str]) -> pb.GetInfoResponse:
    return pb.GetInfoResponse(interfaces=[pb.InterfaceInfo(name=n, mac=m) for n, m in interfaces])


def two_host_lab() -> tuple[Resolver, dict[str, pb.GetInfoResponse]]:
    """a and b linked by to-b / to-a; the scenario puts b on eth9."""
    resolve = Resolver(
        links={"a": {"b": "to-b"}, "b": {"a": "to-a"}},
        default_interfaces={},
        scenario_interfaces={"b": "eth9"},
    )
    infos = {
        "a": info(("to-b", "02:00:00:00:00:0a")),
        "b": info(("eth9", "02:00:00:00:00:0b"), ("to-a", "02:00:00:00:00:0c")),
    }
    return resolve, infos


def test_interface_precedence() -> None:
    links = {"b": "to-b"}
    assert choose_interface("ovr", "scen", links, "dflt", "b") == "ovr"
    assert choose_interface(None, "scen", links, "dflt", "b") == "scen"
    assert choose_interface(None, None, links, "dflt", "b") == "to-b"
    assert choose_interface(None, None, links, "dflt", "c") == "dflt"
    assert choose_interface(None, None, {}, None, "c") is None


def test_wire_flow_ids_never_repeat_across_phases() -> None:
    ids = {wire_flow_id(p, f) for p in range(50) for f in range(100)}
    assert len(ids) == 5000


def test_resolver_fills_macs_and_interfaces() -> None:
    plan = build_plan(load_scenario_text(SCENARIO, "t.yaml"))
    resolve, infos = two_host_lab()
    phases = [resolve(phase, i, infos) for i, phase in enumerate(plan.phases)]
    assert len(phases) == 4  # two directions x two rounds
    first = phases[0][0]
    assert (first.src_interface, first.dst_interface) == ("to-b", "eth9")
    assert first.dst_mac == "02:00:00:00:00:0b"
    all_ids = [f.flow_id for flows in phases for f in flows]
    assert len(set(all_ids)) == len(all_ids)


def test_unknown_interface_names_the_host_and_what_it_has() -> None:
    plan = build_plan(load_scenario_text(SCENARIO.replace("{interface: eth9}", "{}"), "t.yaml"))
    resolve = Resolver(links={"a": {"b": "to-b"}}, default_interfaces={}, scenario_interfaces={})
    infos = {"a": info(("to-b", "02:00:00:00:00:0a")), "b": info(("eth0", "02:00:00:00:00:0b"))}
    with pytest.raises(EndpointError, match="no interface is known for host b"):
        resolve(plan.phases[0], 0, infos)
    resolve = Resolver(
        links={"a": {"b": "to-b"}}, default_interfaces={}, scenario_interfaces={"b": "eth7"}
    )
    with pytest.raises(EndpointError, match=r"host b has no interface 'eth7' \(it has eth0\)"):
        resolve(plan.phases[0], 0, infos)


def test_ring_settings_travel_from_the_scenario_to_both_prepare_requests() -> None:
    text = SCENARIO.replace(
        "{from: a, to: b, frame_size: 64, rate: 1kpps}",
        "{from: a, to: b, frame_size: 64, rate: 1kpps, ring_frames: 2048, batch: 64,"
        " tx_skb: paged, rx_block_size: 256KiB, rx_blocks: 16}",
    )
    plan = build_plan(load_scenario_text(text, "t.yaml"))
    resolve, infos = two_host_lab()
    flows = resolve(plan.phases[0], 0, infos)
    requests = prepare_requests("s1", flows, 3 * 10**9, **NO_MANAGEMENT)
    (send,) = requests["a"].flows
    (receive,) = requests["b"].flows
    for spec in (send, receive):
        assert (spec.ring_frames, spec.batch, spec.paged_skb) == (2048, 64, True)
        assert (spec.rx_block_size, spec.rx_blocks) == (256 << 10, 16)
    other = resolve(plan.phases[1], 1, infos)
    assert (
        prepare_requests("s2", other, 3 * 10**9, **NO_MANAGEMENT)["a"].flows[0].rx_block_size == 0
    )


@pytest.mark.parametrize(
    ("host_a", "flow_field", "link_a", "source"),
    [
        ("{}", "from_interface: eth5, ", "to-b", "flow a->b's from_interface"),
        ("{interface: eth5}", "", "to-b", "hosts.a.interface in the scenario"),
        ("{}", "", "eth5", "the inventory's link from a to b"),
    ],
)
def test_an_unknown_interface_says_where_its_name_came_from(
    host_a: str, flow_field: str, link_a: str, source: str
) -> None:
    text = (
        f"version: 1\nname: t\nmode: unidirectional\nduration: 1s\nhosts: {{a: {host_a}, b: {{}}}}\n"
        f"flows:\n  - {{from: a, to: b, {flow_field}frame_size: 64, rate: 1kpps}}\n"
    )
    scenario = load_scenario_text(text, "t.yaml")
    resolve = Resolver(
        links={"a": {"b": link_a}, "b": {"a": "to-a"}},
        default_interfaces={},
        scenario_interfaces={h: spec.interface for h, spec in scenario.hosts.items()},
    )
    infos = {"a": info(("to-b", "02:00:00:00:00:0a")), "b": info(("to-a", "02:00:00:00:00:0b"))}
    with pytest.raises(EndpointError) as raised:
        resolve(build_plan(scenario).phases[0], 0, infos)
    assert "host a has no interface 'eth5' (it has to-b)" in raised.value.message
    assert f"comes from {source}" in raised.value.message


@pytest.mark.parametrize("allowed", [False, True])
def test_allow_management_interface_travels_from_the_scenario_to_every_flow(
    allowed: bool,
) -> None:
    text = SCENARIO + ("allow_management_interface: true\n" if allowed else "")
    plan = build_plan(load_scenario_text(text, "t.yaml"))
    assert plan.allow_management_interface is allowed
    resolve, infos = two_host_lab()
    requests = prepare_requests(
        "s1",
        resolve(plan.phases[0], 0, infos),
        plan.lease_ns,
        management_addresses={"a": ["192.0.2.10"], "c": ["192.0.2.30"]},
        allow_management_interface=plan.allow_management_interface,
    )
    specs = [spec for request in requests.values() for spec in request.flows]
    assert [(s.role, s.allow_management_interface) for s in specs] == [
        (pb.ROLE_SEND, allowed),
        (pb.ROLE_RECEIVE, allowed),
    ]
    # Each agent hears the addresses the controller reaches its own host by.
    assert list(requests["a"].management_addresses) == ["192.0.2.10"]
    assert list(requests["b"].management_addresses) == []


def test_the_controller_reports_the_addresses_it_reaches_hosts_by() -> None:
    inventory = Inventory(
        version=1,
        hosts={
            "ssh": InventoryHost(ssh=SshSpec(address="192.0.2.10")),
            "direct": InventoryHost(agent="198.51.100.3:50051", transport="direct"),
            "direct6": InventoryHost(agent="[2001:db8::3]:50051", transport="direct"),
            "lab": InventoryHost(agent="unix:/run/ringlab/labs/x/a.sock"),
        },
    )
    assert Connection(inventory, {}, None).management_addresses() == {
        "ssh": ["192.0.2.10"],
        "direct": ["198.51.100.3"],
        "direct6": ["2001:db8::3"],
        "lab": [],
    }


class RefusingAgent:
    """Records each Prepare and refuses it, as an agent refuses a management interface."""

    def __init__(self, host: str) -> None:
        self.host = host
        self.address = f"unix:/{host}.sock"
        self.prepared: list[pb.PrepareRequest] = []

    async def prepare(self, request: pb.PrepareRequest) -> None:
        self.prepared.append(request)
        raise AgentError(self.host, self.address, "FAILED_PRECONDITION: no", "FAILED_PRECONDITION")


@pytest.mark.parametrize("allowed", [False, True])
def test_the_run_prepares_with_the_addresses_and_the_scenarios_flag(allowed: bool) -> None:
    text = SCENARIO + ("allow_management_interface: true\n" if allowed else "")
    plan = build_plan(load_scenario_text(text, "t.yaml"))
    resolve, infos = two_host_lab()
    agents = {"a": RefusingAgent("a"), "b": RefusingAgent("b")}
    orchestrator = Orchestrator(
        agents,  # type: ignore[arg-type]
        resolve,
        management_addresses={"a": ["192.0.2.10"], "b": ["192.0.2.11"]},
    )
    orchestrator.infos = infos
    result = asyncio.run(
        orchestrator.run(plan, RunResult(run_id="r1", scenario="t", mode=plan.mode))
    )
    assert result.status == "failed"
    for host, address in (("a", "192.0.2.10"), ("b", "192.0.2.11")):
        (request,) = agents[host].prepared
        assert list(request.management_addresses) == [address]
        assert [f.allow_management_interface for f in request.flows] == [allowed]
