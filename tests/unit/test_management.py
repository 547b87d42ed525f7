"""Which interfaces are management interfaces (pure), the guard in the session layer, and
the audit line. The live guard (real agents, namespaces, routes) is in
tests/integration/test_management_guard.py."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import replace

import pytest

from ringlab.agent import audit
from ringlab.agent.flows import FlowPlan, SessionError
from ringlab.agent.management import (
    DefaultRoute,
    ManagementInterfaces,
    NetworkFacts,
    management_interfaces,
    parse_address,
    ssh_server_address,
)
from ringlab.agent.manager import SessionManager
from ringlab.v1 import agent_pb2 as pb

FACTS = NetworkFacts(
    default_routes=(DefaultRoute("eth0", "10.0.0.1"),),
    addresses={
        "eth0": ("10.0.0.5/24", "fe80::1"),
        "eth1": ("192.0.2.7", "2001:db8::7"),
        "eth2": ("198.51.100.3",),
        "lo": ("127.0.0.1", "::1"),
    },
)


def test_the_default_route_makes_an_interface_management() -> None:
    assert management_interfaces(FACTS) == {"eth0": "carries the default route (via 10.0.0.1)"}


def test_every_path_of_every_default_route_counts() -> None:
    facts = NetworkFacts(
        default_routes=(
            DefaultRoute("eth0", "10.0.0.1"),
            DefaultRoute("eth1", "10.1.0.1"),  # a second ECMP next hop
            DefaultRoute("eth0", "fe80::1", ipv6=True),
            DefaultRoute("vrf-eth2", "", table=100),  # a management VRF's table
        )
    )
    assert management_interfaces(facts) == {
        "eth0": "carries default routes (via 10.0.0.1; IPv6 via fe80::1)",
        "eth1": "carries the default route (via 10.1.0.1)",
        "vrf-eth2": "carries the default route (on-link, no gateway, table 100)",
    }


def test_the_ssh_session_address_makes_its_interface_management() -> None:
    found = management_interfaces(FACTS, ssh_address="192.0.2.7")
    assert found["eth1"] == (
        "holds 192.0.2.7, the local address of the SSH session the agent was started from"
    )
    # An IPv4-mapped address (sshd on a dual-stack socket) is the IPv4 address it maps.
    assert "eth1" in management_interfaces(FACTS, ssh_address="::ffff:192.0.2.7")
    assert "eth1" in management_interfaces(FACTS, ssh_address="2001:db8::7")


def test_controller_addresses_make_their_interfaces_management() -> None:
    found = management_interfaces(FACTS, controller_addresses=["198.51.100.3", "lab-a.example"])
    assert found["eth2"] == "holds 198.51.100.3, the address the controller reaches this host by"
    # A host name matches nothing: the agent matches addresses, it does not resolve names.
    assert set(found) == {"eth0", "eth2"}
    assert "eth2" in management_interfaces(FACTS, controller_addresses=["[198.51.100.3]"])


def test_reasons_add_up_on_one_interface() -> None:
    found = management_interfaces(FACTS, ["10.0.0.5"], "10.0.0.5")
    assert found["eth0"] == (
        "carries the default route (via 10.0.0.1) and holds 10.0.0.5, the local address of "
        "the SSH session the agent was started from and holds 10.0.0.5, the address the "
        "controller reaches this host by"
    )


def test_no_default_route_no_addresses_no_management() -> None:
    facts = NetworkFacts(addresses={"to-b": ("10.9.0.1",)})
    assert management_interfaces(facts, ["10.9.0.2"], "10.9.0.3") == {}


@pytest.mark.parametrize(
    ("value", "address"),
    [
        ("203.0.113.9 52144 192.0.2.7 22", "192.0.2.7"),
        ("2001:db8::9 52144 2001:db8::7 22", "2001:db8::7"),
        ("::ffff:203.0.113.9 1 ::ffff:192.0.2.7 22", "192.0.2.7"),
        ("", None),
        (None, None),
        ("203.0.113.9 52144 192.0.2.7", None),
        ("a b c d", None),
    ],
)
def test_ssh_connection_gives_the_server_side_address(value: str | None, address: str) -> None:
    assert ssh_server_address(value) == address


def test_parse_address_takes_the_forms_addresses_come_in() -> None:
    assert str(parse_address("10.0.0.5/24")) == "10.0.0.5"
    assert str(parse_address("fe80::1%eth0")) == "fe80::1"
    assert str(parse_address("[2001:db8::1]")) == "2001:db8::1"
    assert parse_address("lab-a.example") is None


def test_ssh_connection_is_read_once_when_the_agent_starts() -> None:
    reads: list[int] = []

    def read() -> NetworkFacts:
        reads.append(1)
        return FACTS

    environment = {"SSH_CONNECTION": "203.0.113.9 52144 192.0.2.7 22"}
    found = ManagementInterfaces.from_environment(environment, read)
    environment["SSH_CONNECTION"] = "203.0.113.9 52144 198.51.100.3 22"
    assert set(found.find()) == {"eth0", "eth1"}
    assert set(found.find(["198.51.100.3"])) == {"eth0", "eth1", "eth2"}
    assert len(reads) == 2  # routes and addresses are read at every call: they change


# --- the guard in the session layer (validation runs against this host's real `lo`) ----

SEND = FlowPlan(
    flow_id=7,
    name="a->b",
    role="send",
    interface="lo",
    src_mac=b"\x02\x00\x00\x00\x00\x01",
    dst_mac=b"\x02\x00\x00\x00\x00\x02",
    frame_size=64,
    rate_pps=1000.0,
    engine="ring",
    workers=1,
    stamping=True,
    qdisc_bypass=False,
    paged_skb=False,
    ring_frames=0,
    batch=0,
)
RECEIVE = replace(SEND, role="receive", src_mac=b"", dst_mac=b"")


class NoDataPlane:
    """Fails the test if the session layer opens anything."""

    def __getattr__(self, name: str) -> object:
        raise AssertionError(f"the data plane was touched ({name}) for a refused flow")


def lo_is_management() -> SessionManager:
    routes = (DefaultRoute("lo", "127.0.0.9"),)
    management = ManagementInterfaces(None, lambda: NetworkFacts(routes))
    return SessionManager(management=management, plane=NoDataPlane())  # type: ignore[arg-type]


@pytest.mark.parametrize(("flow", "verb"), [(SEND, "send"), (RECEIVE, "receive")])
def test_a_flow_on_a_management_interface_is_refused_by_check_and_prepare(
    flow: FlowPlan, verb: str
) -> None:
    manager = lo_is_management()
    refusals = []
    for step in (manager.check, manager.prepare):
        with pytest.raises(SessionError) as refused:
            step("s1", [flow], 3000)
        refusals.append((refused.value.kind, refused.value.message))
    assert refusals[0] == refusals[1]
    kind, message = refusals[0]
    assert kind == "precondition"
    assert message == (
        "flow 'a->b' (id 7): interface lo carries the default route (via 127.0.0.9); ringlab "
        f"refuses to {verb} test traffic on a management interface. Use a test interface, or "
        "set allow_management_interface: true in the scenario if this is intended"
    )


def test_the_flow_flag_lifts_the_refusal() -> None:
    lo_is_management().check("s1", [replace(SEND, allow_management_interface=True)], 3000)


def test_an_unreadable_host_is_refused_not_taken_for_no_management() -> None:
    def broken() -> NetworkFacts:
        raise OSError(105, "No buffer space available")

    manager = SessionManager(management=ManagementInterfaces(None, broken))
    with pytest.raises(SessionError) as refused:
        manager.check("s1", [SEND], 3000)
    assert refused.value.kind == "unavailable"
    assert "No buffer space available" in refused.value.message


# --- the audit line ------------------------------------------------------------------


class Context:
    def __init__(self, peer: str, auth: Mapping[str, Iterable[bytes]]) -> None:
        self._peer, self._auth = peer, auth

    def peer(self) -> str:
        return self._peer

    def auth_context(self) -> Mapping[str, Iterable[bytes]]:
        return self._auth


def spec(**fields: object) -> pb.FlowSpec:
    base: dict[str, object] = {
        "flow_id": 7,
        "name": "a->b",
        "role": pb.ROLE_SEND,
        "interface": "eth0",
        "rate_pps": 1000,
        "engine": pb.ENGINE_RING,
    }
    return pb.FlowSpec(**{**base, **fields})  # type: ignore[arg-type]


def test_the_requester_is_the_tls_subject_or_the_peer() -> None:
    tls = Context(
        "ipv4:10.0.0.9:51234",
        {
            "transport_security_type": [b"ssl"],
            "x509_subject": [b"CN=ringlab-controller,O=ringlab lab"],
            "x509_common_name": [b"ringlab-controller"],
        },
    )
    assert audit.requester(tls) == audit.Requester(
        "ipv4:10.0.0.9:51234", "CN=ringlab-controller,O=ringlab lab"
    )
    unix = Context("unix:", {"transport_security_type": [b"insecure"]})
    assert audit.requester(unix) == audit.Requester("unix:", "")


def test_an_accepted_and_a_refused_request_each_make_one_line() -> None:
    request = pb.PrepareRequest(
        session_id="run1-p0",
        management_addresses=["10.0.0.5"],
        flows=[
            spec(),
            spec(role=pb.ROLE_RECEIVE, interface="eth1", allow_management_interface=True),
        ],
    )
    who = audit.Requester("ipv4:10.0.0.9:51234", "CN=ringlab-controller,O=ringlab lab")
    assert audit.audit_line("Prepare", request, who, None) == (
        "Prepare accepted session=run1-p0 peer=ipv4:10.0.0.9:51234 "
        'client="CN=ringlab-controller,O=ringlab lab" controller_addresses=[10.0.0.5] '
        "flows=\"#7 'a->b' send on 'eth0', 1000 pps, engine ring; "
        "#7 'a->b' receive on 'eth1', allow_management_interface\""
    )
    refused = audit.audit_line(
        "CheckPrepare", request, audit.Requester("unix:"), ("FAILED_PRECONDITION", "no\nway")
    )
    assert refused.startswith("CheckPrepare refused FAILED_PRECONDITION session=run1-p0 ")
    assert " peer=unix: client=none " in refused
    assert refused.endswith(' reason="no\\nway"')


def test_what_a_client_chose_cannot_forge_a_line() -> None:
    request = pb.PrepareRequest(
        session_id="x\n... Prepare accepted session=forged",
        flows=[spec(name="n\r\nforged", interface="e\n")] * 40,
    )
    line = audit.audit_line("Prepare", request, audit.Requester("unix:"), None)
    assert "\n" not in line and "\r" not in line
    assert line.count("#7 ") == audit.MAX_FLOWS
    assert "and 8 more" in line
    assert 'session="x\\n... Prepare accepted session=forged"' in line


def test_lines_go_to_the_audit_logger(caplog: pytest.LogCaptureFixture) -> None:
    audit.log_to_stderr()
    audit.log_to_stderr()  # once per process, however often a service is built
    assert sum(isinstance(h, audit._StderrHandler) for h in audit.logger.handlers) == 1
    with caplog.at_level(logging.INFO, logger="ringlab.agent.audit"):
        audit.record("Prepare", pb.PrepareRequest(session_id="s9"), audit.Requester("unix:"), None)
    assert [r.getMessage().split(" session=")[0] for r in caplog.records] == ["Prepare accepted"]
