"""`ringlab probe`: what each host's NICs, drivers and kernel are, and reload blast radius."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from ringlab.controller.checks.probing import probe_agents
from ringlab.controller.commands.help import add_command
from ringlab.controller.remote.connect import connect
from ringlab.controller.remote.holders import AgentHold, agent_holds
from ringlab.controller.remote.lab import list_labs, load_lab
from ringlab.controller.views.probe import probe_json, render_probe, render_reload_impact
from ringlab.controller.views.run_table import wide_console
from ringlab.probe_model import ProbeReport


def register(sub: Any) -> None:
    probe = add_command(
        sub,
        "probe",
        help="describe hosts' interfaces, drivers, ZC/DPDK state and kernel quirks",
        description="Describe hosts through their agents (or this machine with --local):"
        " interfaces, drivers and firmware, rings, offloads, PF_RING ZC and DPDK state,"
        " kernel quirks, which interface is the management one; with --reload-impact, what"
        " reloading a driver module would take down. Sends nothing.",
        exits=[(0, "described"), (2, "bad input, or an agent that cannot be reached")],
    )
    probe.add_argument("hosts", nargs="*", help="hosts to probe (default: all hosts of the lab)")
    probe.add_argument("--inventory", type=Path, help="inventory YAML")
    probe.add_argument("--lab", help="a running built-in lab (default: the one that is up)")
    probe.add_argument(
        "--local",
        action="store_true",
        help="probe this machine directly (root namespace), without agents",
    )
    probe.add_argument(
        "--reload-impact",
        metavar="MODULE",
        default="",
        help="also compute what reloading this kernel module would take down",
    )
    probe.add_argument("--json", action="store_true", help="print one JSON document")
    probe.set_defaults(handler=probe_command)


def probe_command(args: argparse.Namespace) -> int:
    if args.local:
        from ringlab.agent.probes.collect import probe_host

        reports = {"local": probe_host(reload_impact_module=args.reload_impact)}
        holds: dict[str, AgentHold] = {}
    else:
        reports, holds = asyncio.run(_probe_remote(args))
    if args.json:
        json.dump(probe_json(reports, holds), sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    console = wide_console()
    if not args.reload_impact:
        render_probe(reports, console, holds)
    for host, report in reports.items():
        if report.reload_impact is not None:
            render_reload_impact(host, report.reload_impact, console)
    return 0


async def _probe_remote(
    args: argparse.Namespace,
) -> tuple[dict[str, ProbeReport], dict[str, AgentHold]]:
    lab_name = args.lab
    hosts: list[str] = list(args.hosts)
    if args.inventory is None and lab_name is None:
        labs = list_labs()
        if len(labs) == 1:
            lab_name = labs[0]
        elif len(labs) > 1:
            from ringlab.errors import RinglabInputError

            raise RinglabInputError(
                f"several labs are up ({', '.join(labs)}); choose one with --lab"
            )
    if not hosts:
        if args.inventory is not None:
            from ringlab.controller.remote.inventory import load_inventory

            hosts = list(load_inventory(args.inventory).hosts)
        elif lab_name is not None:
            hosts = list(load_lab(lab_name).hosts)
        else:
            hosts = ["a", "b"]  # a temporary built-in lab
    async with connect(hosts, args.inventory, lab_name) as connection:
        reports = await probe_agents(
            connection.agents, connection.management_addresses(), args.reload_impact
        )
        return reports, await agent_holds(connection.agents)
