"""The built-in lab: one network namespace per host, veth links, an agent in each.

Each host `h` of lab `L` lives in namespace `rl-L-h`; every pair of hosts is
joined by a veth pair whose ends are named `to-<peer>`. Agents listen on Unix
sockets under the lab's directory, reachable from the root namespace. The lab
writes an inventory any `ringlab` command can use. Whatever `lab up` created is
removed again when it fails half-way, and by `lab down`.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import secrets
import select
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from itertools import combinations
from pathlib import Path
from typing import TypeVar

from pyroute2 import IPRoute, NetNS, netns

from ringlab.controller.scenario import units

LAB_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,15}$")
HOST_NAME = re.compile(r"^[a-z][a-z0-9-]{0,11}$")
NETNS_PREFIX = "rl-"

T = TypeVar("T")

# Agents this process started, so they are waited for (and not warned about) when stopped.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


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


def _start_agent(lab: Lab, host: LabHost, log_dir: Path) -> subprocess.Popen[bytes]:
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
    directory = labs_dir() / name
    if (directory / "lab.json").exists():
        raise LabError(
            f"lab {name!r} is already up ({directory}); `ringlab lab down --name {name}` first"
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
    )
    pairs = list(combinations(hosts, 2)) if topology == "mesh" else _pairs(hosts)
    created: list[str] = []
    try:
        directory.mkdir(parents=True, exist_ok=True)
        _create_namespaces(lab, created)
        _create_links(lab, pairs)
        for host in lab.hosts.values():
            child = _start_agent(lab, host, directory)
            _CHILDREN[child.pid] = child
            host.pid = child.pid
        _write_state(lab)
    except BaseException:
        _teardown(lab, created)
        raise
    return lab


def _pairs(hosts: Sequence[str]) -> list[tuple[str, str]]:
    if len(hosts) % 2:
        raise LabError("topology 'pairs' needs an even number of hosts")
    return [(hosts[i], hosts[i + 1]) for i in range(0, len(hosts), 2)]


def _write_state(lab: Lab) -> None:
    directory = Path(lab.directory)
    (directory / "lab.json").write_text(json.dumps(asdict(lab), indent=2))
    lab.inventory_path.write_text(inventory_yaml(lab))


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
    )


def list_labs() -> list[str]:
    root = labs_dir()
    if not root.is_dir():
        return []
    return sorted(p.parent.name for p in root.glob("*/lab.json"))


def _wait_exit(pid: int, timeout_s: float) -> bool:
    """True once `pid` has exited (pidfd, no polling loop); False on timeout."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        readable, _, _ = select.select([fd], [], [], timeout_s)
        return bool(readable)
    finally:
        os.close(fd)


def _reap(pid: int) -> None:
    child = _CHILDREN.pop(pid, None)
    if child is not None:
        child.wait()
        return
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def _stop_agent(pid: int) -> None:
    if pid <= 0:
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        _reap(pid)
        return
    if not _wait_exit(pid, 5.0):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        _wait_exit(pid, 5.0)
    _reap(pid)


def _teardown(lab: Lab, namespaces: Iterable[str]) -> None:
    for host in lab.hosts.values():
        _stop_agent(host.pid)
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
    try:
        os.kill(host.pid, 0)
    except ProcessLookupError:
        return False
    return True


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
