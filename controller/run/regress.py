"""Running a regression suite: every case on its hosts, judged against its own baseline.

A case (one scenario on one host set) runs through the same ``execute`` as
`ringlab run` and is judged by ``report.verdict.judge``. This module decides
*when* each case runs and what becomes of one that cannot:

- Scheduling: cases start in file order as soon as none of their hosts is in
  use by a running case and fewer than ``max_parallel`` cases run. Cases that
  share no host run at the same time; two cases never contend for a host by
  accident, and the first waiting case that can start does (one busy host does
  not hold back cases on other hosts).
- Time limit: each case has one, counted from its start to its verdict (the
  suite's ``timeout``, else ``--case-timeout``, else twice the scenario's
  traffic time plus ``SETUP_MARGIN_S``). A case that runs over is cancelled, its
  run stored as aborted with the reason, and it ends as an error; the others go on.
- Infrastructure problems (an agent unreachable, a link down, a busy host, a
  refusal, a failed run) make that case an *error*, never a regression, and
  never stop the others. A bug (any other exception) stops the suite: the
  running cases are cancelled and cleaned up, and it propagates.

Exit status (``exit_status``): 0 every case passed, 1 any case regressed,
3 no regression but at least one case is an error or not judged.
(2, bad input, is raised before anything runs.)

The run seam is ``RunCase``: tests give a fake, `ringlab regress` gives
``execute`` on the inventory, the lab or a temporary lab.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from ringlab.controller.analysis.history import SuiteHistory, build_history, key_metric
from ringlab.controller.remote.clients import AgentError
from ringlab.controller.remote.lab import LabError
from ringlab.controller.report.verdict import CaseOutcome, failed_to_run, judge
from ringlab.controller.run.execute import execute, new_result, new_run_id, now_iso
from ringlab.controller.run.plan import build_plan
from ringlab.controller.scenario.suite import SuiteCase
from ringlab.controller.store.database import Store
from ringlab.controller.store.results import RunResult
from ringlab.controller.store.suites import CaseRecord, SuiteRunRecord, SuiteRuns
from ringlab.errors import RinglabInputError

EXIT_PASSED = 0
EXIT_REGRESSED = 1
EXIT_NOT_JUDGED = 3
# Connecting, probing, preparing and collecting a case, on top of its traffic time. On two
# loaded cores with 16 cases at once a 1 s case took 2.4-3.9 s end to end
# (bench/regress_scale.py); remote hosts behind SSH and slow probes need far more headroom.
SETUP_MARGIN_S = 120.0

# Suite runs the HTML summary shows per case.
HISTORY_RUNS = 10

# What a case that cannot run raises: reported as that case's error, the suite goes on.
INFRASTRUCTURE_ERRORS = (AgentError, LabError, RinglabInputError, OSError, TimeoutError)

RunCase = Callable[[SuiteCase, RunResult], Awaitable[RunResult]]


class CaseObserver(Protocol):
    """Told when each case starts and ends (the command prints one line for each)."""

    def case_started(self, case: SuiteCase, number: int, total: int, limit_s: float) -> None: ...

    def case_finished(self, outcome: CaseOutcome, number: int, total: int) -> None: ...


class QuietCases:
    def case_started(self, case: SuiteCase, number: int, total: int, limit_s: float) -> None:
        pass

    def case_finished(self, outcome: CaseOutcome, number: int, total: int) -> None:
        pass


@dataclass(frozen=True)
class RegressOptions:
    baseline_tag: str
    tags: tuple[str, ...] = ()  # every run gets them (the suite's name first)
    update_baseline: bool = False
    max_parallel: int | None = None  # None: as many as disjoint host sets allow
    default_timeout_s: float | None = None  # --case-timeout, for cases the suite gives none
    # --wait: how long a case may wait for hosts other controllers hold (added to its limit)
    wait_s: float | None = None


def time_limit_s(case: SuiteCase, default_s: float | None) -> float:
    """The case's limit: the suite's, else ``default_s``, else twice its traffic time plus
    the setup margin."""
    if case.timeout_ns is not None:
        return case.timeout_ns / 1e9
    if default_s is not None:
        return default_s
    plan = build_plan(case.scenario)
    return 2 * (plan.total_ns + len(plan.phases) * plan.drain_ns) / 1e9 + SETUP_MARGIN_S


def exit_status(outcomes: Sequence[CaseOutcome]) -> int:
    if any(o.verdict == "regressed" for o in outcomes):
        return EXIT_REGRESSED
    if any(not o.ok for o in outcomes):
        return EXIT_NOT_JUDGED
    return EXIT_PASSED


def executor(
    store: Store, inventory: Path | None, lab: str | None, wait_s: float | None = None
) -> RunCase:
    """Run a case with `execute` (as `ringlab run` would), quietly, storing it in ``store``;
    ``wait_s``: how long it may wait for hosts other controllers hold (`--wait`)."""

    async def run(case: SuiteCase, result: RunResult) -> RunResult:
        return await execute(
            case.scenario,
            build_plan(case.scenario),
            case.scenario_text,
            store,
            inventory=inventory,
            lab=lab,
            tags=result.tags,
            live=False,
            result=result,
            wait_s=wait_s,
        )

    return run


@dataclass(frozen=True)
class SuiteRunOutcome:
    suite_run_id: str
    outcomes: list[CaseOutcome]  # in the order of the cases
    history: SuiteHistory  # the last HISTORY_RUNS suite runs of the suite, this one last


def case_record(suite_run_id: str, index: int, case: SuiteCase, outcome: CaseOutcome) -> CaseRecord:
    return CaseRecord(
        suite_run_id=suite_run_id,
        case_key=case.key,
        position=index,
        name=case.name,
        scenario=case.scenario.name,
        hosts=case.hosts,
        verdict=outcome.verdict,
        run_id=outcome.candidate.run_id if outcome.candidate else None,
        baseline_run_id=outcome.baseline.run_id if outcome.baseline else None,
        metric=key_metric(outcome.candidate) if outcome.candidate else None,
        message=outcome.message,
        duration_s=outcome.duration_s,
    )


async def run_suite_recorded(
    suite: str,
    cases: Sequence[SuiteCase],
    baselines: Sequence[RunResult | None],
    options: RegressOptions,
    store: Store,
    run_case: RunCase,
    observer: CaseObserver | None = None,
) -> SuiteRunOutcome:
    """``run_suite``, with the suite run and each case's verdict written to the store's
    suite history as they happen."""
    with SuiteRuns(store.path) as suites:
        record = SuiteRunRecord(f"suite-{new_run_id()}", suite, options.baseline_tag, now_iso(), "")
        record = suites.begin(record)  # with a fresh id should another controller hold it

        def write(index: int, case: SuiteCase, outcome: CaseOutcome) -> None:
            suites.add_case(case_record(record.suite_run_id, index, case, outcome))

        outcomes = await run_suite(cases, baselines, options, store, run_case, observer, write)
        suites.finish(record.suite_run_id, now_iso())
        last = suites.last_runs(suite, HISTORY_RUNS)
        history = build_history(suite, last, suites.cases([r.suite_run_id for r in last]))
    return SuiteRunOutcome(record.suite_run_id, outcomes, history)


@dataclass
class _Schedule:
    """Which cases wait, which run and which hosts are in use."""

    cases: Sequence[SuiteCase]
    max_parallel: int | None
    waiting: list[int] = field(default_factory=list)
    busy: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.waiting = list(range(len(self.cases)))

    def startable(self, running: int) -> list[int]:
        """Waiting cases to start now, in file order; their hosts are marked busy."""
        started: list[int] = []
        for index in list(self.waiting):
            if self.max_parallel is not None and running + len(started) >= self.max_parallel:
                break
            hosts = set(self.cases[index].hosts)
            if hosts & self.busy:
                continue
            self.busy |= hosts
            self.waiting.remove(index)
            started.append(index)
        return started

    def done(self, index: int) -> None:
        self.busy -= set(self.cases[index].hosts)


async def run_suite(
    cases: Sequence[SuiteCase],
    baselines: Sequence[RunResult | None],
    options: RegressOptions,
    store: Store,
    run_case: RunCase,
    observer: CaseObserver | None = None,
    record: Callable[[int, SuiteCase, CaseOutcome], None] | None = None,
) -> list[CaseOutcome]:
    """Every case's outcome, in the order of ``cases``; ``record(index, case, outcome)`` is
    called as each ends."""
    if options.max_parallel is not None and options.max_parallel < 1:
        raise RinglabInputError(f"--max-parallel {options.max_parallel}: give 1 or more")
    watcher = observer or QuietCases()
    schedule = _Schedule(cases, options.max_parallel)
    outcomes: dict[int, CaseOutcome] = {}
    running: dict[asyncio.Task[CaseOutcome], int] = {}
    total = len(cases)

    async def one(index: int) -> CaseOutcome:
        case = cases[index]
        limit = time_limit_s(case, options.default_timeout_s) + (options.wait_s or 0.0)
        watcher.case_started(case, index + 1, total, limit)
        outcome = await _run_one(case, baselines[index], options, store, run_case, limit)
        if record is not None:
            record(index, case, outcome)
        watcher.case_finished(outcome, index + 1, total)
        return outcome

    try:
        while schedule.waiting or running:
            for index in schedule.startable(len(running)):
                running[asyncio.create_task(one(index))] = index
            finished, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
            for task in finished:
                index = running.pop(task)
                schedule.done(index)
                outcomes[index] = task.result()  # a bug in a case stops the suite here
    finally:
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
    return [outcomes[i] for i in range(total)]


async def _run_one(
    case: SuiteCase,
    baseline: RunResult | None,
    options: RegressOptions,
    store: Store,
    run_case: RunCase,
    limit_s: float,
) -> CaseOutcome:
    started = time.monotonic()
    result = new_result(case.scenario, build_plan(case.scenario), options.tags)
    args = (case.name, case.scenario.name, case.hosts, case.thresholds)
    deadline = asyncio.timeout(limit_s)
    try:
        async with deadline:
            result = await run_case(case, result)
    except INFRASTRUCTURE_ERRORS as exc:
        elapsed = time.monotonic() - started
        if deadline.expired():
            reason = f"ran over its time limit of {_seconds(limit_s)} and was stopped"
        elif isinstance(exc, RinglabInputError):
            reason = exc.message
        else:
            reason = str(exc) or type(exc).__name__
        if not store.has(result.run_id):
            if deadline.expired():
                return failed_to_run(*args, f"{reason} before its run started", elapsed)
            return failed_to_run(*args, f"the run did not start: {reason}", elapsed)
        # The run was stored: what was measured stays, with the reason it ended.
        if deadline.expired() or result.status in ("running", "completed"):
            result.status = "aborted" if deadline.expired() else "failed"
            result.error = reason
            store.save(result, case.scenario_text)
        return judge(*args, result, baseline, baseline_tag=options.baseline_tag, duration_s=elapsed)
    outcome = judge(
        *args,
        result,
        baseline,
        baseline_tag=options.baseline_tag,
        becomes_baseline=options.update_baseline,
        duration_s=time.monotonic() - started,
    )
    if options.update_baseline and result.status == "completed":
        store.add_tag(result.run_id, options.baseline_tag)
    return outcome


def _seconds(value: float) -> str:
    if value >= 60:
        minutes, seconds = divmod(round(value), 60)
        return f"{minutes}m{seconds:02d}s"
    return f"{value:g}s"
