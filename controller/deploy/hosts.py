"""`ringlab deploy`: put the agent on inventory hosts over SSH, in parallel.

Per host, in its own directory (``ssh.dir``, default ~/.ringlab, mode 0700):

    venv/            python3 -m venv, isolated (no system site-packages)
    wheelhouse/KEY/  the agent's dependency wheels for this host's Python and platform
    wheels/BUILD/    the ringlab wheel
    tls/             ca.crt, agent.crt, agent.key (direct transport only)
    agent.sock       where the agent listens (ssh transport): only the SSH user and root
    deployed         what runs: build id, wheelhouse, listen address, TLS files' digest
    agent.pid        written by the agent (--pid-file), removed when it exits
    agent.log        the agent's output

The host needs a python3 (3.11+, with its venv module) and nothing else: no network, no
package index, no compiler. The controller asks the host's Python what it is, fetches
the agent's locked dependencies as wheels for it once (wheelhouse.py, cached per host
kind), copies what the host lacks over SFTP and installs offline. Every step's failure
becomes that host's error, saying what to change; other hosts go on.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ringlab.controller.deploy.artifact import Artifact
from ringlab.controller.deploy.steps import (
    RemoteLayout,
    agent_status,
    agent_tls,
    check_private,
    host_python,
    install,
    listen_address,
    log_tail,
    ready_or_exited,
    remote_dir,
    start_agent,
    stop_agent,
    tls_digest,
)
from ringlab.controller.deploy.wheelhouse import Wheelhouse, wheelhouse_for
from ringlab.controller.remote.clients import AgentError, GrpcAgent
from ringlab.controller.remote.connect import agent_channel
from ringlab.controller.remote.inventory import Inventory, InventoryHost
from ringlab.controller.remote.tunnel import SshSession, ssh_connect
from ringlab.errors import DeployError, RinglabInputError


@dataclass
class HostOutcome:
    host: str
    target: str
    action: str  # installed, verified, stopped, not running, failed
    ok: bool
    detail: str = ""
    agent_version: str = ""
    python: str = ""  # the host's Python: 3.11.2 x86_64 glibc 2.36
    seconds: float = 0.0


# --- one host ------------------------------------------------------------------


def fingerprint(artifact: Artifact, wheelhouse: Wheelhouse, entry: InventoryHost) -> str:
    """What a running agent must match to be left alone: build, dependencies, listen
    address, TLS files."""
    return (
        f"build={artifact.build_id} deps={wheelhouse.key} listen={entry.listen_address} "
        f"tls={tls_digest(entry)}"
    )


def check_deployable(host: str, entry: InventoryHost) -> None:
    if entry.ssh is None:
        raise DeployError(f"inventory host {host} has no ssh: block; deploy reaches hosts over SSH")
    if entry.effective_transport == "direct" and not agent_tls(entry):
        raise DeployError(
            f"inventory host {host} uses transport: direct without tls.agent_cert/agent_key; "
            "an agent on a routable address needs mutual TLS (`ringlab certs init`), "
            "or use transport: ssh"
        )


async def _verify(
    session: SshSession,
    host: str,
    entry: InventoryHost,
    layout: RemoteLayout,
    version: str,
    pid: int | None = None,
) -> str:
    """GetInfo through the tunnel (or directly with TLS); returns the agent's version."""
    if entry.effective_transport == "ssh":
        listen = await listen_address(session, entry)
        target = await session.forward(listen)
        label = f"{listen} via {session.target}"
    else:
        target = entry.direct_target or ""
        label = target
    agent = GrpcAgent(host, label, agent_channel(host, target, entry.tls))
    try:
        await ready_or_exited(session, layout, agent, pid)
        info = await agent.info()
    except AgentError as exc:
        tail = await log_tail(session, layout)
        reason = str(exc).removeprefix(f"agent {exc.host} ({exc.address}): ")
        raise AgentError(
            host, label, f"{reason}\nagent.log on the host ends with:\n{tail}"
        ) from None
    finally:
        await agent.close()
    if info.agent_version != version:
        raise AgentError(
            host,
            label,
            f"answers as ringlab {info.agent_version}, but {version} was deployed; "
            "another agent may hold the port",
        )
    if entry.effective_transport == "ssh" and pid is not None:
        await check_private(session, layout, pid, await listen_address(session, entry), label)
    return str(info.agent_version)


HostWork = Callable[[SshSession, RemoteLayout, HostOutcome], Awaitable[None]]


async def _on_host(
    host: str, entry: InventoryHost, accept_new: bool, work: HostWork
) -> HostOutcome:
    """Log in, run `work`, log out; every failure becomes a failed row, never an exception."""
    started = time.monotonic()
    assert entry.ssh is not None
    outcome = HostOutcome(host, f"{entry.ssh.user}@{entry.ssh.address}", "failed", False)
    session: SshSession | None = None
    try:
        session = await ssh_connect(host, entry.ssh, accept_new)
        await work(session, await remote_dir(session), outcome)
        outcome.ok = True
    except (AgentError, RinglabInputError) as exc:
        outcome.action, outcome.ok, outcome.detail = "failed", False, str(exc)
    finally:
        if session is not None:
            await session.close()
        outcome.seconds = time.monotonic() - started
    return outcome


async def deploy_host(
    host: str,
    entry: InventoryHost,
    artifact: Artifact,
    accept_new: bool,
    wheelhouse_source: Path | None = None,
) -> HostOutcome:
    async def deploy(session: SshSession, layout: RemoteLayout, outcome: HostOutcome) -> None:
        assert entry.ssh is not None
        python = await host_python(session, entry.ssh.python)
        outcome.python = python.short
        # A download (once per kind of host, cached) must not stall the other hosts' SSH.
        wheelhouse = await asyncio.to_thread(wheelhouse_for, python, wheelhouse_source)
        stamp = fingerprint(artifact, wheelhouse, entry)
        pid, running = await agent_status(session, layout)
        if pid is not None and running == stamp:
            outcome.action = "verified"
            outcome.detail = f"already running (pid {pid})"
        else:
            if pid is not None:
                await stop_agent(session, layout, pid)
            await install(session, layout, artifact, wheelhouse, entry)
            pid = await start_agent(session, layout, entry, stamp)
            outcome.action = "installed"
            outcome.detail = f"started, listening on {await listen_address(session, entry)}"
        outcome.agent_version = await _verify(session, host, entry, layout, artifact.version, pid)

    return await _on_host(host, entry, accept_new, deploy)


async def stop_host(host: str, entry: InventoryHost, accept_new: bool) -> HostOutcome:
    async def stop(session: SshSession, layout: RemoteLayout, outcome: HostOutcome) -> None:
        pid, _ = await agent_status(session, layout)
        if pid is None:
            outcome.action, outcome.detail = "not running", "no agent was running"
        else:
            await stop_agent(session, layout, pid)
            outcome.action, outcome.detail = "stopped", f"pid {pid} stopped"

    return await _on_host(host, entry, accept_new, stop)


def choose_hosts(inventory: Inventory, names: Sequence[str] | None) -> list[str]:
    if not names:
        return list(inventory.hosts)
    unknown = [n for n in names if n not in inventory.hosts]
    if unknown:
        raise DeployError(
            f"the inventory has no host {', '.join(unknown)} (it has {', '.join(inventory.hosts)})"
        )
    return list(names)


async def deploy_all(
    inventory: Inventory,
    artifact: Artifact | None,
    hosts: Sequence[str],
    accept_new: bool = False,
    stop: bool = False,
    wheelhouse_source: Path | None = None,
) -> list[HostOutcome]:
    """Deploy (or stop, with `stop`) on every host at once; one outcome per host, in order.
    `wheelhouse_source`: a directory holding the agent's dependency wheels (no index)."""
    for host in hosts:
        check_deployable(host, inventory.hosts[host])
    if stop:
        jobs = [stop_host(h, inventory.hosts[h], accept_new) for h in hosts]
    else:
        assert artifact is not None
        jobs = [
            deploy_host(h, inventory.hosts[h], artifact, accept_new, wheelhouse_source)
            for h in hosts
        ]
    return list(await asyncio.gather(*jobs))
