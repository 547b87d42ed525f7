"""Waiting for a scheduled start, shared by the sending engines.

Agents of one run must start within a fraction of a millisecond of each other. The
wait runs at SCHED_FIFO (this thread only, only while waiting): at normal priority a
busy core wakes a sleeper milliseconds late. The last `START_SPIN_NS` are spun, not
slept: waking from a sleep costs ~100 µs more on a virtual machine (the idle vCPU must
be resumed); sleeping the last stretch instead raised the start skew's median from
~240 to ~350 µs.
Each sender runs in a process of its own (rings/isolated.py), so the spinning thread
holds a GIL that nobody else wants.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable

from ringlab.agent.rings.api import TxResult
from ringlab.agent.rings.pacing import sleep_until

START_SPIN_NS = 1_000_000


def run_from_start(
    start_mono_ns: int, stop: threading.Event, send: Callable[[RealtimeStart], TxResult]
) -> TxResult:
    """Wait for the start, then `send`, which calls `release()` once its first batch is out.

    Stopped before the start, nothing is sent and the result is empty.
    """
    started_wall = time.time_ns()
    gate = RealtimeStart()
    if not gate.wait(start_mono_ns, stop):
        return TxResult(
            packets=0,
            bytes=0,
            send_errors=0,
            started_wall_ns=started_wall,
            first_wall_ns=0,
            last_wall_ns=0,
            user_cpu_s=0.0,
            system_cpu_s=0.0,
        )
    try:
        return send(gate)
    finally:
        gate.release()


class RealtimeStart:
    """Waits for a scheduled start at SCHED_FIFO and keeps that priority until the
    sender says its first batch is out (`release`).

    Dropping back to normal priority right at the start lets the scheduler preempt
    the sender before its first frame: measured 1.8-2.5 ms late under CPU load. The
    priority is this thread's only; without the privilege the wait is simply normal.
    """

    def __init__(self) -> None:
        self._previous: tuple[int, os.sched_param] | None = None

    def wait(self, start_mono_ns: int, stop: threading.Event) -> bool:
        """Wait for the start time; False (priority already dropped) if stop was set first."""
        try:
            previous = os.sched_getscheduler(0), os.sched_getparam(0)
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(1))
            self._previous = previous
        except OSError:
            pass
        pause_until(start_mono_ns - START_SPIN_NS, stop)
        monotonic = time.monotonic_ns
        while monotonic() < start_mono_ns and not stop.is_set():
            pass
        if stop.is_set():
            self.release()
            return False
        return True

    def release(self) -> None:
        """Back to the thread's own priority; cheap to call again."""
        if self._previous is not None:
            os.sched_setscheduler(0, *self._previous)
            self._previous = None


def pause_until(deadline_ns: int, stop: threading.Event) -> None:
    """Sleep until deadline_ns (monotonic) or until stop is set, releasing the GIL."""
    while True:
        left = deadline_ns - time.monotonic_ns()
        if left <= 0 or stop.is_set():
            return
        if left > 20_000_000:
            stop.wait((left - 10_000_000) / 1e9)
        else:
            sleep_until(deadline_ns)
            return
