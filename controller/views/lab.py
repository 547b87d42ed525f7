"""`ringlab lab status` as a table a lab and as JSON: what each host's agent is, whether
it is up, who holds it, and its links. The command (commands/lab.py) only loads the labs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.console import Console
from rich.markup import escape

from ringlab.controller.remote.holders import AgentHold, hold_json, hold_text
from ringlab.controller.remote.lab import Lab, agent_alive
from ringlab.controller.views.tables import Column, fit

# Host names, namespaces, pids and states are never cut; at 80 columns a long agent
# socket path is left out (it lies in the lab's directory, and --json has it).
STATUS_COLUMNS = (
    Column("host"),
    Column("netns"),
    Column("agent", optional=True),
    Column("pid"),
    Column("state"),
    Column("held by", wrap=True),
    Column("links", wrap=True),
)


def print_lab(lab: Lab, holds: Mapping[tuple[str, str], AgentHold], console: Console) -> None:
    """One lab of `lab status`: a heading line and its hosts, fitted to the terminal."""
    rows = [
        [
            escape(host.name),
            escape(host.netns),
            escape(host.agent),
            str(host.pid),
            "[green]up[/]" if agent_alive(host) else "[red]down[/]",
            escape(hold_text(holds.get((lab.name, host.name)))),
            escape(", ".join(f"{iface}→{peer}" for peer, iface in host.links.items())),
        ]
        for host in lab.hosts.values()
    ]
    console.print(
        f"lab [bold]{lab.name}[/] ({lab.directory}), links MTU {lab.mtu}, {lab.queues} queue(s)"
    )
    fitted = fit(STATUS_COLUMNS, rows, console.width)
    for table in fitted.tables:
        console.print(table)
    if fitted.dropped:
        console.print(fitted.note(console.width), style="dim")


def lab_json(lab: Lab, holds: Mapping[tuple[str, str], AgentHold]) -> dict[str, Any]:
    """One lab of `lab status --json` (fields documented in docs/cli.md)."""
    return {
        "name": lab.name,
        "directory": lab.directory,
        "inventory": str(lab.inventory_path),
        "mtu": lab.mtu,
        "queues": lab.queues,
        "temporary": lab.temporary,
        "hosts": [
            {
                "name": host.name,
                "netns": host.netns,
                "agent": host.agent,
                "pid": host.pid,
                "agent_state": "up" if agent_alive(host) else "down",
                **hold_json(holds.get((lab.name, host.name))),
                "links": dict(host.links),
            }
            for host in lab.hosts.values()
        ],
    }
