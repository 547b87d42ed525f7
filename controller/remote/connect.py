"""Where the agents are: an inventory file, a running built-in lab, or a temporary lab.

For inventory hosts with the ssh transport, `connect` logs in over SSH and
forwards a local port to the agent's loopback port; with a `tls:` block the
channel uses mutual TLS. Every SSH session and channel opened here is closed
when the `connect` block ends.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import grpc

from ringlab.controller.remote.clients import GrpcAgent
from ringlab.controller.remote.inventory import Inventory, InventoryHost, TlsSpec, load_inventory
from ringlab.controller.remote.lab import (
    DEFAULT_MTU,
    Lab,
    agent_channel_options,
    create_lab,
    destroy_lab,
    load_lab,
    new_temporary_name,
    wait_ready,
)
from ringlab.controller.remote.tunnel import SshSession, ssh_connect
from ringlab.errors import RinglabInputError


@dataclass
class Connection:
    inventory: Inventory
    agents: dict[str, GrpcAgent]
    lab: Lab | None

    def management_addresses(self) -> dict[str, list[str]]:
        """Per host, the addresses the controller reaches it by: the SSH address, and the
        host part of a direct agent address. Their interfaces are never tested on. Host
        names are passed as written; agents match IP addresses only."""
        return {h: reach_addresses(e) for h, e in self.inventory.hosts.items()}


def reach_addresses(entry: InventoryHost) -> list[str]:
    found = [entry.ssh.address] if entry.ssh else []
    target = entry.direct_target if entry.effective_transport == "direct" else None
    if target and not target.startswith("unix:"):
        host = target.rpartition(":")[0].removeprefix("[").removesuffix("]")
        if host and host not in found:
            found.append(host)
    return found


def lab_inventory(lab: Lab) -> Inventory:
    return Inventory(
        version=1,
        lab=lab.name,
        hosts={
            h.name: InventoryHost(agent=h.agent, netns=h.netns, links=dict(h.links))
            for h in lab.hosts.values()
        },
    )


def check_hosts(hosts: Sequence[str], inventory: Inventory, source: str, lab: Lab | None) -> None:
    missing = [h for h in hosts if h not in inventory.hosts]
    if missing:
        if lab is not None:
            wanted = ",".join(dict.fromkeys([*inventory.hosts, *hosts]))
            fix = (
                f"rename the scenario's hosts, or make a lab with them: `ringlab lab down"
                f" --name {lab.name}` then `ringlab lab up --name {lab.name} --hosts {wanted}`"
            )
        else:
            fix = "rename the scenario's hosts or add them to the inventory"
        raise RinglabInputError(
            f"{source} has no host {', '.join(missing)} (it has {', '.join(inventory.hosts)}); {fix}"
        )


def _read(host: str, what: str, path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise RinglabInputError(
            f"inventory host {host}: cannot read tls.{what} {path}: {exc.strerror}; "
            "`ringlab certs init` makes these files"
        ) from None


def agent_channel(host: str, target: str, tls: TlsSpec | None) -> grpc.aio.Channel:
    """A channel to `target`: plain, or mutual TLS with the inventory's certificates."""
    options: list[tuple[str, object]] = list(agent_channel_options())
    if tls is None:
        return grpc.aio.insecure_channel(target, options=options)
    credentials = grpc.ssl_channel_credentials(
        root_certificates=_read(host, "ca", tls.ca),
        private_key=_read(host, "key", tls.key),
        certificate_chain=_read(host, "cert", tls.cert),
    )
    if tls.server_name:
        options.append(("grpc.ssl_target_name_override", tls.server_name))
    return grpc.aio.secure_channel(target, credentials, options=options)


class AgentLinks:
    """Opens agents for inventory hosts and remembers the SSH sessions to close."""

    def __init__(self, accept_new_host_keys: bool = False) -> None:
        self.accept_new = accept_new_host_keys
        self.sessions: list[SshSession] = []

    async def open(self, host: str, entry: InventoryHost) -> GrpcAgent:
        if entry.effective_transport == "ssh":
            assert entry.ssh is not None  # the loader checks transport ssh has an ssh block
            session = await ssh_connect(host, entry.ssh, self.accept_new)
            self.sessions.append(session)
            local = await session.forward(entry.listen_address)
            label = f"{entry.listen_address} via {session.target}"
            return GrpcAgent(host, label, agent_channel(host, local, entry.tls))
        target = entry.direct_target
        if not target:
            raise RinglabInputError(f"inventory host {host} has no agent address; add `agent:`")
        return GrpcAgent(host, target, agent_channel(host, target, entry.tls))

    async def open_all(self, inventory: Inventory, hosts: Sequence[str]) -> dict[str, GrpcAgent]:
        """Every host's agent, in parallel; the first failure is raised after all have settled."""
        outcomes = await asyncio.gather(
            *(self.open(h, inventory.hosts[h]) for h in hosts), return_exceptions=True
        )
        agents = {h: o for h, o in zip(hosts, outcomes, strict=True) if isinstance(o, GrpcAgent)}
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                for agent in agents.values():
                    await agent.close()
                raise outcome
        return agents

    async def close(self) -> None:
        await asyncio.gather(*(s.close() for s in self.sessions))
        self.sessions.clear()


@contextlib.asynccontextmanager
async def connect(
    hosts: Sequence[str],
    inventory_path: Path | None,
    lab_name: str | None,
    *,
    temporary_mtu: int = DEFAULT_MTU,
    temporary_queues: int = 1,
) -> AsyncIterator[Connection]:
    """Agents for `hosts`; without an inventory or lab, a temporary lab that is removed after.

    A temporary lab's links get `temporary_mtu` (callers size it to their largest frame)
    and `temporary_queues` queues (enough for the highest xdp_queue + workers).
    """
    lab: Lab | None = None
    temporary = False
    if inventory_path is not None and lab_name is not None:
        raise RinglabInputError(
            f"both --inventory {inventory_path} and --lab {lab_name} name the hosts;"
            " give one of them"
        )
    if inventory_path is not None:
        inventory = load_inventory(inventory_path)
        source = str(inventory_path)
    elif lab_name is not None:
        lab = load_lab(lab_name)
        inventory, source = lab_inventory(lab), f"lab {lab_name}"
    else:
        # pyroute2's synchronous API runs its own event loop: keep it off ours.
        lab = await asyncio.to_thread(
            create_lab,
            new_temporary_name(),
            list(hosts),
            temporary=True,
            mtu=temporary_mtu,
            queues=temporary_queues,
        )
        temporary = True
        inventory, source = lab_inventory(lab), f"temporary lab {lab.name}"
    agents: dict[str, GrpcAgent] = {}
    links = AgentLinks()
    try:
        if temporary and lab is not None:
            await wait_ready(lab)
        check_hosts(hosts, inventory, source, lab)
        agents = await links.open_all(inventory, hosts)
        yield Connection(inventory, agents, lab)
    finally:
        for agent in agents.values():
            await agent.close()
        await links.close()
        if temporary and lab is not None:
            await asyncio.to_thread(destroy_lab, lab)
