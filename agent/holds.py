"""Who holds this agent and who waits for it: one holder at a time, first come first served.

A controller takes every agent of a run before any traffic (AcquireHold) and keeps each with
renewals until the run ends (ReleaseHold); a run's Prepares and lease renewals renew it too.
A controller that may wait gets a place in this agent's queue instead of a refusal. It keeps
that place by asking again within its hold time (its run id is its ticket), so a waiter that
dies loses its place within that time and blocks no one. Once the agent is free, only the
first in line may take it: no one behind it, and no one who did not queue, goes first.

Pure: the clocks are injected and the caller (the session manager) serializes the calls.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

from ringlab.agent.flows import SessionError
from ringlab.clock import Clock
from ringlab.holder_text import describe_holder_fields

DEFAULT_HOLD_NS = 6_000_000_000
MIN_HOLD_NS = 1_000_000_000
MAX_HOLD_NS = 60_000_000_000
# A queue longer than this is a bug or an attack, not a lab's controllers.
MAX_WAITING = 64
MAX_TEXT = 256


@dataclass(frozen=True)
class Holder:
    """A run that holds (or waits for) the agent, as its controller described it."""

    run_id: str
    scenario: str = ""
    controller_host: str = ""
    controller_user: str = ""
    since_wall_ns: int = 0  # on this agent's clock: when it took the agent or queued
    session_id: str = ""  # set for a session prepared without a hold

    def describe(self, now_wall_ns: int) -> str:
        """`run R (scenario 'S') from user@host since 15:26:01 UTC (12 s ago)`."""
        return describe_holder_fields(self, now_wall_ns)


@dataclass(frozen=True)
class Turn:
    """The answer to an AcquireHold: the agent is the caller's, or how long the line is."""

    granted: bool
    holder: Holder | None  # not granted: who holds the agent (None: free, others ahead)
    ahead: int  # not granted: controllers before the caller in the queue
    hold_ns: int


class AgentBusy(SessionError):
    """Someone else holds (or is in line for) this agent; FAILED_PRECONDITION."""

    def __init__(self, message: str, holder: Holder | None) -> None:
        super().__init__("precondition", message)
        self.holder = holder


@dataclass
class _Ticket:
    holder: Holder
    hold_ns: int
    expires_mono_ns: int


def hold_time_ns(hold_ms: int) -> int:
    if hold_ms == 0:
        return DEFAULT_HOLD_NS
    return min(max(hold_ms * 1_000_000, MIN_HOLD_NS), MAX_HOLD_NS)


def check_holder(holder: Holder) -> None:
    if not holder.run_id:
        raise SessionError("invalid", "holder.run_id is empty; give the run's id")
    for name in ("run_id", "scenario", "controller_host", "controller_user"):
        if len(getattr(holder, name)) > MAX_TEXT:
            raise SessionError("invalid", f"holder.{name} is over {MAX_TEXT} characters")


class Turns:
    """The agent's holder and its queue of waiting controllers."""

    def __init__(self, monotonic_ns: Clock = time.monotonic_ns, wall_ns: Clock = time.time_ns):
        self._mono = monotonic_ns
        self._wall = wall_ns
        self._hold: _Ticket | None = None
        self._queue: list[_Ticket] = []

    def acquire(self, who: Holder, hold_ns: int, wait: bool, active: Holder | None = None) -> Turn:
        """Grant the agent to ``who``, renew its hold, or (``wait``) keep its place in line.

        ``active`` is the holder of a session still prepared or running on the agent, which
        makes it busy whether or not that session came with a hold.
        """
        check_holder(who)
        now = self._mono()
        self._expire(now, active)
        if self._hold is not None and self._hold.holder.run_id == who.run_id:
            self._hold.expires_mono_ns = now + hold_ns
            self._hold.hold_ns = hold_ns
            return Turn(True, None, 0, hold_ns)
        busy_by = self.holder(active)
        if busy_by is not None and busy_by.run_id == who.run_id:
            busy_by = None  # its own session, prepared before it asked for the hold
        place = self._place(who.run_id)
        if busy_by is None and (place == 0 or not self._queue):
            if place == 0:
                self._queue.pop(0)
            self._hold = _Ticket(replace(who, since_wall_ns=self._wall()), hold_ns, now + hold_ns)
            return Turn(True, None, 0, hold_ns)
        if not wait:
            raise AgentBusy(self._busy_message(busy_by), busy_by)
        if place is None:
            if len(self._queue) >= MAX_WAITING:
                raise AgentBusy(
                    f"{len(self._queue)} controllers already wait for this agent; try again later",
                    busy_by,
                )
            self._queue.append(_Ticket(replace(who, since_wall_ns=self._wall()), hold_ns, 0))
            place = len(self._queue) - 1
        ticket = self._queue[place]
        ticket.expires_mono_ns, ticket.hold_ns = now + hold_ns, hold_ns
        return Turn(False, busy_by, place, hold_ns)

    def release(self, run_id: str) -> None:
        """``run_id`` gives the agent back or leaves the line; nothing if it has neither."""
        if self._hold is not None and self._hold.holder.run_id == run_id:
            self._hold = None
        self._queue = [t for t in self._queue if t.holder.run_id != run_id]

    def may_prepare(self, run_id: str, active: Holder | None = None) -> None:
        """Refuse a Prepare of another run than the holder's, or one that would go before
        the controllers in line; a Prepare of the holder's run renews its hold."""
        now = self._mono()
        self._expire(now, active)
        if self._hold is not None:
            if run_id and self._hold.holder.run_id == run_id:
                self._hold.expires_mono_ns = now + self._hold.hold_ns
                return
            raise AgentBusy(self._busy_message(self._hold.holder), self._hold.holder)
        if self._queue and (not run_id or self._queue[0].holder.run_id != run_id):
            raise AgentBusy(self._busy_message(None), None)

    def touch(self, run_id: str) -> None:
        """A lease renewal of ``run_id``'s session keeps its hold too."""
        if run_id and self._hold is not None and self._hold.holder.run_id == run_id:
            self._hold.expires_mono_ns = self._mono() + self._hold.hold_ns

    def holder(self, active: Holder | None = None) -> Holder | None:
        """Who holds the agent now: the hold's run, else the active session's."""
        self._expire(self._mono(), active)
        return self._hold.holder if self._hold is not None else active

    def waiting(self) -> list[Holder]:
        self._expire(self._mono(), None)
        return [t.holder for t in self._queue]

    def _place(self, run_id: str) -> int | None:
        for index, ticket in enumerate(self._queue):
            if ticket.holder.run_id == run_id:
                return index
        return None

    def _expire(self, now: int, active: Holder | None) -> None:
        # A hold whose run still has a session prepared or running stays (that session's
        # own lease ends it); otherwise it lapses when its controller stops renewing.
        hold = self._hold
        lapsed = hold is not None and hold.expires_mono_ns <= now
        if lapsed and (active is None or hold is None or active.run_id != hold.holder.run_id):
            self._hold = None
        self._queue = [t for t in self._queue if t.expires_mono_ns > now]

    def _busy_message(self, busy_by: Holder | None) -> str:
        now = self._wall()
        if busy_by is not None:
            text = f"this agent is busy: held by {busy_by.describe(now)}"
        else:
            text = "this agent is free but others are in line for it"
        if self._queue:
            first = self._queue[0].holder
            text += f"; {len(self._queue)} controller(s) waiting, first {first.describe(now)}"
        return (
            f"{text}. Run again when it is free, or wait for your turn (`ringlab run --wait 10m`)"
        )
