"""The sender's own qdiscs, read before and after a run (tc -s qdisc, through netlink).

With qdisc_bypass off a sender's frames pass the interface's qdiscs (and a clsact
egress filter) before the device; what those dropped is in their TCA_STATS2 counters.
A sender reads them when it opens and after it has drained, and reports the qdiscs
whose counters moved by kind and handle (`qdisc` in TxResult.info; in extra the sum of
their drops as `qdisc_kernel_drops` and each one's as `tc/KIND/HANDLE/drops`), so a diagnosis can name the qdisc that
dropped the frames instead of guessing. Reads the namespace the calling thread is in.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyroute2 import IPRoute

_ROOT = 0xFFFFFFFF
_INGRESS = 0xFFFFFFF1  # TC_H_INGRESS (= TC_H_CLSACT): the ingress and clsact qdiscs
# extra["tc/KIND/HANDLE/drops"]: one qdisc's drops during the run (the controller reads it).
QDISC_KEY = "tc"


@dataclass(frozen=True)
class QdiscStats:
    kind: str
    handle: str  # tc's notation: "1:", "ffff:"
    parent: str  # "root", "ffff:fff1" (ingress and clsact), or "1:2"
    packets: int
    drops: int
    overlimits: int


def tc_handle(value: int) -> str:
    major, minor = value >> 16, value & 0xFFFF
    return f"{major:x}:{minor:x}" if minor else f"{major:x}:"


def _parent(value: int) -> str:
    if value == _ROOT:
        return "root"
    if value == _INGRESS:
        return "ffff:fff1"
    return tc_handle(value)


def read_qdiscs(interface: str) -> list[QdiscStats]:
    """Every qdisc of `interface` with its counters; [] when the interface is gone."""
    with IPRoute() as ipr:
        found = ipr.link_lookup(ifname=interface)
        if not found:
            return []
        messages = ipr.get_qdiscs(index=found[0])
    out = []
    for message in messages:
        stats = message.get_attr("TCA_STATS2")
        basic = (stats.get_attr("TCA_STATS_BASIC") if stats else None) or {}
        queue = (stats.get_attr("TCA_STATS_QUEUE") if stats else None) or {}
        out.append(
            QdiscStats(
                kind=str(message.get_attr("TCA_KIND") or "?"),
                handle=tc_handle(int(message["handle"])),
                parent=_parent(int(message["parent"])),
                packets=int(basic.get("packets", 0)),
                drops=int(queue.get("drops", 0)),
                overlimits=int(queue.get("overlimits", 0)),
            )
        )
    return out


def moved(before: list[QdiscStats], after: list[QdiscStats]) -> list[QdiscStats]:
    """The qdiscs whose counters changed between two reads, as differences.

    A qdisc added since the first read counts from zero; one removed is left out.
    """
    earlier = {(q.kind, q.handle, q.parent): q for q in before}
    out = []
    for q in after:
        old = earlier.get((q.kind, q.handle, q.parent))
        delta = QdiscStats(
            q.kind,
            q.handle,
            q.parent,
            q.packets - (old.packets if old else 0),
            q.drops - (old.drops if old else 0),
            q.overlimits - (old.overlimits if old else 0),
        )
        if delta.packets or delta.drops or delta.overlimits:
            out.append(delta)
    return out


def qdisc_report(
    interface: str, before: list[QdiscStats] | None, after: list[QdiscStats] | None
) -> tuple[dict[str, int], dict[str, str]]:
    """TxResult extra/info for what the interface's qdiscs did during the run.

    `before`/`after` None: not read (qdisc bypass, or the read failed); nothing reported.
    """
    if before is None or after is None:
        return {}, {}
    changes = moved(before, after)
    if not changes:
        return {}, {}
    parts = [
        f"{q.kind} {q.handle} (parent {q.parent}): {q.packets:,} packets, dropped {q.drops:,}, "
        f"overlimits {q.overlimits:,}"
        for q in changes
    ]
    extra = {"qdisc_kernel_drops": sum(q.drops for q in changes)}
    for q in changes:
        extra[f"{QDISC_KEY}/{q.kind}/{q.handle}/drops"] = q.drops
    return extra, {"qdisc": f"qdiscs of {interface} during the run: " + "; ".join(parts)}


class QdiscWatch:
    """A sender's view of its interface's qdiscs: read at open, reported after the run.

    Only without the bypass (frames pass the qdiscs then), and only by worker 0: the
    counters are the interface's, and the workers' extras are added up.
    """

    def __init__(self, interface: str, qdisc_bypass: bool, worker: int) -> None:
        self.interface = interface
        self._before: list[QdiscStats] | None = None
        self._unread = ""
        if qdisc_bypass or worker != 0:
            return
        try:
            self._before = read_qdiscs(interface)
        except Exception as exc:  # a report, not the run: say it could not be read
            self._unread = f"qdisc counters of {interface} unread at open: {exc}"

    def report(self) -> tuple[dict[str, int], dict[str, str]]:
        """TxResult extra/info for the run so far (call it after the ring has drained)."""
        if self._unread:
            return {}, {"qdisc": self._unread}
        if self._before is None:
            return {}, {}
        try:
            after = read_qdiscs(self.interface)
        except Exception as exc:  # a report, not the run: say it could not be read
            return {}, {"qdisc": f"qdisc counters of {self.interface} unread: {exc}"}
        return qdisc_report(self.interface, self._before, after)
