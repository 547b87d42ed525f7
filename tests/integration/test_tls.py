"""Mutual TLS between controller and agent, and the API-version handshake, on real gRPC servers.

A real agent server (create_server with the lab CA's files) listens on a
loopback port; the controller side uses the same channel code as `ringlab run`.
The last test deploys a TLS agent over SSH (real sshd in a namespace) and reaches
it directly on its namespace address.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from helpers import needs_root
from sshd import make_ssh_lab, remove_ssh_lab

from ringlab.agent.server import TlsFiles, create_server
from ringlab.controller.deploy.artifact import build_wheel, find_checkout
from ringlab.controller.deploy.hosts import deploy_all
from ringlab.controller.remote.certs import LabPki, write_lab_pki
from ringlab.controller.remote.clients import AgentError, GrpcAgent
from ringlab.controller.remote.connect import agent_channel, connect
from ringlab.controller.remote.inventory import TlsSpec, load_inventory
from ringlab.v1 import API_VERSION
from ringlab.v1 import agent_pb2 as pb
from ringlab.v1 import agent_pb2_grpc as pb_grpc


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> LabPki:
    return write_lab_pki(tmp_path_factory.mktemp("pki"), {"a": ["198.18.0.2"], "b": []})


@pytest.fixture(scope="module")
def other_pki(tmp_path_factory: pytest.TempPathFactory) -> LabPki:
    return write_lab_pki(tmp_path_factory.mktemp("other"), {"a": []})


@pytest.fixture
async def tls_agent(pki: LabPki) -> AsyncIterator[str]:
    """A real agent server for host a, mutual TLS only; yields its 127.0.0.1:PORT."""
    files = TlsFiles(
        pki.hosts["a"].cert.read_bytes(),
        pki.hosts["a"].key.read_bytes(),
        pki.ca.cert.read_bytes(),
    )
    server, _, port = await create_server("127.0.0.1:0", tls=files)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        await server.stop(None)


def spec(pki: LabPki, client: LabPki | None = None, server_name: str | None = None) -> TlsSpec:
    client = client or pki
    return TlsSpec(
        ca=str(pki.ca.cert),
        cert=str(client.client.cert),
        key=str(client.client.key),
        server_name=server_name,
    )


async def info_over(channel: grpc.aio.Channel, target: str) -> pb.GetInfoResponse:
    # The server is up already; without wait_for_ready a refused handshake fails at once.
    agent = GrpcAgent("a", target, channel)
    try:
        return await agent.info()
    finally:
        await agent.close()


async def test_a_client_with_a_certificate_from_the_lab_ca_is_served(
    tls_agent: str, pki: LabPki
) -> None:
    info = await info_over(agent_channel("a", tls_agent, spec(pki)), tls_agent)
    assert info.api_version == API_VERSION


async def test_a_client_without_a_certificate_is_rejected(tls_agent: str, pki: LabPki) -> None:
    anonymous = grpc.ssl_channel_credentials(root_certificates=pki.ca.cert.read_bytes())
    channel = grpc.aio.secure_channel(tls_agent, anonymous)
    with pytest.raises(AgentError) as refused:
        await info_over(channel, tls_agent)
    assert refused.value.code == "UNAVAILABLE"


async def test_a_client_certificate_from_another_ca_is_rejected(
    tls_agent: str, pki: LabPki, other_pki: LabPki
) -> None:
    # Trusts the right CA for the server, but presents a certificate the agent's CA never signed.
    channel = agent_channel("a", tls_agent, spec(pki, client=other_pki))
    with pytest.raises(AgentError) as refused:
        await info_over(channel, tls_agent)
    assert refused.value.code == "UNAVAILABLE"


async def test_an_agent_certificate_from_another_ca_is_not_trusted(
    tls_agent: str, other_pki: LabPki
) -> None:
    channel = agent_channel("a", tls_agent, spec(other_pki))
    with pytest.raises(AgentError) as refused:
        await info_over(channel, tls_agent)
    assert refused.value.code == "UNAVAILABLE"


async def test_an_agent_certificate_for_another_host_is_not_trusted(
    tls_agent: str, pki: LabPki
) -> None:
    # The agent presents a's certificate; the controller expects b.
    channel = agent_channel("a", tls_agent, spec(pki, server_name="b"))
    with pytest.raises(AgentError):
        await info_over(channel, tls_agent)
    # The same check accepts the right name.
    info = await info_over(agent_channel("a", tls_agent, spec(pki, server_name="a")), tls_agent)
    assert info.api_version == API_VERSION


async def test_connect_uses_the_inventory_tls_block(
    tls_agent: str, pki: LabPki, tmp_path: Path
) -> None:
    inventory = tmp_path / "lab.yaml"
    inventory.write_text(
        "version: 1\nhosts:\n  a:\n"
        f"    agent: {tls_agent}\n"
        f"    tls: {{ca: {pki.ca.cert}, cert: {pki.client.cert}, key: {pki.client.key}}}\n"
        "  b: {agent: 'unix:/nonexistent.sock'}\n"
    )
    async with connect(["a"], inventory, None) as connection:
        agent = connection.agents["a"]
        assert (await agent.info()).api_version == API_VERSION


class FutureAgent(pb_grpc.AgentServicer):
    """Stands in for an agent of a later API version (none can be built yet)."""

    async def GetInfo(  # type: ignore[override]
        self, request: pb.GetInfoRequest, context: grpc.aio.ServicerContext[object, object]
    ) -> pb.GetInfoResponse:
        return pb.GetInfoResponse(agent_version="9.0.0", api_version=API_VERSION + 1)


async def test_an_agent_with_another_api_version_is_refused_naming_both() -> None:
    server = grpc.aio.server()
    pb_grpc.add_AgentServicer_to_server(FutureAgent(), server)  # type: ignore[no-untyped-call]
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    target = f"127.0.0.1:{port}"
    agent = GrpcAgent("a", target, grpc.aio.insecure_channel(target))
    try:
        with pytest.raises(AgentError) as refused:
            await agent.info()
    finally:
        await agent.close()
        await server.stop(None)
    message = str(refused.value)
    assert refused.value.code == "VERSION"
    assert f"API version {API_VERSION + 1}" in message and "9.0.0" in message
    assert f"this controller speaks {API_VERSION}" in message


@needs_root
@pytest.mark.drill
def test_deploy_in_direct_mode_serves_only_clients_of_the_lab_ca(tmp_path: Path) -> None:
    """Deploy over SSH, then reach the agent on its routable address with mutual TLS."""
    root = find_checkout()
    assert root is not None
    artifact = build_wheel(root, cache=tmp_path / "wheels")
    lab = make_ssh_lab(tmp_path / "lab", ["a"])
    try:
        lab.write_known_hosts()
        host = lab.hosts["a"]
        pki = write_lab_pki(tmp_path / "pki", {"a": [host.address]})
        tls = (
            f"tls: {{ca: {pki.ca.cert}, cert: {pki.client.cert}, key: {pki.client.key}, "
            f"agent_cert: {pki.hosts['a'].cert}, agent_key: {pki.hosts['a'].key}}}"
        )
        path = lab.inventory(tmp_path / "lab.yaml", extra={"a": ["transport: direct", tls]})
        inventory = load_inventory(path)
        assert inventory.hosts["a"].listen_address == "0.0.0.0:50051"
        (outcome,) = asyncio.run(deploy_all(inventory, artifact, ["a"]))
        assert outcome.ok, outcome.detail
        target = f"{host.address}:50051"

        async def through_connect() -> tuple[str, int]:
            async with connect(["a"], path, None) as connection:
                agent = connection.agents["a"]
                return agent.address, (await agent.info()).api_version

        assert asyncio.run(through_connect()) == (target, API_VERSION)
        anonymous = grpc.ssl_channel_credentials(root_certificates=pki.ca.cert.read_bytes())

        async def without_certificate() -> None:
            await info_over(grpc.aio.secure_channel(target, anonymous), target)

        with pytest.raises(AgentError) as refused:
            asyncio.run(without_certificate())
        assert refused.value.code == "UNAVAILABLE"
        (stopped,) = asyncio.run(deploy_all(inventory, None, ["a"], stop=True))
        assert stopped.action == "stopped"
    finally:
        remove_ssh_lab(lab)
