"""Sessions: one phase of a run on this agent, from Prepare to collected results.

A session owns the data-plane workers of its flows (one socket and ring each),
the threads that run them, and a lease. Receivers start counting at Prepare so
they are ready before any sender starts; senders wait for the scheduled start.
When the lease is not renewed in time every worker is stopped: traffic never
outlives the controller that asked for it. Finished sessions are kept until
released so nothing measured is lost when a controller reconnects.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ringlab.agent import sysinfo
from ringlab.agent.external import engine as external
from ringlab.agent.external.process import ToolFailed
from ringlab.agent.flows import FlowOutcome, FlowPlan, QueueBusyInfo, SessionError, State
from ringlab.agent.rings import rx
from ringlab.agent.rings.api import (
    Progress,
    Receiver,
    RxConfig,
    RxResult,
    Sender,
    TxConfig,
    open_receiver,
)
from ringlab.agent.rings.api import open_sender as open_in_process
from ringlab.agent.rings.isolated import IsolatedSender
from ringlab.agent.rings.xdp.errors import QueueBusy
from ringlab.agent.rx_merge import merge_rx_results
from ringlab.clock import Clock
from ringlab.engines import BUILTIN_ENGINES


@dataclass
class _ReceiveGroup:
    """The receivers of one interface: one worker per fanout member (ring engine) or
    one socket per interface queue (xdp engine); every one counts all the flow ids."""

    interface: str
    flow_ids: frozenset[int]
    receivers: list[Receiver]
    results: list[RxResult] = field(default_factory=list)


@dataclass(frozen=True)
class DataPlane:
    """What a session drives: the real rings and kernel counters, or fakes in unit tests."""

    # Each sender in its own process (rings/isolated.py); receivers are threads.
    open_sender: Callable[[TxConfig], Sender] = IsolatedSender
    open_receiver: Callable[[RxConfig], Receiver] = open_receiver
    # Senders that must live in the agent's own process: xdp_share joins the socket of
    # this process's xdp receiver (one owner of the queue for both directions).
    open_local_sender: Callable[[TxConfig], Sender] = open_in_process
    interface_counters: Callable[[str], dict[str, int]] = sysinfo.interface_counters
    # Flow sides run by an external tool's process (agent/external/: testpmd, PF_RING).
    open_external: Callable[[FlowPlan], external.ExternalSender | external.ExternalReceiver] = (
        external.open_external
    )


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
        self._external_rx: dict[int, external.ExternalReceiver] = {}
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
                if outcome.plan.pci_address:
                    continue  # a port bound to DPDK: the kernel has no counters for it
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
        for flow_id, tool in self._external_rx.items():
            self._spawn(f"rx-tool-{flow_id}", self._run_external_receiver, tool)
        # The lease counts from a Prepare's answer: opening can take seconds (an external
        # tool's start-up), and a lease of 1 s had expired before the controller could renew.
        self._last_renewal = self._mono()
        self._spawn("lease", self._watch_lease)

    def _open_receivers(self) -> None:
        by_interface: dict[str, list[FlowPlan]] = {}
        for flow in self.flows:
            if flow.role == "receive" and flow.external:
                self._open_external(flow)
            elif flow.role == "receive":
                by_interface.setdefault(flow.interface, []).append(flow)
        for index, (interface, flows) in enumerate(sorted(by_interface.items())):
            flow_ids = frozenset(f.flow_id for f in flows)
            group = _ReceiveGroup(interface, flow_ids, [])
            self._groups.append(group)
            # Validation keeps one receive engine per interface.
            if flows[0].xdp:
                self._open_xdp_receivers(group, flows)
                continue
            workers = max(f.workers for f in flows)
            # Fanout ids are per namespace; derive one from the session so two sessions never share.
            fanout = (hash((self.session_id, index)) & 0xFFFF) if workers > 1 else None
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

    def _open_xdp_receivers(self, group: _ReceiveGroup, flows: list[FlowPlan]) -> None:
        """One AF_XDP socket per interface queue any of the flows uses (no fanout: the
        sender's worker w sends on queue xdp_queue + w, which the peer receives on)."""
        queues = sorted({q for f in flows for q in f.xdp_queues()})
        for queue in queues:
            on_queue = [f for f in flows if queue in f.xdp_queues()]
            first = on_queue[0]
            config = RxConfig(
                interface=group.interface,
                flow_ids=group.flow_ids,
                static_flow_ids=frozenset(f.flow_id for f in flows if not f.stamping),
                engine="xdp",
                xdp_queue=queue,
                xdp_mode=first.xdp_mode,
                xdp_attach=first.xdp_attach,
                xdp_share=any(f.xdp_share for f in on_queue),
                xdp_frames=max(f.xdp_frames for f in on_queue),
            )
            try:
                group.receivers.append(self._plane.open_receiver(config))
            except QueueBusy as exc:
                for flow in on_queue:
                    self._record_busy(flow, exc)

    def _open_senders(self) -> None:
        for flow in self.flows:
            if flow.role != "send":
                continue
            workers: list[Sender] = []
            self._senders[flow.flow_id] = workers
            if flow.external:
                self._open_external(flow)
                continue
            # A shared xdp socket lives in this process, beside the receiver it shares.
            local = flow.xdp and flow.xdp_share
            opener = self._plane.open_local_sender if local else self._plane.open_sender
            try:
                for worker in range(flow.workers):
                    workers.append(opener(self._tx_config(flow, worker)))
            except QueueBusy as exc:
                for sender in workers:
                    sender.close()
                workers.clear()
                self._record_busy(flow, exc)

    @staticmethod
    def _tx_config(flow: FlowPlan, worker: int) -> TxConfig:
        # External engines never get here (_open_external).
        assert flow.engine in BUILTIN_ENGINES, flow.engine
        return TxConfig(
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
            xdp_queue=flow.xdp_queue,
            xdp_mode=flow.xdp_mode,
            xdp_attach=flow.xdp_attach,
            xdp_share=flow.xdp_share,
        )

    def _record_busy(self, flow: FlowPlan, exc: QueueBusy) -> None:
        """The kernel refused a second owner of an interface queue: a result, not a crash.

        The flow runs no worker; its error names the queue, who holds it and which of this
        session's flows have sockets there (the likely holders).
        """
        holders = tuple(
            f"{other.name} ({'sender' if other.role == 'send' else 'receiver'})"
            for other in self.flows
            if other is not flow
            and other.xdp
            and other.interface == exc.interface
            and exc.queue in other.xdp_queues()
        )
        ours = f"; this session's flows on that queue: {', '.join(holders)}" if holders else ""
        outcome = self.outcomes[flow.flow_id]
        outcome.queue_busy = QueueBusyInfo(exc.interface, exc.queue, exc.role, exc.owners, holders)
        outcome.error = outcome.error or f"xdp queue busy: {exc.strerror}{ours}"

    def _open_external(self, flow: FlowPlan) -> None:
        """The flow side's tool (one process for all its workers); a tool that is missing
        or fails to start is the flow's error, not a refused Prepare."""
        try:
            tool = self._plane.open_external(flow)
        except ToolFailed as exc:
            self._record_tool_failure(flow, exc)
            return
        if isinstance(tool, external.ExternalSender):
            self._senders[flow.flow_id].append(tool)
        else:
            self._external_rx[flow.flow_id] = tool

    def _record_tool_failure(self, flow: FlowPlan, exc: ToolFailed) -> None:
        holders = tuple(
            f"{other.name} ({'sender' if other.role == 'send' else 'receiver'})"
            for other in self.flows
            if other is not flow
            and other.interface == flow.interface
            and (other.xdp or other.tool_device == "af_xdp")
            and flow.xdp_queue in other.xdp_queues()
        )
        external.record_failure(self.outcomes[flow.flow_id], exc, holders)

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
                if isinstance(sender, external.ExternalSender):
                    outcome.tool = sender.tool_run()
        except ToolFailed as exc:
            with self._lock:
                self._record_tool_failure(outcome.plan, exc)
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

    def _run_external_receiver(self, tool: external.ExternalReceiver) -> None:
        outcome = self.outcomes[tool.plan.flow_id]
        try:
            result = tool.run(self.stop_event, self.deadline)
            with self._lock:
                outcome.rx = result
                outcome.tool = tool.tool_run()
        except ToolFailed as exc:
            with self._lock:
                self._record_tool_failure(tool.plan, exc)
        except Exception as exc:
            with self._lock:
                outcome.error = outcome.error or f"receiver failed: {exc}"

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
            if outcome.plan.pci_address:
                continue
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
        for tool in self._external_rx.values():
            tool.close()

    # --- views -----------------------------------------------------------------

    def live_counters(self) -> list[tuple[FlowPlan, int, int]]:
        """(flow, packets, bytes) now, summed over the flow's workers."""
        rows = []
        for flow in self.flows:
            progress: list[Progress]
            if flow.role == "send":
                progress = [s.progress for s in self._senders.get(flow.flow_id, [])]
            elif flow.flow_id in self._external_rx:
                progress = [self._external_rx[flow.flow_id].progress]
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
