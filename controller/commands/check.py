"""`ringlab check SCENARIO`: validate, show the plan, and run preflight without traffic.

Without --inventory or --lab only the scenario is checked: a temporary built-in lab
exists only for the length of a run, so there are no hosts to probe yet. With either,
every host is probed and every phase's flows are resolved and checked exactly as
`ringlab run` does before its first frame; nothing is prepared and nothing is sent.
Exit 0: the run would start; 2: the scenario is invalid or preflight would refuse it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from ringlab.controller.checks.probing import PlanCheck, check_plan
from ringlab.controller.commands.help import add_command
from ringlab.controller.remote.connect import connect
from ringlab.controller.run.execute import make_resolver
from ringlab.controller.run.plan import Plan, build_plan
from ringlab.controller.scenario import Scenario, load_scenario
from ringlab.controller.views.check import check_json, print_check
from ringlab.controller.views.run_table import wide_console


def register(sub: Any) -> None:
    check = add_command(
        sub,
        "check",
        help="validate a scenario, show its phases and, on real hosts, run preflight;"
        " sends nothing",
        description="Validate a scenario and print every phase's flows (start, length, rate,"
        " frames a paced flow will send). With --lab or --inventory also run preflight on"
        " the hosts: interfaces resolved, every agent's verdict on every phase, and"
        " everything `ringlab run` would refuse. Nothing is prepared, no frame is sent.",
        exits=[
            (0, "valid; `ringlab run` would run it"),
            (2, "invalid, or preflight would refuse it (the output says why)"),
        ],
    )
    check.add_argument("scenario", type=Path, help="scenario YAML file")
    check.add_argument("--inventory", type=Path, help="inventory YAML: probe these hosts")
    check.add_argument("--lab", help="probe the hosts of this running built-in lab")
    check.add_argument("--json", action="store_true", help="print the plan and findings as JSON")
    check.set_defaults(handler=check_command)


def check_command(args: argparse.Namespace) -> int:
    scenario = load_scenario(args.scenario)
    plan = build_plan(scenario)
    preflight: PlanCheck | None = None
    if args.inventory is not None or args.lab is not None:
        preflight = asyncio.run(_preflight(args, scenario, plan))
    if args.json:
        json.dump(check_json(plan, preflight), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print_check(args.scenario, plan, preflight, wide_console())
    return 2 if preflight is not None and preflight.errors else 0


async def _preflight(args: argparse.Namespace, scenario: Scenario, plan: Plan) -> PlanCheck:
    async with connect(plan.hosts, args.inventory, args.lab) as connection:
        hosts = list(connection.agents)
        replies = await asyncio.gather(*(connection.agents[h].info() for h in hosts))
        return await check_plan(
            connection.agents,
            connection.management_addresses(),
            plan,
            make_resolver(connection, scenario),
            dict(zip(hosts, replies, strict=True)),
            allow_zc_bidirectional=scenario.allow_zc_bidirectional,
            allow_management_interface=scenario.allow_management_interface,
        )
