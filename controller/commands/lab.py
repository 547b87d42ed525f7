"""`ringlab lab up|down|status`: the built-in namespace lab."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from rich.console import Console

from ringlab.controller.commands.help import add_command
from ringlab.controller.remote.holders import lab_holds
from ringlab.controller.remote.lab import (
    DEFAULT_MTU,
    Lab,
    agent_alive,
    create_lab,
    destroy_lab,
    list_labs,
    load_lab,
    reap_orphans,
    wait_ready,
)
from ringlab.controller.remote.lab_repair import repair_lab
from ringlab.controller.views.lab import lab_json, print_lab
from ringlab.controller.views.run_table import wide_console

LAB_EXITS = [(0, "done"), (2, "bad input, or a lab error (a lab that is not up, a name taken)")]
STATUS_EXITS = [
    (0, "every agent of the labs shown is up (or no lab is up)"),
    (1, "an agent of a lab is down: `ringlab lab up --repair --name NAME` restarts it"),
    LAB_EXITS[1],
]


def register(sub: Any) -> None:
    lab = add_command(
        sub,
        "lab",
        help="the built-in lab: namespaces, veth links, agents",
        description="The built-in lab on this machine (root): network namespaces joined by"
        " veth pairs, an agent in each. Labs with different names coexist.",
        exits=LAB_EXITS,
    )
    lab_sub = lab.add_subparsers(dest="lab_command", required=True)
    up = add_command(
        lab_sub,
        "up",
        help="create a lab and start its agents",
        description="Create a namespace rl-NAME-HOST per host, join the hosts (every pair,"
        " or a-b, c-d, ...) with veth links called to-PEER, start one agent per namespace,"
        " wait until each answers and write the lab's inventory.yaml. A failed up removes"
        " what it made.",
        exits=LAB_EXITS,
    )
    up.add_argument("--name", default="default", help="lab name (default %(default)s)")
    up.add_argument(
        "--hosts", default="a,b", help="comma-separated host names (default %(default)s)"
    )
    up.add_argument(
        "--topology",
        choices=("mesh", "pairs"),
        default="mesh",
        help="mesh: every host linked to every other; pairs: a-b, c-d, ... (default %(default)s)",
    )
    up.add_argument(
        "--mtu",
        type=int,
        default=DEFAULT_MTU,
        help="MTU of every link, 68..65535; 9000 for jumbo frames (default %(default)s)",
    )
    up.add_argument(
        "--queues",
        type=int,
        default=1,
        help="RX and TX queues of every link end, 1..64: with N queues AF_XDP flows can use"
        " xdp_queue 0..N-1, one socket each (default %(default)s)",
    )
    up.add_argument(
        "--repair",
        action="store_true",
        help="repair lab --name that is up: start its agents that died and make its missing"
        " links again (--hosts, --topology, --mtu and --queues are the lab's own)",
    )
    up.set_defaults(handler=lab_up)
    down = add_command(
        lab_sub,
        "down",
        help="stop the agents and remove everything the lab made",
        description="Stop the lab's agents and remove its namespaces, and with them its links.",
        exits=LAB_EXITS,
    )
    down.add_argument("--name", default="default", help="lab name (default %(default)s)")
    down.add_argument("--all", action="store_true", help="every lab that is up")
    down.add_argument(
        "--stale",
        action="store_true",
        help="only orphaned temporary labs (their controller is gone, e.g. killed): remove"
        " them and mark their runs aborted (any command that lists labs also does this)",
    )
    down.set_defaults(handler=lab_down)
    status = add_command(
        lab_sub,
        "status",
        help="show labs, hosts, links and agents",
        description="The labs that are up: hosts, namespaces, agents (up or down), links."
        " Exits 1 when an agent is down, saying how to restart it.",
        exits=STATUS_EXITS,
    )
    status.add_argument("--name", help="one lab (default: all)")
    status.add_argument(
        "--json",
        action="store_true",
        help="print a JSON array of labs (name, directory, inventory, mtu, queues, hosts with"
        " netns, agent, pid, agent_state, holder (run_id, scenario, controller_host,"
        " controller_user, since; null when free), waiting, links)",
    )
    status.set_defaults(handler=lab_status)


def lab_up(args: argparse.Namespace) -> int:
    if args.repair:
        return _repair(args.name)
    hosts = [h.strip() for h in args.hosts.split(",") if h.strip()]
    lab = create_lab(args.name, hosts, topology=args.topology, mtu=args.mtu, queues=args.queues)
    try:
        asyncio.run(wait_ready(lab))
    except BaseException:
        destroy_lab(lab)
        raise
    console = Console()
    console.print(
        f"lab [bold]{lab.name}[/] is up: {', '.join(lab.hosts)} (MTU {lab.mtu}, {lab.queues} queue(s) per link)"
    )
    console.print(f"inventory: {lab.inventory_path}")
    return 0


def _repair(name: str) -> int:
    lab = load_lab(name)
    done = repair_lab(lab)
    asyncio.run(wait_ready(lab))
    for line in done:
        print(line)
    print(f"lab {lab.name} is up: every agent answers" + ("" if done else " (nothing to repair)"))
    return 0


def lab_down(args: argparse.Namespace) -> int:
    if args.stale:
        if not reap_orphans():  # each lab removed is reported on stderr
            print("no orphaned temporary lab")
        return 0
    names = list_labs() if args.all else [args.name]
    for name in names:
        destroy_lab(load_lab(name))
        print(f"lab {name} is down")
    return 0


def lab_status(args: argparse.Namespace) -> int:
    if args.name:
        reap_orphans([args.name])
    names = [args.name] if args.name else list_labs()
    labs = [load_lab(name) for name in names]  # a LabError is printed on stderr, exit 2
    holds = asyncio.run(lab_holds(labs))  # who holds each agent that is up
    if args.json:
        json.dump([lab_json(lab, holds) for lab in labs], sys.stdout, indent=2)
        sys.stdout.write("\n")
        return agents_down(labs)
    console = wide_console()
    if not labs:
        console.print("no lab is up (`ringlab lab up` starts one)")
        return 0
    for lab in labs:
        print_lab(lab, holds, console)
    return agents_down(labs)


def agents_down(labs: list[Lab]) -> int:
    """1, with what to do on stderr, when an agent of `labs` is down; else 0."""
    down = 0
    for lab in labs:
        hosts = [h.name for h in lab.hosts.values() if not agent_alive(h)]
        if not hosts:
            continue
        down += 1
        fix = (
            f"`ringlab lab up --repair --name {lab.name}` starts them again"
            if not lab.temporary
            else "it belongs to a run, which fails; the lab goes when that run ends"
        )
        print(
            f"ringlab: lab {lab.name}: agent(s) {', '.join(hosts)} down (runs on this lab"
            f" fail until they are back); {fix}",
            file=sys.stderr,
        )
    return 1 if down else 0
