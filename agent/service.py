"""The gRPC servicer: converts messages and delegates to the session layer.

Errors travel as status codes with a message a person can act on, never as
strings inside a reply.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any, NoReturn

import grpc

from ringlab import __version__
from ringlab.agent import audit, sysinfo
from ringlab.agent.flows import FlowPlan, SessionError, State
from ringlab.agent.holds import AgentBusy, Holder, check_holder, hold_time_ns
from ringlab.agent.manager import SessionManager
from ringlab.agent.session import Session
from ringlab.agent.validation import check_start
from ringlab.agent.wire import flow_plan_from_proto, flow_result_to_proto
from ringlab.session_limits import STOP_WAIT_NS
from ringlab.v1 import API_VERSION
from ringlab.v1 import agent_pb2 as pb
from ringlab.v1 import agent_pb2_grpc as pb_grpc

CAPABILITIES = (
    "engine:ring",
    "engine:sendto",
    "engine:xdp",
    "tpacket_v2_tx",
    "tpacket_v3_rx",
    "fanout",
    "lease",
)

_STATUS_BY_KIND = {
    "invalid": grpc.StatusCode.INVALID_ARGUMENT,
    "precondition": grpc.StatusCode.FAILED_PRECONDITION,
    "not_found": grpc.StatusCode.NOT_FOUND,
    "unavailable": grpc.StatusCode.UNAVAILABLE,
}

STATE_TO_PROTO = {
    State.PREPARED: pb.SESSION_STATE_PREPARED,
    State.SCHEDULED: pb.SESSION_STATE_SCHEDULED,
    State.RUNNING: pb.SESSION_STATE_RUNNING,
    State.FINISHED: pb.SESSION_STATE_FINISHED,
    State.STOPPED: pb.SESSION_STATE_STOPPED,
    State.FAILED: pb.SESSION_STATE_FAILED,
    State.EXPIRED: pb.SESSION_STATE_EXPIRED,
}

MIN_STATS_INTERVAL_MS = 20

if TYPE_CHECKING:
    Context = grpc.aio.ServicerContext[Any, Any]


# A busy refusal (AgentBusy) carries its holder, a serialized SessionHolder, in this
# trailing metadata; the controller tells busy from other refusals by it.
HOLDER_METADATA = "ringlab-holder-bin"


async def _abort(context: Context, error: SessionError) -> NoReturn:
    trailing: tuple[tuple[str, bytes], ...] = ()
    if isinstance(error, AgentBusy):
        # Empty when the agent is free but others are in line for it.
        holder = holder_to_proto(error.holder) if error.holder is not None else pb.SessionHolder()
        trailing = ((HOLDER_METADATA, holder.SerializeToString()),)
    await context.abort(
        _STATUS_BY_KIND.get(error.kind, grpc.StatusCode.UNKNOWN),
        error.message,
        trailing_metadata=trailing,
    )
    raise AssertionError("unreachable: abort raises")


def holder_to_proto(holder: Holder) -> pb.SessionHolder:
    return pb.SessionHolder(
        run_id=holder.run_id,
        scenario=holder.scenario,
        controller_host=holder.controller_host,
        controller_user=holder.controller_user,
        since_wall_ns=holder.since_wall_ns,
        session_id=holder.session_id,
    )


def holder_from_proto(message: pb.SessionHolder) -> Holder:
    return Holder(
        run_id=message.run_id,
        scenario=message.scenario,
        controller_host=message.controller_host,
        controller_user=message.controller_user,
    )


class AgentService(pb_grpc.AgentServicer):
    def __init__(self, sessions: SessionManager | None = None) -> None:
        self.sessions = sessions or SessionManager()
        audit.log_to_stderr()

    async def GetInfo(self, request: pb.GetInfoRequest, context: Context) -> pb.GetInfoResponse:
        interfaces = await asyncio.to_thread(sysinfo.list_interfaces)
        holder = self.sessions.holder()
        return pb.GetInfoResponse(
            agent_version=__version__,
            api_version=API_VERSION,
            hostname=sysinfo.hostname(),
            kernel=sysinfo.kernel_release(),
            interfaces=[
                pb.InterfaceInfo(
                    name=i.name,
                    mac=i.mac,
                    mtu=i.mtu,
                    driver=i.driver,
                    oper_state=i.oper_state,
                    ifindex=i.ifindex,
                )
                for i in interfaces
            ],
            capabilities=CAPABILITIES,
            wall_ns=time.time_ns(),
            holder=holder_to_proto(holder) if holder is not None else None,
            waiting=[holder_to_proto(w) for w in self.sessions.waiting()],
            agent_id=self.sessions.agent_id,
        )

    async def SyncClock(
        self, request: pb.SyncClockRequest, context: Context
    ) -> pb.SyncClockResponse:
        received = time.time_ns()
        return pb.SyncClockResponse(
            controller_send_wall_ns=request.controller_send_wall_ns,
            agent_receive_wall_ns=received,
            agent_send_wall_ns=time.time_ns(),
        )

    async def Probe(self, request: pb.ProbeRequest, context: Context) -> pb.ProbeResponse:
        from ringlab.agent.probes.collect import probe_host
        from ringlab.probe_model import SCHEMA_VERSION

        try:
            report = await asyncio.to_thread(
                probe_host,
                list(request.interfaces),
                list(request.management_addresses),
                request.reload_impact_module,
                ssh_address=self.sessions.management.ssh_address,
            )
        except ValueError as exc:
            await _abort(context, SessionError("invalid", str(exc)))
        return pb.ProbeResponse(
            report_json=json.dumps(report.to_dict()), schema_version=SCHEMA_VERSION
        )

    async def Prepare(self, request: pb.PrepareRequest, context: Context) -> pb.PrepareResponse:
        holder = holder_from_proto(request.holder) if request.HasField("holder") else None

        def prepare(
            session_id: str, flows: list[FlowPlan], lease_ms: int, addresses: list[str]
        ) -> object:
            if holder is not None:
                check_holder(holder)
            return self.sessions.prepare(session_id, flows, lease_ms, addresses, holder)

        await _audited("Prepare", request, context, prepare)
        return pb.PrepareResponse(session_id=request.session_id)

    async def AcquireHold(
        self, request: pb.AcquireHoldRequest, context: Context
    ) -> pb.AcquireHoldResponse:
        try:
            turn = self.sessions.acquire_hold(
                holder_from_proto(request.holder), hold_time_ns(request.hold_ms), request.wait
            )
        except SessionError as error:
            await _abort(context, error)
        return pb.AcquireHoldResponse(
            granted=turn.granted,
            holder=holder_to_proto(turn.holder) if turn.holder is not None else None,
            ahead=turn.ahead,
            hold_ms=turn.hold_ns // 1_000_000,
        )

    async def ReleaseHold(
        self, request: pb.ReleaseHoldRequest, context: Context
    ) -> pb.ReleaseHoldResponse:
        self.sessions.release_hold(request.run_id)
        return pb.ReleaseHoldResponse()

    async def CheckPrepare(
        self, request: pb.CheckPrepareRequest, context: Context
    ) -> pb.CheckPrepareResponse:
        # The same conversion and checks as Prepare, so the verdict is the same.
        await _audited("CheckPrepare", request.prepare, context, self.sessions.check)
        return pb.CheckPrepareResponse()

    async def Start(self, request: pb.StartRequest, context: Context) -> pb.StartResponse:
        try:
            session = self.sessions.get(request.session_id)
            check_start(
                request.start_at_wall_ns, request.duration_ns, request.drain_ns, time.time_ns()
            )
            delay = session.start(request.start_at_wall_ns, request.duration_ns, request.drain_ns)
        except SessionError as error:
            await _abort(context, error)
        return pb.StartResponse(scheduled_in_ns=delay)

    async def Stop(self, request: pb.StopRequest, context: Context) -> pb.StopResponse:
        try:
            session = self.sessions.get(request.session_id)
            session.stop()
        except SessionError as error:
            await _abort(context, error)
        # Answer once the workers have stopped, so a Release right after succeeds.
        try:
            await wait_done(session, STOP_WAIT_NS / 1e9)
        except TimeoutError:
            await context.abort(
                grpc.StatusCode.DEADLINE_EXCEEDED,
                f"session {request.session_id} was told to stop, but its workers have not "
                f"finished after {STOP_WAIT_NS / 1e9:g} s; GetResults with wait returns once "
                "they have, and Release works after that",
            )
        return pb.StopResponse()

    async def RenewLease(
        self, request: pb.RenewLeaseRequest, context: Context
    ) -> pb.RenewLeaseResponse:
        try:
            session = self.sessions.get(request.session_id)
        except SessionError as error:
            await _abort(context, error)
        try:
            session.renew()
        except SessionError as error:
            await _abort(context, error)
        self.sessions.renewed(request.session_id)
        return pb.RenewLeaseResponse(lease_ms=session.lease_ns // 1_000_000)

    async def GetResults(
        self, request: pb.GetResultsRequest, context: Context
    ) -> pb.GetResultsResponse:
        try:
            session = self.sessions.get(request.session_id)
        except SessionError as error:
            await _abort(context, error)
        if request.wait:
            await wait_done(session)
        reply = results_message(session)
        if reply.flows:
            session.collected = True
        return reply

    async def Stats(
        self, request: pb.StatsRequest, context: Context
    ) -> AsyncIterator[pb.StatsResponse]:
        try:
            session = self.sessions.get(request.session_id)
        except SessionError as error:
            await _abort(context, error)
        interval_s = max(request.interval_ms or 200, MIN_STATS_INTERVAL_MS) / 1000
        while True:
            done = session.state.done
            yield stats_message(session)
            if done:
                return
            with contextlib.suppress(TimeoutError):
                await wait_done(session, interval_s)

    async def Release(self, request: pb.ReleaseRequest, context: Context) -> pb.ReleaseResponse:
        try:
            self.sessions.release(request.session_id)
        except SessionError as error:
            await _abort(context, error)
        return pb.ReleaseResponse()


async def _audited(
    rpc: str,
    request: pb.PrepareRequest,
    context: Context,
    act: Callable[[str, list[FlowPlan], int, list[str]], object],
) -> None:
    """Convert `request`, hand it to `act` (prepare or check) and log the verdict."""
    who = audit.requester(context)

    def work() -> None:
        flows = [flow_plan_from_proto(f) for f in request.flows]
        act(
            request.session_id,
            flows,
            request.lease_ms,  # 0 (not set) is refused: the controller always sets it
            list(request.management_addresses),
        )

    try:
        # In a thread: it reads netlink, and Prepare opens sockets and maps rings.
        await asyncio.to_thread(work)
    except SessionError as error:
        code = _STATUS_BY_KIND.get(error.kind, grpc.StatusCode.UNKNOWN)
        audit.record(rpc, request, who, (code.name, error.message))
        await _abort(context, error)
    except Exception as exc:
        audit.record(rpc, request, who, ("UNKNOWN", f"agent error: {exc!r}"))
        raise
    audit.record(rpc, request, who, None)


async def wait_done(session: Session, timeout_s: float | None = None) -> None:
    """Wait for the session to end without parking a thread on it."""
    loop = asyncio.get_running_loop()
    ended: asyncio.Future[None] = loop.create_future()

    def resolve() -> None:
        if not ended.done():
            ended.set_result(None)

    def wake() -> None:
        # Runs on the session's supervisor thread; the loop may be gone at shutdown.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(resolve)

    session.on_done(wake)
    await asyncio.wait_for(ended, timeout_s)


def stats_message(session: Session) -> pb.StatsResponse:
    return pb.StatsResponse(
        session_id=session.session_id,
        wall_ns=time.time_ns(),
        state=STATE_TO_PROTO[session.state],
        flows=[
            pb.FlowCounters(
                flow_id=flow.flow_id,
                name=flow.name,
                role=pb.ROLE_SEND if flow.role == "send" else pb.ROLE_RECEIVE,
                packets=packets,
                bytes=size,
            )
            for flow, packets, size in session.live_counters()
        ],
    )


def results_message(session: Session) -> pb.GetResultsResponse:
    done = session.state.done
    return pb.GetResultsResponse(
        session_id=session.session_id,
        state=STATE_TO_PROTO[session.state],
        flows=[flow_result_to_proto(o) for o in session.outcomes.values()] if done else [],
        error=session.error,
    )
