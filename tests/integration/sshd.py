"""Real OpenSSH servers in network namespaces, for deploy and tunnel tests.

Each host gets a namespace, a management veth pair to the root namespace
(198.18.0.0/15, the benchmarking range; a /30 per host, nothing routed beyond
it), its own host key and an sshd listening on its namespace-side address.
Hosts can also be joined by data links named `to-<peer>` (like the built-in
lab). One user key is authorised everywhere. `remove_ssh_lab` stops agents
(from their pid files), sshd processes and namespaces (with them, every veth).
"""

from __future__ import annotations

import contextlib
import ipaddress
import itertools
import os
import secrets
import select
import signal
import subprocess
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import asyncssh

from ringlab.controller.remote.lab import join_namespaces

SSHD = "/usr/sbin/sshd"
# The hosts' interpreter: Debian's own, with only the standard library (no grpcio, no
# numpy), as on a bare lab host; deploy must bring everything the agent needs.
HOST_PYTHON = "/usr/bin/python3"
T = TypeVar("T")
_counter = itertools.count()
_NET = ipaddress.ip_network("198.18.0.0/15")


@dataclass
class SshHost:
    name: str
    netns: str
    address: str
    root_if: str
    host_key: Path
    host_public: str
    remote_dir: Path
    process: subprocess.Popen[bytes] | None = None
    links: dict[str, str] = field(default_factory=dict)


@dataclass
class SshLab:
    directory: Path
    user_key: Path
    known_hosts: Path
    hosts: dict[str, SshHost]

    def write_known_hosts(self, names: Sequence[str] | None = None) -> None:
        lines = [
            f"{h.address} {h.host_public}"
            for h in self.hosts.values()
            if names is None or h.name in names
        ]
        self.known_hosts.write_text("".join(f"{line}\n" for line in lines))

    def inventory(
        self,
        path: Path,
        extra: dict[str, list[str]] | None = None,
        python: dict[str, str] | None = None,
    ) -> Path:
        """An inventory for every host; `extra` adds host-level YAML lines, `python` overrides."""
        lines = ["version: 1", "hosts:"]
        for host in self.hosts.values():
            lines += [
                f"  {host.name}:",
                "    ssh:",
                f"      address: {host.address}",
                "      user: root",
                f"      key: {self.user_key}",
                f"      known_hosts: {self.known_hosts}",
                f"      python: {(python or {}).get(host.name, HOST_PYTHON)}",
                f"      dir: {host.remote_dir}",
            ]
            if host.links:
                links = ", ".join(f"{peer}: {iface}" for peer, iface in host.links.items())
                lines.append(f"    links: {{{links}}}")
            lines += [f"    {line}" for line in (extra or {}).get(host.name, [])]
        path.write_text("\n".join(lines) + "\n")
        return path


def _free_subnet() -> ipaddress.IPv4Network:
    from pyroute2 import IPRoute

    with IPRoute() as ipr:
        used = {a.get_attr("IFA_ADDRESS") for a in ipr.get_addr(family=2)}
    while True:
        block = secrets.randbelow(_NET.num_addresses // 4)
        subnet = ipaddress.ip_network(f"{_NET.network_address + 4 * block}/30")
        if not any(str(h) in used for h in subnet.hosts()):
            return subnet


def _keypair(path: Path) -> str:
    key = asyncssh.generate_private_key("ssh-ed25519")
    key.write_private_key(str(path))
    path.chmod(0o600)
    public: bytes = key.export_public_key("openssh")
    return " ".join(public.decode().split()[:2])


def _start_sshd(host: SshHost, authorized: Path, log: Path) -> subprocess.Popen[bytes]:
    Path("/run/sshd").mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        [
            "ip", "netns", "exec", host.netns, SSHD, "-D", "-e", "-f", "/dev/null",
            "-h", str(host.host_key), "-p", "22",
            "-o", f"ListenAddress={host.address}",
            "-o", f"AuthorizedKeysFile={authorized}",
            "-o", f"PidFile={log.with_suffix('.pid')}",
            "-o", "StrictModes=no",
            "-o", "PermitRootLogin=prohibit-password",
            "-o", "MaxStartups=100",
            "-o", "MaxSessions=100",
            "-o", "Subsystem=sftp internal-sftp",
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    ready = threading.Event()
    assert process.stderr is not None
    stream = process.stderr

    def drain() -> None:
        # Readiness is sshd's own "Server listening" line; keep draining so the pipe never fills.
        with stream, log.open("ab") as out:
            for line in stream:
                out.write(line)
                out.flush()
                if b"Server listening" in line:
                    ready.set()
        ready.set()

    threading.Thread(target=drain, name=f"sshd-{host.name}", daemon=True).start()
    ready.wait(20)
    if process.poll() is not None or not ready.is_set():
        process.kill()
        process.wait()
        raise RuntimeError(f"sshd for {host.name} did not start:\n{log.read_text()[-1500:]}")
    return process


def _quiet(netns: str) -> None:
    subprocess.run(
        [
            "ip", "netns", "exec", netns, "sysctl", "-q", "-w",
            "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1",
        ],
        check=True,
    )  # fmt: skip


def make_ssh_lab(
    directory: Path,
    names: Sequence[str],
    pairs: Sequence[tuple[str, str]] = (),
    behind: Mapping[str, str] | None = None,
) -> SshLab:
    """Namespaces with sshd for `names`; data links for `pairs`. Call remove_ssh_lab after.

    `behind` {host: bastion}: the host's management link goes to the bastion's
    namespace instead of the root namespace, so only a jump through it reaches it.
    """
    behind = behind or {}
    from pyroute2 import IPRoute, NetNS, netns

    directory.mkdir(parents=True, exist_ok=True)
    tag = f"{os.getpid() % 100000}{next(_counter)}{secrets.token_hex(2)}"
    user_key = directory / "id_user"
    authorized = directory / "authorized_keys"
    authorized.write_text(_keypair(user_key) + "\n")
    lab = SshLab(directory, user_key, directory / "known_hosts", {})
    try:
        for index, name in enumerate(names):
            ns = f"rls{tag}{name}"[:30]
            netns.create(ns)
            key = directory / f"host_{name}"
            host = SshHost(
                name=name,
                netns=ns,
                address="",
                root_if=f"rs{tag}{index}"[:15],
                host_key=key,
                host_public=_keypair(key),
                remote_dir=directory / f"remote-{name}",
            )
            lab.hosts[name] = host
            _quiet(ns)
            subnet = _free_subnet()
            root_addr, ns_addr = (str(a) for a in subnet.hosts())
            host.address = ns_addr
            peer = f"rp{tag}{index}"[:15]
            with IPRoute() as ipr:
                ipr.link("add", ifname=host.root_if, kind="veth", peer=peer)
                ipr.link("set", index=ipr.link_lookup(ifname=peer)[0], net_ns_fd=ns)
                if name in behind:
                    bastion = lab.hosts[behind[name]].netns
                    ipr.link(
                        "set", index=ipr.link_lookup(ifname=host.root_if)[0], net_ns_fd=bastion
                    )
            with NetNS(lab.hosts[behind[name]].netns) if name in behind else IPRoute() as side:
                side_index = side.link_lookup(ifname=host.root_if)[0]
                side.addr("add", index=side_index, address=root_addr, prefixlen=30)
                side.link("set", index=side_index, state="up")
            with NetNS(ns) as nsr:
                nsr.link("set", index=nsr.link_lookup(ifname="lo")[0], state="up")
                idx = nsr.link_lookup(ifname=peer)[0]
                nsr.link("set", index=idx, ifname="mgmt0")
                nsr.addr("add", index=idx, address=ns_addr, prefixlen=30)
                nsr.link("set", index=idx, state="up")
        for left, right in pairs:
            _link(lab.hosts[left], lab.hosts[right])
        for host in lab.hosts.values():
            host.process = _start_sshd(host, authorized, directory / f"sshd-{host.name}.log")
    except BaseException:
        remove_ssh_lab(lab)
        raise
    return lab


def _link(a: SshHost, b: SshHost) -> None:
    join_namespaces(a.netns, f"to-{b.name}", b.netns, f"to-{a.name}")
    a.links[b.name] = f"to-{b.name}"
    b.links[a.name] = f"to-{a.name}"


def _stop_pid(pid: int) -> None:
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    try:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        if not select.select([fd], [], [], 10)[0]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            select.select([fd], [], [], 10)
    finally:
        os.close(fd)


def agent_pid(host: SshHost) -> int | None:
    try:
        return int((host.remote_dir / "agent.pid").read_text())
    except (OSError, ValueError):
        return None


def remove_ssh_lab(lab: SshLab) -> None:
    from pyroute2 import IPRoute, netns

    for host in lab.hosts.values():
        pid = agent_pid(host)
        if pid is not None:
            _stop_pid(pid)
        if host.process is not None and host.process.poll() is None:
            host.process.terminate()
            try:
                host.process.wait(10)
            except subprocess.TimeoutExpired:
                host.process.kill()
                host.process.wait()
    present = set(netns.listnetns())
    for host in lab.hosts.values():
        if host.netns in present:
            netns.remove(host.netns)
        # Normally gone with its peer; a half-built host may have left it.
        with IPRoute() as ipr, contextlib.suppress(Exception):
            found = ipr.link_lookup(ifname=host.root_if)
            if found:
                ipr.link("del", index=found[0])
