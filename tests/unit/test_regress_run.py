"""Running a suite's cases (controller/run/regress.py) with a fake run seam: which cases
run together, --max-parallel, time limits, infrastructure errors vs regressions, the
lines per case, exit statuses and the suite history written as cases end."""

from __future__ import annotations

import asyncio
import textwrap
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from ringlab.controller.remote.clients import AgentError
from ringlab.controller.report.verdict import CaseOutcome
from ringlab.controller.run.regress import (
    SETUP_MARGIN_S,
    RegressOptions,
    exit_status,
    run_suite,
    run_suite_recorded,
    time_limit_s,
)
from ringlab.controller.scenario.suite import SuiteCase, load_suite
from ringlab.controller.scenario.suite_cases import expand
from ringlab.controller.store.database import Store
from ringlab.controller.store.results import FlowResult, PhaseResult, RunResult
from ringlab.controller.store.suites import SuiteRuns
from ringlab.errors import PreflightRefused

SCENARIO = """\
version: 1
name: pair
mode: unidirectional
duration: 2s
hosts: {a: {}, b: {}}
flows:
  - {from: a, to: b, frame_size: 64, rate: 10kpps}
"""
OPTIONS = RegressOptions(baseline_tag="gold", tags=("nightly",))
# Long enough that a healthy fake case never reaches it, however loaded the machine.
LIMIT = RegressOptions(baseline_tag="gold", tags=("nightly",), default_timeout_s=60)


def suite_cases(tmp_path: Path, host_sets: str, extra: str = "") -> list[SuiteCase]:
    (tmp_path / "pair.yaml").write_text(SCENARIO)
    path = tmp_path / "suite.yaml"
    path.write_text(
        textwrap.dedent(
            f"""\
            version: 1
            name: nightly
            thresholds: {{max_rx_pps_drop: 10%}}
            {extra}
            tests:
              - {{scenario: pair.yaml, hosts: {host_sets}}}
            """
        )
    )
    return list(expand(load_suite(path), None).cases)


def measured(case: SuiteCase, result: RunResult, rx_pps: float) -> RunResult:
    """``result`` as a completed run of ``case`` that received ``rx_pps``."""
    src, dst = case.hosts
    flow = FlowResult.model_validate(
        {"name": f"{src}->{dst}", "from": src, "to": dst, "tx_pps": 1e4, "rx_pps": rx_pps}
    )
    result.phases = [PhaseResult(name="main", group="unidirectional", flows=[flow])]
    result.status = "completed"
    return result


def baseline_of(case: SuiteCase, rx_pps: float = 1e4) -> RunResult:
    result = RunResult(run_id=f"base-{case.key}", scenario="pair", mode="unidirectional")
    result.started_at = "2026-01-01T00:00:00+00:00"
    return measured(case, result, rx_pps)


class Gate:
    """A fake run seam whose cases start when called and end when the test says."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.entered: dict[str, asyncio.Event] = {}
        self.release: dict[str, asyncio.Event] = {}
        self.inside: set[str] = set()
        self.together: list[frozenset[str]] = []
        self.rx: dict[str, float] = {}

    def event(self, table: dict[str, asyncio.Event], name: str) -> asyncio.Event:
        return table.setdefault(name, asyncio.Event())

    async def __call__(self, case: SuiteCase, result: RunResult) -> RunResult:
        self.store.save(result, case.scenario_text)  # stored at start, like execute
        self.inside.add(case.name)
        self.together.append(frozenset(self.inside))
        self.event(self.entered, case.name).set()
        try:
            await self.event(self.release, case.name).wait()
        finally:
            self.inside.discard(case.name)
        done = measured(case, result, self.rx.get(case.name, 1e4))
        self.store.save(done, case.scenario_text)
        return done


async def entered(gate: Gate, *names: str) -> None:
    await asyncio.wait_for(
        asyncio.gather(*(gate.event(gate.entered, n).wait() for n in names)), timeout=10
    )


def run(
    cases: list[SuiteCase],
    store: Store,
    seam: Callable[[SuiteCase, RunResult], Awaitable[RunResult]],
    options: RegressOptions = LIMIT,
) -> asyncio.Task[list[CaseOutcome]]:
    baselines = [baseline_of(c) for c in cases]
    return asyncio.create_task(run_suite(cases, baselines, options, store, seam))


async def test_disjoint_host_sets_run_together_and_shared_hosts_wait(tmp_path: Path) -> None:
    cases = suite_cases(tmp_path, "[[a, b], [c, d], [b, c]]")
    with Store(tmp_path / "runs.db") as store:
        gate = Gate(store)
        task = run(cases, store, gate)
        await entered(gate, "pair on a,b", "pair on c,d")
        assert gate.inside == {"pair on a,b", "pair on c,d"}  # disjoint: both run
        assert "pair on b,c" not in gate.entered  # shares b and c: waits
        gate.event(gate.release, "pair on a,b").set()
        gate.event(gate.release, "pair on c,d").set()
        await entered(gate, "pair on b,c")
        gate.event(gate.release, "pair on b,c").set()
        outcomes = await asyncio.wait_for(task, timeout=10)
    assert [o.verdict for o in outcomes] == ["passed"] * 3
    assert all("pair on b,c" not in s or len(s) == 1 for s in gate.together)


async def test_a_waiting_case_does_not_hold_back_a_later_one_on_free_hosts(
    tmp_path: Path,
) -> None:
    cases = suite_cases(tmp_path, "[[a, b], [b, c], [d, e]]")
    with Store(tmp_path / "runs.db") as store:
        gate = Gate(store)
        task = run(cases, store, gate, RegressOptions("gold", max_parallel=2))
        # b,c waits for b; d,e starts in the second slot although it comes after b,c.
        await entered(gate, "pair on a,b", "pair on d,e")
        assert "pair on b,c" not in gate.entered
        for event in ("pair on a,b", "pair on d,e", "pair on b,c"):
            gate.event(gate.release, event).set()
        await asyncio.wait_for(task, timeout=10)


@pytest.mark.parametrize("limit", [1, 2])
async def test_max_parallel_bounds_the_cases_running_at_once(tmp_path: Path, limit: int) -> None:
    cases = suite_cases(tmp_path, "[[a, b], [c, d], [e, f], [g, h]]")
    names = [c.name for c in cases]
    options = RegressOptions("gold", max_parallel=limit, default_timeout_s=60)
    with Store(tmp_path / "runs.db") as store:
        gate = Gate(store)
        task = run(cases, store, gate, options)
        for start in range(0, len(names), limit):
            batch = names[start : start + limit]
            await entered(gate, *batch)
            assert gate.inside == set(batch)  # in file order, never more than the limit
            for name in batch:
                gate.event(gate.release, name).set()
        outcomes = await asyncio.wait_for(task, timeout=10)
    assert max(len(s) for s in gate.together) == limit
    assert [o.verdict for o in outcomes] == ["passed"] * 4


async def test_a_case_over_its_time_limit_is_an_error_and_does_not_hold_the_rest(
    tmp_path: Path,
) -> None:
    cases = suite_cases(tmp_path, "[[a, b], [c, d]]")
    with Store(tmp_path / "runs.db") as store:
        gate = Gate(store)
        gate.event(gate.release, "pair on c,d").set()  # c,d finishes; a,b never does
        options = RegressOptions("gold", default_timeout_s=0.2)
        outcomes = await asyncio.wait_for(run(cases, store, gate, options), timeout=30)
        stored = store.get(outcomes[0].candidate.run_id) if outcomes[0].candidate else None
    hung, healthy = outcomes
    assert (hung.verdict, healthy.verdict) == ("error", "passed")
    assert "ran over its time limit of 0.2s and was stopped" in hung.message
    # The run it had stored says why it stopped.
    assert stored is not None and stored.status == "aborted"
    assert stored.error == "ran over its time limit of 0.2s and was stopped"
    assert gate.inside == set()  # the hung case was cancelled, not left running


async def test_infrastructure_problems_are_errors_apart_from_regressions(tmp_path: Path) -> None:
    cases = suite_cases(tmp_path, "[[a, b], [c, d], [e, f], [g, h]]")

    async def seam(case: SuiteCase, result: RunResult) -> RunResult:
        if case.hosts == ("c", "d"):
            raise AgentError("d", "unix:/d.sock", "failed to connect to all addresses")
        if case.hosts == ("e", "f"):
            raise PreflightRefused("e: interface to-f is down; bring it up")
        return measured(case, result, 5e3 if case.hosts == ("g", "h") else 1e4)

    with Store(tmp_path / "runs.db") as store:
        outcomes = await asyncio.wait_for(run(cases, store, seam), timeout=10)
    assert [o.verdict for o in outcomes] == ["passed", "error", "error", "regressed"]
    assert outcomes[1].message.startswith("the run did not start: agent d")
    assert outcomes[2].message == "the run did not start: e: interface to-f is down; bring it up"
    assert exit_status(outcomes) == 1  # a regression outweighs errors
    assert exit_status(outcomes[:3]) == 3  # errors only
    assert exit_status(outcomes[:1]) == 0


async def test_a_bug_stops_the_suite_and_cancels_the_running_cases(tmp_path: Path) -> None:
    cases = suite_cases(tmp_path, "[[a, b], [c, d]]")
    with Store(tmp_path / "runs.db") as store:
        gate = Gate(store)

        async def seam(case: SuiteCase, result: RunResult) -> RunResult:
            if case.hosts == ("c", "d"):
                await entered(gate, "pair on a,b")
                raise ZeroDivisionError("a bug")
            return await gate(case, result)

        with pytest.raises(ZeroDivisionError):
            await asyncio.wait_for(run(cases, store, seam), timeout=10)
    assert gate.inside == set()


async def test_lines_per_case_and_the_history_written_as_cases_end(tmp_path: Path) -> None:
    cases = suite_cases(tmp_path, "[[a, b], [c, d]]")
    lines: list[str] = []

    class Lines:
        def case_started(self, case: SuiteCase, number: int, total: int, limit_s: float) -> None:
            lines.append(f"start {number}/{total} {case.name} {limit_s:g}")

        def case_finished(self, outcome: CaseOutcome, number: int, total: int) -> None:
            lines.append(f"end {number}/{total} {outcome.name} {outcome.verdict}")

    async def seam(case: SuiteCase, result: RunResult) -> RunResult:
        if case.hosts == ("c", "d"):
            raise AgentError("c", "unix:/c.sock", "unreachable")
        return measured(case, result, 9e3)

    with Store(tmp_path / "runs.db") as store:
        baselines = [baseline_of(c) for c in cases]
        done = await run_suite_recorded("nightly", cases, baselines, LIMIT, store, seam, Lines())
        with SuiteRuns(store.path) as suites:
            (record,) = suites.last_runs("nightly", 10)
            records = suites.cases([record.suite_run_id])
    starts = ["start 1/2 pair on a,b 60", "start 2/2 pair on c,d 60"]
    ends = ["end 1/2 pair on a,b passed", "end 2/2 pair on c,d error"]
    assert sorted(lines) == sorted(starts + ends)
    assert all(lines.index(s) < lines.index(e) for s, e in zip(starts, ends, strict=True))
    assert record.suite_run_id == done.suite_run_id and record.finished_at
    assert [(r.name, r.verdict, r.metric) for r in records] == [
        ("pair on a,b", "passed", 9e3),
        ("pair on c,d", "error", None),
    ]
    assert records[0].run_id == done.outcomes[0].candidate.run_id  # type: ignore[union-attr]
    assert records[0].baseline_run_id == "base-pair on a,b"
    assert [c.name for c in done.history.cases] == ["pair on a,b", "pair on c,d"]


def test_time_limits_come_from_the_suite_then_the_option_then_the_traffic_time(
    tmp_path: Path,
) -> None:
    (case,) = suite_cases(tmp_path, "[[a, b]]")
    # 2 s of traffic and 200 ms of drain, twice, plus the setup margin.
    assert time_limit_s(case, None) == pytest.approx(4.4 + SETUP_MARGIN_S)
    assert time_limit_s(case, 30) == 30
    (limited,) = suite_cases(tmp_path, "[[a, b]]", extra="timeout: 45s")
    assert time_limit_s(limited, 30) == 45


async def test_max_parallel_below_one_is_refused(tmp_path: Path) -> None:
    cases = suite_cases(tmp_path, "[[a, b]]")
    with Store(tmp_path / "runs.db") as store, pytest.raises(Exception, match="give 1 or more"):
        await run(cases, store, Gate(store), RegressOptions("gold", max_parallel=0))
