"""Turns on a shared agent (agent/holds.py) and a run taking several agents
(controller/run/turns.py): one holder, first come first served, lapsed waiters skipped."""

from __future__ import annotations

import asyncio

import pytest

from ringlab.agent.flows import SessionError
from ringlab.agent.holds import DEFAULT_HOLD_NS, AgentBusy, Holder, Turns, hold_time_ns
from ringlab.controller.remote.clients import AgentBusyError
from ringlab.controller.remote.holders import AgentHold, hold_json, hold_text
from ringlab.controller.run.endpoints import Resolver
from ringlab.controller.run.orchestrator import Orchestrator
from ringlab.controller.run.plan import build_plan
from ringlab.controller.run.turns import Holds, HostsBusy, Waiting, describe_wait, wait_seconds
from ringlab.controller.scenario import load_scenario_text
from ringlab.controller.store.results import RunResult
from ringlab.errors import RinglabInputError
from ringlab.v1 import agent_pb2 as pb

S = 1_000_000_000
HOLD = 6 * S


class FakeClock:
    def __init__(self) -> None:
        self.ns = 1_000 * S

    def __call__(self) -> int:
        return self.ns


def run(run_id: str) -> Holder:
    return Holder(run_id=run_id, scenario="pair", controller_host="ci1", controller_user="ci")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def turns(clock: FakeClock) -> Turns:
    return Turns(clock, clock)


def test_a_free_agent_is_granted_and_a_second_run_is_refused_naming_the_holder(
    turns: Turns,
) -> None:
    assert turns.acquire(run("r1"), HOLD, wait=False).granted
    with pytest.raises(AgentBusy) as refused:
        turns.acquire(run("r2"), HOLD, wait=False)
    assert refused.value.kind == "precondition"
    assert refused.value.holder is not None and refused.value.holder.run_id == "r1"
    text = refused.value.message
    assert "run r1 (scenario 'pair') from ci@ci1 since" in text and "--wait" in text
    assert turns.holder() == refused.value.holder


def test_waiters_are_served_in_arrival_order(turns: Turns, clock: FakeClock) -> None:
    turns.acquire(run("r1"), HOLD, wait=False)
    second = turns.acquire(run("r2"), HOLD, wait=True)
    third = turns.acquire(run("r3"), HOLD, wait=True)
    assert (second.granted, second.ahead, third.granted, third.ahead) == (False, 0, False, 1)
    assert second.holder is not None and second.holder.run_id == "r1"
    assert [w.run_id for w in turns.waiting()] == ["r2", "r3"]
    turns.release("r1")
    # The later waiter asks first: it is not its turn, and it keeps its place.
    assert not turns.acquire(run("r3"), HOLD, wait=True).granted
    # Nobody who did not queue goes first either.
    with pytest.raises(AgentBusy, match="in line"):
        turns.acquire(run("r4"), HOLD, wait=False)
    assert turns.acquire(run("r2"), HOLD, wait=True).granted
    turns.release("r2")
    assert turns.acquire(run("r3"), HOLD, wait=True).granted


def test_a_waiter_that_stops_asking_loses_its_place(turns: Turns, clock: FakeClock) -> None:
    turns.acquire(run("r1"), HOLD, wait=False)
    turns.acquire(run("dead"), HOLD, wait=True)
    turns.acquire(run("r3"), HOLD, wait=True)
    for _ in range(7):  # r1 and r3 keep asking every second; "dead" never again
        clock.ns += S
        turns.acquire(run("r1"), HOLD, wait=False)
        turns.acquire(run("r3"), HOLD, wait=True)
    assert [w.run_id for w in turns.waiting()] == ["r3"]
    turns.release("r1")
    assert turns.acquire(run("r3"), HOLD, wait=True).granted


def test_a_hold_lapses_unless_renewed_but_not_under_a_live_session(
    turns: Turns, clock: FakeClock
) -> None:
    turns.acquire(run("r1"), HOLD, wait=False)
    clock.ns += HOLD
    # r1's session is still running: its own lease ends it, the hold stays meanwhile.
    live = Holder(run_id="r1", session_id="r1-p0")
    assert turns.holder(live) is not None and turns.holder(live).run_id == "r1"  # type: ignore[union-attr]
    assert turns.holder() is None
    assert turns.acquire(run("r2"), HOLD, wait=False).granted


def test_renewals_and_lease_touches_keep_a_hold(turns: Turns, clock: FakeClock) -> None:
    turns.acquire(run("r1"), HOLD, wait=False)
    for _ in range(3):
        clock.ns += HOLD - S
        turns.touch("r1")
    turns.may_prepare("r1")
    with pytest.raises(AgentBusy, match="held by run r1"):
        turns.may_prepare("r2")


def test_a_session_without_a_hold_makes_the_agent_busy(turns: Turns) -> None:
    anonymous = Holder(run_id="", session_id="s1", since_wall_ns=1)
    with pytest.raises(AgentBusy, match="session s1 \\(prepared without a hold\\)"):
        turns.acquire(run("r2"), HOLD, wait=False, active=anonymous)
    # Its own run's session does not: a controller may ask for the hold after preparing.
    assert turns.acquire(run("r1"), HOLD, wait=False, active=Holder(run_id="r1")).granted


def test_a_prepare_cannot_go_before_the_line(turns: Turns) -> None:
    turns.acquire(run("r1"), HOLD, wait=False)
    turns.acquire(run("r2"), HOLD, wait=True)
    turns.release("r1")
    with pytest.raises(AgentBusy):
        turns.may_prepare("")
    turns.may_prepare("r2")  # the first in line may


def test_requests_are_checked(turns: Turns) -> None:
    with pytest.raises(SessionError, match="run_id is empty"):
        turns.acquire(Holder(run_id=""), HOLD, wait=False)
    with pytest.raises(SessionError, match="over 256"):
        turns.acquire(Holder(run_id="r", scenario="x" * 300), HOLD, wait=False)
    assert hold_time_ns(0) == DEFAULT_HOLD_NS
    assert hold_time_ns(1) == S and hold_time_ns(10**9) == 60 * S


def test_wait_durations_parse_or_say_how() -> None:
    assert wait_seconds("10m") == 600 and wait_seconds(None) is None
    with pytest.raises(RinglabInputError, match="--wait: 'soon' is not a duration"):
        wait_seconds("soon")


# --- a run taking several agents --------------------------------------------------


class TurnsAgent:
    """Just enough of AgentApi for Holds: the agent's own turn logic, in process."""

    def __init__(self, host: str, agent_id: str, clock: FakeClock) -> None:
        self.host = host
        self.address = f"unix:/{host}.sock"
        self.agent_id = agent_id
        self.turns = Turns(clock, clock)
        self.asked: list[str] = []

    async def info(self) -> pb.GetInfoResponse:
        return pb.GetInfoResponse(agent_id=self.agent_id)

    async def acquire_hold(
        self, holder: pb.SessionHolder, hold_ms: int, wait: bool
    ) -> pb.AcquireHoldResponse:
        self.asked.append(holder.run_id)
        try:
            turn = self.turns.acquire(Holder(run_id=holder.run_id), hold_ms * 10**6, wait)
        except AgentBusy as exc:
            held = pb.SessionHolder(run_id=exc.holder.run_id) if exc.holder else None
            raise AgentBusyError(self.host, self.address, exc.message, held) from None
        held = pb.SessionHolder(run_id=turn.holder.run_id) if turn.holder else None
        return pb.AcquireHoldResponse(granted=turn.granted, holder=held, ahead=turn.ahead)

    async def release_hold(self, run_id: str) -> None:
        self.turns.release(run_id)


class Seen:
    def __init__(self) -> None:
        self.lines: list[Waiting] = []

    def waiting(self, wait: Waiting) -> None:
        self.lines.append(wait)


def test_agents_are_taken_in_agent_id_order_and_the_wait_gives_up(clock: FakeClock) -> None:
    # Inventory order b, a; agent ids order a first: every controller takes a, then b.
    agents = {"b": TurnsAgent("b", "id-2", clock), "a": TurnsAgent("a", "id-1", clock)}
    agents["b"].turns.acquire(Holder(run_id="other"), HOLD, wait=False)
    mono = [0.0]

    async def sleep(seconds: float) -> None:
        await asyncio.sleep(0)
        mono[0] += seconds
        clock.ns += int(seconds * S)
        agents["b"].turns.acquire(Holder(run_id="other"), HOLD, wait=False)  # other renews

    holds = Holds(
        agents,  # type: ignore[arg-type]
        pb.SessionHolder(run_id="mine"),
        monotonic=lambda: mono[0],
        sleep=sleep,
    )
    seen = Seen()

    async def attempt() -> None:
        try:
            await holds.take(3.0, seen)
        finally:
            await holds.release()

    with pytest.raises(HostsBusy, match="still busy after waiting 3 s: held by run other"):
        asyncio.run(attempt())
    assert agents["a"].asked[0] == "mine" and agents["b"].asked[0] == "mine"
    assert [(w.host, w.holder.run_id if w.holder else None) for w in seen.lines] == [("b", "other")]
    assert "waiting for b: held by run other" in describe_wait(seen.lines[0])
    # Given up: nothing held, no place kept.
    assert agents["a"].turns.holder() is None and agents["b"].turns.waiting() == []


def test_without_a_wait_a_busy_agent_refuses_at_once(clock: FakeClock) -> None:
    agents = {"a": TurnsAgent("a", "id-1", clock)}
    agents["a"].turns.acquire(Holder(run_id="other"), HOLD, wait=False)
    holds = Holds(agents, pb.SessionHolder(run_id="mine"))  # type: ignore[arg-type]
    with pytest.raises(HostsBusy, match="busy: held by run other; nothing was run or stored"):
        asyncio.run(holds.take(None))
    assert agents["a"].asked == ["mine"]


# --- the orchestrator: a busy refusal at the first Prepare stores nothing -----------

ONE_FLOW = """
version: 1
name: t
mode: unidirectional
duration: 1s
hosts: {a: {}, b: {}}
flows:
  - {from: a, to: b, frame_size: 64, rate: 1kpps}
"""


class PreparingAgent:
    """Prepares (or refuses as busy) and records what the orchestrator asks next."""

    def __init__(self, host: str, busy: bool) -> None:
        self.host = host
        self.address = f"unix:/{host}.sock"
        self.busy = busy
        self.calls: list[str] = []
        self.prepared: list[pb.PrepareRequest] = []

    async def prepare(self, request: pb.PrepareRequest) -> None:
        self.prepared.append(request)
        if self.busy:
            holder = pb.SessionHolder(session_id="other-p0")
            raise AgentBusyError(self.host, self.address, "busy: session other-p0", holder)
        self.calls.append("prepare")

    async def renew(self, session_id: str) -> None:
        self.calls.append("renew")

    async def stop(self, session_id: str) -> None:
        self.calls.append("stop")

    async def results(
        self, session_id: str, wait: bool, timeout_s: float | None = None
    ) -> pb.GetResultsResponse:
        self.calls.append("results")
        return pb.GetResultsResponse(session_id=session_id, state=pb.SESSION_STATE_STOPPED)

    async def release(self, session_id: str) -> None:
        self.calls.append("release")


def test_a_busy_refusal_at_the_first_prepare_stores_nothing_and_frees_the_others() -> None:
    plan = build_plan(load_scenario_text(ONE_FLOW, "t.yaml"))
    resolve = Resolver(
        links={"a": {"b": "to-b"}, "b": {"a": "to-a"}},
        default_interfaces={},
        scenario_interfaces={},
    )
    infos = {
        h: pb.GetInfoResponse(interfaces=[pb.InterfaceInfo(name=f"to-{p}", mac=m)])
        for h, p, m in (("a", "b", "02:00:00:00:00:0a"), ("b", "a", "02:00:00:00:00:0b"))
    }
    agents = {"a": PreparingAgent("a", busy=False), "b": PreparingAgent("b", busy=True)}
    saved: list[str] = []
    holder = pb.SessionHolder(run_id="r1", scenario="t", controller_user="ci")
    orchestrator = Orchestrator(
        agents,  # type: ignore[arg-type]
        resolve,
        save=lambda result: saved.append(result.status),
        holder=holder,
    )
    orchestrator.infos = infos
    with pytest.raises(HostsBusy, match="busy: held by session other-p0"):
        asyncio.run(orchestrator.run(plan, RunResult(run_id="r1", scenario="t", mode=plan.mode)))
    assert saved == []
    assert agents["a"].calls == ["prepare", "stop", "results", "release"]
    for agent in agents.values():
        assert [r.holder for r in agent.prepared] == [holder]


def test_holders_read_as_text_and_json() -> None:
    holder = pb.SessionHolder(
        run_id="r1",
        scenario="pair",
        controller_host="ci1",
        controller_user="ci",
        since_wall_ns=1_764_775_000 * S,
    )
    held = AgentHold(holder, [pb.SessionHolder(run_id="r2", scenario="x")])
    assert hold_text(held) == "run r1 (scenario 'pair') from ci@ci1 since 15:16:40 UTC; 1 waiting"
    assert hold_text(AgentHold()) == "free"
    assert hold_text(AgentHold(error="DEADLINE_EXCEEDED")) == "unknown (DEADLINE_EXCEEDED)"
    document = hold_json(held)
    assert document["holder"]["since"] == "2025-12-03T15:16:40Z"
    assert [w["run_id"] for w in document["waiting"]] == ["r2"]
    assert hold_json(AgentHold()) == {"holder": None, "waiting": []}
    assert hold_json(None)["holder_error"] == "agent down"
