"""`ringlab run SCENARIO`: plan, run on the agents, store, print."""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console

from ringlab.controller.analysis.diagnose import diagnose
from ringlab.controller.checks.probing import check_plan
from ringlab.controller.commands.help import add_command
from ringlab.controller.remote.connect import Connection, connect
from ringlab.controller.remote.lab import mtu_for_frames
from ringlab.controller.run.endpoints import Resolver
from ringlab.controller.run.expect import evaluate
from ringlab.controller.run.orchestrator import Observer, Orchestrator, QuietObserver
from ringlab.controller.run.plan import Plan, build_plan, frame_sizes
from ringlab.controller.scenario import Scenario, load_scenario
from ringlab.controller.store.database import Store, default_db_path
from ringlab.controller.store.results import Diagnosis, RunResult
from ringlab.controller.views.run_table import LiveView, print_run, wide_console
from ringlab.errors import RinglabInputError


def register(sub: Any) -> None:
    run = add_command(
        sub,
        "run",
        help="run a scenario and store its results",
        description="Run a scenario on an inventory's hosts (--inventory), a running built-in"
        " lab (--lab) or a temporary built-in lab made for it, store the run and print it."
        " Every host is probed and every phase checked first (preflight): what must not"
        " run is refused before any frame is sent.",
        exits=[
            (0, "the run completed and met its expect: criteria"),
            (
                1,
                "the run failed (an agent died, a phase errored) or missed an expect:"
                " criterion; it is stored, and the output says which",
            ),
            (
                2,
                "bad input, or refused before any traffic (scenario, inventory, lab,"
                " preflight); nothing is stored",
            ),
            (
                130,
                "interrupted (Ctrl-C or SIGTERM): traffic stopped and collected, the run"
                " stored as aborted",
            ),
        ],
    )
    run.add_argument("scenario", type=Path, help="scenario YAML file")
    run.add_argument(
        "--inventory", type=Path, help="inventory YAML (default: a temporary built-in lab)"
    )
    run.add_argument("--lab", help="use the running built-in lab of this name")
    run.add_argument("--db", type=Path, help="run store (default $RINGLAB_DB or XDG data dir)")
    run.add_argument("--json", action="store_true", help="print the result as one JSON document")
    run.add_argument("--tag", action="append", default=[], help="tag the run (repeatable)")
    run.set_defaults(handler=run_command)


def new_run_id() -> str:
    return f"{datetime.now(UTC):%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def run_command(args: argparse.Namespace) -> int:
    scenario = load_scenario(args.scenario)
    plan = build_plan(scenario)
    scenario_text = args.scenario.read_text()
    result = new_result(scenario, plan, args.tag)
    with Store(args.db or default_db_path()) as store:
        try:
            asyncio.run(execute(args, scenario, plan, scenario_text, store, result=result))
        except KeyboardInterrupt:
            return interrupted(result, args.json)
    show(result, args.json)
    if result.status != "completed" or result.expect_failures:
        return 1
    return 0


async def execute(
    args: argparse.Namespace,
    scenario: Scenario,
    plan: Plan,
    scenario_text: str,
    store: Store,
    *,
    live: bool = True,
    result: RunResult | None = None,
) -> RunResult:
    """Run ``plan`` and store it; ``live=False`` keeps the terminal quiet (for concurrent runs).

    ``result`` is filled in as the run goes, so a caller that is interrupted still has it.
    """
    result = result or new_result(scenario, plan, args.tag)

    def save(current: RunResult) -> None:
        store.save(current, scenario_text)

    async with connect(
        plan.hosts,
        args.inventory,
        args.lab,
        temporary_mtu=mtu_for_frames(frame_sizes(plan)),
    ) as connection:
        resolver = make_resolver(connection, scenario)
        console = Console(stderr=True)
        observer: Observer = QuietObserver()
        view = LiveView(console) if live and console.is_terminal else None
        if view is not None:
            observer = view
        orchestrator = Orchestrator(
            connection.agents,
            resolver,
            observer=observer,
            save=save,
            management_addresses=connection.management_addresses(),
        )
        await orchestrator.connect(result)
        await check_before_traffic(orchestrator, connection, scenario, plan, resolver, result)
        try:
            if view is not None:
                with view:
                    await orchestrator.run(plan, result)
            else:
                await orchestrator.run(plan, result)
        finally:
            finish(result, plan)
            save(result)
    return result


def new_result(scenario: Scenario, plan: Plan, tags: list[str]) -> RunResult:
    return RunResult(
        run_id=new_run_id(),
        scenario=scenario.name,
        mode=plan.mode,
        started_at=now_iso(),
        tags=list(tags),
    )


def show(result: RunResult, as_json: bool) -> None:
    if as_json:
        json.dump(result.to_json_dict(), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print_run(result, wide_console())


def interrupted(result: RunResult, as_json: bool) -> int:
    """Ctrl-C or SIGTERM: show what was measured and where it is stored; exit 130."""
    if result.status == "running":
        # Interrupted before the orchestrator started: no run was stored.
        print("ringlab: interrupted before any traffic; nothing was stored", file=sys.stderr)
        return 130
    show(result, as_json)
    print(
        f"ringlab: interrupted; run {result.run_id} is stored as {result.status} with the"
        f" {len(result.phases)} phase(s) measured so far (`ringlab runs show {result.run_id}`)",
        file=sys.stderr,
    )
    return 130


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


class PreflightRefused(RinglabInputError):
    pass


def finish(result: RunResult, plan: Plan) -> None:
    expectations = {f.name: f.expect for phase in plan.phases for f in phase.flows}
    result.expect_failures = evaluate(result, expectations)
    result.diagnosis = [*result.diagnosis, *diagnose(result)]
    result.finished_at = now_iso()
