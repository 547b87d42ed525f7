"""Building and running the agent's gRPC server (asyncio).

Building is separate from running so tests can bind an ephemeral port or a
temporary Unix socket and talk to a real server over a real channel.
"""

from __future__ import annotations

import asyncio
import inspect
import ipaddress
import os
import re
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


LISTEN_FORMS = "unix:/path/agent.sock, 127.0.0.1:PORT, HOST:PORT or [IPv6]:PORT"
# Where `ringlab deploy` puts it too (the deploy directory, ssh.dir, defaults to ~/.ringlab).
DEFAULT_LISTEN = "unix:~/.ringlab/agent.sock"

# sockaddr_un.sun_path is 108 bytes including the terminating NUL.
_UNIX_PATH_MAX = 107
_HOSTNAME = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*\.?")


@dataclass(frozen=True)
class ListenAddress:
    """A validated --listen address; `port` 0 asks the kernel for a free one."""

    unix_path: str | None = None
    host: str = ""
    port: int = 0

    @property
    def is_local(self) -> bool:
        """Unix sockets and loopback addresses are reachable from this host only."""
        if self.unix_path is not None or self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False  # a host name other than localhost

    def display(self, port: int | None = None) -> str:
        """The address as given, with the bound TCP port in place of 0."""
        if self.unix_path is not None:
            return f"unix:{self.unix_path}"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port if port is None else port}"


def parse_listen(address: str) -> ListenAddress:
    """Check `address` before gRPC sees it: gRPC quietly binds port 443 when the port is
    missing and wraps ports above 65535, and reports anything else only as a failed bind."""

    def malformed(why: str) -> ListenError:
        return ListenError(f"malformed listen address {address!r}: {why} (use {LISTEN_FORMS})")

    if address.startswith("unix:"):
        path = address.removeprefix("unix:")
        if path.startswith("//"):
            # gRPC's unix://ABSOLUTE_PATH form.
            path = path.removeprefix("//")
            if not path.startswith("/"):
                raise malformed("unix:// must be followed by an absolute path")
        if not path:
            raise malformed("no socket path after unix:")
        path = os.path.expanduser(path)
        if len(path.encode()) > _UNIX_PATH_MAX:
            raise malformed(f"socket paths are limited to {_UNIX_PATH_MAX} bytes")
        return ListenAddress(unix_path=path)
    if address.startswith("["):
        bracketed, sep, port_text = address[1:].partition("]:")
        if not sep:
            raise malformed("an IPv6 address needs a port after the brackets, like [::1]:50051")
        try:
            host = str(ipaddress.IPv6Address(bracketed))
        except ValueError:
            raise malformed(f"{bracketed!r} in brackets is not an IPv6 address") from None
    else:
        host, sep, port_text = address.rpartition(":")
        if not sep:
            raise malformed("no port")
        if not host:
            raise malformed("no host before the port")
        if ":" in host:
            raise malformed("put an IPv6 address in brackets, like [::1]:50051")
        if re.fullmatch(r"[0-9.]+", host):
            try:
                ipaddress.IPv4Address(host)
            except ValueError:
                raise malformed(f"{host!r} is not an IPv4 address") from None
        elif not _HOSTNAME.fullmatch(host):
            raise malformed(f"{host!r} is not an IP address or host name")
    if not re.fullmatch(r"[0-9]{1,5}", port_text):
        raise malformed(f"port {port_text!r} is not a number")
    port = int(port_text)
    if port > 65535:
        raise ListenError(
            f"listen address {address!r}: port {port} is out of range; "
            "use 1-65535, or 0 for a free port"
        )
    return ListenAddress(host=host, port=port)


@dataclass(frozen=True)
class _Undecodable:
    """What a request that did not parse becomes; the handler answers INVALID_ARGUMENT."""

    message: str


class RequestDecoding(grpc.aio.ServerInterceptor):  # type: ignore[type-arg]
    """Undecodable request bytes get INVALID_ARGUMENT naming the message type, not UNKNOWN.

    gRPC runs the request deserializer before any handler, and an exception there (a
    protobuf DecodeError) reaches the client as `UNKNOWN: Unexpected <class
    'google.protobuf.message.DecodeError'>`. The interceptor wraps each method's
    deserializer so a parse failure becomes a value the wrapped handler refuses.
    """

    async def intercept_service(
        self,
        continuation: Callable[
            [grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any]]
        ],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any]:
        handler = await continuation(handler_call_details)
        if handler is None or handler.request_deserializer is None or handler.request_streaming:
            return handler  # no handler (UNIMPLEMENTED), or nothing of ours to guard
        method = str(handler_call_details.method)  # type: ignore[attr-defined]
        decode = _guarded_decoder(handler.request_deserializer, method)
        if handler.response_streaming:
            return grpc.unary_stream_rpc_method_handler(
                _refusing_stream(handler.unary_stream),
                request_deserializer=decode,
                response_serializer=handler.response_serializer,
            )
        return grpc.unary_unary_rpc_method_handler(
            _refusing_unary(handler.unary_unary),
            request_deserializer=decode,
            response_serializer=handler.response_serializer,
        )


def _guarded_decoder(decode: Callable[[bytes], Any], method: str) -> Callable[[bytes], Any]:
    message_type = getattr(getattr(decode, "__self__", None), "DESCRIPTOR", None)
    name = message_type.full_name if message_type is not None else "its request message"

    def guarded(data: bytes) -> Any:
        try:
            return decode(data)
        except Exception as exc:  # DecodeError, or whatever a parser raises on garbage
            return _Undecodable(
                f"the request to {method} ({len(data):,} bytes) is not a valid {name}: {exc}. "
                "Send a serialized message built from ringlab's agent.proto (same ringlab "
                "version on the controller and the agent?)"
            )

    return guarded


async def _refuse(request: _Undecodable, context: grpc.aio.ServicerContext[Any, Any]) -> None:
    await context.abort(grpc.StatusCode.INVALID_ARGUMENT, request.message)


def _refusing_unary(behavior: Any) -> Any:
    async def unary(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        if isinstance(request, _Undecodable):
            await _refuse(request, context)
        return await behavior(request, context)

    return unary


def _refusing_stream(behavior: Any) -> Any:
    if inspect.isasyncgenfunction(behavior):

        async def stream(
            request: Any, context: grpc.aio.ServicerContext[Any, Any]
        ) -> AsyncIterator[Any]:
            if isinstance(request, _Undecodable):
                await _refuse(request, context)
            async for item in behavior(request, context):
                yield item

        return stream

    async def writing(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        # A streaming handler that writes through context.write (grpc_health's Watch).
        if isinstance(request, _Undecodable):
            await _refuse(request, context)
        return await behavior(request, context)

    return writing


async def create_server(
    listen: str, service: AgentService | None = None, tls: TlsFiles | None = None
) -> tuple[grpc.aio.Server, AgentService, int]:
    """A started server on `listen`; returns it, its servicer and the bound TCP port (0 for Unix)."""
    address = parse_listen(listen)
    listen = address.display()  # a Unix path with ~ expanded
    server = grpc.aio.server(interceptors=[RequestDecoding()])
    agent = service or AgentService()
    pb_grpc.add_AgentServicer_to_server(agent, server)
    health = HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    cause: RuntimeError | None = None
    if address.unix_path is not None:
        _private_socket_directory(Path(address.unix_path).parent)
    # The socket file gets no group or other bits (umask), so only this user and root can
    # connect, whatever umask the agent was started with.
    umask = os.umask(0o077)
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
    finally:
        os.umask(umask)
    if port == 0 and (cause is not None or not listen.startswith("unix:")):
        raise ListenError(
            f"cannot listen on {listen}: the address is in use, not local, or malformed "
            f"(use {LISTEN_FORMS})"
        ) from cause
    umask = os.umask(0o077)
    try:
        await server.start()
    finally:
        os.umask(umask)
    for name in ("", SERVICE_NAME):
        await health.set(name, health_pb2.HealthCheckResponse.SERVING)
    # This grpcio reports 1 for a bound Unix socket, older ones 0; callers read 0 as "no port".
    return server, agent, 0 if address.unix_path is not None else port


def _private_socket_directory(directory: Path) -> None:
    """Make a missing socket directory 0700; an existing one is left as its owner set it."""
    if directory.is_dir():
        return
    try:
        directory.mkdir(mode=0o700, parents=True)
    except OSError as exc:
        raise ListenError(f"cannot make the socket directory {directory}: {exc.strerror}") from None


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
    where = parse_listen(listen).display(port=port or None)
    print(f"ringlab agent listening on {where}", flush=True)
    try:
        await stopping.wait()
    finally:
        # Traffic must not outlive the agent: stop every session first.
        await asyncio.to_thread(agent.sessions.stop_all)
        await server.stop(grace_s)
