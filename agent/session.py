"""Sessions: one phase of a run on this agent, from Prepare to collected results.

A session owns the data-plane workers of its flows (one socket and ring each),
the threads that run them, and a lease. Receivers start counting at Prepare so
they are ready before any sender starts; senders wait for the scheduled start.
When the lease is not renewed in time every worker is stopped: traffic never
outlives the controller that asked for it. Finished sessions are kept until
released so nothing measured is lost when a controller reconnects.
"""

from __future__ import annotations

import enum
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from ringlab.agent import sysinfo
from ringlab.agent.management import ManagementInterfaces
from ringlab.agent.rings import packet as pk
from ringlab.agent.rings import rx
from ringlab.agent.rings.api import (
    EngineName,
    LatencyStats,
    Progress,
    Receiver,
    RxConfig,
    RxResult,
    Sender,
    StreamStats,
    TxConfig,
    TxResult,
    open_receiver,
)
from ringlab.agent.rings.frame import MAX_FRAME_SIZE
from ringlab.agent.rings.isolated import IsolatedSender
from ringlab.ring_limits import (
    DEFAULT_RX_BLOCK_SIZE,
    DEFAULT_RX_BLOCKS,
    MAX_RX_BLOCK_SIZE,
    MAX_RX_BLOCKS,
    MAX_SESSION_RING_BYTES,
)
from ringlab.session_limits import MAX_LEASE_MS, MIN_LEASE_MS

KEEP_FINISHED_SESSIONS = 16
MAX_WORKERS = 16
# Sockets and rings of one session: a bound so one request cannot exhaust the host.
MAX_SESSION_WORKERS = 64
MAX_RING_FRAMES = 1 << 20
# Memory of one sender's TX ring (frames x slot); 512 MiB is far above any useful ring.
MAX_RING_BYTES = 512 << 20
MAX_BATCH = 1 << 16
# 800 Gb/s of 64-byte frames is 1.19 Gpps; anything above 2 Gpps is a typo.
MAX_RATE_PPS = 2e9


class State(enum.Enum):
    PREPARED = "prepared"
    SCHEDULED = "scheduled"
    RUNNING = "running"
    FINISHED = "finished"
    STOPPED = "stopped"
    FAILED = "failed"
    EXPIRED = "expired"

    @property
    def done(self) -> bool:
        return self in (State.FINISHED, State.STOPPED, State.FAILED, State.EXPIRED)


class SessionError(Exception):
    """A request this agent cannot honour; `kind` maps to a gRPC status code."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind  # "invalid", "precondition", "not_found", "unavailable"
        self.message = message


@dataclass(frozen=True)
class FlowPlan:
    flow_id: int
    name: str
    role: str  # "send" | "receive"
    interface: str
    src_mac: bytes
    dst_mac: bytes
    frame_size: int
    rate_pps: float
    engine: EngineName
    workers: int
    stamping: bool
    qdisc_bypass: bool
    paged_skb: bool
    ring_frames: int
    batch: int
    rx_block_size: int = 0  # 0: the receiver's default
    rx_blocks: int = 0
    # Skip the refusal of a management interface (the scenario's allow_management_interface).
    allow_management_interface: bool = False


@dataclass
class FlowOutcome:
    """What one flow measured on this agent (senders fill tx, receivers rx)."""

    plan: FlowPlan
    tx: list[TxResult] = field(default_factory=list)
    rx: RxResult | None = None
    interface_before: dict[str, int] = field(default_factory=dict)
    interface_after: dict[str, int] = field(default_factory=dict)
    error: str = ""


@dataclass
class _ReceiveGroup:
    """The receivers of one interface: one worker per fanout member."""

    interface: str
    flow_ids: frozenset[int]
    receivers: list[Receiver]
    results: list[RxResult] = field(default_factory=list)


Clock = Callable[[], int]


@dataclass(frozen=True)
class DataPlane:
    """What a session drives: the real rings and kernel counters, or fakes in unit tests."""

    # Each sender in its own process (rings/isolated.py); receivers are threads.
    open_sender: Callable[[TxConfig], Sender] = IsolatedSender
    open_receiver: Callable[[RxConfig], Receiver] = open_receiver
    interface_counters: Callable[[str], dict[str, int]] = sysinfo.interface_counters


class Session:
    def __init__(
        self,
        session_id: str,
        flows: list[FlowPlan],
        lease_ns: int,
        monotonic_ns: Clock = time.monotonic_ns,
        wall_ns: Clock = time.time_ns,
        plane: DataPlane = DataPlane(),
    ) -> None:
        self.session_id = session_id
        self._plane = plane
        self.flows = flows
        self.lease_ns = lease_ns
        self._mono = monotonic_ns
        self._wall = wall_ns
        self._state = State.PREPARED
        self._start_mono_ns: int | None = None
        self.error = ""
        # Set once a controller has read the final results; collected sessions are forgotten first.
        self.collected = False
        self.stop_event = threading.Event()
        self.done_event = threading.Event()
        self._lock = threading.Lock()
        self._last_renewal = monotonic_ns()
        # How often the lease watchdog has looked (tests wait on it instead of sleeping).
        self.lease_checks = 0
        self._deadline_mono_ns: int | None = None
        # Set by the first stop(): the state and reason the session ends with.
        self._stopped_as: tuple[State, str] | None = None
        self._supervised = False
        self._done_callbacks: list[Callable[[], None]] = []
        self._senders: dict[int, list[Sender]] = {}
        self._groups: list[_ReceiveGroup] = []
        self._threads: list[threading.Thread] = []
        self.outcomes = {flow.flow_id: FlowOutcome(flow) for flow in flows}
        self._open_workers()

    @property
    def state(self) -> State:
        # SCHEDULED turns into RUNNING by itself when the scheduled start passes.
        if (
            self._state is State.SCHEDULED
            and self._start_mono_ns is not None
            and self._mono() >= self._start_mono_ns
        ):
            return State.RUNNING
        return self._state

    # --- setup -----------------------------------------------------------------

    def _open_workers(self) -> None:
        # Whatever fails here, every socket and ring opened so far is closed again:
        # a refused Prepare leaves nothing behind on the host.
        try:
            for outcome in self.outcomes.values():
                outcome.interface_before = self._plane.interface_counters(outcome.plan.interface)
            self._open_receivers()
            self._open_senders()
        except OSError as exc:
            self.close()
            raise SessionError("precondition", f"cannot open the data plane: {exc}") from exc
        except Exception as exc:
            self.close()
            raise SessionError("invalid", f"cannot set up the flows: {exc}") from exc
        for group in self._groups:
            for receiver in group.receivers:
                self._spawn(f"rx-{group.interface}", self._run_receiver, group, receiver)
        self._spawn("lease", self._watch_lease)

    def _open_receivers(self) -> None:
        by_interface: dict[str, list[FlowPlan]] = {}
        for flow in self.flows:
            if flow.role == "receive":
                by_interface.setdefault(flow.interface, []).append(flow)
        for index, (interface, flows) in enumerate(sorted(by_interface.items())):
            workers = max(f.workers for f in flows)
            flow_ids = frozenset(f.flow_id for f in flows)
            # Fanout ids are per namespace; derive one from the session so two sessions never share.
            fanout = (hash((self.session_id, index)) & 0xFFFF) if workers > 1 else None
            group = _ReceiveGroup(interface, flow_ids, [])
            self._groups.append(group)
            for worker in range(workers):
                group.receivers.append(
                    self._plane.open_receiver(
                        RxConfig(
                            interface=interface,
                            flow_ids=flow_ids,
                            static_flow_ids=frozenset(f.flow_id for f in flows if not f.stamping),
                            worker=worker,
                            workers=workers,
                            fanout_group=fanout,
                            block_size=max(f.rx_block_size for f in flows),
                            block_count=max(f.rx_blocks for f in flows),
                            snap_len=rx.snap_len_for(f.frame_size for f in flows),
                        )
                    )
                )

    def _open_senders(self) -> None:
        for flow in self.flows:
            if flow.role != "send":
                continue
            workers: list[Sender] = []
            self._senders[flow.flow_id] = workers
            for worker in range(flow.workers):
                workers.append(
                    self._plane.open_sender(
                        TxConfig(
                            interface=flow.interface,
                            flow_id=flow.flow_id,
                            worker=worker,
                            src_mac=flow.src_mac,
                            dst_mac=flow.dst_mac,
                            frame_size=flow.frame_size,
                            rate_pps=flow.rate_pps / flow.workers,
                            engine=flow.engine,
                            stamping=flow.stamping,
                            qdisc_bypass=flow.qdisc_bypass,
                            paged_skb=flow.paged_skb,
                            ring_frames=flow.ring_frames,
                            batch=flow.batch,
                        )
                    )
                )

    def _spawn(self, name: str, target: Callable[..., None], *args: object) -> None:
        thread = threading.Thread(
            target=target, args=args, name=f"{self.session_id[:8]}-{name}", daemon=True
        )
        self._threads.append(thread)
        thread.start()

    # --- control ---------------------------------------------------------------

    def start(self, start_at_wall_ns: int, duration_ns: int, drain_ns: int) -> int:
        with self._lock:
            if self._state is not State.PREPARED:
                raise SessionError(
                    "precondition",
                    f"session {self.session_id} is {self.state.value}; Start needs a prepared session",
                )
            if self._stopped_as is not None:
                raise SessionError(
                    "precondition",
                    f"session {self.session_id} is stopping ({self._stopped_as[0].value}); "
                    "prepare a new session",
                )
            delay_ns = start_at_wall_ns - self._wall()
            start_mono_ns = self._mono() + delay_ns
            self._start_mono_ns = start_mono_ns
            self._deadline_mono_ns = start_mono_ns + duration_ns + drain_ns
            self._state = State.SCHEDULED if delay_ns > 0 else State.RUNNING
        self._last_renewal = self._mono()
        for flow_id, senders in self._senders.items():
            for sender in senders:
                self._spawn(
                    f"tx-{flow_id}", self._run_sender, flow_id, sender, start_mono_ns, duration_ns
                )
        self._ensure_supervisor()
        return delay_ns

    def stop(self, state: State = State.STOPPED, reason: str = "") -> None:
        with self._lock:
            if self.state.done:
                return
            if self._stopped_as is None:
                self._stopped_as = (state, reason)
            self.stop_event.set()
        # A session stopped before Start has no supervisor yet; the receivers still need one.
        self._ensure_supervisor()

    def _ensure_supervisor(self) -> None:
        with self._lock:
            if self._supervised:
                return
            self._supervised = True
        self._spawn("supervisor", self._supervise)

    def renew(self) -> None:
        """Extend the lease; an expired lease cannot be revived (traffic already stopped)."""
        with self._lock:
            expired = self._stopped_as is not None and self._stopped_as[0] is State.EXPIRED
            if expired or self._state is State.EXPIRED:
                reason = self._stopped_as[1] if self._stopped_as else self.error
                raise SessionError("precondition", f"session {self.session_id}: {reason}")
            self._last_renewal = self._mono()

    def deadline(self) -> int | None:
        return self._deadline_mono_ns

    # --- workers ---------------------------------------------------------------

    def _run_sender(
        self, flow_id: int, sender: Sender, start_mono_ns: int, duration_ns: int
    ) -> None:
        outcome = self.outcomes[flow_id]
        try:
            result = sender.run(start_mono_ns, duration_ns, self.stop_event)
            with self._lock:
                outcome.tx.append(result)
        except Exception as exc:  # a worker must never take the agent down
            with self._lock:
                outcome.error = outcome.error or f"sender failed: {exc}"

    def _run_receiver(self, group: _ReceiveGroup, receiver: Receiver) -> None:
        try:
            result = receiver.run(self.stop_event, self.deadline)
            with self._lock:
                group.results.append(result)
        except Exception as exc:
            with self._lock:
                for flow_id in group.flow_ids:
                    self.outcomes[flow_id].error = f"receiver failed: {exc}"

    def _watch_lease(self) -> None:
        # Polls at a fraction of the lease so traffic stops within lease + poll.
        poll_s = min(0.1, self.lease_ns / 1e9 / 10)
        while not self.done_event.wait(poll_s):
            self.lease_checks += 1
            if self._mono() - self._last_renewal > self.lease_ns:
                self.stop(
                    State.EXPIRED,
                    f"lease of {self.lease_ns / 1e9:g}s expired: the controller stopped renewing",
                )
                return

    def _supervise(self) -> None:
        for thread in list(self._threads):
            if thread is threading.current_thread() or thread.name.endswith("-lease"):
                continue
            if thread.name.endswith("-supervisor"):
                continue
            thread.join()
        for outcome in self.outcomes.values():
            try:
                outcome.interface_after = self._plane.interface_counters(outcome.plan.interface)
            except Exception as exc:
                outcome.error = outcome.error or f"interface counters unreadable: {exc}"
        for group in self._groups:
            merged = merge_rx_results(group.results)
            for flow_id in group.flow_ids:
                self.outcomes[flow_id].rx = merged
        self.close()
        with self._lock:
            errors = [o.error for o in self.outcomes.values() if o.error]
            if self._stopped_as is not None:
                self._state, self.error = self._stopped_as
            elif errors:
                self._state = State.FAILED
                self.error = "; ".join(errors)
            else:
                self._state = State.FINISHED
            callbacks, self._done_callbacks = self._done_callbacks, []
        self.done_event.set()
        for callback in callbacks:
            callback()

    def on_done(self, callback: Callable[[], None]) -> None:
        """Call `callback` (from any thread) once the session has ended."""
        with self._lock:
            if not self.done_event.is_set():
                self._done_callbacks.append(callback)
                return
        callback()

    def close(self) -> None:
        for senders in self._senders.values():
            for sender in senders:
                sender.close()
        for group in self._groups:
            for receiver in group.receivers:
                receiver.close()

    # --- views -----------------------------------------------------------------

    def live_counters(self) -> list[tuple[FlowPlan, int, int]]:
        """(flow, packets, bytes) now, summed over the flow's workers."""
        rows = []
        for flow in self.flows:
            progress: list[Progress]
            if flow.role == "send":
                progress = [s.progress for s in self._senders.get(flow.flow_id, [])]
            else:
                progress = [
                    r.progress[flow.flow_id]
                    for g in self._groups
                    if flow.flow_id in g.flow_ids
                    for r in g.receivers
                    if flow.flow_id in r.progress
                ]
            rows.append((flow, sum(p.packets for p in progress), sum(p.bytes for p in progress)))
        return rows


def merge_rx_results(results: list[RxResult]) -> RxResult | None:
    """Add up the fanout workers of one interface.

    Fanout hashes each sender worker's stream to one receiver worker, so the
    workers' per-flow counts are disjoint and add up. Latency percentiles of
    several workers are combined conservatively (the worst p99, the p50 of the
    worker with most samples).
    """
    if not results:
        return None
    if len(results) == 1:
        return results[0]
    flows: dict[int, StreamStats] = {}
    for result in results:
        for flow_id, stats in result.flows.items():
            flows[flow_id] = add_stream_stats(flows[flow_id], stats) if flow_id in flows else stats
    latency: dict[int, LatencyStats] = {}
    for flow_id in {f for r in results for f in r.latency}:
        parts = [
            r.latency[flow_id] for r in results if r.latency.get(flow_id, LatencyStats()).samples
        ]
        latency[flow_id] = combine_latency(parts)
    return RxResult(
        flows=flows,
        latency=latency,
        foreign_frames=sum(r.foreign_frames for r in results),
        suspect_frames=sum(r.suspect_frames for r in results),
        kernel_packets=sum(r.kernel_packets for r in results),
        kernel_drops=sum(r.kernel_drops for r in results),
        kernel_freezes=sum(r.kernel_freezes for r in results),
        started_wall_ns=min(r.started_wall_ns for r in results),
    )


def add_stream_stats(a: StreamStats, b: StreamStats) -> StreamStats:
    firsts = [t for t in (a.first_wall_ns, b.first_wall_ns) if t]
    return StreamStats(
        packets=a.packets + b.packets,
        bytes=a.bytes + b.bytes,
        unique_packets=a.unique_packets + b.unique_packets,
        duplicates=a.duplicates + b.duplicates,
        reordered=a.reordered + b.reordered,
        expected_packets=a.expected_packets + b.expected_packets,
        first_wall_ns=min(firsts) if firsts else 0,
        last_wall_ns=max(a.last_wall_ns, b.last_wall_ns),
    )


def combine_latency(parts: list[LatencyStats]) -> LatencyStats:
    if not parts:
        return LatencyStats()
    samples = sum(p.samples for p in parts)
    biggest = max(parts, key=lambda p: p.samples)
    return LatencyStats(
        samples=samples,
        min_us=min(p.min_us for p in parts),
        p50_us=biggest.p50_us,
        p99_us=max(p.p99_us for p in parts),
        max_us=max(p.max_us for p in parts),
        mean_us=sum(p.mean_us * p.samples for p in parts) / samples,
    )


class SessionManager:
    """All sessions of this agent; at most one prepared or running at a time.

    `management` tells which interfaces no flow may use unless the flow allows it; by
    default this host's, with the SSH session's address taken from the environment now,
    when the agent starts.
    """

    def __init__(
        self,
        monotonic_ns: Clock = time.monotonic_ns,
        wall_ns: Clock = time.time_ns,
        plane: DataPlane = DataPlane(),
        management: ManagementInterfaces | None = None,
    ) -> None:
        self._sessions: OrderedDict[str, Session] = OrderedDict()
        self._mono = monotonic_ns
        self._wall = wall_ns
        self._plane = plane
        self.management = management or ManagementInterfaces.from_environment()
        self._lock = threading.Lock()

    def check(
        self,
        session_id: str,
        flows: list[FlowPlan],
        lease_ms: int,
        controller_addresses: Iterable[str] = (),
    ) -> None:
        """Raise what `prepare` would refuse the request for, opening nothing.

        Every engine's flows pass here before anything is opened: this is where the
        management-interface guard lives.
        """
        try:
            management = self.management.find(controller_addresses)
        except Exception as exc:  # whatever the failure, refuse: an unknown is not "none"
            raise SessionError(
                "unavailable",
                f"cannot read this host's routes and addresses to tell its management "
                f"interfaces ({exc}); refusing until they can be read",
            ) from exc
        validate_flows(session_id, flows, lease_ms, management)

    def prepare(
        self,
        session_id: str,
        flows: list[FlowPlan],
        lease_ms: int,
        controller_addresses: Iterable[str] = (),
    ) -> Session:
        self.check(session_id, flows, lease_ms, controller_addresses)
        with self._lock:
            if session_id in self._sessions:
                raise SessionError("precondition", f"session {session_id} already exists")
            busy = [s for s in self._sessions.values() if not s.state.done]
            if busy:
                raise SessionError(
                    "precondition",
                    f"session {busy[0].session_id} is still {busy[0].state.value} on this agent; "
                    "stop it (or wait for it to finish) before preparing another",
                )
            session = Session(
                session_id, flows, lease_ms * 1_000_000, self._mono, self._wall, self._plane
            )
            self._sessions[session_id] = session
            self._forget_old()
            return session

    def get(self, session_id: str) -> Session:
        session = self._sessions.get(session_id)
        if session is None:
            raise SessionError(
                "not_found",
                f"no session {session_id!r} on this agent (it was never prepared, or was released)",
            )
        return session

    def release(self, session_id: str) -> None:
        session = self.get(session_id)
        if not session.state.done:
            raise SessionError(
                "precondition", f"session {session_id} is {session.state.value}; stop it first"
            )
        with self._lock:
            self._sessions.pop(session_id, None)

    def stop_all(self) -> None:
        for session in list(self._sessions.values()):
            session.stop()
        for session in list(self._sessions.values()):
            session.done_event.wait(5)

    def _forget_old(self) -> None:
        # Oldest first, and sessions whose results were collected before those never collected.
        finished = [sid for sid, s in self._sessions.items() if s.state.done]
        finished.sort(key=lambda sid: not self._sessions[sid].collected)
        for sid in finished[: max(0, len(self._sessions) - KEEP_FINISHED_SESSIONS)]:
            del self._sessions[sid]


def validate_flows(
    session_id: str, flows: list[FlowPlan], lease_ms: int, management: Mapping[str, str]
) -> None:
    """Reject requests that cannot be right before touching any socket.

    `management` maps each management interface to why it is one (see
    ringlab.agent.management); a flow on one is refused unless it allows it.
    """
    if not session_id:
        raise SessionError("invalid", "session_id is empty; give each session a unique id")
    if not flows:
        raise SessionError("invalid", "no flows in Prepare; a session needs at least one flow")
    if not MIN_LEASE_MS <= lease_ms <= MAX_LEASE_MS:
        raise SessionError(
            "invalid", f"lease_ms {lease_ms} is out of range {MIN_LEASE_MS}..{MAX_LEASE_MS}"
        )
    total_workers = sum(max(1, f.workers) for f in flows)
    if total_workers > MAX_SESSION_WORKERS:
        raise SessionError(
            "invalid",
            f"{len(flows)} flows ask for {total_workers} workers; one session may use at most "
            f"{MAX_SESSION_WORKERS} (each worker is a socket, a ring and a thread)",
        )
    interfaces = {i.name: i for i in sysinfo.list_interfaces()}
    seen: set[tuple[int, str]] = set()
    session_ring_bytes = _rx_ring_bytes(flows)
    for flow in flows:
        where = f"flow {flow.name!r} (id {flow.flow_id})"
        if (flow.flow_id, flow.role) in seen:
            raise SessionError("invalid", f"{where}: flow id used twice for {flow.role}")
        seen.add((flow.flow_id, flow.role))
        if flow.role not in ("send", "receive"):
            raise SessionError("invalid", f"{where}: role must be send or receive")
        iface = interfaces.get(flow.interface)
        if iface is None:
            names = ", ".join(interfaces)
            raise SessionError(
                "invalid", f"{where}: no interface {flow.interface!r} here; this host has {names}"
            )
        why = management.get(flow.interface)
        if why is not None and not flow.allow_management_interface:
            raise SessionError(
                "precondition",
                f"{where}: interface {flow.interface} {why}; ringlab refuses to {flow.role} test "
                "traffic on a management interface. Use a test interface, or set "
                "allow_management_interface: true in the scenario if this is intended",
            )
        largest = min(iface.mtu + 18, MAX_FRAME_SIZE)
        if not 64 <= flow.frame_size <= largest:
            raise SessionError(
                "invalid",
                f"{where}: frame_size {flow.frame_size} must be 64..{largest} "
                f"(MTU {iface.mtu} of {flow.interface} + 18 bytes of Ethernet header and FCS)",
            )
        if not 1 <= flow.workers <= MAX_WORKERS:
            raise SessionError("invalid", f"{where}: workers must be 1..{MAX_WORKERS}")
        if not (math.isfinite(flow.rate_pps) and 0 <= flow.rate_pps <= MAX_RATE_PPS):
            raise SessionError(
                "invalid",
                f"{where}: rate_pps {flow.rate_pps} is impossible; use 0 (as fast as possible) "
                f"or a rate up to {MAX_RATE_PPS:.0e}",
            )
        if flow.role == "receive":
            _check_rx_ring(where, flow)
        if not 0 <= flow.ring_frames <= MAX_RING_FRAMES:
            raise SessionError(
                "invalid",
                f"{where}: ring_frames {flow.ring_frames} is absurd; use 0 (default) "
                f"or up to {MAX_RING_FRAMES}",
            )
        ring_bytes = flow.ring_frames * ring_slot_bytes(flow.frame_size)
        if flow.role == "send" and ring_bytes > MAX_RING_BYTES:
            raise SessionError(
                "invalid",
                f"{where}: ring_frames {flow.ring_frames} of {flow.frame_size}-byte frames need "
                f"{ring_bytes >> 20} MiB per worker; the limit is {MAX_RING_BYTES >> 20} MiB, "
                "use fewer ring_frames",
            )
        if flow.role == "send":
            session_ring_bytes += ring_bytes * flow.workers
        if session_ring_bytes > MAX_SESSION_RING_BYTES:
            raise SessionError(
                "invalid",
                f"{where}: the rings of this session would need {session_ring_bytes >> 20} MiB; "
                f"the limit is {MAX_SESSION_RING_BYTES >> 20} MiB, use fewer ring_frames, "
                "rx_blocks or workers",
            )
        if not 0 <= flow.batch <= MAX_BATCH:
            raise SessionError(
                "invalid", f"{where}: batch {flow.batch} is absurd; use 0 (default) .. {MAX_BATCH}"
            )
        if flow.role == "send" and len(flow.dst_mac) != 6:
            raise SessionError("invalid", f"{where}: dst_mac must be a MAC address")


def _check_rx_ring(where: str, flow: FlowPlan) -> None:
    size = flow.rx_block_size
    if size and (size % pk.PAGE_SIZE or not pk.PAGE_SIZE <= size <= MAX_RX_BLOCK_SIZE):
        raise SessionError(
            "invalid",
            f"{where}: rx_block_size {size} must be 0 (default) or a multiple of this host's "
            f"page size ({pk.PAGE_SIZE}) up to {MAX_RX_BLOCK_SIZE >> 20} MiB",
        )
    if flow.rx_blocks == 1 or not 0 <= flow.rx_blocks <= MAX_RX_BLOCKS:
        raise SessionError(
            "invalid",
            f"{where}: rx_blocks {flow.rx_blocks} must be 0 (default) or 2..{MAX_RX_BLOCKS}",
        )


def _rx_ring_bytes(flows: list[FlowPlan]) -> int:
    """Memory of the receive rings: one set per interface, sized by its largest request."""
    by_interface: dict[str, list[FlowPlan]] = {}
    for flow in flows:
        if flow.role == "receive":
            by_interface.setdefault(flow.interface, []).append(flow)
    total = 0
    for group in by_interface.values():
        size = max(f.rx_block_size for f in group) or DEFAULT_RX_BLOCK_SIZE
        count = max(f.rx_blocks for f in group) or DEFAULT_RX_BLOCKS
        total += size * count * max(f.workers for f in group)
    return total


def ring_slot_bytes(frame_size: int) -> int:
    """Upper bound of one TX ring slot: frame, tpacket2 header, 16-byte alignment."""
    return frame_size + 64
