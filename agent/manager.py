"""The agent's sessions: at most one prepared or running at a time, finished ones kept
until released (or until the oldest must go), so nothing measured is lost when a
controller reconnects."""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import replace

from ringlab.agent.flows import FlowPlan, SessionError
from ringlab.agent.holds import Holder, Turn, Turns
from ringlab.agent.management import ManagementInterfaces
from ringlab.agent.session import DataPlane, Session
from ringlab.agent.validation import validate_flows
from ringlab.clock import Clock

KEEP_FINISHED_SESSIONS = 16


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
        plane: DataPlane | None = None,
        management: ManagementInterfaces | None = None,
    ) -> None:
        self._sessions: OrderedDict[str, Session] = OrderedDict()
        self._mono = monotonic_ns
        self._wall = wall_ns
        self._plane = plane or DataPlane()
        self.management = management or ManagementInterfaces.from_environment()
        self._lock = threading.Lock()
        # Who each session was prepared for; and the agent's holder and queue (holds.py).
        self._holders: dict[str, Holder] = {}
        self._turns = Turns(monotonic_ns, wall_ns)
        # Controllers that need several agents take them in this order (no two runs ever
        # hold one each of the same pair).
        self.agent_id = secrets.token_hex(8)

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
        holder: Holder | None = None,
    ) -> Session:
        self.check(session_id, flows, lease_ms, controller_addresses)
        with self._lock:
            if session_id in self._sessions:
                raise SessionError("precondition", f"session {session_id} already exists")
            run_id = holder.run_id if holder is not None else ""
            self._turns.may_prepare(run_id, self._active_holder())
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
            self._holders[session_id] = replace(
                holder or Holder(run_id=""), session_id=session_id, since_wall_ns=self._wall()
            )
            self._forget_old()
            return session

    def acquire_hold(self, who: Holder, hold_ns: int, wait: bool) -> Turn:
        with self._lock:
            return self._turns.acquire(who, hold_ns, wait, self._active_holder())

    def release_hold(self, run_id: str) -> None:
        with self._lock:
            self._turns.release(run_id)

    def renewed(self, session_id: str) -> None:
        """A lease renewal of a session keeps its run's hold."""
        with self._lock:
            holder = self._holders.get(session_id)
            if holder is not None:
                self._turns.touch(holder.run_id)

    def holder(self) -> Holder | None:
        """Who holds this agent now (None: free)."""
        with self._lock:
            return self._turns.holder(self._active_holder())

    def waiting(self) -> list[Holder]:
        with self._lock:
            return self._turns.waiting()

    def _active_holder(self) -> Holder | None:
        for session_id, session in self._sessions.items():
            if not session.state.done:
                return self._holders.get(session_id, Holder(run_id="", session_id=session_id))
        return None

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
            self._holders.pop(session_id, None)

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
            self._holders.pop(sid, None)
