"""Building and running the agent's gRPC server (asyncio).

Building is separate from running so tests can bind an ephemeral port or a
temporary Unix socket and talk to a real server over a real channel.
"""

from __future__ import annotations

import asyncio
import ipaddress
import signal
from dataclasses import dataclass

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer

from ringlab.agent.service import AgentService
from ringlab.v1 import agent_pb2_grpc as pb_grpc

SERVICE_NAME = "ringlab.v1.Agent"


@dataclass(frozen=True)
class TlsFiles:
    cert: bytes
    key: bytes
    client_ca: bytes


class ListenError(Exception):
    pass


def is_local_listen(address: str) -> bool:
    """Unix sockets and loopback addresses are reachable from this host only."""
    if address.startswith("unix:"):
        return True
    host = address.rsplit(":", 1)[0].strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def create_server(
    listen: str, service: AgentService | None = None, tls: TlsFiles | None = None
) -> tuple[grpc.aio.Server, AgentService, int]:
    """A started server on `listen`; returns it, its servicer and the bound TCP port (0 for Unix)."""
    server = grpc.aio.server()
    agent = service or AgentService()
    pb_grpc.add_AgentServicer_to_server(agent, server)
    health = HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    cause: RuntimeError | None = None
    try:
        if tls is None:
            port = server.add_insecure_port(listen)
        else:
            credentials = grpc.ssl_server_credentials(
                [(tls.key, tls.cert)], root_certificates=tls.client_ca, require_client_auth=True
            )
            port = server.add_secure_port(listen, credentials)
    except RuntimeError as exc:  # this grpcio raises where older ones returned port 0
        port, cause = 0, exc
    if port == 0 and (cause is not None or not listen.startswith("unix:")):
        raise ListenError(
            f"cannot listen on {listen}: the address is in use, not local, or malformed "
            "(use unix:/path, 127.0.0.1:PORT or ADDR:PORT)"
        ) from cause
    await server.start()
    for name in ("", SERVICE_NAME):
        await health.set(name, health_pb2.HealthCheckResponse.SERVING)
    return server, agent, port


def load_data_plane() -> None:
    """Import the engines (numpy and all) now, not inside the first Prepare.

    Call it before the event loop starts: pyroute2's synchronous API runs a loop of its own.

    With many agents on one machine, every first Prepare importing numpy at the same
    moment costs seconds of CPU exactly when leases and the start schedule are tight.
    """
    import ringlab.agent.rings.rx
    import ringlab.agent.rings.sendto
    import ringlab.agent.rings.tx  # noqa: F401
    from ringlab.agent import sysinfo
    from ringlab.agent.rings import isolated

    # Senders run in processes forked from this server (see rings/isolated.py).
    isolated.warm_up()

    # pyroute2 loads most of itself on first use; Prepare reads interfaces through it.
    sysinfo.list_interfaces()


async def serve(listen: str, tls: TlsFiles | None = None, grace_s: float = 2.0) -> None:
    server, agent, port = await create_server(listen, tls=tls)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    where = listen if port == 0 else f"{listen.rsplit(':', 1)[0]}:{port}"
    print(f"ringlab agent listening on {where}", flush=True)
    try:
        await stopping.wait()
    finally:
        # Traffic must not outlive the agent: stop every session first.
        await asyncio.to_thread(agent.sessions.stop_all)
        await server.stop(grace_s)
