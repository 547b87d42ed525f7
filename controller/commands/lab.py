"""`ringlab lab up|down|status`: the built-in namespace lab."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from rich.console import Console
from rich.table import Table

from ringlab.controller.lab import (
    DEFAULT_MTU,
    agent_alive,
    create_lab,
    destroy_lab,
    list_labs,
    load_lab,
    wait_ready,
)


def register(sub: Any) -> None:
    lab = sub.add_parser("lab", help="the built-in lab: namespaces, veth links, agents")
    lab_sub = lab.add_subparsers(dest="lab_command", required=True)
    up = lab_sub.add_parser("up", help="create a lab and start its agents")
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
    up.set_defaults(handler=lab_up)
    down = lab_sub.add_parser("down", help="stop the agents and remove everything the lab made")
    down.add_argument("--name", default="default")
    down.add_argument("--all", action="store_true", help="every lab that is up")
    down.set_defaults(handler=lab_down)
    status = lab_sub.add_parser("status", help="show labs, hosts, links and agents")
    status.add_argument("--name", help="one lab (default: all)")
    status.set_defaults(handler=lab_status)


def lab_up(args: argparse.Namespace) -> int:
    hosts = [h.strip() for h in args.hosts.split(",") if h.strip()]
    lab = create_lab(args.name, hosts, topology=args.topology, mtu=args.mtu)
    try:
        asyncio.run(wait_ready(lab))
    except BaseException:
        destroy_lab(lab)
        raise
    console = Console()
    console.print(f"lab [bold]{lab.name}[/] is up: {', '.join(lab.hosts)} (MTU {lab.mtu})")
    console.print(f"inventory: {lab.inventory_path}")
    return 0


def lab_down(args: argparse.Namespace) -> int:
    names = list_labs() if args.all else [args.name]
    for name in names:
        destroy_lab(load_lab(name))
        print(f"lab {name} is down")
    return 0


def lab_status(args: argparse.Namespace) -> int:
    names = [args.name] if args.name else list_labs()
    console = Console()
    if not names:
        console.print("no lab is up (`ringlab lab up` starts one)")
        return 0
    for name in names:
        lab = load_lab(name)  # a LabError is printed on stderr, exit 2
        table = Table(
            title=f"lab {lab.name} ({lab.directory}), links MTU {lab.mtu}", title_justify="left"
        )
        for column in ("host", "netns", "agent", "pid", "links"):
            table.add_column(column)
        for host in lab.hosts.values():
            alive = "[green]up[/]" if agent_alive(host) else "[red]down[/]"
            links = ", ".join(f"{iface}→{peer}" for peer, iface in host.links.items())
            table.add_row(host.name, host.netns, host.agent, f"{host.pid} {alive}", links)
        console.print(table)
    return 0
