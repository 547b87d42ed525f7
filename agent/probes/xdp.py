"""AF_XDP facts of an interface for the probe report: the XDP program attached (mode,
id, name) and the queues a socket may bind. Read through the xdp engine's own netlink
and ethtool code; a fact this host will not tell is left out, never guessed."""

from __future__ import annotations

import contextlib

from ringlab.agent.probes.netdev import LinkFacts
from ringlab.agent.rings.xdp import bpf, xsk
from ringlab.agent.rings.xdp.netlink import RtNetlink


def xdp_facts(facts: LinkFacts, names: dict[int, str] | None) -> None:
    """Add xdp_attached, xdp_prog_id, xdp_prog_name and xdp_queues to `facts`."""
    ifindex = facts.values.get("ifindex")
    if ifindex:
        with contextlib.suppress(OSError):
            link = RtNetlink()
            try:
                found = link.link_xdp(int(ifindex))
            finally:
                link.close()
            facts.put("xdp_attached", found.mode)
            if found.prog_id:
                facts.put("xdp_prog_id", found.prog_id)
                facts.put("xdp_prog_name", (names or {}).get(found.prog_id))
    facts.put("xdp_queues", xsk.active_queues(facts.name))


def program_names() -> dict[int, str] | None:
    """Loaded BPF programs by id (needs CAP_SYS_ADMIN/CAP_BPF); None when not allowed."""
    try:
        return {p.id: p.name for p in bpf.programs()}
    except OSError:
        return None
