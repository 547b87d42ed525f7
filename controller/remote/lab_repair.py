"""Repairing a lab that is up: agents that died are started again, links that went away
are made again. Namespaces are the lab itself: a lab missing one is taken down and up."""

from __future__ import annotations

from itertools import combinations
from pathlib import Path

from pyroute2 import NetNS, netns

from ringlab.controller.remote import processes
from ringlab.controller.remote.lab import (
    Lab,
    LabError,
    agent_alive,
    join_namespaces,
    start_agent,
    write_state,
)


def _has_link(namespace: str, interface: str) -> bool:
    with NetNS(namespace) as ns:
        return bool(ns.link_lookup(ifname=interface))


def _remove_link(namespace: str, interface: str) -> None:
    with NetNS(namespace) as ns:
        for index in ns.link_lookup(ifname=interface):
            ns.link("del", index=index)


def repair_lab(lab: Lab) -> list[str]:
    """Start `lab`'s missing agents and re-create its missing links; one line per repair
    (none when nothing was missing). Call `wait_ready` after."""
    if lab.temporary:
        raise LabError(
            f"lab {lab.name} is a temporary lab of a run: it is not repaired (it goes with its"
            " run; `ringlab lab down --stale` removes one whose controller is gone)"
        )
    present = set(netns.listnetns())
    gone = [h.netns for h in lab.hosts.values() if h.netns not in present]
    if gone:
        raise LabError(
            f"lab {lab.name} lost its namespace(s) {', '.join(gone)}, and with them its hosts;"
            f" make it again: `ringlab lab down --name {lab.name}` then `ringlab lab up"
            f" --name {lab.name} --hosts {','.join(lab.hosts)}`"
        )
    done: list[str] = []
    for left, right in combinations(lab.hosts.values(), 2):
        if right.name not in left.links:
            continue  # not linked in this topology
        ends = [(left.netns, left.links[right.name]), (right.netns, right.links[left.name])]
        if all(_has_link(*end) for end in ends):
            continue
        for end in ends:  # a veth pair goes as a whole; remove any half left over
            _remove_link(*end)
        join_namespaces(
            left.netns, ends[0][1], right.netns, ends[1][1], mtu=lab.mtu, queues=lab.queues
        )
        done.append(f"link {left.name}:{ends[0][1]} <-> {right.name}:{ends[1][1]} made again")
    for host in lab.hosts.values():
        if agent_alive(host):
            continue
        child = start_agent(lab, host, Path(lab.directory))
        processes.started(child)
        done.append(f"agent {host.name} started again (pid {child.pid}, was {host.pid})")
        host.pid = child.pid
    write_state(lab)
    return done
