"""Taking a run's agents before any traffic, and waiting for them (`--wait`).

Every agent of a run is held (AcquireHold, agent/holds.py) before its first Prepare and
until the run ends, renewed in the background. Without a wait, a busy agent refuses at once
and the run stops there: nothing was sent and nothing is stored (`HostsBusy`). With a wait,
each busy agent puts this controller in its first-come-first-served line; the controller
asks again every ``POLL_S`` (which keeps its place), says whom it waits for, and gives up
(`HostsBusy`, nothing stored) when the wait is over.

Agents are taken one at a time in the order of their ``agent_id``: two controllers that
need the same agents take them in the same order, so neither can hold one while the other
holds the next (no deadlock), and each line is served in arrival order (no starvation).
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import os
import socket
import time
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Protocol

from ringlab.controller.remote.clients import AgentApi, AgentBusyError, AgentError
from ringlab.controller.remote.holders import describe_holder
from ringlab.controller.scenario import units
from ringlab.v1 import agent_pb2 as pb

# How often a waiting controller asks again; it keeps its place in line for HOLD_MS.
POLL_S = 1.0
HOLD_MS = 6000
# Giving a hold back is a courtesy: one not given back lapses by itself after HOLD_MS, and
# a frozen agent must not hold up the end of the run (it is abandoned once its lease ends).
RELEASE_TIMEOUT_S = 0.5


class HostsBusy(AgentBusyError):
    """A host of the run is held by another run: refused up front, or still busy when the
    wait ran out. Nothing was sent and nothing is stored (an agent's busy answer is
    AgentBusyError; this is the run's refusal, worded for the user)."""


@dataclass(frozen=True)
class Waiting:
    """One host this controller waits for, and who holds it."""

    host: str
    holder: pb.SessionHolder | None  # None: free, but others are ahead in its line
    ahead: int  # controllers before this one in the host's line
    left_s: float  # until this controller gives up


class WaitObserver(Protocol):
    def waiting(self, wait: Waiting) -> None: ...


class QuietWait:
    def waiting(self, wait: Waiting) -> None:
        pass


def wait_seconds(text: str | None) -> float | None:
    """`--wait DURATION` in seconds (None: do not wait)."""
    return units.duration_option_s("--wait", text)


def this_controller(run_id: str, scenario: str) -> pb.SessionHolder:
    """Who this controller is, as agents will show it."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry and no $USER: a uid still names someone
        user = f"uid {os.getuid()}"
    return pb.SessionHolder(
        run_id=run_id,
        scenario=scenario,
        controller_host=socket.gethostname(),
        controller_user=user,
    )


def describe_wait(wait: Waiting) -> str:
    line = f"waiting for {wait.host}: held by {describe_holder(wait.holder)}"
    if wait.holder is None:
        line = f"waiting for {wait.host}: free, but {wait.ahead} controller(s) ahead of us"
    elif wait.ahead:
        line += f"; {wait.ahead} controller(s) ahead of us"
    return f"{line} (giving up in {wait.left_s:.0f} s)"


class Holds:
    """The agents one run holds: taken in order, renewed until released."""

    def __init__(
        self,
        agents: Mapping[str, AgentApi],
        holder: pb.SessionHolder,
        *,
        hold_ms: int = HOLD_MS,
        poll_s: float = POLL_S,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.agents = agents
        self.holder = holder
        self.hold_ms = hold_ms
        self.poll_s = poll_s
        self._monotonic = monotonic
        self._sleep = sleep
        self.held: list[str] = []
        self._asked: set[str] = set()  # every host whose line we may be in
        self._renewer: asyncio.Task[None] | None = None

    async def take(self, wait_s: float | None, observer: WaitObserver | None = None) -> None:
        """Hold every agent, or raise HostsBusy (at once without ``wait_s``, else when it
        runs out). Agents that do not know holds (older ringlab) are used without one."""
        watcher = observer or QuietWait()
        deadline = self._monotonic() + (wait_s or 0.0)
        order = await self._order()
        self._renewer = asyncio.ensure_future(self._renew())
        try:
            for host in order:
                await self._take_one(host, wait_s, deadline, watcher)
        except BaseException:
            await self.release()  # all or nothing: a refused run keeps no agent, no place
            raise

    async def _take_one(
        self, host: str, wait_s: float | None, deadline: float, watcher: WaitObserver
    ) -> None:
        last: tuple[str, int] | None = None
        while not (busy := await self._try(host, wait_s is not None)).granted:
            left = deadline - self._monotonic()
            holder = busy.holder if busy.HasField("holder") else None
            if left <= 0:
                raise HostsBusy(
                    host,
                    self.agents[host].address,
                    f"still busy after waiting {wait_s or 0:g} s: held by "
                    f"{describe_holder(holder)}; gave up, nothing was run or stored",
                    holder,
                )
            seen = (holder.run_id if holder else "", busy.ahead)
            if seen != last:
                watcher.waiting(Waiting(host, holder, busy.ahead, left))
                last = seen
            await self._sleep(min(self.poll_s, left))

    async def release(self, skip: Collection[str] = ()) -> None:
        """Give back every agent held, and leave every line joined (bounded, never raises);
        ``skip``: agents known to have failed (dead or frozen), whose holds lapse by themselves."""
        if self._renewer is not None:
            self._renewer.cancel()
            await asyncio.gather(self._renewer, return_exceptions=True)
            self._renewer = None
        run_id = self.holder.run_id

        async def give_back(host: str) -> None:
            with contextlib.suppress(AgentError, TimeoutError):
                await asyncio.wait_for(self.agents[host].release_hold(run_id), RELEASE_TIMEOUT_S)

        hosts = sorted(self._asked - set(skip))
        self.held, self._asked = [], set()
        await asyncio.shield(asyncio.gather(*(give_back(h) for h in hosts)))

    async def _order(self) -> list[str]:
        infos = await asyncio.gather(*(self.agents[h].info() for h in self.agents))
        ids = {h: info.agent_id for h, info in zip(self.agents, infos, strict=True)}
        return sorted(self.agents, key=lambda h: (ids[h], h))

    async def _try(self, host: str, wait: bool) -> pb.AcquireHoldResponse:
        agent = self.agents[host]
        self._asked.add(host)
        try:
            reply = await agent.acquire_hold(self.holder, self.hold_ms, wait)
        except AgentBusyError as exc:
            raise HostsBusy(
                host,
                agent.address,
                f"busy: held by {describe_holder(exc.holder)}; nothing was run or stored."
                " Run again when it is free, or wait for your turn with --wait DURATION"
                " (like --wait 10m)",
                exc.holder,
            ) from None
        except AgentError as exc:
            if exc.code != "UNIMPLEMENTED":
                raise
            self._asked.discard(host)  # an older agent: no holds, its Prepare still refuses
            return pb.AcquireHoldResponse(granted=True)
        if reply.granted:
            self.held.append(host)
        return reply

    async def _renew(self) -> None:
        # Renewing is asking again; a lost hold shows at the next Prepare (refused as busy).
        # Real time: the injected sleep paces the wait, which tests drive.
        while True:
            await asyncio.sleep(self.hold_ms / 3000)
            for host in list(self.held):
                with contextlib.suppress(AgentError):
                    await self.agents[host].acquire_hold(self.holder, self.hold_ms, False)
