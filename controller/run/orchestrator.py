"""Runs a plan on agents: prepare, synchronized start, live stats, leases, collection.

The orchestrator is given its agents (any `AgentApi`), a clock and an observer;
it never opens connections or prints. Once the first phase's agents are prepared,
and after every phase, it hands the run so far to `save`, so nothing measured is
lost when a later phase, an agent or the controller itself fails; a run whose
first Prepare finds a host busy (held by another run) is never stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ringlab.controller.analysis.gaps import slice_gap
from ringlab.controller.analysis.xdp import collided_only
from ringlab.controller.remote.clients import AgentApi, AgentBusyError, AgentError, ClockEstimate
from ringlab.controller.remote.holders import describe_holder
from ringlab.controller.run.assemble import ResolvedFlow, SeriesBuilder, flow_result
from ringlab.controller.run.clocksync import phase_start_skew_us, sync_clocks
from ringlab.controller.run.endpoints import PhaseResolver
from ringlab.controller.run.plan import Plan, PlannedPhase
from ringlab.controller.run.prepare import prepare_requests
from ringlab.controller.run.turns import HostsBusy
from ringlab.controller.store.results import HostInfo, PhaseResult, RunResult
from ringlab.errors import RequestRejected
from ringlab.v1 import agent_pb2 as pb

# After a failure, how long the other agents get to stop and hand over their results.
SALVAGE_STOP_S = 3.0
SALVAGE_RESULTS_S = 5.0


class RunClock(Protocol):
    """Wall time and sleeping as the orchestrator uses them; tests pass a fake."""

    def wall_ns(self) -> int: ...
    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def wall_ns(self) -> int:
        return time.time_ns()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class Observer(Protocol):
    def phase_started(self, index: int, phase: PlannedPhase, total: int) -> None: ...
    def stats(self, phase: PlannedPhase, host: str, message: pb.StatsResponse) -> None: ...
    def phase_finished(self, result: PhaseResult) -> None: ...


class QuietObserver:
    def phase_started(self, index: int, phase: PlannedPhase, total: int) -> None:
        pass

    def stats(self, phase: PlannedPhase, host: str, message: pb.StatsResponse) -> None:
        pass

    def phase_finished(self, result: PhaseResult) -> None:
        pass


@dataclass(frozen=True)
class Timing:
    # How far ahead of "now" a phase is scheduled: enough for every Start RPC to arrive.
    start_margin_s: float = 0.3
    stats_interval_ms: int = 100
    clock_exchanges: int = 8
    # Extra time allowed for results beyond duration + drain before an agent counts as hung.
    results_grace_s: float = 15.0


class Orchestrator:
    def __init__(
        self,
        agents: Mapping[str, AgentApi],
        resolve: PhaseResolver,
        clock: RunClock | None = None,
        observer: Observer | None = None,
        save: Callable[[RunResult], None] = lambda result: None,
        timing: Timing = Timing(),
        management_addresses: Mapping[str, Sequence[str]] | None = None,
        holder: pb.SessionHolder | None = None,
    ) -> None:
        self.agents = agents
        # Who runs this (run id, scenario, controller): every Prepare carries it.
        self.holder = holder
        # Per host, the addresses this controller reaches it by: its agent refuses flows
        # on the interfaces that hold them.
        self.management_addresses = dict(management_addresses or {})
        self.resolve = resolve
        self.clock = clock or SystemClock()
        self.observer = observer or QuietObserver()
        self.save = save
        self.timing = timing
        # Agents that failed during the run (dead, frozen, cut off): nobody waits on them again.
        self.failed_hosts: set[str] = set()
        self.offsets: dict[str, ClockEstimate] = {}
        self.infos: dict[str, pb.GetInfoResponse] = {}

    async def connect(self, result: RunResult) -> None:
        """GetInfo and clock sync with every agent (in parallel)."""
        hosts = list(self.agents)
        infos = await asyncio.gather(*(self.agents[h].info() for h in hosts))
        self.infos = dict(zip(hosts, infos, strict=True))
        # One agent at a time: see clocksync for what parallel exchanges do to the estimates.
        self.offsets = await sync_clocks(self.agents, self.timing.clock_exchanges)
        for host in hosts:
            info, clock = self.infos[host], self.offsets[host]
            result.hosts[host] = HostInfo(
                agent_version=info.agent_version,
                api_version=info.api_version,
                hostname=info.hostname,
                kernel=info.kernel,
                address=self.agents[host].address,
                clock_offset_ns=clock.offset_ns,
                clock_rtt_ns=clock.rtt_ns,
            )

    async def run(self, plan: Plan, result: RunResult) -> RunResult:
        """Run every phase; the result's status says how it ended (completed/failed/aborted).

        Raises HostsBusy, storing nothing, when the first phase finds a host busy."""
        try:
            if not self.infos:
                await self.connect(result)
            for index, phase in enumerate(plan.phases):
                if phase.gap_before_ns:
                    await self.clock.sleep(phase.gap_before_ns / 1e9)
                self.observer.phase_started(index, phase, len(plan.phases))
                phase_result = await self._run_phase(plan, index, phase, result)
                result.phases.append(phase_result)
                if index and phase.gap_before_ns:
                    measured = slice_gap(result.phases[-2], phase_result, phase.gap_before_ns)
                    result.diagnosis.extend([measured] if measured else [])
                self.save(result)
                self.observer.phase_finished(phase_result)
                if phase_result.status != "completed":
                    result.status = phase_result.status
                    result.error = result.error or "; ".join(phase_result.errors)
                    if not collided_only(phase_result):
                        break
            else:
                if result.status == "running":
                    result.status = "completed"
        except asyncio.CancelledError:
            result.status = "aborted"
            result.error = result.error or "interrupted by the user"
            self.save(result)
            raise
        except RequestRejected as exc:
            result.status = "failed"
            result.error = exc.message
            self.save(result)
            raise
        except HostsBusy:
            raise
        except AgentError as exc:
            result.status = "failed"
            result.error = str(exc)
        self.save(result)
        return result

    # --- one phase -------------------------------------------------------------

    async def recover(self, plan: Plan, result: RunResult) -> int:
        """Collect the phases a controller that went away never collected.

        Agents keep a session's results after its lease expires; the session ids are
        derived from the run id, so a new controller can find them. Returns how many
        phases were recovered; the run ends `aborted` (it did not run to its end).
        """
        if not self.infos:
            await self.connect(result)
        recovered = 0
        for index in range(len(result.phases), len(plan.phases)):
            phase = plan.phases[index]
            flows = self.resolve(phase, index, self.infos)
            session_id = f"{result.run_id}-p{index}"
            collected: dict[str, pb.GetResultsResponse] = {}
            for host in sorted({f.src_host for f in flows} | {f.dst_host for f in flows}):
                try:
                    collected[host] = await self.agents[host].results(
                        session_id, wait=True, timeout_s=plan.lease_ns / 1e9 + 10
                    )
                except AgentError as exc:
                    if exc.code != "NOT_FOUND":
                        raise
            if not collected:
                break
            outcome = PhaseResult(
                name=phase.name,
                group=phase.group,
                duration_s=phase.duration_ns / 1e9,
                status="aborted",
                errors=["collected from the agents after the controller went away"],
            )
            self._fill(outcome, flows, collected, SeriesBuilder(0))
            result.phases.append(outcome)
            recovered += 1
            await self._release(session_id, list(collected))
        if result.status == "running":
            result.status = "aborted"
            result.error = "the controller went away mid-run; measured phases were recovered"
        self.save(result)
        return recovered

    def _offset(self, host: str) -> int:
        estimate = self.offsets.get(host)
        return estimate.usable_offset_ns if estimate else 0

    async def _run_phase(
        self, plan: Plan, index: int, phase: PlannedPhase, run: RunResult
    ) -> PhaseResult:
        flows = self.resolve(phase, index, self.infos)
        session_id = f"{run.run_id}-p{index}"
        requests = prepare_requests(
            session_id,
            flows,
            plan.lease_ns,
            management_addresses=self.management_addresses,
            allow_management_interface=plan.allow_management_interface,
        )
        if self.holder is not None:
            for request in requests.values():
                request.holder.CopyFrom(self.holder)
        hosts = sorted(requests)
        outcome = PhaseResult(
            name=phase.name, group=phase.group, duration_s=phase.duration_ns / 1e9
        )
        prepared: list[str] = []
        collected: dict[str, pb.GetResultsResponse] = {}
        series = SeriesBuilder(0)
        # Leases run from Prepare: keep each one alive from the moment it exists, or
        # the first agents of a large lab expire while the last ones are prepared.
        keepers: list[asyncio.Future[None]] = []
        try:

            async def prepare(host: str, request: pb.PrepareRequest) -> None:
                await self.agents[host].prepare(request)
                prepared.append(host)
                keepers.append(
                    asyncio.ensure_future(self._keep_lease(session_id, host, plan.lease_ns))
                )

            # All at once: with many agents, one at a time would outlast the first leases.
            outcomes = await asyncio.gather(
                *(prepare(h, r) for h, r in requests.items()), return_exceptions=True
            )
            for outcome_or_error in outcomes:
                if isinstance(outcome_or_error, BaseException):
                    raise outcome_or_error
            if not run.phases:
                # The first moment there is something to keep: the agents are prepared.
                self.save(run)
            start_at = self.clock.wall_ns() + int(self.timing.start_margin_s * 1e9)
            series.phase_start_wall_ns = start_at
            await asyncio.gather(
                *(
                    self.agents[h].start(
                        pb.StartRequest(
                            session_id=session_id,
                            start_at_wall_ns=start_at + self._offset(h),
                            duration_ns=phase.duration_ns,
                            drain_ns=plan.drain_ns,
                        )
                    )
                    for h in hosts
                )
            )
            collected = await self._supervise(plan, phase, session_id, hosts, series, keepers)
        except asyncio.CancelledError:
            outcome.status = "aborted"
            outcome.errors.append("interrupted by the user; partial results kept")
            collected = await self._salvage(session_id, prepared, collected)
            self._fill(outcome, flows, collected, series)
            run.phases.append(outcome)
            raise
        except AgentError as exc:
            if (
                isinstance(exc, AgentBusyError)
                and not run.phases
                and not series.phase_start_wall_ns
            ):
                # Another run holds a host before anything was sent: give back what was
                # prepared and refuse the run as a whole, storing nothing.
                await self._salvage(session_id, prepared, collected)
                await self._release(session_id, prepared)
                raise HostsBusy(
                    exc.host,
                    exc.address,
                    f"busy: held by {describe_holder(exc.holder)}; nothing was run or stored",
                    exc.holder,
                ) from None
            outcome.status = "failed"
            outcome.errors.append(str(exc))
            self.failed_hosts.add(exc.host)
            # The agent that failed is dead, frozen or cut off: asking it to stop would only
            # add the salvage timeout (its lease stops its traffic on its own).
            survivors = [h for h in prepared if h != exc.host]
            collected = await self._salvage(session_id, survivors, collected)
            if exc.code == "INVALID_ARGUMENT":
                # The agent refused what the scenario asks for: bad input, not a failed run.
                self._fill(outcome, flows, collected, series)
                run.phases.append(outcome)
                await self._release(session_id, [h for h in prepared if h in collected])
                raise RequestRejected(f"{exc}; fix the scenario") from None
        finally:
            for keeper in keepers:
                keeper.cancel()
            await asyncio.gather(*keepers, return_exceptions=True)
        self._fill(outcome, flows, collected, series)
        for host, reply in collected.items():
            if reply.state in (pb.SESSION_STATE_FAILED, pb.SESSION_STATE_EXPIRED):
                outcome.status = "failed"
                outcome.errors.append(f"agent {host}: {reply.error or 'session failed'}")
        await self._release(session_id, [h for h in prepared if h in collected])
        return outcome

    async def _supervise(
        self,
        plan: Plan,
        phase: PlannedPhase,
        session_id: str,
        hosts: Sequence[str],
        series: SeriesBuilder,
        keepers: Sequence[asyncio.Future[None]],
    ) -> dict[str, pb.GetResultsResponse]:
        """Wait for every agent's results while streaming stats; a failed lease renewal fails it.

        The first agent that fails (RPC error) fails the phase at once; the
        others are stopped by the caller's salvage.
        """
        limit = (
            self.timing.start_margin_s
            + (phase.duration_ns + plan.drain_ns) / 1e9
            + self.timing.results_grace_s
        )
        waits: dict[asyncio.Future[Any], str] = {
            asyncio.ensure_future(self.agents[h].results(session_id, wait=True, timeout_s=limit)): h
            for h in hosts
        }
        # Live stats cost the controller CPU per message: with many agents, fewer per second.
        interval_ms = max(self.timing.stats_interval_ms, 5 * len(hosts))
        helpers: list[asyncio.Future[Any]] = [
            asyncio.ensure_future(self._stream_stats(phase, session_id, h, series, interval_ms))
            for h in hosts
        ]
        collected: dict[str, pb.GetResultsResponse] = {}
        try:
            pending: set[asyncio.Future[Any]] = set(waits) | set(keepers)
            while any(w in pending for w in waits):
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    error = task.exception()
                    if error is not None:
                        raise error
                    if task in waits:
                        collected[waits[task]] = task.result()
        finally:
            for task in [*waits, *helpers]:
                task.cancel()
            await asyncio.gather(*waits, *helpers, return_exceptions=True)
        return collected

    async def _keep_lease(self, session_id: str, host: str, lease_ns: int) -> None:
        """Renew one agent's lease every lease/3; a hung agent delays no other."""
        lease_s = lease_ns / 1e9
        agent = self.agents[host]
        while True:
            await self.clock.sleep(lease_s / 3)
            # A hung agent (or a dead link to it) is noticed by the time its lease would
            # expire after the last renewal (lease/3 ago), not the RPC timeout later.
            try:
                await asyncio.wait_for(agent.renew(session_id), lease_s * 2 / 3)
            except TimeoutError:
                raise AgentError(
                    host,
                    agent.address,
                    f"did not answer a lease renewal within the {lease_s:g}s lease "
                    "(hung, or the link to it is gone)",
                    "DEADLINE_EXCEEDED",
                ) from None

    async def _stream_stats(
        self,
        phase: PlannedPhase,
        session_id: str,
        host: str,
        series: SeriesBuilder,
        interval_ms: int,
    ) -> None:
        # Live stats are a view; losing the stream must not fail the run.
        with contextlib.suppress(AgentError):
            async for message in self.agents[host].stats(session_id, interval_ms):
                series.add(message, self._offset(host))
                self.observer.stats(phase, host, message)

    async def _salvage(
        self,
        session_id: str,
        hosts: Sequence[str],
        collected: dict[str, pb.GetResultsResponse],
    ) -> dict[str, pb.GetResultsResponse]:
        """Stop every agent still running and collect what each measured."""

        async def one(host: str) -> pb.GetResultsResponse | None:
            agent = self.agents[host]
            try:
                # A hung agent must not hold the run (and the user) for RPC timeouts.
                await asyncio.wait_for(agent.stop(session_id), SALVAGE_STOP_S)
                return await agent.results(session_id, wait=True, timeout_s=SALVAGE_RESULTS_S)
            except (AgentError, TimeoutError):
                return None

        missing = [h for h in hosts if h not in collected]
        replies = await asyncio.shield(asyncio.gather(*(one(h) for h in missing)))
        salvaged = dict(collected)
        for host, reply in zip(missing, replies, strict=True):
            if reply is not None:
                salvaged[host] = reply
        return salvaged

    async def _release(self, session_id: str, hosts: Sequence[str]) -> None:
        for host in hosts:
            with contextlib.suppress(AgentError):
                await self.agents[host].release(session_id)

    def _fill(
        self,
        outcome: PhaseResult,
        flows: Sequence[ResolvedFlow],
        collected: Mapping[str, pb.GetResultsResponse],
        series: SeriesBuilder,
    ) -> None:
        by_key: dict[tuple[str, int, int], pb.FlowResult] = {}
        for host, reply in collected.items():
            for flow in reply.flows:
                by_key[(host, flow.flow_id, flow.role)] = flow
        offsets = {h: self._offset(h) for h in self.agents}
        outcome.flows = [
            flow_result(
                f,
                by_key.get((f.src_host, f.flow_id, pb.ROLE_SEND)),
                by_key.get((f.dst_host, f.flow_id, pb.ROLE_RECEIVE)),
                offsets,
            )
            for f in flows
        ]
        if series.phase_start_wall_ns:
            outcome.start_skew_us = phase_start_skew_us(
                [(f.src_host, f.dst_host, f.flow_id) for f in flows],
                collected,
                series.phase_start_wall_ns,
                offsets,
            )
        outcome.series = series.points
