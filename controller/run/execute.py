"""Running one scenario end to end: connect to its agents, check before traffic, run the
plan through the orchestrator, evaluate expectations and diagnoses, store as it goes.

The commands `run` and `regress` call `execute`; `check` and `runs recover` use the
resolver. Printing is theirs (views/), not this module's.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console

from ringlab.controller.analysis.diagnose import diagnose
from ringlab.controller.checks.probing import check_plan
from ringlab.controller.remote.connect import Connection, connect
from ringlab.controller.remote.lab import mtu_for_frames, queues_for_xdp, record_run
from ringlab.controller.run.endpoints import Resolver
from ringlab.controller.run.expect import evaluate
from ringlab.controller.run.orchestrator import Observer, Orchestrator, QuietObserver
from ringlab.controller.run.plan import Plan, frame_sizes, highest_xdp_queue
from ringlab.controller.run.turns import (
    Holds,
    Waiting,
    WaitObserver,
    describe_wait,
    this_controller,
)
from ringlab.controller.scenario import Scenario
from ringlab.controller.store.database import Store
from ringlab.controller.store.results import Diagnosis, RunResult
from ringlab.controller.views.run_table import LiveView
from ringlab.errors import PreflightRefused


def new_run_id() -> str:
    return f"{datetime.now(UTC):%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def new_result(scenario: Scenario, plan: Plan, tags: Sequence[str]) -> RunResult:
    return RunResult(
        run_id=new_run_id(),
        scenario=scenario.name,
        mode=plan.mode,
        started_at=now_iso(),
        tags=list(tags),
    )


async def execute(
    scenario: Scenario,
    plan: Plan,
    scenario_text: str,
    store: Store,
    *,
    inventory: Path | None,
    lab: str | None,
    tags: Sequence[str] = (),
    live: bool = True,
    result: RunResult | None = None,
    wait_s: float | None = None,
    waiting: WaitObserver | None = None,
) -> RunResult:
    """Run ``plan`` on `inventory`'s hosts, the built-in lab `lab`, or a temporary lab, and
    store it; ``live=False`` keeps the terminal quiet (for concurrent runs).

    Every agent is held for the run before any traffic (controller/run/turns.py): a busy one
    raises HostsBusy at once, or, with ``wait_s``, once that wait is over (``waiting`` is
    told whom it waits for); either way nothing is stored.

    ``result`` is filled in as the run goes, so a caller that is interrupted still has it.
    """
    result = result or new_result(scenario, plan, tags)

    claimed: set[str] = set()

    def save(current: RunResult) -> None:
        # The first write claims the run id (Store.claim): should another controller have
        # stored a run under the same id, this one gets a fresh id instead of overwriting it.
        if current.run_id in claimed:
            store.save(current, scenario_text)
        else:
            claimed.add(store.claim(current, scenario_text))

    mtu, queues = temporary_lab_size(plan)
    async with connect(
        plan.hosts, inventory, lab, temporary_mtu=mtu, temporary_queues=queues
    ) as connection:
        if connection.lab is not None and connection.lab.temporary:
            # If this controller dies, whoever removes the orphaned lab aborts the run.
            record_run(connection.lab, result.run_id, str(store.path))
        resolver = make_resolver(connection, scenario)
        console = Console(stderr=True)
        observer: Observer = QuietObserver()
        view = LiveView(console) if live and console.is_terminal else None
        if view is not None:
            observer = view
        holds = Holds(connection.agents, this_controller(result.run_id, scenario.name))
        orchestrator: Orchestrator | None = None
        try:
            await holds.take(wait_s, waiting or PrintWaiting(console))
            orchestrator = Orchestrator(
                connection.agents,
                resolver,
                observer=observer,
                save=save,
                management_addresses=connection.management_addresses(),
                holder=holds.holder,
            )
            await orchestrator.connect(result)
            await check_before_traffic(orchestrator, connection, scenario, plan, resolver, result)
            await _run(orchestrator, plan, result, view, save)
        finally:
            # A failed agent's hold lapses by itself; waiting on it would delay the end.
            await holds.release(skip=orchestrator.failed_hosts if orchestrator else ())
    return result


async def _run(
    orchestrator: Orchestrator,
    plan: Plan,
    result: RunResult,
    view: LiveView | None,
    save: Callable[[RunResult], None],
) -> None:
    stored = False

    def saving(current: RunResult) -> None:
        nonlocal stored
        stored = True
        save(current)

    orchestrator.save = saving
    try:
        if view is not None:
            with view:
                await orchestrator.run(plan, result)
        else:
            await orchestrator.run(plan, result)
    finally:
        # A run refused before its first Prepare went through was never stored: keep it so.
        if stored:
            finish(result, plan)
            save(result)


class PrintWaiting:
    """Says on stderr whom a run waits for (whenever that changes)."""

    def __init__(self, console: Console) -> None:
        self.console = console

    def waiting(self, wait: Waiting) -> None:
        self.console.print(
            f"ringlab: {describe_wait(wait)}", highlight=False, markup=False, soft_wrap=True
        )


def temporary_lab_size(plan: Plan) -> tuple[int, int]:
    """(MTU, queues per link) a temporary lab needs for `plan`: its largest frame fits and
    every AF_XDP flow's queues exist."""
    return mtu_for_frames(frame_sizes(plan)), queues_for_xdp(highest_xdp_queue(plan))


def make_resolver(connection: Connection, scenario: Scenario) -> Resolver:
    hosts = connection.inventory.hosts
    return Resolver(
        links={h: e.links for h, e in hosts.items()},
        default_interfaces={h: e.interface for h, e in hosts.items()},
        scenario_interfaces={h: s.interface for h, s in scenario.hosts.items()},
    )


async def check_before_traffic(
    orchestrator: Orchestrator,
    connection: Connection,
    scenario: Scenario,
    plan: Plan,
    resolver: Resolver,
    result: RunResult,
) -> None:
    """Probe every host and refuse (exit 2) what must not run: nothing has been sent yet."""
    check = await check_plan(
        connection.agents,
        connection.management_addresses(),
        plan,
        resolver,
        orchestrator.infos,
        allow_zc_bidirectional=scenario.allow_zc_bidirectional,
        allow_management_interface=scenario.allow_management_interface,
    )
    result.probes = {host: report.to_dict() for host, report in check.reports.items()}
    if check.errors:
        raise PreflightRefused(check.refusal())
    for finding in check.findings:
        result.diagnosis.append(
            Diagnosis(code=finding.code, severity="warning", message=finding.message)
        )


def finish(result: RunResult, plan: Plan) -> None:
    expectations = {f.name: f.expect for phase in plan.phases for f in phase.flows}
    result.expect_failures = evaluate(result, expectations)
    result.diagnosis = [*result.diagnosis, *diagnose(result)]
    result.finished_at = now_iso()
