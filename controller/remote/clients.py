"""The controller's view of one agent: typed calls over a real gRPC channel.

`AgentApi` is the seam the orchestrator depends on; `GrpcAgent` is the real
thing. gRPC failures become `AgentError`s that name the host, the address tried
and what to do.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from ringlab.v1 import API_VERSION
from ringlab.v1 import agent_pb2 as pb
from ringlab.v1 import agent_pb2_grpc as pb_grpc

RPC_TIMEOUT_S = 15.0
# Where an agent's busy refusal carries its holder (agent/service.py).
HOLDER_METADATA = "ringlab-holder-bin"


class AgentError(Exception):
    def __init__(self, host: str, address: str, message: str, code: str = "") -> None:
        super().__init__(f"agent {host} ({address}): {message}")
        self.host = host
        self.address = address
        self.code = code


class AgentBusyError(AgentError):
    """The agent is held by another run (or others are in line for it): FAILED_PRECONDITION
    with the holder, when the agent named one."""

    def __init__(
        self, host: str, address: str, message: str, holder: pb.SessionHolder | None
    ) -> None:
        super().__init__(host, address, message, "FAILED_PRECONDITION")
        self.holder = holder


@dataclass(frozen=True)
class ClockEstimate:
    """agent_clock - controller_clock, from the exchange with the smallest round trip."""

    offset_ns: int
    rtt_ns: int
    samples: int

    @property
    def usable_offset_ns(self) -> int:
        """The offset to correct by: 0 when the estimate is within its own error bound.

        An exchange bounds the offset only to +-rtt/2. An estimate inside that bound cannot
        be told from 0 — agents on one host (the built-in lab) or NTP-synced clocks — and
        correcting by it would only add its error to latencies and start times.
        """
        return 0 if abs(self.offset_ns) * 2 <= self.rtt_ns else self.offset_ns


def estimate_clock(exchanges: Sequence[tuple[int, int, int, int]]) -> ClockEstimate:
    """NTP's on-wire calculation over (t0 sent, t1 agent received, t2 agent sent, t3 received)."""
    if not exchanges:
        raise ValueError("no clock exchanges to estimate from")
    best = min(exchanges, key=lambda e: (e[3] - e[0]) - (e[2] - e[1]))
    t0, t1, t2, t3 = best
    return ClockEstimate(
        offset_ns=((t1 - t0) + (t2 - t3)) // 2,
        rtt_ns=(t3 - t0) - (t2 - t1),
        samples=len(exchanges),
    )


class AgentApi(Protocol):
    host: str
    address: str

    async def info(self) -> pb.GetInfoResponse: ...
    async def acquire_hold(
        self, holder: pb.SessionHolder, hold_ms: int, wait: bool
    ) -> pb.AcquireHoldResponse: ...
    async def release_hold(self, run_id: str) -> None: ...
    async def sync_clock(self, exchanges: int = 8) -> ClockEstimate: ...
    async def probe(self, request: pb.ProbeRequest) -> pb.ProbeResponse: ...
    async def prepare(self, request: pb.PrepareRequest) -> None: ...
    async def check_prepare(self, request: pb.PrepareRequest) -> None: ...
    async def start(self, request: pb.StartRequest) -> pb.StartResponse: ...
    async def stop(self, session_id: str) -> None: ...
    async def renew(self, session_id: str) -> None: ...
    async def results(
        self, session_id: str, wait: bool, timeout_s: float | None = None
    ) -> pb.GetResultsResponse: ...
    def stats(self, session_id: str, interval_ms: int) -> AsyncIterator[pb.StatsResponse]: ...
    async def release(self, session_id: str) -> None: ...
    async def close(self) -> None: ...


def _describe(error: grpc.aio.AioRpcError) -> tuple[str, str]:
    code = error.code()
    details = error.details() or ""
    if code == grpc.StatusCode.UNAVAILABLE:
        return code.name, (
            f"unreachable ({details}); is the agent running? "
            "(`ringlab lab status`, or `ringlab deploy` for remote hosts)"
        )
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return code.name, "did not answer in time"
    return code.name, f"{code.name}: {details}"


class GrpcAgent:
    def __init__(
        self,
        host: str,
        address: str,
        channel: grpc.aio.Channel | None = None,
        wall_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self.host = host
        self.address = address
        self._channel = channel or grpc.aio.insecure_channel(address)
        self._stub = pb_grpc.AgentStub(self._channel)
        self._wall = wall_ns

    def _error(self, error: grpc.aio.AioRpcError) -> AgentError:
        code, message = _describe(error)
        if error.code() == grpc.StatusCode.FAILED_PRECONDITION:
            busy, holder = _holder_of(error)
            if busy:
                return AgentBusyError(self.host, self.address, error.details() or "", holder)
        return AgentError(self.host, self.address, message, code)

    async def wait_ready(self, timeout_s: float) -> None:
        """Block until the agent's health service says SERVING (wait_for_ready, no polling)."""
        health = health_pb2_grpc.HealthStub(self._channel)
        try:
            reply = await health.Check(
                health_pb2.HealthCheckRequest(service="ringlab.v1.Agent"),
                timeout=timeout_s,
                wait_for_ready=True,
            )
        except grpc.aio.AioRpcError as error:
            raise self._error(error) from None
        if reply.status != health_pb2.HealthCheckResponse.SERVING:
            raise AgentError(self.host, self.address, "health check says not serving")

    async def info(self, timeout_s: float = RPC_TIMEOUT_S) -> pb.GetInfoResponse:
        try:
            reply: pb.GetInfoResponse = await self._stub.GetInfo(
                pb.GetInfoRequest(), timeout=timeout_s
            )
        except grpc.aio.AioRpcError as error:
            raise self._error(error) from None
        if reply.api_version != API_VERSION:
            raise AgentError(
                self.host,
                self.address,
                f"speaks API version {reply.api_version} (agent {reply.agent_version}), this "
                f"controller speaks {API_VERSION}; deploy the same ringlab version on both sides",
                "VERSION",
            )
        return reply

    async def sync_clock(self, exchanges: int = 8) -> ClockEstimate:
        samples = []
        try:
            for _ in range(exchanges):
                t0 = self._wall()
                reply = await self._stub.SyncClock(
                    pb.SyncClockRequest(controller_send_wall_ns=t0), timeout=RPC_TIMEOUT_S
                )
                t3 = self._wall()
                samples.append((t0, reply.agent_receive_wall_ns, reply.agent_send_wall_ns, t3))
        except grpc.aio.AioRpcError as error:
            raise self._error(error) from None
        return estimate_clock(samples)

    async def probe(self, request: pb.ProbeRequest) -> pb.ProbeResponse:
        try:
            reply: pb.ProbeResponse = await self._stub.Probe(request, timeout=60)
            return reply
        except grpc.aio.AioRpcError as error:
            raise self._error(error) from None

    async def prepare(self, request: pb.PrepareRequest) -> None:
        try:
            await self._stub.Prepare(request, timeout=RPC_TIMEOUT_S)
        except grpc.aio.AioRpcError as error:
            raise self._error(error) from None

    async def check_prepare(self, request: pb.PrepareRequest) -> None:
        """Raise what Prepare of ``request`` would raise, without preparing anything."""
        try:
            await self._stub.CheckPrepare(
                pb.CheckPrepareRequest(prepare=request), timeout=RPC_TIMEOUT_S
            )
        except grpc.aio.AioRpcError as error:
            raise self._error(error) from None

    async def start(self, request: pb.StartRequest) -> pb.StartResponse:
        try:
            reply: pb.StartResponse = await self._stub.Start(request, timeout=RPC_TIMEOUT_S)
            return reply
        except grpc.aio.AioRpcError as error:
            raise self._error(error) from None

    async def stop(self, session_id: str) -> None:
        try:
            await self._stub.Stop(pb.StopRequest(session_id=session_id), timeout=RPC_TIMEOUT_S)
        except grpc.aio.AioRpcError as error:
            raise self._error(error) from None

    async def renew(self, session_id: str) -> None:
        try:
            await self._stub.RenewLease(
                pb.RenewLeaseRequest(session_id=session_id), timeout=RPC_TIMEOUT_S
            )
        except grpc.aio.AioRpcError as error:
            raise self._error(error) from None

    async def results(
        self, session_id: str, wait: bool, timeout_s: float | None = None
    ) -> pb.GetResultsResponse:
        try:
            reply: pb.GetResultsResponse = await self._stub.GetResults(
                pb.GetResultsRequest(session_id=session_id, wait=wait), timeout=timeout_s
            )
            return reply
        except grpc.aio.AioRpcError as error:
            raise self._error(error) from None

    async def stats(self, session_id: str, interval_ms: int) -> AsyncIterator[pb.StatsResponse]:
        call = self._stub.Stats(pb.StatsRequest(session_id=session_id, interval_ms=interval_ms))
        try:
            async for message in call:
                yield message
        except grpc.aio.AioRpcError as error:
            raise self._error(error) from None
        finally:
            call.cancel()

    async def release(self, session_id: str) -> None:
        try:
            await self._stub.Release(
                pb.ReleaseRequest(session_id=session_id), timeout=RPC_TIMEOUT_S
            )
        except grpc.aio.AioRpcError as error:
            raise self._error(error) from None

    async def acquire_hold(
        self, holder: pb.SessionHolder, hold_ms: int, wait: bool
    ) -> pb.AcquireHoldResponse:
        """Take, keep or wait for the agent (agent/holds.py); busy without ``wait`` raises
        AgentBusyError."""
        try:
            reply: pb.AcquireHoldResponse = await self._stub.AcquireHold(
                pb.AcquireHoldRequest(holder=holder, hold_ms=hold_ms, wait=wait),
                timeout=RPC_TIMEOUT_S,
            )
            return reply
        except grpc.aio.AioRpcError as error:
            raise self._error(error) from None

    async def release_hold(self, run_id: str) -> None:
        try:
            await self._stub.ReleaseHold(
                pb.ReleaseHoldRequest(run_id=run_id), timeout=RPC_TIMEOUT_S
            )
        except grpc.aio.AioRpcError as error:
            raise self._error(error) from None

    async def close(self) -> None:
        await self._channel.close(None)


def _holder_of(error: grpc.aio.AioRpcError) -> tuple[bool, pb.SessionHolder | None]:
    """(busy refusal?, its holder): an agent's busy refusal carries HOLDER_METADATA, empty
    when the agent is free but others are in line for it."""
    # grpc.aio hands (key, value) pairs; its type stubs say otherwise.
    metadata: Any = error.trailing_metadata()
    for key, value in metadata or ():
        if key == HOLDER_METADATA and isinstance(value, bytes):
            holder = pb.SessionHolder()
            holder.ParseFromString(value)
            return True, holder if holder.run_id or holder.session_id else None
    return False, None
