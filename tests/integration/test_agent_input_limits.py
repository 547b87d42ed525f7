"""The agent's input limits through real gRPC to a real agent (#17 item 8).

Found by fuzzing through the stubs: Start took a start in 1970 or 2200 and a duration
of 10**18 ns, frame_size 0 and lease_ms 0 silently became defaults, a 10,000-character
session id was accepted, undecodable request bytes gave UNKNOWN (a DecodeError), and
Stop answered before the session had stopped, so a Release right after it failed.
Each is now INVALID_ARGUMENT with a message that says what to send instead, or, for
Stop, an answer once the workers have stopped. The agent keeps serving after each.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import grpc
import pytest
from grpc_health.v1 import health_pb2
from live_agents import (
    agent_stub,
    code_of,
    finish_session,
    flow_pair,
    mac_of,
    needs_root,
    running_lab,
    session_id,
)

from ringlab.controller.remote.lab import Lab
from ringlab.session_limits import MAX_DURATION_NS
from ringlab.v1 import agent_pb2 as pb
from ringlab.v1 import agent_pb2_grpc as pb_grpc

pytestmark = needs_root

INVALID = grpc.StatusCode.INVALID_ARGUMENT
YEAR_2200_NS = 7_258_118_400 * 10**9


@pytest.fixture(scope="module")
def limits_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with running_lab(tmp_path_factory.mktemp("labs")) as lab:
        yield lab


@pytest.fixture(scope="module")
def stub(limits_lab: Lab) -> Iterator[pb_grpc.AgentStub]:
    with agent_stub(limits_lab, "a") as a:
        yield a


@pytest.fixture(scope="module")
def macs(limits_lab: Lab, stub: pb_grpc.AgentStub) -> tuple[str, str]:
    with agent_stub(limits_lab, "b") as b:
        return mac_of(stub, "to-b"), mac_of(b, "to-a")


@pytest.fixture(autouse=True)
def still_serving(stub: pb_grpc.AgentStub) -> Iterator[None]:
    yield
    assert stub.GetInfo(pb.GetInfoRequest(), timeout=10).api_version == 1


def sender(macs: tuple[str, str]) -> pb.FlowSpec:
    return flow_pair(7, "to-b", "to-a", macs[0], macs[1], rate_pps=1000)[0]


def prepare(stub: pb_grpc.AgentStub, flows: list[pb.FlowSpec], lease_ms: int = 3000) -> str:
    sid = session_id()
    stub.Prepare(pb.PrepareRequest(session_id=sid, flows=flows, lease_ms=lease_ms), timeout=30)
    return sid


# --- Start ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start_at", "duration_ns", "named"),
    [
        (YEAR_2200_NS, 10**9, "start_at_wall_ns"),
        (1, 10**9, "start_at_wall_ns"),
        (0, 10**9, "start_at_wall_ns"),
        (None, 10**18, "duration_ns"),
        (None, MAX_DURATION_NS + 1, "duration_ns"),
    ],
)
def test_start_times_beyond_the_limits_are_invalid_and_the_session_stays_usable(
    stub: pb_grpc.AgentStub,
    macs: tuple[str, str],
    start_at: int | None,
    duration_ns: int,
    named: str,
) -> None:
    sid = prepare(stub, [sender(macs)])
    try:
        request = pb.StartRequest(
            session_id=sid,
            start_at_wall_ns=time.time_ns() if start_at is None else start_at,
            duration_ns=duration_ns,
        )
        code, details = code_of(lambda: stub.Start(request, timeout=10))
        assert code == INVALID, details
        assert named in details
        if named == "start_at_wall_ns":
            assert "clock" in details and "s ahead" in details
        # The refused Start did not consume the session.
        stub.Start(
            pb.StartRequest(session_id=sid, start_at_wall_ns=time.time_ns(), duration_ns=2 * 10**8),
            timeout=10,
        )
        reply = stub.GetResults(pb.GetResultsRequest(session_id=sid, wait=True), timeout=30)
        assert reply.state == pb.SESSION_STATE_FINISHED and reply.flows[0].packets > 0
    finally:
        finish_session(stub, sid)


# --- Prepare ----------------------------------------------------------------------


def test_frame_size_zero_is_refused_not_defaulted(
    stub: pb_grpc.AgentStub, macs: tuple[str, str]
) -> None:
    spec = sender(macs)
    spec.frame_size = 0
    code, details = code_of(lambda: prepare(stub, [spec]))
    assert code == INVALID
    assert "frame_size 0 (0: not set; there is no default)" in details


def test_lease_zero_is_refused_not_defaulted(
    stub: pb_grpc.AgentStub, macs: tuple[str, str]
) -> None:
    code, details = code_of(lambda: prepare(stub, [sender(macs)], lease_ms=0))
    assert code == INVALID
    assert "lease_ms 0 (0: not set; there is no default)" in details


@pytest.mark.parametrize(
    ("sid", "named"),
    [
        ("x" * 10_000, "10,000 characters"),
        ("run 1", "' '"),
        ("run\n1", "'\\n'"),
        ("ünï", "'ï'"),
    ],
)
def test_session_ids_are_bounded_in_length_and_characters(
    stub: pb_grpc.AgentStub, macs: tuple[str, str], sid: str, named: str
) -> None:
    request = pb.PrepareRequest(session_id=sid, flows=[sender(macs)], lease_ms=3000)
    for rpc in (
        lambda: stub.Prepare(request, timeout=30),
        lambda: stub.CheckPrepare(pb.CheckPrepareRequest(prepare=request), timeout=30),
    ):
        code, details = code_of(rpc)
        assert code == INVALID
        assert "session_id" in details and named in details


# --- undecodable bytes ------------------------------------------------------------

GARBAGE = {
    "corrupt wire format": b"\xff\xff\xff\xff",
    "truncated field": b"\x0a\x05ab",
    "string with bad UTF-8": b"\x0a\x02\xff\xfe",
}
METHODS = {
    "/ringlab.v1.Agent/Prepare": ("unary", "ringlab.v1.PrepareRequest"),
    "/ringlab.v1.Agent/Start": ("unary", "ringlab.v1.StartRequest"),
    "/ringlab.v1.Agent/Stop": ("unary", "ringlab.v1.StopRequest"),
    "/ringlab.v1.Agent/Release": ("unary", "ringlab.v1.ReleaseRequest"),
    "/ringlab.v1.Agent/Stats": ("stream", "ringlab.v1.StatsRequest"),
    "/grpc.health.v1.Health/Check": ("unary", "grpc.health.v1.HealthCheckRequest"),
}


@pytest.mark.parametrize("method", sorted(METHODS))
@pytest.mark.parametrize("garbage", sorted(GARBAGE))
def test_undecodable_request_bytes_are_invalid_argument(
    limits_lab: Lab, method: str, garbage: str
) -> None:
    kind, message_type = METHODS[method]
    with grpc.insecure_channel(limits_lab.hosts["a"].agent) as channel:
        # No serializer: the bytes go out as they are.
        if kind == "unary":
            call = channel.unary_unary(method)
            code, details = code_of(lambda: call(GARBAGE[garbage], timeout=10))
        else:
            stream = channel.unary_stream(method)
            code, details = code_of(lambda: list(stream(GARBAGE[garbage], timeout=10)))
        assert code == INVALID, details
        assert method in details and f"not a valid {message_type}" in details
        # The health service still answers on the same channel.
        check = channel.unary_unary(
            "/grpc.health.v1.Health/Check",
            request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
            response_deserializer=health_pb2.HealthCheckResponse.FromString,
        )
        reply = check(health_pb2.HealthCheckRequest(), timeout=10)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING


# --- Stop, then Release -------------------------------------------------------------


def test_stop_answers_once_stopped_so_release_right_after_succeeds(
    limits_lab: Lab, stub: pb_grpc.AgentStub, macs: tuple[str, str]
) -> None:
    receive = flow_pair(9, "to-a", "to-b", macs[1], macs[0], 0)[1]
    for _ in range(3):
        sid = prepare(stub, [sender(macs), receive], lease_ms=10_000)
        stub.Start(
            pb.StartRequest(
                session_id=sid, start_at_wall_ns=time.time_ns(), duration_ns=30 * 10**9
            ),
            timeout=10,
        )
        # Running: the sender has sent (a live counter, not a sleep).
        stats = stub.Stats(pb.StatsRequest(session_id=sid, interval_ms=20), timeout=30)
        for message in stats:
            if any(f.packets > 0 for f in message.flows if f.role == pb.ROLE_SEND):
                break
        stats.cancel()
        stub.Stop(pb.StopRequest(session_id=sid), timeout=10)
        # No wait: Stop's answer means the workers are done and the results are in.
        reply = stub.GetResults(pb.GetResultsRequest(session_id=sid, wait=False), timeout=10)
        assert reply.state == pb.SESSION_STATE_STOPPED
        assert reply.flows and reply.flows[0].packets > 0
        stub.Release(pb.ReleaseRequest(session_id=sid), timeout=10)
        gone = pb.GetResultsRequest(session_id=sid)
        code, _ = code_of(lambda: stub.GetResults(gone))  # noqa: B023 (called at once)
        assert code == grpc.StatusCode.NOT_FOUND
