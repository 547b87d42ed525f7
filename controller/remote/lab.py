"""The built-in lab: one network namespace per host, veth links, an agent in each.

Each host `h` of lab `L` lives in namespace `rl-L-h`; every pair of hosts is
joined by a veth pair whose ends are named `to-<peer>`. Agents listen on Unix
sockets under the lab's directory, reachable from the root namespace. The lab
writes an inventory any `ringlab` command can use. Whatever `lab up` created is
removed again when it fails half-way, and by `lab down`.

A temporary lab (a `ringlab run` without --lab or --inventory) records its controller
(pid, start time, boot id) and the runs it carries. When that controller is gone (kill
-9), the lab is an orphan: the next command that lists labs (or `lab down --stale`)
removes it and marks its runs aborted, so it never stands in another command's way.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import secrets
import shutil
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Any, TypeVar

from pyroute2 import IPRoute, NetNS, netns

from ringlab.controller.remote import processes
from ringlab.controller.scenario import units
from ringlab.errors import StoreLocationError

LAB_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,15}$")
HOST_NAME = re.compile(r"^[a-z][a-z0-9-]{0,11}$")
NETNS_PREFIX = "rl-"

T = TypeVar("T")


class LabError(Exception):
    pass


def labs_dir() -> Path:
    return Path(os.environ.get("RINGLAB_LAB_DIR", "/run/ringlab/labs"))


DEFAULT_MTU = 1500
# veth carries 68..65535; 9000 is the usual jumbo MTU.
MIN_MTU, MAX_MTU = 68, 65535
# Queues per veth end: the kernel allows up to 4096; a lab needs a few (one per xdp_queue).
MAX_QUEUES = 64


@dataclass
class LabHost:
    name: str
    netns: str
    agent: str  # gRPC target, unix:/...
    pid: int = 0
    links: dict[str, str] = field(default_factory=dict)  # peer host -> local interface


@dataclass
class Lab:
    name: str
    directory: str
    hosts: dict[str, LabHost]
    temporary: bool = False
    mtu: int = DEFAULT_MTU  # of every link
    queues: int = 1  # RX and TX queues of every veth end (AF_XDP binds one socket per queue)
    # A temporary lab's controller (owner.ProcessIdentity as a dict) and its runs
    # ({"run_id", "store"}), so an orphan can be told and its runs marked aborted.
    owner: dict[str, Any] | None = None
    runs: list[dict[str, str]] = field(default_factory=list)

    @property
    def inventory_path(self) -> Path:
        return Path(self.directory) / "inventory.yaml"


def queues_for_xdp(highest_queue: int) -> int:
    """Queues a temporary lab's links need: every flow's xdp_queue + workers fits."""
    return max(1, min(MAX_QUEUES, highest_queue + 1))


def mtu_for_frames(frame_sizes: Iterable[int]) -> int:
    """The link MTU a temporary lab needs so its largest frame fits (at least 1500)."""
    return max([DEFAULT_MTU, *(size - units.ETHERNET_OVERHEAD for size in frame_sizes)])


def netns_name(lab: str, host: str) -> str:
    return f"{NETNS_PREFIX}{lab}-{host}"


def validate_names(lab: str, hosts: Sequence[str]) -> None:
    if not LAB_NAME.match(lab):
        raise LabError(
            f"lab name {lab!r} is not valid: use 1-16 lowercase letters, digits or '-', "
            "starting with a letter or digit"
        )
    if len(hosts) < 2:
        raise LabError("a lab needs at least two hosts, e.g. --hosts a,b")
    if len(set(hosts)) != len(hosts):
        raise LabError(f"host names repeat in {', '.join(hosts)}; give each host its own name")
    for host in hosts:
        if not HOST_NAME.match(host):
            raise LabError(
                f"host name {host!r} is not valid: use 1-12 lowercase letters, digits or '-', "
                "starting with a letter (interface names are limited to 15 characters)"
            )


def in_netns(name: str, work: Callable[[], T]) -> T:
    """Run `work` on a thread that has entered namespace `name` (setns is per thread)."""
    outcome: list[T] = []
    failure: list[BaseException] = []

    def target() -> None:
        try:
            netns.setns(name)
            outcome.append(work())
        except BaseException as exc:
            failure.append(exc)

    thread = threading.Thread(target=target, name=f"netns-{name}")
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    return outcome[0]


def _quiet_namespace() -> None:
    # No IPv6 autoconfiguration traffic: the link carries test frames only,
    # so interface counters can be compared with the agents' own counts.
    for path in ("all", "default"):
        Path(f"/proc/sys/net/ipv6/conf/{path}/disable_ipv6").write_text("1")


def _create_namespaces(lab: Lab, created: list[str]) -> None:
    existing = set(netns.listnetns())
    for host in lab.hosts.values():
        if host.netns in existing:
            raise LabError(
                f"network namespace {host.netns} already exists: lab {lab.name!r} is up "
                f"(`ringlab lab down --name {lab.name}`) or another tool uses that name"
            )
    for host in lab.hosts.values():
        netns.create(host.netns)
        created.append(host.netns)
        with contextlib.suppress(OSError):
            in_netns(host.netns, _quiet_namespace)
        with NetNS(host.netns) as ns:
            ns.link("set", index=ns.link_lookup(ifname="lo")[0], state="up")


def join_namespaces(
    ns_a: str, if_a: str, ns_b: str, if_b: str, mtu: int = DEFAULT_MTU, queues: int = 1
) -> tuple[str, str]:
    """A veth pair with end `if_a` in namespace `ns_a` and `if_b` in `ns_b`, both up, each
    end with `queues` RX and TX queues (a frame sent on TX queue q arrives on RX queue q).

    Returns the two ends' MAC addresses. The pair is created under temporary names that
    are unique in the root namespace; each end gets its final name inside its namespace,
    so the same name (`to-b`) can exist in many namespaces.
    """
    tag = secrets.token_hex(3)
    tmp_a, tmp_b = f"rl{tag}a", f"rl{tag}b"
    with IPRoute() as ipr:
        counts = {"num_rx_queues": queues, "num_tx_queues": queues}
        ipr.link("add", ifname=tmp_a, kind="veth", peer={"ifname": tmp_b, **counts}, **counts)
        ipr.link("set", index=ipr.link_lookup(ifname=tmp_a)[0], net_ns_fd=ns_a)
        ipr.link("set", index=ipr.link_lookup(ifname=tmp_b)[0], net_ns_fd=ns_b)
    macs = []
    for ns_name, tmp, final in ((ns_a, tmp_a, if_a), (ns_b, tmp_b, if_b)):
        with NetNS(ns_name) as ns:
            index = ns.link_lookup(ifname=tmp)[0]
            ns.link("set", index=index, ifname=final, mtu=mtu)
            ns.link("set", index=index, state="up")
            macs.append(str(ns.get_links(index)[0].get_attr("IFLA_ADDRESS")))
    return macs[0], macs[1]


def _create_links(lab: Lab, pairs: Iterable[tuple[str, str]]) -> None:
    for left, right in pairs:
        a, b = lab.hosts[left], lab.hosts[right]
        join_namespaces(a.netns, f"to-{b.name}", b.netns, f"to-{a.name}", lab.mtu, lab.queues)
        a.links[b.name] = f"to-{b.name}"
        b.links[a.name] = f"to-{a.name}"


def start_agent(lab: Lab, host: LabHost, log_dir: Path) -> subprocess.Popen[bytes]:
    command = [
        sys.executable,
        # -P: not the working directory first on sys.path. Run from a checkout, `-m
        # ringlab` found the checkout's ringlab/ (which holds no agent/) instead of the
        # installed package, and every agent of a temporary lab died at start.
        "-P",
        "-m",
        "ringlab",
        "agent",
        "serve",
        "--netns",
        host.netns,
        "--listen",
        host.agent,
    ]
    if lab.temporary:
        command.append("--die-with-parent")
    log = open(log_dir / f"agent-{host.name}.log", "ab")  # noqa: SIM115 - handed to the child
    try:
        return subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            # Own session: a terminal's Ctrl-C goes to its whole foreground process
            # group, and agents must keep counting until the controller has stopped and
            # collected them. A temporary lab's agents still die with the controller.
            start_new_session=True,
        )
    finally:
        log.close()


def create_lab(
    name: str,
    hosts: Sequence[str],
    temporary: bool = False,
    topology: str = "mesh",
    mtu: int = DEFAULT_MTU,
    queues: int = 1,
) -> Lab:
    """Create namespaces, links and agent processes; call `wait_ready` before use."""
    validate_names(name, hosts)
    if not MIN_MTU <= mtu <= MAX_MTU:
        raise LabError(f"MTU {mtu} is out of range: veth links take {MIN_MTU}..{MAX_MTU}")
    if not 1 <= queues <= MAX_QUEUES:
        raise LabError(f"{queues} queues is out of range: lab links take 1..{MAX_QUEUES}")
    if os.geteuid() != 0:
        raise LabError("the built-in lab needs root (network namespaces, veth): run as root")
    if temporary:
        reap_orphans()  # what a killed controller left behind goes before we add ours
    directory = labs_dir() / name
    if (directory / "lab.json").exists():
        raise LabError(
            f"lab {name!r} is already up ({directory}); `ringlab lab down --name {name}` first,"
            f" or `ringlab lab up --repair --name {name}` to restart agents that died"
        )
    lab = Lab(
        name=name,
        directory=str(directory),
        hosts={
            h: LabHost(name=h, netns=netns_name(name, h), agent=f"unix:{directory}/{h}.sock")
            for h in hosts
        },
        temporary=temporary,
        mtu=mtu,
        queues=queues,
        owner=processes.identity().to_dict() if temporary else None,
    )
    pairs = list(combinations(hosts, 2)) if topology == "mesh" else _pairs(hosts)
    created: list[str] = []
    try:
        directory.mkdir(parents=True, exist_ok=True)
        if temporary:
            # On record before anything is made: a kill -9 half-way leaves an orphan
            # that the next command can tell and remove.
            write_state(lab)
        _create_namespaces(lab, created)
        _create_links(lab, pairs)
        for host in lab.hosts.values():
            child = start_agent(lab, host, directory)
            processes.started(child)
            host.pid = child.pid
        write_state(lab)
    except BaseException:
        _teardown(lab, created)
        raise
    return lab


def _pairs(hosts: Sequence[str]) -> list[tuple[str, str]]:
    if len(hosts) % 2:
        raise LabError("topology 'pairs' needs an even number of hosts")
    return [(hosts[i], hosts[i + 1]) for i in range(0, len(hosts), 2)]


def write_state(lab: Lab) -> None:
    directory = Path(lab.directory)
    # Renamed into place: another command may be reading lab.json at this moment.
    draft = directory / f".lab.json.{os.getpid()}"
    draft.write_text(json.dumps(asdict(lab), indent=2))
    draft.replace(directory / "lab.json")
    lab.inventory_path.write_text(inventory_yaml(lab))


def record_run(lab: Lab, run_id: str, store: str) -> None:
    """Note that temporary `lab` carries run `run_id` of the store at `store`: if the
    controller dies, whoever reaps the lab marks that run aborted. A URL is recorded with
    its password hidden; store.database.reopen says who can open it again."""
    lab.runs.append({"run_id": run_id, "store": store})
    write_state(lab)


def inventory_yaml(lab: Lab) -> str:
    lines = ["# Written by `ringlab lab up`; usable with `ringlab run --inventory`.", "version: 1"]
    lines.append(f"lab: {lab.name}")
    lines.append("hosts:")
    for host in lab.hosts.values():
        lines.append(f"  {host.name}:")
        lines.append(f"    agent: {host.agent}")
        lines.append(f"    netns: {host.netns}")
        links = ", ".join(f"{peer}: {iface}" for peer, iface in host.links.items())
        lines.append(f"    links: {{{links}}}")
    return "\n".join(lines) + "\n"


def load_lab(name: str) -> Lab:
    path = labs_dir() / name / "lab.json"
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise LabError(
            f"no lab {name!r} is up (nothing at {path}); `ringlab lab up` starts one"
        ) from None
    except (OSError, ValueError) as exc:
        raise LabError(f"lab state {path} is unreadable: {exc}") from exc
    hosts = {h: LabHost(**v) for h, v in data["hosts"].items()}
    return Lab(
        data["name"],
        data["directory"],
        hosts,
        data.get("temporary", False),
        data.get("mtu", DEFAULT_MTU),
        data.get("queues", 1),
        data.get("owner"),
        list(data.get("runs", [])),
    )


def _lab_names() -> list[str]:
    root = labs_dir()
    if not root.is_dir():
        return []
    return sorted(p.parent.name for p in root.glob("*/lab.json"))


def list_labs() -> list[str]:
    """The labs that are up; orphaned temporary labs are removed first (reap_orphans)."""
    reap_orphans()
    return _lab_names()


def orphaned(lab: Lab) -> str | None:
    """Why `lab` is an orphan (a temporary lab whose controller is gone), or None."""
    if not lab.temporary:
        return None
    if lab.owner is None:  # made before owners were recorded: its agents die with it
        if any(agent_alive(h) for h in lab.hosts.values()):
            return None
        return "its agents are gone"
    owner = processes.ProcessIdentity.from_dict(lab.owner)
    if processes.alive(owner):
        return None
    return f"its controller (pid {owner.pid}) is gone"


def reap_orphans(names: Iterable[str] | None = None) -> list[str]:
    """Remove every orphaned temporary lab (of `names`, default all) and mark its runs
    aborted; one line per lab removed, also written to stderr. A lab that cannot be
    read or removed is reported and left, never raised: it must not stop the command
    that came across it."""
    said: list[str] = []
    for name in _lab_names() if names is None else names:
        try:
            lab = load_lab(name)
            why = orphaned(lab)
            if why is None:
                continue
            for pid in processes.listening_under(f"unix:{lab.directory}/"):
                processes.stop(pid)
            destroy_lab(lab)
            line = f"removed orphaned temporary lab {name}: {why}"
            aborted = _abort_runs(lab, f"the controller went away ({why}); its lab was removed")
            if aborted:
                line += f"; run(s) {', '.join(aborted)} marked aborted"
        except (LabError, OSError) as exc:
            line = f"could not remove orphaned lab {name}: {exc}"
        said.append(line)
        print(f"ringlab: {line}", file=sys.stderr)
    return said


def _abort_runs(lab: Lab, reason: str) -> list[str]:
    from ringlab.controller.store.database import Store, StoreError, reopen

    aborted = []
    for run in lab.runs:
        run_id, recorded = run["run_id"], run["store"]
        try:
            location = reopen(recorded)
            if location is None:
                print(
                    f"ringlab: run {run_id} in {recorded} is still `running`: the lab's record"
                    " keeps that store's URL without its password, and this command's store"
                    " (--db or RINGLAB_DB) is another one. Mark it with"
                    f" `ringlab runs abort {run_id} --db URL` (the URL with its password)",
                    file=sys.stderr,
                )
                continue
            with Store(location) as store:
                if store.mark_aborted(run_id, reason):
                    aborted.append(run_id)
        except (StoreError, StoreLocationError, OSError, sqlite3.Error) as exc:
            print(
                f"ringlab: run {run_id} in {recorded} could not be marked aborted: {exc}",
                file=sys.stderr,
            )
    return aborted


def _teardown(lab: Lab, namespaces: Iterable[str]) -> None:
    for host in lab.hosts.values():
        # Only a pid that is still this lab's agent: a dead agent's pid may be anyone's now.
        if processes.is_child(host.pid) or agent_alive(host):
            processes.stop(host.pid)
    for name in namespaces:
        try:
            netns.remove(name)
        except OSError as exc:
            if exc.errno != errno.ENOENT:
                raise
    shutil.rmtree(lab.directory, ignore_errors=True)


def destroy_lab(lab: Lab) -> None:
    present = set(netns.listnetns())
    _teardown(lab, [h.netns for h in lab.hosts.values() if h.netns in present])


def agent_alive(host: LabHost) -> bool:
    """Whether host's agent runs: its pid is an agent listening at host.agent (a pid the
    kernel gave to another process since, or a zombie, is not)."""
    if host.pid <= 0:
        return False
    return host.agent in processes.command_line(host.pid)


def new_temporary_name() -> str:
    return f"t{os.getpid() % 100000}-{secrets.token_hex(2)}"


def agent_channel_options() -> list[tuple[str, int]]:
    # The agent's socket appears a moment after the process starts; retry quickly. Not
    # grpc.min_reconnect_backoff_ms: gRPC also takes it as the least time a connection
    # attempt may take, and 50 ms failed busy agents' handshakes (UNAVAILABLE, "timed out
    # before receiving SETTINGS frame": 2 of 16 regress cases on a loaded machine).
    return [
        ("grpc.initial_reconnect_backoff_ms", 50),
        ("grpc.max_reconnect_backoff_ms", 500),
    ]


async def wait_ready(lab: Lab, timeout_s: float = 30.0) -> None:
    """Wait on every agent's health service; a dead agent's log is in the error."""
    import asyncio

    import grpc

    from ringlab.controller.remote.clients import AgentError, GrpcAgent

    async def one(host: LabHost) -> None:
        channel = grpc.aio.insecure_channel(host.agent, options=agent_channel_options())
        client = GrpcAgent(host.name, host.agent, channel)
        try:
            await client.wait_ready(timeout_s)
        except AgentError as exc:
            log = Path(lab.directory) / f"agent-{host.name}.log"
            tail = log.read_text(errors="replace")[-800:] if log.exists() else ""
            state = "running" if agent_alive(host) else "exited"
            raise LabError(
                f"agent {host.name} did not become ready ({state}): {exc}\n{tail}"
            ) from None
        finally:
            await client.close()

    await asyncio.gather(*(one(h) for h in lab.hosts.values()))
