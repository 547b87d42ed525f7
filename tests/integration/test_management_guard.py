"""Agents refuse test traffic on their management interfaces on their own.

Real agent processes in real namespaces (a built-in lab of hosts a, b and c), real
gRPC over the agents' Unix sockets, and routes and addresses added inside the
namespaces: a client using the generated stubs directly gets FAILED_PRECONDITION for a
flow on an interface that carries a default route, holds the address of the SSH session
its agent was started from, or holds an address the controller reports; the flow's
allow_management_interface lifts it; nothing is sent; every request is in the agent's
log. The last tests go through the real controller (`ringlab check` / `ringlab run`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import subprocess
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import grpc
import pytest
from helpers import ringlab
from live_agents import (
    agent_stub,
    finish_session,
    flow_pair,
    link_counters,
    mac_of,
    needs_root,
    running_lab,
    session_id,
)
from pyroute2 import NetNS

from ringlab.agent.server import TlsFiles, create_server
from ringlab.controller.remote.certs import LabPki, write_lab_pki
from ringlab.controller.remote.connect import agent_channel
from ringlab.controller.remote.inventory import TlsSpec
from ringlab.controller.remote.lab import Lab
from ringlab.v1 import agent_pb2 as pb
from ringlab.v1 import agent_pb2_grpc as pb_grpc

pytestmark = needs_root

PRECONDITION = grpc.StatusCode.FAILED_PRECONDITION
OK = grpc.StatusCode.OK
# The local address of the SSH session agent a is started from (SSH_CONNECTION), held by
# a's to-c; and an address the controller says it reaches a by, put on a's to-b.
SSH_ADDRESS = "10.77.0.2"
CONTROLLER_ADDRESS = "10.77.1.2"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    env = pytest.MonkeyPatch()
    env.setenv("SSH_CONNECTION", f"203.0.113.9 52144 {SSH_ADDRESS} 22")
    try:
        with running_lab(tmp_path_factory.mktemp("labs"), ("a", "b", "c")) as lab:
            env.undo()  # the agents have read it; nothing else in this process should
            with address(lab.hosts["a"].netns, "to-c", SSH_ADDRESS):
                yield lab
    finally:
        env.undo()


@pytest.fixture(scope="module")
def stub(lab: Lab) -> Iterator[pb_grpc.AgentStub]:
    with agent_stub(lab, "a") as a:
        yield a


@pytest.fixture(scope="module")
def macs(lab: Lab, stub: pb_grpc.AgentStub) -> tuple[str, str]:
    with agent_stub(lab, "b") as b:
        return mac_of(stub, "to-b"), mac_of(b, "to-a")


def _index(ns: NetNS, interface: str) -> int:
    return int(ns.link_lookup(ifname=interface)[0])


@contextlib.contextmanager
def default_route(netns: str, interface: str) -> Iterator[None]:
    """`ip -n NETNS route add default dev INTERFACE` for the block, removed after."""
    with NetNS(netns) as ns:
        ns.route("add", dst="0.0.0.0/0", oif=_index(ns, interface))
    try:
        yield
    finally:
        with NetNS(netns) as ns:
            ns.route("del", dst="0.0.0.0/0", oif=_index(ns, interface))


@contextlib.contextmanager
def address(netns: str, interface: str, ip: str) -> Iterator[None]:
    with NetNS(netns) as ns:
        ns.addr("add", index=_index(ns, interface), address=ip, prefixlen=24)
    try:
        yield
    finally:
        with NetNS(netns) as ns:
            ns.addr("del", index=_index(ns, interface), address=ip, prefixlen=24)


def sender(macs: tuple[str, str], interface: str = "to-b", allow: bool = False) -> pb.FlowSpec:
    spec = flow_pair(7, interface, "to-a", macs[0], macs[1], rate_pps=1000)[0]
    spec.allow_management_interface = allow
    return spec


def receiver(interface: str = "to-b", allow: bool = False) -> pb.FlowSpec:
    spec = flow_pair(9, "to-a", interface, "", "", rate_pps=0)[1]
    spec.allow_management_interface = allow
    return spec


def request(flows: list[pb.FlowSpec], addresses: tuple[str, ...] = ()) -> pb.PrepareRequest:
    return pb.PrepareRequest(
        session_id=session_id(), flows=flows, lease_ms=3000, management_addresses=addresses
    )


def outcome(call: Callable[[], object]) -> tuple[grpc.StatusCode, str]:
    try:
        call()
    except grpc.RpcError as error:
        return error.code(), error.details() or ""  # type: ignore[attr-defined]
    return OK, ""


def check(stub: pb_grpc.AgentStub, req: pb.PrepareRequest) -> tuple[grpc.StatusCode, str]:
    return outcome(lambda: stub.CheckPrepare(pb.CheckPrepareRequest(prepare=req), timeout=30))


def prepare(stub: pb_grpc.AgentStub, req: pb.PrepareRequest) -> tuple[grpc.StatusCode, str]:
    """Prepare; a session it makes is stopped and released (whatever the test asserts)."""
    result = outcome(lambda: stub.Prepare(req, timeout=30))
    if result[0] == OK:
        finish_session(stub, req.session_id)
    return result


def audit_lines(lab: Lab, host: str, sid: str) -> list[str]:
    log = Path(lab.directory) / f"agent-{host}.log"
    return [line for line in log.read_text().splitlines() if f" session={sid} " in line]


def test_check_prepare_and_prepare_refuse_the_default_route_interface(
    lab: Lab, stub: pb_grpc.AgentStub, macs: tuple[str, str]
) -> None:
    req = request([sender(macs)])
    with default_route(lab.hosts["a"].netns, "to-b"):
        checked = check(stub, req)
        prepared = prepare(stub, req)
    assert checked == prepared
    code, details = checked
    assert code == PRECONDITION
    assert details == (
        "flow 'flow-7' (id 7): interface to-b carries the default route (on-link, no "
        "gateway); ringlab refuses to send test traffic on a management interface. Use a "
        "test interface, or set allow_management_interface: true in the scenario if this is "
        "intended"
    )
    lines = audit_lines(lab, "a", req.session_id)
    assert [line.split(" ringlab agent audit: ")[1].split(" session=")[0] for line in lines] == [
        "CheckPrepare refused FAILED_PRECONDITION",
        "Prepare refused FAILED_PRECONDITION",
    ]
    for line in lines:
        assert " peer=unix: client=none controller_addresses=[] " in line
        assert "flows=\"#7 'flow-7' send on 'to-b', 1000 pps, engine ring\"" in line
        assert "carries the default route" in line


def test_the_flow_flag_lets_the_same_flow_through(
    lab: Lab, stub: pb_grpc.AgentStub, macs: tuple[str, str]
) -> None:
    req = request([sender(macs, allow=True), receiver("to-c", allow=True)])
    with default_route(lab.hosts["a"].netns, "to-b"):
        assert check(stub, req) == (OK, "")
        assert prepare(stub, req) == (OK, "")
    lines = audit_lines(lab, "a", req.session_id)
    assert [line.split(" ringlab agent audit: ")[1].split(" session=")[0] for line in lines] == [
        "CheckPrepare accepted",
        "Prepare accepted",
    ]
    assert "engine ring, allow_management_interface;" in lines[0]


def test_a_refused_prepare_sends_nothing(
    lab: Lab, stub: pb_grpc.AgentStub, macs: tuple[str, str]
) -> None:
    netns = lab.hosts["a"].netns
    req = request([sender(macs)])
    before = link_counters(netns, "to-b")["tx_packets"]
    with default_route(netns, "to-b"):
        code, details = outcome(lambda: stub.Prepare(req, timeout=30))
        if code == OK:  # the guard let it through: this is what it would have sent
            stub.Start(
                pb.StartRequest(
                    session_id=req.session_id,
                    start_at_wall_ns=0,
                    duration_ns=200_000_000,
                    drain_ns=0,
                ),
                timeout=10,
            )
            stub.GetResults(pb.GetResultsRequest(session_id=req.session_id, wait=True), timeout=30)
            finish_session(stub, req.session_id)
        started = outcome(
            lambda: stub.Start(
                pb.StartRequest(session_id=req.session_id, start_at_wall_ns=0, duration_ns=1),
                timeout=10,
            )
        )
    assert link_counters(netns, "to-b")["tx_packets"] == before
    assert code == PRECONDITION, details
    assert started[0] == grpc.StatusCode.NOT_FOUND  # no session was made to start


def test_the_receiving_side_is_refused_too(lab: Lab, stub: pb_grpc.AgentStub) -> None:
    req = request([receiver("to-b")])
    with default_route(lab.hosts["a"].netns, "to-b"):
        checked = check(stub, req)
        assert checked == prepare(stub, req)
    assert checked[0] == PRECONDITION
    assert "interface to-b carries the default route" in checked[1]
    assert "refuses to receive test traffic" in checked[1]


def test_xdp_flows_are_refused_too_before_any_program_is_attached(
    lab: Lab, stub: pb_grpc.AgentStub, macs: tuple[str, str]
) -> None:
    xdp_send, xdp_receive = sender(macs), receiver("to-b")
    xdp_send.engine = xdp_receive.engine = pb.ENGINE_XDP
    xdp_receive.flow_id = 8
    req = request([xdp_send, xdp_receive])
    netns = lab.hosts["a"].netns
    with default_route(netns, "to-b"):
        checked = check(stub, req)
        assert checked == prepare(stub, req)
    assert checked[0] == PRECONDITION
    assert "interface to-b carries the default route" in checked[1]
    shown = subprocess.run(
        ["ip", "-n", netns, "link", "show", "to-b"], capture_output=True, text=True, check=True
    ).stdout
    assert " xdp" not in shown  # no program was attached to the refused interface


def test_the_interface_of_the_agents_ssh_session_is_refused(
    stub: pb_grpc.AgentStub, macs: tuple[str, str]
) -> None:
    req = request([sender(macs, "to-c")])
    checked = check(stub, req)
    assert checked == prepare(stub, req)
    assert checked[0] == PRECONDITION
    assert (
        f"interface to-c holds {SSH_ADDRESS}, the local address of the SSH session the agent "
        "was started from; ringlab refuses to send" in checked[1]
    )


def test_the_interface_of_an_address_the_controller_reports_is_refused(
    lab: Lab, stub: pb_grpc.AgentStub, macs: tuple[str, str]
) -> None:
    with address(lab.hosts["a"].netns, "to-b", CONTROLLER_ADDRESS):
        assert check(stub, request([sender(macs)])) == (OK, "")
        req = request([sender(macs)], (CONTROLLER_ADDRESS,))
        checked = check(stub, req)
        assert checked == prepare(stub, req)
    assert checked[0] == PRECONDITION
    assert (
        f"interface to-b holds {CONTROLLER_ADDRESS}, the address the controller reaches this "
        "host by; ringlab refuses to send" in checked[1]
    )
    assert (
        f"controller_addresses=[{CONTROLLER_ADDRESS}]" in audit_lines(lab, "a", req.session_id)[0]
    )


# --- through the real controller -------------------------------------------------------

SCENARIO = (
    "version: 1\nname: mgmt\nmode: unidirectional\nduration: 300ms\nhosts: {a: {}, b: {}}\n"
    "flows:\n  - {from: a, to: b, frame_size: 64, rate: 1kpps}\n"
)


def test_the_controller_sets_the_flag_only_when_the_scenario_allows_it(
    lab: Lab, tmp_path: Path
) -> None:
    """b receives on to-a, which carries b's default route: only b's agent objects (the
    controller's preflight checks sending interfaces), so what passes is b's verdict."""
    env = {"RINGLAB_LAB_DIR": str(Path(lab.directory).parent), "RINGLAB_DB": str(tmp_path / "db")}
    refused, allowed = tmp_path / "refused.yaml", tmp_path / "allowed.yaml"
    refused.write_text(SCENARIO)
    allowed.write_text(SCENARIO + "allow_management_interface: true\n")
    with default_route(lab.hosts["b"].netns, "to-a"):
        check_refused = ringlab("check", str(refused), "--lab", lab.name, env=env)
        check_allowed = ringlab("check", str(allowed), "--lab", lab.name, env=env)
        run_refused = ringlab("run", str(refused), "--lab", lab.name, "--json", env=env)
        run_allowed = ringlab("run", str(allowed), "--lab", lab.name, "--json", env=env)
    assert check_refused.returncode == 2, check_refused.stdout + check_refused.stderr
    assert "to-a carries the default route" in check_refused.stdout
    assert check_allowed.returncode == 0, check_allowed.stdout + check_allowed.stderr
    assert run_refused.returncode == 2, run_refused.stderr
    assert "to-a carries the default route" in run_refused.stderr
    assert run_allowed.returncode == 0, run_allowed.stderr
    result = json.loads(run_allowed.stdout)
    assert result["status"] == "completed"
    (flow,) = result["phases"][0]["flows"]
    assert flow["rx_packets"] > 0


# --- who asked, with mutual TLS ------------------------------------------------------


@pytest.fixture
async def tls_agent(tmp_path: Path) -> AsyncIterator[tuple[str, LabPki]]:
    """An agent server in this process (this namespace), mutual TLS; its address and PKI."""
    pki = write_lab_pki(tmp_path / "pki", {"a": []})
    files = TlsFiles(
        pki.hosts["a"].cert.read_bytes(), pki.hosts["a"].key.read_bytes(), pki.ca.cert.read_bytes()
    )
    server, _, port = await create_server("127.0.0.1:0", tls=files)
    try:
        yield f"127.0.0.1:{port}", pki
    finally:
        await server.stop(None)


async def test_the_audit_line_names_the_client_certificate(
    tls_agent: tuple[str, LabPki], caplog: pytest.LogCaptureFixture
) -> None:
    target, pki = tls_agent
    tls = TlsSpec(
        ca=str(pki.ca.cert), cert=str(pki.client.cert), key=str(pki.client.key), server_name="a"
    )
    req = request([receiver("lo")])
    channel = agent_channel("a", target, tls)
    try:
        with caplog.at_level(logging.INFO, logger="ringlab.agent.audit"):
            await pb_grpc.AgentStub(channel).CheckPrepare(
                pb.CheckPrepareRequest(prepare=req), timeout=30
            )
    finally:
        await channel.close(None)
    (line,) = [
        r.getMessage() for r in caplog.records if f"session={req.session_id}" in r.getMessage()
    ]
    assert line.startswith(f"CheckPrepare accepted session={req.session_id} peer=ipv4:127.0.0.1:")
    assert ' client="CN=ringlab-controller,O=ringlab lab" ' in line
