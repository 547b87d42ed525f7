"""Who holds an interface queue: for the message of a bind that got EBUSY.

One AF_XDP socket (one buffer pool) per interface queue: a second bind gets EBUSY from
xp_assign_dev(), in copy mode too. Three sources, best first:
- this process's own sockets (`claim`/`holder`): names the ringlab worker;
- sock_diag for AF_XDP (CONFIG_XDP_SOCKETS_DIAG, `ss --xdp`): the sockets bound to
  that ifindex and queue, then /proc/*/fd for the processes holding them;
- without it (not built on the lab's kernel): the processes that have an AF_XDP ring
  mapped (their /proc/PID/maps show `socket:[inode]` at a ring's page offset), which
  hold *some* AF_XDP socket, not necessarily this queue's.

Queues are per network namespace (the device's); claims are keyed by the namespace
of the thread that binds.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import struct
import threading
from dataclasses import dataclass

from ringlab.agent.rings.xdp.netlink import NLMSG_DONE, NLMSG_ERROR, parse_attrs

NETLINK_SOCK_DIAG = 4
SOCK_DIAG_BY_FAMILY = 20
NLM_F_REQUEST = 0x1
NLM_F_DUMP = 0x300
AF_XDP = 44
XDP_SHOW_INFO = 1 << 0
XDP_DIAG_INFO = 1
# Page offsets of the rings of an AF_XDP socket (linux/if_xdp.h): RX, TX, fill, completion.
_RING_PGOFFS = {0x0, 0x80000000, 0x100000000, 0x180000000}

QueueKey = tuple[int, int, int]  # (netns inode, ifindex, queue)

_claims: dict[QueueKey, str] = {}
_claims_lock = threading.Lock()


def netns_inode() -> int:
    """The network namespace of the calling thread (setns is per thread)."""
    return os.stat("/proc/thread-self/ns/net").st_ino


def claim(key: QueueKey, holder: str) -> None:
    with _claims_lock:
        _claims[key] = holder


def release(key: QueueKey) -> None:
    with _claims_lock:
        _claims.pop(key, None)


def holder(key: QueueKey) -> str | None:
    """Which of this process's sockets holds the queue, if one does."""
    with _claims_lock:
        return _claims.get(key)


@dataclass(frozen=True)
class Owner:
    inode: int
    pids: tuple[tuple[int, str], ...]  # (pid, command name)

    def describe(self) -> str:
        who = ", ".join(f"pid {pid} ({comm})" for pid, comm in self.pids) or "no process found"
        return f"socket inode {self.inode}, {who}" if self.inode else who


def diag_owners(ifindex: int, queue: int) -> list[Owner] | None:
    """AF_XDP sockets bound to (ifindex, queue) in this namespace; None without sock_diag."""
    try:
        inodes = _diag_bound(ifindex, queue)
    except OSError:
        return None
    pids = _pids_of_sockets(set(inodes))
    return [Owner(ino, tuple(pids.get(ino, ()))) for ino in inodes]


def ring_holders() -> list[Owner]:
    """Processes with an AF_XDP ring mapped (any queue, any namespace)."""
    found: dict[int, set[tuple[int, str]]] = {}
    pattern = re.compile(r"^\S+ \S+ ([0-9a-f]+) \S+ \d+\s+socket:\[(\d+)\]")
    for pid in _pids():
        try:
            with open(f"/proc/{pid}/maps") as maps:
                for line in maps:
                    m = pattern.match(line)
                    if m and int(m.group(1), 16) in _RING_PGOFFS:
                        found.setdefault(int(m.group(2)), set()).add((pid, _comm(pid)))
        except OSError:
            continue
    return [Owner(ino, tuple(sorted(p))) for ino, p in sorted(found.items())]


def _diag_bound(ifindex: int, queue: int) -> list[int]:
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_SOCK_DIAG) as nl:
        req = struct.pack("=BBHII2I", AF_XDP, 0, 0, 0, XDP_SHOW_INFO, 0, 0)
        nl.send(
            struct.pack(
                "=IHHII", 16 + len(req), SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST | NLM_F_DUMP, 1, 0
            )
            + req
        )
        bound: list[int] = []
        while True:
            data = nl.recv(65536)
            at = 0
            while at + 16 <= len(data):
                length, kind = struct.unpack_from("=IH", data, at)
                body = data[at + 16 : at + length]
                at += (length + 3) & ~3
                if kind == NLMSG_DONE:
                    return bound
                if kind == NLMSG_ERROR:
                    code = struct.unpack_from("=i", body)[0]
                    raise OSError(-code, os.strerror(-code))
                ino = struct.unpack_from("=I", body, 4)[0]
                info = parse_attrs(body[16:]).get(XDP_DIAG_INFO)
                if info and struct.unpack_from("=II", info) == (ifindex, queue):
                    bound.append(ino)
            if not data:
                return bound


def _pids() -> list[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def _comm(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return "?"


def _pids_of_sockets(inodes: set[int]) -> dict[int, list[tuple[int, str]]]:
    out: dict[int, list[tuple[int, str]]] = {}
    if not inodes:
        return out
    wanted = {f"socket:[{ino}]": ino for ino in inodes}
    for pid in _pids():
        with contextlib.suppress(OSError):
            for fd in os.listdir(f"/proc/{pid}/fd"):
                try:
                    target = os.readlink(f"/proc/{pid}/fd/{fd}")
                except OSError:
                    continue
                if target in wanted:
                    out.setdefault(wanted[target], []).append((pid, _comm(pid)))
    return out
