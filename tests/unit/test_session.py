"""The agent's session layer: leases, states, refusals and cleanup, without a data plane.

Sessions drive their workers through the `DataPlane` seam; here it holds small
fakes (the real rings run in tests/integration). Clocks are injected, so a lease
runs out when the test moves the clock, and the tests wait on events (the
session's done event, the watchdog's check counter), never on sleeps.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import replace

import pytest

from ringlab.agent.flows import FlowPlan, SessionError, State
from ringlab.agent.manager import KEEP_FINISHED_SESSIONS, SessionManager
from ringlab.agent.rings.api import (
    LatencyStats,
    Progress,
    RxConfig,
    RxResult,
    StreamStats,
    TxConfig,
    TxResult,
)
from ringlab.agent.rx_merge import combine_latency, merge_rx_results
from ringlab.agent.session import DataPlane, Session
from ringlab.agent.validation import (
    MAX_BATCH,
    MAX_RING_FRAMES,
    MAX_SESSION_WORKERS,
    validate_flows,
)

SECOND = 1_000_000_000
TX = TxResult(
    packets=5,
    bytes=300,
    send_errors=0,
    started_wall_ns=1,
    first_wall_ns=2,
    last_wall_ns=3,
    user_cpu_s=0.0,
    system_cpu_s=0.0,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000 * SECOND

    def __call__(self) -> int:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += int(seconds * SECOND)


class FakeSender:
    def __init__(self, config: TxConfig, behaviour: str) -> None:
        self.config = config
        self.behaviour = behaviour
        self.progress = Progress()
        self.started = threading.Event()
        self.closed = False

    def run(self, start_mono_ns: int, duration_ns: int, stop: threading.Event) -> TxResult:
        self.started.set()
        if self.behaviour == "raise":
            raise RuntimeError("the NIC caught fire")
        if self.behaviour == "until_stop":
            stop.wait()
        return TX

    def close(self) -> None:
        self.closed = True


class FakeReceiver:
    def __init__(self, config: RxConfig, clock: FakeClock) -> None:
        self.config = config
        self.clock = clock
        self.progress = {f: Progress() for f in config.flow_ids}
        self.closed = False

    def run(self, stop: threading.Event, deadline_mono_ns: Callable[[], int | None]) -> RxResult:
        # Until stopped, or until the session's deadline passes on the fake clock.
        while not stop.wait(0.005):
            deadline = deadline_mono_ns()
            if deadline is not None and self.clock() >= deadline:
                break
        return RxResult(
            flows={f: StreamStats(packets=5, unique_packets=5, expected_packets=5)
                   for f in self.config.flow_ids},
            latency={},
            foreign_frames=0,
            suspect_frames=0,
            kernel_packets=5,
            kernel_drops=0,
            kernel_freezes=0,
            started_wall_ns=1,
        )  # fmt: skip

    def close(self) -> None:
        self.closed = True


class FakePlane:
    def __init__(self, clock: FakeClock, sender: str = "until_stop") -> None:
        self.clock = clock
        self.sender = sender
        self.senders: list[FakeSender] = []
        self.receivers: list[FakeReceiver] = []
        self.fail_sender: Exception | None = None

    def open_sender(self, config: TxConfig) -> FakeSender:
        if self.fail_sender is not None:
            raise self.fail_sender
        self.senders.append(FakeSender(config, self.sender))
        return self.senders[-1]

    def open_receiver(self, config: RxConfig) -> FakeReceiver:
        self.receivers.append(FakeReceiver(config, self.clock))
        return self.receivers[-1]

    def plane(self) -> DataPlane:
        return DataPlane(self.open_sender, self.open_receiver, lambda name: {"rx_packets": 0})

    @property
    def workers(self) -> list[FakeSender | FakeReceiver]:
        return [*self.senders, *self.receivers]


SEND = FlowPlan(
    flow_id=1,
    name="a->b",
    role="send",
    interface="lo",
    src_mac=b"\x02" * 6,
    dst_mac=b"\x02" * 6,
    frame_size=64,
    rate_pps=1000.0,
    engine="ring",
    workers=1,
    stamping=True,
    qdisc_bypass=True,
    paged_skb=False,
    ring_frames=0,
    batch=0,
)
RECEIVE = replace(SEND, role="receive", src_mac=b"", dst_mac=b"")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def plane(clock: FakeClock) -> FakePlane:
    return FakePlane(clock)


@pytest.fixture
def manager(clock: FakeClock, plane: FakePlane) -> SessionManager:
    return SessionManager(clock, clock, plane.plane())


def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 5
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.002)


def started(
    manager: SessionManager, plane: FakePlane, sid: str = "s1", lease_ms: int = 1000
) -> Session:
    session = manager.prepare(sid, [SEND, RECEIVE], lease_ms)
    session.start(start_at_wall_ns=plane.clock(), duration_ns=60 * SECOND, drain_ns=0)
    assert plane.senders[-1].started.wait(5)
    return session


# --- lease -----------------------------------------------------------------------


def test_lease_expiry_stops_every_worker_and_keeps_results(
    manager: SessionManager, plane: FakePlane, clock: FakeClock
) -> None:
    session = started(manager, plane)
    clock.advance(1.01)
    assert session.done_event.wait(5)
    assert session.state is State.EXPIRED
    assert "lease of 1s expired" in session.error
    assert all(w.closed for w in plane.workers)
    assert session.outcomes[1].tx == [TX]  # what was sent before expiry is kept
    with pytest.raises(SessionError) as refused:
        session.renew()
    assert refused.value.kind == "precondition"
    assert manager.get("s1") is session


def test_renewals_keep_the_lease_alive(
    manager: SessionManager, plane: FakePlane, clock: FakeClock
) -> None:
    session = started(manager, plane)
    for _ in range(3):
        clock.advance(0.9)
        session.renew()
        checks = session.lease_checks
        wait_for(lambda c=checks: session.lease_checks >= c + 2, "the watchdog to look twice")
        assert not session.done_event.is_set()
    clock.advance(1.01)  # no renewal this time
    assert session.done_event.wait(5)
    assert session.state is State.EXPIRED


def test_a_prepared_session_that_is_never_started_expires_too(
    manager: SessionManager, plane: FakePlane, clock: FakeClock
) -> None:
    session = manager.prepare("s1", [RECEIVE], 500)
    clock.advance(0.51)
    assert session.done_event.wait(5)
    assert session.state is State.EXPIRED
    assert all(r.closed for r in plane.receivers)


# --- states and out-of-order calls -------------------------------------------------


def test_scheduled_turns_running_when_the_start_passes(
    manager: SessionManager, plane: FakePlane, clock: FakeClock
) -> None:
    session = manager.prepare("s1", [SEND, RECEIVE], 60_000)
    delay = session.start(clock() + 5 * SECOND, 10 * SECOND, 0)
    assert delay == 5 * SECOND
    assert session.state is State.SCHEDULED
    clock.advance(5)
    assert session.state is State.RUNNING
    session.stop()
    assert session.done_event.wait(5)
    assert session.state is State.STOPPED


def test_a_session_finishes_at_its_deadline(
    clock: FakeClock,
) -> None:
    plane = FakePlane(clock, sender="finish")
    manager = SessionManager(clock, clock, plane.plane())
    session = manager.prepare("s1", [SEND, RECEIVE], 60_000)
    session.start(clock(), 2 * SECOND, SECOND // 2)
    clock.advance(2.5)
    assert session.done_event.wait(5)
    assert session.state is State.FINISHED
    assert session.error == ""
    rx = session.outcomes[1].rx
    assert rx is not None and rx.flows[1].packets == 5


def test_start_twice_and_start_after_stop_are_refused(
    manager: SessionManager, plane: FakePlane
) -> None:
    session = started(manager, plane)
    with pytest.raises(SessionError) as twice:
        session.start(0, SECOND, 0)
    assert twice.value.kind == "precondition"
    other = SessionManager(plane=FakePlane(FakeClock()).plane()).prepare("s2", [SEND], 60_000)
    other.stop()
    with pytest.raises(SessionError) as stopped:
        other.start(0, SECOND, 0)
    assert stopped.value.kind == "precondition"
    session.stop()
    assert session.done_event.wait(5)
    assert other.done_event.wait(5)


def test_stop_before_start_closes_the_receivers(manager: SessionManager, plane: FakePlane) -> None:
    session = manager.prepare("s1", [SEND, RECEIVE], 60_000)
    session.stop()
    session.stop()  # idempotent
    assert session.done_event.wait(5)
    assert session.state is State.STOPPED
    assert not plane.senders[0].started.is_set()
    assert all(w.closed for w in plane.workers)


def test_a_crashing_worker_fails_the_session_not_the_agent(clock: FakeClock) -> None:
    plane = FakePlane(clock, sender="raise")
    manager = SessionManager(clock, clock, plane.plane())
    session = manager.prepare("s1", [SEND, RECEIVE], 60_000)
    session.start(clock(), SECOND, 0)
    clock.advance(1.1)
    assert session.done_event.wait(5)
    assert session.state is State.FAILED
    assert "sender failed: the NIC caught fire" in session.error
    manager.release("s1")
    assert manager.prepare("s2", [RECEIVE], 60_000).state is State.PREPARED


@pytest.mark.parametrize(
    ("failure", "kind", "text"),
    [
        (ValueError("block_size 3 must be a multiple"), "invalid", "block_size 3"),
        (OSError(12, "Cannot allocate memory"), "precondition", "cannot open the data plane"),
    ],
)
def test_a_failed_prepare_closes_what_it_opened(
    manager: SessionManager, plane: FakePlane, failure: Exception, kind: str, text: str
) -> None:
    plane.fail_sender = failure
    with pytest.raises(SessionError) as refused:
        manager.prepare("s1", [RECEIVE, SEND], 60_000)
    assert (refused.value.kind, text in refused.value.message) == (kind, True)
    assert plane.receivers and all(r.closed for r in plane.receivers)
    with pytest.raises(SessionError):
        manager.get("s1")  # never registered
    plane.fail_sender = None
    assert manager.prepare("s1", [RECEIVE], 60_000).state is State.PREPARED


def test_manager_allows_one_live_session(manager: SessionManager, plane: FakePlane) -> None:
    session = manager.prepare("s1", [RECEIVE], 60_000)
    for sid, text in (("s2", "still prepared"), ("s1", "already exists")):
        with pytest.raises(SessionError) as refused:
            manager.prepare(sid, [RECEIVE], 60_000)
        assert refused.value.kind == "precondition"
        assert text in refused.value.message
    with pytest.raises(SessionError) as live:
        manager.release("s1")
    assert live.value.kind == "precondition"
    with pytest.raises(SessionError) as missing:
        manager.release("nope")
    assert missing.value.kind == "not_found"
    session.stop()
    assert session.done_event.wait(5)
    manager.release("s1")


def test_uncollected_results_outlive_collected_ones(manager: SessionManager) -> None:
    total = KEEP_FINISHED_SESSIONS + 3
    for index in range(total):
        session = manager.prepare(f"s{index}", [RECEIVE], 60_000)
        session.stop()
        assert session.done_event.wait(5)
        # The two oldest were never collected; every other one was.
        session.collected = index >= 2
    manager.prepare("last", [RECEIVE], 60_000).stop()
    assert not manager.get("s0").collected and not manager.get("s1").collected
    for index in range(2, 6):
        with pytest.raises(SessionError):
            manager.get(f"s{index}")  # forgotten: collected and oldest
    manager.get(f"s{total - 1}")


# --- validation (against this host's real interfaces: lo exists everywhere) --------


@pytest.mark.parametrize(
    ("change", "text"),
    [
        ({"interface": "no-such-if0"}, "no interface 'no-such-if0'"),
        ({"frame_size": 63}, "frame_size 63"),
        ({"frame_size": 70_000}, "frame_size 70000"),
        ({"workers": 0}, "workers"),
        ({"workers": 17}, "workers"),
        ({"rate_pps": -1.0}, "rate_pps"),
        ({"rate_pps": float("nan")}, "rate_pps"),
        ({"rate_pps": float("inf")}, "rate_pps"),
        ({"rate_pps": 3e9}, "rate_pps"),
        ({"ring_frames": MAX_RING_FRAMES + 1}, "ring_frames"),
        ({"ring_frames": MAX_RING_FRAMES, "frame_size": 9000}, "MiB"),
        ({"batch": MAX_BATCH + 1}, "batch"),
        ({"dst_mac": b"\x01"}, "dst_mac"),
        ({"role": "forward"}, "role"),
    ],
)
def test_validation_names_the_field(change: dict[str, object], text: str) -> None:
    with pytest.raises(SessionError) as refused:
        validate_flows("s1", [replace(SEND, **change)], 3000, {})  # type: ignore[arg-type]
    assert refused.value.kind == "invalid"
    assert text in refused.value.message


@pytest.mark.parametrize(
    ("session_id", "flows", "lease_ms", "text"),
    [
        ("", [SEND], 3000, "session_id"),
        ("s1", [], 3000, "no flows"),
        ("s1", [SEND], 10, "lease_ms"),
        ("s1", [SEND, SEND], 3000, "used twice"),
        (
            "s1",
            [replace(SEND, flow_id=i, workers=16) for i in range(MAX_SESSION_WORKERS // 16 + 1)],
            3000,
            "workers",
        ),
    ],
)
def test_validation_of_the_request(
    session_id: str, flows: list[FlowPlan], lease_ms: int, text: str
) -> None:
    with pytest.raises(SessionError) as refused:
        validate_flows(session_id, flows, lease_ms, {})
    assert text in refused.value.message


def test_a_good_request_validates() -> None:
    validate_flows("s1", [SEND, RECEIVE, replace(SEND, flow_id=2, workers=16)], 3000, {})


@pytest.mark.parametrize(
    ("change", "text"),
    [
        ({"rx_block_size": 6000}, "page size"),
        ({"rx_block_size": 128 << 20}, "rx_block_size"),
        ({"rx_blocks": 1}, "2..4096"),
        ({"rx_blocks": 5000}, "2..4096"),
        ({"rx_block_size": 64 << 20, "rx_blocks": 16, "workers": 2}, "rx_blocks or workers"),
    ],
)
def test_receive_ring_validation_names_the_field(change: dict[str, object], text: str) -> None:
    with pytest.raises(SessionError) as refused:
        validate_flows("s1", [replace(RECEIVE, **change)], 3000, {})  # type: ignore[arg-type]
    assert refused.value.kind == "invalid"
    assert text in refused.value.message


def test_receivers_of_one_interface_take_the_largest_ring_asked_for(
    manager: SessionManager, plane: FakePlane
) -> None:
    small = replace(RECEIVE, rx_block_size=256 << 10, rx_blocks=128, workers=2)
    large = replace(RECEIVE, flow_id=2, name="f2", rx_block_size=4 << 20, rx_blocks=8)
    manager.prepare("s1", [small, large], 3000)
    geometry = {(r.config.block_size, r.config.block_count) for r in plane.receivers}
    assert geometry == {(4 << 20, 128)}
    assert len(plane.receivers) == 2  # one per worker, both flows counted by each
    assert all(r.config.flow_ids == {1, 2} for r in plane.receivers)


def test_shared_receive_rings_are_counted_once_per_interface() -> None:
    # 32 flows x 16 MiB x 32 blocks would be 16 GiB if each flow had its own ring;
    # they share one interface, so it is one 512 MiB ring set.
    flows = [
        replace(RECEIVE, flow_id=i, name=f"f{i}", rx_block_size=16 << 20, rx_blocks=32)
        for i in range(32)
    ]
    validate_flows("s1", flows, 3000, {})


# --- merging fanout workers ----------------------------------------------------------


def _rx(packets: int, latency: LatencyStats, first: int) -> RxResult:
    return RxResult(
        flows={1: StreamStats(packets, packets * 60, packets, 0, 1, packets, first, first + 9)},
        latency={1: latency},
        foreign_frames=1,
        suspect_frames=2,
        kernel_packets=packets,
        kernel_drops=0,
        kernel_freezes=0,
        started_wall_ns=first,
    )


def test_merge_adds_up_fanout_workers() -> None:
    low = LatencyStats(samples=10, min_us=1, p50_us=2, p99_us=3, max_us=4, mean_us=2)
    high = LatencyStats(samples=30, min_us=5, p50_us=6, p99_us=7, max_us=8, mean_us=6)
    merged = merge_rx_results([_rx(10, low, 100), _rx(30, high, 50)])
    assert merged is not None
    stream = merged.flows[1]
    assert (stream.packets, stream.unique_packets, stream.expected_packets) == (40, 40, 40)
    assert (stream.first_wall_ns, stream.last_wall_ns) == (50, 109)
    assert (merged.foreign_frames, merged.suspect_frames, merged.started_wall_ns) == (2, 4, 50)
    latency = merged.latency[1]
    assert (latency.samples, latency.p50_us, latency.p99_us) == (40, 6, 7)
    assert latency.mean_us == pytest.approx(5.0)
    assert merge_rx_results([]) is None
    one = _rx(3, low, 1)
    assert merge_rx_results([one]) is one
    assert combine_latency([]) == LatencyStats()
