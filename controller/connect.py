"""Where the agents are: an inventory file, a running built-in lab, or a temporary lab."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import grpc

from ringlab.controller.clients import GrpcAgent
from ringlab.controller.inventory import Inventory, InventoryHost, load_inventory
from ringlab.controller.lab import (
    Lab,
    agent_channel_options,
    create_lab,
    destroy_lab,
    list_labs,
    load_lab,
    new_temporary_name,
    wait_ready,
)
from ringlab.errors import RinglabInputError


@dataclass
class Connection:
    inventory: Inventory
    agents: dict[str, GrpcAgent]
    lab: Lab | None


def lab_inventory(lab: Lab) -> Inventory:
    return Inventory(
        version=1,
        lab=lab.name,
        hosts={
            h.name: InventoryHost(agent=h.agent, netns=h.netns, links=dict(h.links))
            for h in lab.hosts.values()
        },
    )


def check_hosts(hosts: Sequence[str], inventory: Inventory, source: str) -> None:
    missing = [h for h in hosts if h not in inventory.hosts]
    if missing:
        raise RinglabInputError(
            f"{source} has no host {', '.join(missing)} (it has {', '.join(inventory.hosts)}); "
            "rename the scenario's hosts or add them to the inventory"
        )


def open_agent(host: str, entry: InventoryHost) -> GrpcAgent:
    if not entry.agent:
        raise RinglabInputError(f"inventory host {host} has no agent address; add `agent:`")
    channel = grpc.aio.insecure_channel(entry.agent, options=agent_channel_options())
    return GrpcAgent(host, entry.agent, channel)


@contextlib.asynccontextmanager
async def connect(
    hosts: Sequence[str], inventory_path: Path | None, lab_name: str | None
) -> AsyncIterator[Connection]:
    """Agents for `hosts`; without an inventory or lab, a temporary lab that is removed after."""
    lab: Lab | None = None
    temporary = False
    if inventory_path is not None:
        inventory = load_inventory(inventory_path)
        source = str(inventory_path)
    elif lab_name is not None:
        lab = load_lab(lab_name)
        inventory, source = lab_inventory(lab), f"lab {lab_name}"
    else:
        # pyroute2's synchronous API runs its own event loop: keep it off ours.
        lab = await asyncio.to_thread(create_lab, new_temporary_name(), list(hosts), temporary=True)
        temporary = True
        inventory, source = lab_inventory(lab), f"temporary lab {lab.name}"
    agents: dict[str, GrpcAgent] = {}
    try:
        if temporary and lab is not None:
            await wait_ready(lab)
        check_hosts(hosts, inventory, source)
        agents = {h: open_agent(h, inventory.hosts[h]) for h in hosts}
        yield Connection(inventory, agents, lab)
    finally:
        for agent in agents.values():
            await agent.close()
        if temporary and lab is not None:
            await asyncio.to_thread(destroy_lab, lab)


def running_labs() -> list[str]:
    return list_labs()
