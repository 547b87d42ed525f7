"""A veth pair between two fresh namespaces, and running code inside a namespace.

setns(CLONE_NEWNET) changes the namespace of the calling thread only, so tests run
namespace-bound work (socket creation) on helper threads and the test runner's own
thread stays in the host namespace. Sockets keep the namespace they were created in.
"""

from __future__ import annotations

import ctypes
import itertools
import os
import uuid
from dataclasses import dataclass, replace
from typing import TypeVar

from ringlab.agent.rings.api import TxConfig
from ringlab.controller.remote.lab import in_netns

T = TypeVar("T")
_CLONE_NEWNET = 0x40000000
_counter = itertools.count()
_libc = ctypes.CDLL(None, use_errno=True)


def enter_netns(name: str) -> None:
    """Move the calling thread into network namespace `name` (/run/netns/name)."""
    fd = os.open(f"/run/netns/{name}", os.O_RDONLY)
    try:
        if _libc.setns(fd, _CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns into {name}: {os.strerror(err)}")
    finally:
        os.close(fd)


# Tests run namespace-bound work on a helper thread, the same way the lab does.
call_in_netns = in_netns


@dataclass(frozen=True)
class VethLab:
    ns_a: str
    ns_b: str
    if_a: str
    if_b: str
    mac_a: bytes
    mac_b: bytes


def _unique(prefix: str) -> str:
    return f"{prefix}{os.getpid() % 100000}{next(_counter)}{uuid.uuid4().hex[:4]}"


def make_veth_lab() -> VethLab:
    from pyroute2 import NetNS, netns

    from ringlab.controller.remote.lab import join_namespaces

    tag = _unique("")
    ns_a, ns_b = f"rlt-a{tag}", f"rlt-b{tag}"
    if_a, if_b = f"ra{tag}"[:15], f"rb{tag}"[:15]
    netns.create(ns_a)
    try:
        netns.create(ns_b)
        macs = [bytes.fromhex(m.replace(":", "")) for m in join_namespaces(ns_a, if_a, ns_b, if_b)]
        for ns in (ns_a, ns_b):
            with NetNS(ns) as nsr:
                nsr.link("set", index=nsr.link_lookup(ifname="lo")[0], state="up")
    except BaseException:
        remove_veth_lab(ns_a, ns_b)
        raise
    return VethLab(ns_a, ns_b, if_a, if_b, macs[0], macs[1])


def remove_veth_lab(*names: str) -> None:
    from pyroute2 import netns

    for ns in names:
        # Removing a namespace destroys the veth end inside it, and with it the pair.
        if ns in netns.listnetns():
            netns.remove(ns)


def lab_tx_config(lab: VethLab, flow_id: int, **changes: object) -> TxConfig:
    """A 20 kpps 64-byte sender from A to B, with `changes` applied."""
    base = TxConfig(
        interface=lab.if_a,
        flow_id=flow_id,
        worker=0,
        src_mac=lab.mac_a,
        dst_mac=lab.mac_b,
        frame_size=64,
        rate_pps=20_000,
    )
    return replace(base, **changes)  # type: ignore[arg-type]
