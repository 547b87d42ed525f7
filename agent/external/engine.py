"""External engines as the session sees them: a Sender or a Receiver (rings/api.py) whose
work is a tool's process, and how a tool's failure becomes the flow's result.

A sending tool starts at the scheduled instant and is stopped (SIGINT, final counters)
when the duration is over, on Stop, or when the lease expires. A receiving tool starts
at Prepare, as ringlab's receivers do, and Prepare returns once it forwards (or fails);
it stops at the session's deadline. Counts are the tool's: nothing is counted by
sequence (the tools write no ringlab header), and results say so (count_source "tool").
"""

from __future__ import annotations

import itertools
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from ringlab.agent.external import pfring_engine, testpmd
from ringlab.agent.external.process import (
    OutputParser,
    ToolFailed,
    ToolProcess,
    ToolSpec,
)
from ringlab.agent.flows import FlowOutcome, FlowPlan, QueueBusyInfo, ToolRun
from ringlab.agent.probes import dpdk
from ringlab.agent.rings.api import Progress, RxResult, StreamStats, TxResult

# EAL initialisation and port setup take about 0.3 s here; a loaded host takes longer.
START_TIMEOUT_S = 20.0
# How often an interactive tool is asked for its counters (live stats, receive window).
POLL_S = 0.2
POLL_NS = int(POLL_S * 1e9)
_prefixes = itertools.count()


class _Counters(OutputParser, Protocol):
    readings: int

    @property
    def live_packets(self) -> int: ...
    @property
    def live_bytes(self) -> int: ...

    def final_packets(self) -> int | None: ...
    def final_bytes(self, packets: int, frame_size: int) -> int: ...
    def extra(self) -> dict[str, int]: ...


class _LiveProgress(Progress):
    """Progress read from the tool's latest counters (written by its keeper thread)."""

    def __init__(self, counters: _Counters) -> None:
        self._counters = counters

    @property  # type: ignore[override]
    def packets(self) -> int:
        return self._counters.live_packets

    @packets.setter
    def packets(self, value: int) -> None:
        raise AttributeError("a tool's counters are its own")

    @property  # type: ignore[override]
    def bytes(self) -> int:
        return self._counters.live_bytes

    @bytes.setter
    def bytes(self, value: int) -> None:
        raise AttributeError("a tool's counters are its own")


def _mac(raw: bytes) -> str:
    return ":".join(f"{b:02x}" for b in raw)


def tool_for(plan: FlowPlan) -> tuple[ToolSpec, _Counters]:
    """The command line and output parser of this flow side's tool; ToolFailed when the
    flow's options cannot make one (the message says which and why)."""
    engine = plan.side_engine
    if engine == "testpmd":
        options = testpmd.TestpmdOptions(
            interface=plan.interface,
            role=plan.role,
            frame_size=plan.frame_size,
            vdev=plan.tool_device or testpmd.DEFAULT_VDEV,
            workers=plan.workers,
            cores=plan.cores,
            dst_mac=_mac(plan.dst_mac) if plan.dst_mac else "",
            queue=plan.xdp_queue,
            file_prefix=f"ringlab-{os.getpid()}-{next(_prefixes)}",
            pci_address=plan.pci_address,
        )
        try:
            spec = testpmd.spec(options, sorted(os.sched_getaffinity(0)))
        except ValueError as exc:
            raise ToolFailed(f"{testpmd.BINARY}: {exc}") from None
        return spec, testpmd.TestpmdCounters(role=plan.role)
    if engine == "pfring":
        try:
            return pfring_engine.tool_for(plan)
        except ValueError as exc:
            raise ToolFailed(f"pfring: {exc}") from None
    raise ToolFailed(f"engine {engine} is not an external engine")


class _ExternalSide:
    def __init__(self, plan: FlowPlan, wall_ns: Callable[[], int]) -> None:
        self.plan = plan
        self._wall = wall_ns
        spec, counters = tool_for(plan)
        self.counters = counters
        self.process = ToolProcess(spec, counters, wall_ns)
        self.progress: Progress = _LiveProgress(counters)

    def _open(self) -> None:
        self.process.start(lambda: self.counters.live_packets)
        self.process.wait_ready(START_TIMEOUT_S)

    def tool_run(self) -> ToolRun:
        report = self.process.report()
        return ToolRun(report.command, report.output, report.exit)

    def _final(self) -> tuple[int, int]:
        packets = self.counters.final_packets()
        if packets is None:
            # No final statistics (killed, or never forwarded): the last reading.
            packets = self.counters.live_packets
        return packets, self.counters.final_bytes(packets, self.plan.frame_size)

    def _stop(self, stop: threading.Event, what: str) -> None:
        """Stop the tool; one that had exited by itself before the end is the flow's error."""
        exited_early = self.process.exited
        self.process.stop()
        if exited_early and not stop.is_set():
            report = self.process.report()
            raise ToolFailed(
                f"{self.process.spec.tool} exited {what} ({report.exit}):"
                f" {self.process.last_line()}",
                report=report,
            )

    def close(self) -> None:
        self.process.stop()

    def _info(self) -> dict[str, str]:
        info = {"tool": self.process.spec.tool}
        if self.plan.pci_address:
            # Which DPDK driver held the port: the result names it where it says why the
            # kernel has no counters for it.
            device = Path("/sys/bus/pci/devices") / self.plan.pci_address
            info["pci_driver"] = dpdk.pci_driver(device) or ""
        return info


class ExternalSender(_ExternalSide):
    """Sender protocol. An interactive tool (testpmd) is opened here, at Prepare, and told
    to start at the scheduled instant; another (PF_RING's) is started at that instant."""

    def __init__(self, plan: FlowPlan, wall_ns: Callable[[], int] = time.time_ns) -> None:
        super().__init__(plan, wall_ns)
        if self.process.spec.interactive:
            self._open()

    def run(self, start_mono_ns: int, duration_ns: int, stop: threading.Event) -> TxResult:
        self.process.wait_until(start_mono_ns, stop)
        if stop.is_set():
            self.process.stop()
            return self._result(begun=False)
        if self.process.spec.interactive:
            self.process.begin()
        else:
            self.process.start(lambda: self.counters.live_packets)
            self.process.wait_ready(START_TIMEOUT_S, stop)
        self.process.wait_until(start_mono_ns + duration_ns, stop, poll_s=POLL_S)
        self._stop(stop, "before the flow's end")
        return self._result(begun=True)

    def _result(self, begun: bool) -> TxResult:
        packets, size = self._final() if begun else (0, 0)
        first = self.process.started_wall_ns
        return TxResult(
            packets=packets,
            bytes=size,
            send_errors=0,
            started_wall_ns=first,
            first_wall_ns=first,
            last_wall_ns=self.process.stop_wall_ns,
            user_cpu_s=0.0,
            system_cpu_s=0.0,
            extra=self.counters.extra(),
            info=self._info(),
        )


class ExternalReceiver(_ExternalSide):
    """Receiver protocol: the tool runs from Prepare (opened here) to the deadline."""

    def __init__(self, plan: FlowPlan, wall_ns: Callable[[], int] = time.time_ns) -> None:
        super().__init__(plan, wall_ns)
        self.progress_by_flow = {plan.flow_id: self.progress}
        self._open()
        if self.process.spec.interactive:
            self.process.begin()

    def run(self, stop: threading.Event, deadline_mono_ns: Callable[[], int | None]) -> RxResult:
        while not stop.is_set() and not self.process.exited:
            deadline = deadline_mono_ns()
            if deadline is not None and time.monotonic_ns() >= deadline:
                break
            until = deadline if deadline is not None else time.monotonic_ns() + POLL_NS
            self.process.wait_until(min(until, time.monotonic_ns() + POLL_NS), stop)
            self.process.poll()
        self._stop(stop, "while receiving")
        packets, size = self._final()
        first, last = _span(self.process.readings)
        return RxResult(
            flows={
                self.plan.flow_id: StreamStats(
                    packets=packets,
                    bytes=size,
                    unique_packets=packets,
                    first_wall_ns=first,
                    last_wall_ns=last,
                )
            },
            latency={},
            foreign_frames=0,
            suspect_frames=0,
            kernel_packets=0,
            kernel_drops=0,
            kernel_freezes=0,
            started_wall_ns=self.process.started_wall_ns,
            extra=self.counters.extra(),
            info=self._info(),
        )


def _span(readings: list[tuple[int, int]]) -> tuple[int, int]:
    """The receive window from the readings: from the last reading before the count rose
    to the first reading at its highest value (an upper bound, so the rate from it is a
    lower bound; readings are POLL_S apart)."""
    first = last = 0
    previous = (0, 0)
    top = max((count for _, count in readings), default=0)
    for wall, count in readings:
        if count > previous[1] and not first:
            first = previous[0] or wall
        if count == top and top and not last:
            last = wall
        previous = (wall, count)
    return first, last


def _last_line(output: str) -> str:
    lines = [line for line in output.splitlines() if line.strip()]
    return lines[-1].strip() if lines else "(no output)"


def open_external(plan: FlowPlan) -> ExternalSender | ExternalReceiver:
    """The flow side's tool: ready to run (sender) or already receiving (receiver)."""
    if plan.role == "send":
        return ExternalSender(plan, time.time_ns)
    return ExternalReceiver(plan)


def record_failure(outcome: FlowOutcome, exc: ToolFailed, holders: tuple[str, ...]) -> None:
    """A tool that is missing, refused its arguments, failed or exited early: the flow's
    error with the tool's words; a queue another program holds is a queue_busy too."""
    plan = outcome.plan
    # The words the diagnosis keys the collision on (analysis/xdp.py MARKER).
    prefix = "xdp queue busy: " if exc.busy_line else ""
    outcome.error = outcome.error or prefix + exc.message
    if exc.report is not None:
        outcome.tool = ToolRun(exc.report.command, exc.report.output, exc.report.exit)
    if exc.busy_line:
        tool = exc.report.command.split()[0] if exc.report and exc.report.command else ""
        outcome.queue_busy = QueueBusyInfo(
            interface=plan.interface,
            queue=plan.xdp_queue,
            role="sender" if plan.role == "send" else "receiver",
            owners="",
            holders=holders,
            tool=tool,
            message=exc.busy_line,
        )
