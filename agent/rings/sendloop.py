"""What every sender does the same way: the paced ring loop, and how it meets refusals.

The ring and xdp senders post frames into a ring the kernel consumes; `send_paced`
is their one loop (fill what the pacer releases and the ring has room for, kick,
reclaim, wait). Two kinds of refusal reach a sender, and they are told apart by errno:

- An outage (ENETDOWN, ENXIO, ENODEV: the link is down or the device gone). The kernel
  refuses the whole ring, not a frame. `Outage` holds posting until a kick goes through
  (at most one batch leaves late), records when and for how long, and is reported as
  frames not sent (pacing.not_sent_report), never as one send error per retry.
- A drop of one frame (ENOBUFS: NET_XMIT_DROP from the sender's own qdisc or an egress
  filter, with qdisc_bypass off). The kernel keeps that frame and offers it again on the
  next send, and a TX ring cannot pass it: a filter that always drops it wedged the ring
  for the rest of the run (one frame retried 305,243 times). `QdiscDrops` counts tries
  and frames apart and says when to give a frame up: after GIVE_UP_TRIES tries over at
  least GIVE_UP_NS. A tbf whose queue is full frees room within one frame time at its
  rate, far below that bound, so congestion is waited out and only a frame the qdisc
  drops every time is given up (counted in send_errors, never sent).
"""

from __future__ import annotations

import errno
import threading
import time
from dataclasses import dataclass
from typing import Protocol

from ringlab.agent.rings import packet as pk
from ringlab.agent.rings.pacing import Pacer, Refusals
from ringlab.agent.rings.start import RealtimeStart, pause_until

# The link is down or the device is gone: the kernel refuses every frame.
OUTAGE_ERRNOS = frozenset({errno.ENETDOWN, errno.ENXIO, errno.ENODEV})
# The sender's qdisc or an egress filter dropped the frame (net_xmit_errno(NET_XMIT_DROP)).
QDISC_DROP_ERRNOS = frozenset({errno.ENOBUFS})
# While the kernel refuses the ring: how often to try again.
OUTAGE_RETRY_NS = 1_000_000
# A frame dropped on every try is given up after this many tries over at least this long.
GIVE_UP_TRIES = 4
GIVE_UP_NS = 10_000_000
# After a dropped try, the next one waits this long (the qdisc frees room meanwhile).
DROP_RETRY_NS = 100_000
DRAIN_NS = 1_000_000_000


@dataclass
class Outage:
    """Spans when the kernel refused a sender's whole ring (link down)."""

    since_wall: int = 0
    total_ns: int = 0
    count: int = 0
    error: str = ""

    @property
    def active(self) -> bool:
        return self.since_wall != 0

    def refused(self, error: OSError) -> None:
        if not self.since_wall:
            self.since_wall = time.time_ns()
            self.count += 1
        self.error = error.strerror or str(error)

    def accepted(self) -> None:
        if self.since_wall:
            self.total_ns += time.time_ns() - self.since_wall
            self.since_wall = 0

    def finish(self) -> Refusals:
        self.accepted()
        return Refusals(self.total_ns, self.count, self.error)


@dataclass
class QdiscDrops:
    """Frames the sender's qdisc dropped: every try counted once, every frame once."""

    tries: int = 0  # sends the kernel answered with a drop
    frames: int = 0  # distinct frames dropped at least once
    given_up: int = 0  # frames dropped on every try for GIVE_UP_NS: never sent
    error: str = ""
    _frame: int = -1
    _frame_tries: int = 0
    _since_ns: int = 0

    @property
    def pending(self) -> bool:
        """A dropped frame waits for its next try."""
        return self._frame >= 0

    def dropped(self, frame: int, error: OSError, now_ns: int) -> bool:
        """Record a drop of `frame` (its position in the stream); True: give it up now."""
        self.tries += 1
        reason = error.strerror or str(error)
        self.error = f"{reason} (dropped before the device: the sender's qdisc or an egress filter)"
        if frame != self._frame:
            self._frame, self._frame_tries, self._since_ns = frame, 0, now_ns
            self.frames += 1
        self._frame_tries += 1
        return self._frame_tries >= GIVE_UP_TRIES and now_ns - self._since_ns >= GIVE_UP_NS

    def gave_up(self) -> None:
        self.given_up += 1
        self._frame = -1

    def passed(self) -> None:
        """The dropped frame went out on a later try."""
        self._frame = -1

    def extra(self) -> dict[str, int]:
        if not self.tries:
            return {}
        return {
            "qdisc_drops": self.tries,
            "qdisc_dropped_frames": self.frames,
            "qdisc_given_up": self.given_up,
        }

    def info(self, interface: str) -> dict[str, str]:
        if not self.tries:
            return {}
        later = self.frames - self.given_up
        text = (
            f"the kernel dropped {self.tries:,} tries of {self.frames:,} frames on {interface}: "
            f"{self.error}; {later:,} went out on a later try"
        )
        if self.given_up:
            text += (
                f", {self.given_up:,} were dropped on every try for "
                f"{GIVE_UP_NS // 1_000_000} ms and given up (send_errors; never sent)"
            )
        return {"qdisc_drops": text}


class RingEngine(Protocol):
    """One sender's ring, as `send_paced` drives it."""

    ring_frames: int
    outage: Outage
    drops: QdiscDrops

    def posted(self) -> int:
        """Frames handed to the ring so far."""
        ...

    def in_flight(self) -> int:
        """Frames posted and not yet reclaimed."""
        ...

    def reclaim(self) -> None: ...

    def fill(self, n: int) -> None: ...

    def kick(self) -> None:
        """Ask the kernel to send; records an outage in `outage`."""
        ...

    def wait_for_room(self) -> None:
        """Wait (about 1 ms at most) for the kernel to free ring slots."""
        ...


def send_paced(
    engine: RingEngine, pacer: Pacer, end_ns: int, stop: threading.Event, gate: RealtimeStart
) -> None:
    """Post what the pacer releases until the run is over, then drain the ring."""
    monotonic = time.monotonic_ns
    while True:
        now = monotonic()
        posted = engine.posted()
        if stop.is_set() or pacer.finished(posted, now):
            break
        engine.reclaim()
        want = pacer.allowed(posted, now)
        if engine.outage.active:
            # Link down: retry the waiting frames; the schedule's frames that fall too
            # far behind meanwhile are skipped by the pacer and reported as not sent.
            engine.kick()
            engine.reclaim()
            if engine.outage.active:
                pause_until(min(now + OUTAGE_RETRY_NS, end_ns), stop)
            continue
        n = min(want, engine.ring_frames - engine.in_flight())
        if n > 0:
            engine.fill(n)
            engine.kick()
            gate.release()
            continue
        if want > 0:
            # Ring full: frames left as requests after EAGAIN need another kick.
            engine.kick()
            engine.reclaim()
            if engine.in_flight() >= engine.ring_frames:
                engine.wait_for_room()
            continue
        wake = max(now + 1, min(pacer.next_ns(posted), end_ns))
        if engine.drops.pending:
            # A frame the qdisc dropped waits at the head of the ring: try it again soon.
            engine.kick()
            engine.reclaim()
            wake = min(wake, now + DROP_RETRY_NS)
        pause_until(wake, stop)
    drain(engine)


def drain(engine: RingEngine) -> None:
    """Kick and reclaim until every posted frame is back, for at most DRAIN_NS."""
    deadline = time.monotonic_ns() + DRAIN_NS
    while engine.in_flight() and time.monotonic_ns() < deadline:
        engine.kick()
        engine.reclaim()
        if engine.in_flight():
            engine.wait_for_room()


@dataclass(frozen=True)
class PacedRun:
    """What a ring sender's run took: its pacer (schedule and shortfall), when it started
    on the wall clock, and the CPU its thread used."""

    pacer: Pacer
    started_wall_ns: int
    user_cpu_s: float
    system_cpu_s: float


def run_paced(
    engine: RingEngine,
    rate_pps: float,
    batch: int,
    start_mono_ns: int,
    duration_ns: int,
    stop: threading.Event,
    gate: RealtimeStart,
) -> PacedRun:
    """send_paced from the start (or now, when later) for duration_ns, timed and costed."""
    cpu0 = pk.thread_cpu()
    begin = time.monotonic_ns()
    started_wall = time.time_ns()
    end = max(start_mono_ns, begin) + duration_ns
    pacer = Pacer(rate_pps, max(start_mono_ns, begin), batch, end)
    send_paced(engine, pacer, end, stop, gate)
    cpu1 = pk.thread_cpu()
    return PacedRun(pacer, started_wall, cpu1[0] - cpu0[0], cpu1[1] - cpu0[1])
