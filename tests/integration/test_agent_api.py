"""The agent's gRPC API under misuse: real agent processes in real namespaces.

Malformed or out-of-order requests get INVALID_ARGUMENT, FAILED_PRECONDITION or
NOT_FOUND with a message that names the problem, and the agent keeps serving
(every test ends with a GetInfo that must succeed). A hypothesis fuzz throws
random FlowSpecs at Prepare: the answer is always OK or one of those codes.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterator

import grpc
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
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
from ringlab.v1 import agent_pb2 as pb
from ringlab.v1 import agent_pb2_grpc as pb_grpc

pytestmark = needs_root

INVALID = grpc.StatusCode.INVALID_ARGUMENT
PRECONDITION = grpc.StatusCode.FAILED_PRECONDITION
NOT_FOUND = grpc.StatusCode.NOT_FOUND


@pytest.fixture(scope="module")
def api_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with running_lab(tmp_path_factory.mktemp("labs")) as lab:
        yield lab


@pytest.fixture(scope="module")
def stub(api_lab: Lab) -> Iterator[pb_grpc.AgentStub]:
    with agent_stub(api_lab, "a") as a:
        yield a


@pytest.fixture(scope="module")
def macs(api_lab: Lab, stub: pb_grpc.AgentStub) -> tuple[str, str]:
    with agent_stub(api_lab, "b") as b:
        return mac_of(stub, "to-b"), mac_of(b, "to-a")


@pytest.fixture(autouse=True)
def still_serving(request: pytest.FixtureRequest) -> Iterator[None]:
    """After every test the agent must still answer."""
    yield
    agent: pb_grpc.AgentStub = request.getfixturevalue("stub")
    info = agent.GetInfo(pb.GetInfoRequest(), timeout=10)
    assert info.api_version == 1


def sender(macs: tuple[str, str], **overrides: object) -> pb.FlowSpec:
    spec = flow_pair(7, "to-b", "to-a", macs[0], macs[1], rate_pps=1000)[0]
    for key, value in overrides.items():
        setattr(spec, key, value)
    return spec


def prepare(
    stub: pb_grpc.AgentStub, flows: list[pb.FlowSpec], sid: str = "", lease_ms: int = 3000
) -> str:
    sid = sid or session_id()
    stub.Prepare(pb.PrepareRequest(session_id=sid, flows=flows, lease_ms=lease_ms), timeout=30)
    return sid


def start(stub: pb_grpc.AgentStub, sid: str, duration_s: float = 30.0) -> pb.StartResponse:
    reply: pb.StartResponse = stub.Start(
        pb.StartRequest(
            session_id=sid,
            start_at_wall_ns=time.time_ns(),
            duration_ns=int(duration_s * 1e9),
            drain_ns=0,
        ),
        timeout=10,
    )
    return reply


# --- out of order --------------------------------------------------------------


def test_start_before_prepare_is_not_found(stub: pb_grpc.AgentStub) -> None:
    code, details = code_of(lambda: start(stub, "never-prepared"))
    assert code == NOT_FOUND
    assert "never-prepared" in details


@pytest.mark.parametrize(
    "rpc",
    ["Stop", "RenewLease", "GetResults", "Release"],
)
def test_unknown_session_is_not_found(stub: pb_grpc.AgentStub, rpc: str) -> None:
    requests = {
        "Stop": pb.StopRequest,
        "RenewLease": pb.RenewLeaseRequest,
        "GetResults": pb.GetResultsRequest,
        "Release": pb.ReleaseRequest,
    }
    method = getattr(stub, rpc)
    code, details = code_of(lambda: method(requests[rpc](session_id="no-such"), timeout=10))
    assert code == NOT_FOUND
    assert "no-such" in details


def test_stats_of_unknown_session_is_not_found(stub: pb_grpc.AgentStub) -> None:
    code, _ = code_of(
        lambda: list(stub.Stats(pb.StatsRequest(session_id="no-such", interval_ms=50), timeout=10))
    )
    assert code == NOT_FOUND


def test_start_twice_is_failed_precondition(stub: pb_grpc.AgentStub, macs: tuple[str, str]) -> None:
    sid = prepare(stub, [sender(macs)])
    try:
        start(stub, sid)
        code, details = code_of(lambda: start(stub, sid))
        assert code == PRECONDITION
        assert "Start needs a prepared session" in details
    finally:
        reply = finish_session(stub, sid)
    assert reply.state == pb.SESSION_STATE_STOPPED
    assert reply.flows[0].packets > 0


def test_start_after_stop_is_failed_precondition(
    stub: pb_grpc.AgentStub, macs: tuple[str, str]
) -> None:
    sid = prepare(stub, [sender(macs)])
    try:
        stub.Stop(pb.StopRequest(session_id=sid), timeout=10)
        code, _ = code_of(lambda: start(stub, sid))
        assert code == PRECONDITION
    finally:
        reply = finish_session(stub, sid)
    assert reply.state == pb.SESSION_STATE_STOPPED
    assert reply.flows[0].packets == 0


def test_second_prepare_while_busy_is_failed_precondition(
    stub: pb_grpc.AgentStub, macs: tuple[str, str]
) -> None:
    sid = prepare(stub, [sender(macs)])
    try:
        code, details = code_of(lambda: prepare(stub, [sender(macs)]))
        assert code == PRECONDITION
        assert sid in details and "stop it" in details
        code, details = code_of(lambda: prepare(stub, [sender(macs)], sid=sid))
        assert code == PRECONDITION
        assert "already exists" in details
    finally:
        finish_session(stub, sid)


def test_concurrent_prepares_exactly_one_wins(
    stub: pb_grpc.AgentStub, macs: tuple[str, str]
) -> None:
    ids = [session_id() for _ in range(4)]
    outcomes: dict[str, grpc.StatusCode] = {}
    barrier = threading.Barrier(len(ids))

    def attempt(sid: str) -> None:
        barrier.wait()
        try:
            prepare(stub, [sender(macs)], sid=sid)
            outcomes[sid] = grpc.StatusCode.OK
        except grpc.RpcError as error:
            outcomes[sid] = error.code()

    threads = [threading.Thread(target=attempt, args=(sid,)) for sid in ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [sid for sid, code in outcomes.items() if code == grpc.StatusCode.OK]
    try:
        assert len(winners) == 1, outcomes
        assert sorted(c.name for c in outcomes.values()) == sorted(
            ["OK"] + ["FAILED_PRECONDITION"] * (len(ids) - 1)
        )
    finally:
        for sid in winners:
            finish_session(stub, sid)


def test_release_of_a_live_session_is_failed_precondition(
    stub: pb_grpc.AgentStub, macs: tuple[str, str]
) -> None:
    sid = prepare(stub, [sender(macs)])
    try:
        code, details = code_of(lambda: stub.Release(pb.ReleaseRequest(session_id=sid)))
        assert code == PRECONDITION
        assert "stop it first" in details
    finally:
        finish_session(stub, sid)
    code, _ = code_of(lambda: stub.GetResults(pb.GetResultsRequest(session_id=sid)))
    assert code == NOT_FOUND  # released: gone


def test_stop_twice_is_fine_and_results_stay(
    stub: pb_grpc.AgentStub, macs: tuple[str, str]
) -> None:
    sid = prepare(stub, [sender(macs)])
    start(stub, sid)
    stub.Stop(pb.StopRequest(session_id=sid), timeout=10)
    stub.Stop(pb.StopRequest(session_id=sid), timeout=10)
    first = stub.GetResults(pb.GetResultsRequest(session_id=sid, wait=True), timeout=30)
    again = stub.GetResults(pb.GetResultsRequest(session_id=sid, wait=True), timeout=30)
    stub.Release(pb.ReleaseRequest(session_id=sid), timeout=10)
    assert first.state == again.state == pb.SESSION_STATE_STOPPED
    assert first.flows[0].packets == again.flows[0].packets > 0


# --- malformed Start -------------------------------------------------------------


@pytest.mark.parametrize(
    ("duration_ns", "drain_ns", "named"),
    [
        (0, 0, "duration_ns"),
        (-5, 0, "duration_ns"),
        (10**9, -1, "drain_ns"),
        (10**9, 61 * 10**9, "drain_ns"),
    ],
)
def test_bad_start_is_invalid_and_leaves_the_session_usable(
    stub: pb_grpc.AgentStub, macs: tuple[str, str], duration_ns: int, drain_ns: int, named: str
) -> None:
    sid = prepare(stub, [sender(macs)])
    try:
        request = pb.StartRequest(
            session_id=sid,
            start_at_wall_ns=time.time_ns(),
            duration_ns=duration_ns,
            drain_ns=drain_ns,
        )
        code, details = code_of(lambda: stub.Start(request, timeout=10))
        assert code == INVALID
        assert named in details
        start(stub, sid, duration_s=0.2)  # the refused Start did not consume the session
        reply = stub.GetResults(pb.GetResultsRequest(session_id=sid, wait=True), timeout=30)
        assert reply.state == pb.SESSION_STATE_FINISHED
        assert reply.flows[0].packets > 0
    finally:
        finish_session(stub, sid)


# --- malformed Prepare -----------------------------------------------------------

BAD_FLOWS: dict[str, tuple[dict[str, object], str]] = {
    "absurd ring_frames": ({"ring_frames": 1 << 21}, "ring_frames"),
    "ring too big for memory": ({"ring_frames": 1 << 20, "frame_size": 1518}, "MiB"),
    "unknown interface": ({"interface": "eth99"}, "no interface 'eth99'"),
    "empty interface": ({"interface": ""}, "no interface ''"),
    "bad dst MAC": ({"dst_mac": "zz:00:00:00:00:01"}, "dst_mac"),
    "short src MAC": ({"src_mac": "02:00:00:00:01"}, "src_mac"),
    "frame above MTU": ({"frame_size": 1519}, "frame_size 1519"),
    "frame below minimum": ({"frame_size": 63}, "frame_size 63"),
    "too many workers": ({"workers": 17}, "workers"),
    "negative rate": ({"rate_pps": -1.0}, "rate_pps"),
    "NaN rate": ({"rate_pps": math.nan}, "rate_pps"),
    "infinite rate": ({"rate_pps": math.inf}, "rate_pps"),
    "impossible rate": ({"rate_pps": 1e12}, "rate_pps"),
    "absurd batch": ({"batch": 1 << 20}, "batch"),
    "no role": ({"role": pb.ROLE_UNSPECIFIED}, "role"),
    "unknown engine": ({"engine": 9}, "engine"),
    "xdp zerocopy on veth": (
        {"engine": pb.ENGINE_XDP, "xdp_mode": "zerocopy"},
        "(driver veth) has no AF_XDP zero-copy",
    ),
    "xdp queue the veth lacks": ({"engine": pb.ENGINE_XDP, "xdp_queue": 1}, "has 1 queue(s)"),
    "xdp queue absurd": ({"engine": pb.ENGINE_XDP, "xdp_queue": 5000}, "xdp_queue 5000"),
    "unknown xdp_mode": ({"engine": pb.ENGINE_XDP, "xdp_mode": "fast"}, "xdp_mode 'fast'"),
    "xdp_share on a ring sender": ({"xdp_share": True}, "xdp_share needs AF_XDP"),
}


@pytest.mark.parametrize("case", sorted(BAD_FLOWS))
def test_bad_flow_is_invalid_argument(
    stub: pb_grpc.AgentStub, macs: tuple[str, str], case: str
) -> None:
    overrides, named = BAD_FLOWS[case]
    code, details = code_of(lambda: prepare(stub, [sender(macs, **overrides)]))
    assert code == INVALID, details
    assert named in details
    # Nothing was left prepared: the next Prepare is accepted.
    finish_session(stub, prepare(stub, [sender(macs)]))


@pytest.mark.parametrize("case", sorted(BAD_FLOWS))
def test_check_prepare_refuses_what_prepare_refuses_with_the_same_message(
    stub: pb_grpc.AgentStub, macs: tuple[str, str], case: str
) -> None:
    overrides, _ = BAD_FLOWS[case]
    request = pb.PrepareRequest(
        session_id=session_id(), flows=[sender(macs, **overrides)], lease_ms=3000
    )
    checked = code_of(
        lambda: stub.CheckPrepare(pb.CheckPrepareRequest(prepare=request), timeout=30)
    )
    prepared = code_of(lambda: stub.Prepare(request, timeout=30))
    assert checked == prepared
    assert checked[0] == INVALID


def test_check_prepare_of_a_good_request_opens_nothing(
    api_lab: Lab, stub: pb_grpc.AgentStub, macs: tuple[str, str]
) -> None:
    receive = flow_pair(9, "to-a", "to-b", macs[1], macs[0], 0)[1]
    request = pb.PrepareRequest(
        session_id=session_id(), flows=[sender(macs), receive], lease_ms=3000
    )
    agent_pid = api_lab.hosts["a"].pid
    before = socket_mappings(agent_pid)
    stub.CheckPrepare(pb.CheckPrepareRequest(prepare=request), timeout=30)
    assert socket_mappings(agent_pid) == before  # no ring was mapped
    # No session was made either: the same id can still be prepared.
    finish_session(stub, prepare(stub, list(request.flows), sid=request.session_id))


@pytest.mark.parametrize(
    ("request_fields", "named"),
    [
        ({"session_id": ""}, "session_id"),
        ({"flows": []}, "no flows"),
        ({"lease_ms": 50}, "lease_ms"),
        ({"lease_ms": 3_600_000}, "lease_ms"),
    ],
)
def test_bad_prepare_request_is_invalid_argument(
    stub: pb_grpc.AgentStub, macs: tuple[str, str], request_fields: dict[str, object], named: str
) -> None:
    fields: dict[str, object] = {"session_id": session_id(), "flows": [sender(macs)], "lease_ms": 0}
    fields.update(request_fields)
    request = pb.PrepareRequest(**fields)  # type: ignore[arg-type]
    code, details = code_of(lambda: stub.Prepare(request, timeout=30))
    assert code == INVALID
    assert named in details


def socket_mappings(pid: int) -> list[int]:
    """Sizes of the agent's mmaps of sockets: its packet rings."""
    sizes = []
    with open(f"/proc/{pid}/maps") as maps:
        for line in maps:
            if line.rstrip().endswith("]") and "socket:[" in line:
                low, high = (int(x, 16) for x in line.split()[0].split("-"))
                sizes.append(high - low)
    return sizes


def test_receive_ring_geometry_reaches_the_kernel(
    api_lab: Lab, stub: pb_grpc.AgentStub, macs: tuple[str, str]
) -> None:
    receive = flow_pair(9, "to-a", "to-b", macs[1], macs[0], 0)[1]
    agent_pid = api_lab.hosts["a"].pid
    before = socket_mappings(agent_pid)
    for size, blocks, workers in ((64 << 10, 8, 1), (256 << 10, 4, 2), (0, 0, 1)):
        spec = pb.FlowSpec()
        spec.CopyFrom(receive)
        spec.rx_block_size, spec.rx_blocks, spec.workers = size, blocks, workers
        sid = prepare(stub, [spec])
        try:
            rings = sorted(set(socket_mappings(agent_pid)) - set(before))
            added = [m for m in socket_mappings(agent_pid) if m not in before]
            expected = (size or 1 << 20) * (blocks or 32)
            assert rings == [expected], f"asked {size} x {blocks}, mapped {added}"
            assert len(added) == workers
        finally:
            finish_session(stub, sid)


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"rx_block_size": 6000}, "page size"),
        ({"rx_blocks": 1}, "2..4096"),
        ({"rx_block_size": 64 << 20, "rx_blocks": 32}, "rx_blocks or workers"),
    ],
)
def test_bad_receive_ring_is_invalid_argument(
    stub: pb_grpc.AgentStub, macs: tuple[str, str], overrides: dict[str, int], named: str
) -> None:
    receive = flow_pair(9, "to-a", "to-b", macs[1], macs[0], 0)[1]
    for key, value in overrides.items():
        setattr(receive, key, value)
    code, details = code_of(lambda: prepare(stub, [receive]))
    assert code == INVALID, details
    assert named in details


def test_duplicate_flow_id_and_too_many_workers_in_total(
    stub: pb_grpc.AgentStub, macs: tuple[str, str]
) -> None:
    code, details = code_of(lambda: prepare(stub, [sender(macs), sender(macs)]))
    assert code == INVALID
    assert "used twice" in details
    many = [sender(macs, flow_id=i, workers=16) for i in range(5)]
    code, details = code_of(lambda: prepare(stub, many))
    assert code == INVALID
    assert "80 workers" in details


# --- lease -----------------------------------------------------------------------


def test_lease_expires_without_renewals_and_results_stay(
    stub: pb_grpc.AgentStub, macs: tuple[str, str]
) -> None:
    sid = prepare(stub, [sender(macs)], lease_ms=300)
    start(stub, sid, duration_s=60)
    stub.RenewLease(pb.RenewLeaseRequest(session_id=sid), timeout=10)
    reply = stub.GetResults(pb.GetResultsRequest(session_id=sid, wait=True), timeout=10)
    assert reply.state == pb.SESSION_STATE_EXPIRED
    assert "lease of 0.3s expired" in reply.error
    assert reply.flows[0].packets > 0  # what was sent before the lease ran out is kept
    code, details = code_of(lambda: stub.RenewLease(pb.RenewLeaseRequest(session_id=sid)))
    assert code == PRECONDITION
    assert "expired" in details
    finish_session(stub, sid)


def test_prepared_but_never_started_session_expires_too(
    stub: pb_grpc.AgentStub, macs: tuple[str, str]
) -> None:
    receive = flow_pair(9, "to-a", "to-b", macs[1], macs[0], 0)[1]
    sid = prepare(stub, [receive], lease_ms=200)
    reply = stub.GetResults(pb.GetResultsRequest(session_id=sid, wait=True), timeout=10)
    assert reply.state == pb.SESSION_STATE_EXPIRED
    assert reply.flows[0].packets == 0
    # Its sockets are closed: a new session can open the same interface.
    finish_session(stub, sid)
    finish_session(stub, prepare(stub, [receive]))


# --- fuzz ------------------------------------------------------------------------

ALLOWED = {grpc.StatusCode.OK, INVALID, PRECONDITION}

# Mostly-valid values with hostile ones mixed in, so the fuzz reaches both OK and refusals.
_macs = st.one_of(
    st.just("02:00:00:00:00:01"),
    st.sampled_from(["ff:ff:ff:ff:ff:ff", "", "02:00:00:00:00", "::::::", "02:00:00:00:00:1ff"]),
    st.text(max_size=24),
)
flow_specs = st.builds(
    pb.FlowSpec,
    flow_id=st.integers(0, 2**32 - 1),
    name=st.text(max_size=16),
    role=st.one_of(st.sampled_from([1, 2]), st.integers(0, 2**31 - 1)),
    interface=st.one_of(
        st.just("to-b"), st.sampled_from(["lo", "", "to-a", "to-b\x00"]), st.text(max_size=20)
    ),
    src_mac=_macs,
    dst_mac=_macs,
    frame_size=st.one_of(st.integers(60, 1600), st.integers(0, 2**32 - 1)),
    rate_pps=st.one_of(st.floats(0, 1e5), st.floats()),
    engine=st.one_of(st.integers(0, 3), st.integers(0, 2**31 - 1)),
    workers=st.one_of(st.integers(0, 4), st.integers(0, 2**32 - 1)),
    static_template=st.booleans(),
    qdisc_bypass=st.booleans(),
    paged_skb=st.booleans(),
    ring_frames=st.sampled_from([0, 1, 7, 4096, 1 << 20, 1 << 21, 2**32 - 1]),
    rx_block_size=st.sampled_from([0, 4096, 6000, 1 << 20, 64 << 20, 2**32 - 1]),
    rx_blocks=st.sampled_from([0, 1, 2, 4096, 2**32 - 1]),
    batch=st.sampled_from([0, 1, 512, 4096, 1 << 17, 2**32 - 1]),
    rx_engine=st.one_of(st.integers(0, 3), st.integers(0, 2**31 - 1)),
    xdp_queue=st.sampled_from([0, 1, 1023, 1024, 2**32 - 1]),
    xdp_mode=st.sampled_from(["", "auto", "copy", "zerocopy", "Copy", "\x00"]),
    xdp_attach=st.sampled_from(["", "native", "generic", "offload"]),
    xdp_share=st.booleans(),
    xdp_frames=st.sampled_from([0, 1, 4096, 1 << 20, (1 << 20) + 1, 2**32 - 1]),
)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    flows=st.lists(flow_specs, min_size=0, max_size=3),
    lease_ms=st.one_of(st.just(0), st.sampled_from([1, 200, 3000, 600_001, 2**32 - 1])),
    sid=st.one_of(st.text(min_size=1, max_size=12), st.just("")),
)
def test_fuzzed_prepare_never_crashes_the_agent(
    stub: pb_grpc.AgentStub, flows: list[pb.FlowSpec], lease_ms: int, sid: str
) -> None:
    request = pb.PrepareRequest(session_id=sid, flows=flows, lease_ms=lease_ms)
    checked = outcome(
        lambda: stub.CheckPrepare(pb.CheckPrepareRequest(prepare=request), timeout=30)
    )
    code, details = outcome(lambda: stub.Prepare(request, timeout=30))
    if code != grpc.StatusCode.OK:
        assert details, f"{code.name} without a message"
    assert code in ALLOWED, f"{code.name} for {request}"
    # CheckPrepare gives Prepare's verdict without opening anything.
    assert checked == (code, details), f"CheckPrepare said {checked}, Prepare {code}: {details}"
    event(code.name)
    if code == grpc.StatusCode.OK:
        finish_session(stub, sid)


def outcome(call: Callable[[], object]) -> tuple[grpc.StatusCode, str]:
    try:
        call()
    except grpc.RpcError as error:
        return error.code(), error.details() or ""  # type: ignore[attr-defined]
    return grpc.StatusCode.OK, ""


def test_fuzz_inputs_can_be_accepted(stub: pb_grpc.AgentStub, macs: tuple[str, str]) -> None:
    """The fuzz above can reach OK: a well-formed spec in its space is accepted."""
    spec = sender(macs, flow_id=2**32 - 1, ring_frames=7, batch=1, name="ünïcode", workers=3)
    finish_session(stub, prepare(stub, [spec], sid="x"))
