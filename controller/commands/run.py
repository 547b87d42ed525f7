"""`ringlab run SCENARIO`: plan, run on the agents, store, print."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from ringlab.controller.commands.help import add_command
from ringlab.controller.run.execute import execute, new_result
from ringlab.controller.run.plan import build_plan
from ringlab.controller.run.turns import HostsBusy, wait_seconds
from ringlab.controller.scenario import load_scenario
from ringlab.controller.store.database import open_store
from ringlab.controller.store.location import DB_HELP, db_argument
from ringlab.controller.store.results import RunResult
from ringlab.controller.views.run_table import print_run, wide_console


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
                " criterion; it is stored, and the output says which. Or a host was busy"
                " (held by another run, named), or still busy when --wait ran out: nothing"
                " was sent or stored",
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
    run.add_argument("--db", type=db_argument, help=DB_HELP)
    run.add_argument("--json", action="store_true", help="print the result as one JSON document")
    run.add_argument("--tag", action="append", default=[], help="tag the run (repeatable)")
    run.add_argument(
        "--wait",
        metavar="DURATION",
        help="when a host is busy (held by another run), wait up to DURATION (like 90s or"
        " 10m) for every host of the run to be free, first come first served, saying whom"
        " it waits for; without it a busy host refuses the run at once",
    )
    run.set_defaults(handler=run_command)


def run_command(args: argparse.Namespace) -> int:
    wait_s = wait_seconds(args.wait)
    scenario = load_scenario(args.scenario)
    plan = build_plan(scenario)
    scenario_text = args.scenario.read_text()
    result = new_result(scenario, plan, args.tag)
    with open_store(args.db) as store:
        try:
            asyncio.run(
                execute(
                    scenario,
                    plan,
                    scenario_text,
                    store,
                    inventory=args.inventory,
                    lab=args.lab,
                    result=result,
                    wait_s=wait_s,
                )
            )
        except KeyboardInterrupt:
            return interrupted(result, args.json)
        except HostsBusy as exc:
            print(f"ringlab: {exc}", file=sys.stderr)
            return 1
    show(result, args.json)
    if result.status != "completed" or result.expect_failures:
        return 1
    return 0


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
