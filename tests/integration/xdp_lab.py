"""Helpers for the AF_XDP tests: multi-queue veth pairs, what an interface has attached,
and bounded waits.

A default veth has one queue; `numrxqueues`/`numtxqueues` at creation give more (the
lab's `ip link add ... numrxqueues 2 numtxqueues 2`). A frame sent on TX queue q of
one end arrives on RX queue q of the other, so a socket per queue on each side sees
exactly its own stream.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable

from veth_lab import VethLab, _unique, remove_veth_lab

from ringlab.agent.rings.xdp import bpf


def make_multiqueue_lab(queues: int) -> VethLab:
    """A veth pair with `queues` RX and TX queues on each end, one end per namespace."""
    tag = _unique("")
    ns_a, ns_b = f"rlx-a{tag}", f"rlx-b{tag}"
    if_a, if_b = f"xa{tag}"[:15], f"xb{tag}"[:15]
    q = str(queues)
    try:
        for ns in (ns_a, ns_b):
            _ip("netns", "add", ns)
            _ip("-n", ns, "link", "set", "lo", "up")
        _ip(
            "-n", ns_a, "link", "add", if_a, "numtxqueues", q, "numrxqueues", q,
            "type", "veth", "peer", "name", if_b, "netns", ns_b,
            "numtxqueues", q, "numrxqueues", q,
        )  # fmt: skip
        _ip("-n", ns_a, "link", "set", if_a, "up")
        _ip("-n", ns_b, "link", "set", if_b, "up")
        macs = [
            bytes.fromhex(link(ns, name)["address"].replace(":", ""))
            for ns, name in ((ns_a, if_a), (ns_b, if_b))
        ]
    except BaseException:
        remove_veth_lab(ns_a, ns_b)
        raise
    return VethLab(ns_a, ns_b, if_a, if_b, macs[0], macs[1])


def _ip(*args: str) -> str:
    return subprocess.run(["ip", *args], check=True, capture_output=True, text=True).stdout


def link(ns: str, name: str) -> dict[str, object]:
    found: list[dict[str, object]] = json.loads(_ip("-j", "-n", ns, "link", "show", name))
    return found[0]


def link_text(ns: str, name: str) -> str:
    """What a user sees: `ip -n NS link show IF` (an XDP program shows as xdp/xdpgeneric)."""
    return _ip("-n", ns, "link", "show", name)


def attached_program(ns: str, name: str) -> int | None:
    """The id of the XDP program on the interface, None when there is none."""
    info = link(ns, name).get("xdp")
    if not isinstance(info, dict):
        return None
    prog = info.get("prog")
    return int(prog["id"]) if isinstance(prog, dict) and "id" in prog else None


def program_exists(prog_id: int) -> bool:
    return any(p.id == prog_id for p in bpf.programs())


def wait_until(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.01)
