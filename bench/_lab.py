"""A throwaway veth pair between two namespaces for benchmarks, and process helpers."""

from __future__ import annotations

import ctypes
import os
import uuid
from dataclasses import dataclass

_CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


@dataclass(frozen=True)
class Pair:
    ns_tx: str
    ns_rx: str
    if_tx: str
    if_rx: str
    mac_tx: bytes
    mac_rx: bytes


def enter_netns(name: str) -> None:
    """Move the calling thread (the whole process if single-threaded) into namespace `name`."""
    fd = os.open(f"/run/netns/{name}", os.O_RDONLY)
    try:
        if _libc.setns(fd, _CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns into {name}: {os.strerror(err)}")
    finally:
        os.close(fd)


def create_pair() -> Pair:
    from pyroute2 import netns

    from ringlab.controller.remote.lab import join_namespaces

    tag = f"{os.getpid() % 100000}{uuid.uuid4().hex[:4]}"
    ns_tx, ns_rx = f"rlb-tx{tag}", f"rlb-rx{tag}"
    if_tx, if_rx = f"rbt{tag}"[:15], f"rbr{tag}"[:15]
    netns.create(ns_tx)
    try:
        netns.create(ns_rx)
        macs = [
            bytes.fromhex(m.replace(":", "")) for m in join_namespaces(ns_tx, if_tx, ns_rx, if_rx)
        ]
    except BaseException:
        destroy_pair(ns_tx, ns_rx)
        raise
    return Pair(ns_tx, ns_rx, if_tx, if_rx, macs[0], macs[1])


def destroy_pair(*names: str) -> None:
    from pyroute2 import netns

    for ns in names:
        if ns in netns.listnetns():
            netns.remove(ns)  # takes the veth end inside, and so the pair, with it
