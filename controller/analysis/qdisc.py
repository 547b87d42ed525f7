"""The sender's own qdisc dropped frames before the device (qdisc_bypass: false). Pure.

The evidence comes from the sending agent (agent/rings/sendloop.py, agent/rings/qdisc.py):
`qdisc_drops` (sends the kernel answered with a drop, ENOBUFS), `qdisc_dropped_frames`
(distinct frames), `qdisc_given_up` (frames dropped on every try for 10 ms: given up,
counted in send_errors, never sent), and `tc/KIND/HANDLE/drops`, each qdisc's own drop
counter over the run as `tc -s qdisc` shows it. A sender held back by its qdisc also
falls behind its schedule: those frames are not sent, and this finding says why, where
the generic ones (send_errors, sender_shortfall, frames_not_sent) would guess.
"""

from __future__ import annotations

from collections.abc import Iterator

from ringlab.controller.store.results import Diagnosis, FlowResult, RunResult

CODE = "sender_qdisc_drops"
_QDISC_KEY = "tc"


def explains(flow: FlowResult) -> bool:
    """The sender's qdisc dropped frames of this flow: its shortfall and not-sent frames
    have a named cause, and its send errors are the frames given up."""
    return flow.sender_extra.get("qdisc_drops", 0) > 0


def qdiscs_that_dropped(flow: FlowResult) -> list[tuple[str, str, int]]:
    """(kind, handle, drops) of the sender interface's qdiscs that dropped, most first."""
    found = []
    for key, value in flow.sender_extra.items():
        parts = key.split("/")
        if len(parts) == 4 and parts[0] == _QDISC_KEY and parts[3] == "drops" and value > 0:
            found.append((parts[1], parts[2], int(value)))
    return sorted(found, key=lambda q: -q[2])


def qdisc_drops(result: RunResult) -> Iterator[Diagnosis]:
    for phase in result.phases:
        for flow in phase.flows:
            if explains(flow):
                yield _finding(phase.name, flow)


def _finding(phase: str, flow: FlowResult) -> Diagnosis:
    extra = flow.sender_extra
    tries = extra.get("qdisc_drops", 0)
    frames = extra.get("qdisc_dropped_frames", 0)
    given_up = extra.get("qdisc_given_up", 0)
    not_sent = extra.get("not_sent", 0) if not extra.get("refused_ns", 0) else 0
    interface = flow.sender_interface.interface or "its interface"
    where = f"{flow.from_host}:{interface}"
    culprits = qdiscs_that_dropped(flow)
    if culprits:
        named = ", ".join(f"{kind} {handle} ({drops:,} drops)" for kind, handle, drops in culprits)
        who = f"the qdisc on {where} dropped them: {named} (tc -s qdisc)"
    else:
        who = f"no qdisc of {where} counted them (its counters were not read, or reset)"
    text = (
        f"{where}'s own queueing discipline dropped frames of flow {flow.name} before the "
        f"device ({tries:,} tries of {frames:,} frames): {who}. "
        f"{frames - given_up:,} of those frames went out on a later try"
    )
    if given_up:
        text += (
            f"; {given_up:,} were dropped on every try and given up after 10 ms (counted in "
            "send_errors, never sent, not lost)"
        )
    if not_sent:
        text += (
            f"; held back by the qdisc, the sender fell behind its schedule and did not send "
            f"{not_sent:,} of its frames"
        )
    text += (
        ". What to do: keep qdisc_bypass: true (the default) so test traffic skips the "
        f"interface's qdiscs, or fix them (`tc -s qdisc show dev {interface}`, `tc filter show "
        f"dev {interface} egress`): a shaper set below the test rate, or a filter dropping "
        "these frames."
    )
    return Diagnosis(
        code=CODE,
        severity="error" if given_up or not_sent else "warning",
        message=text,
        phase=phase,
        flow=flow.name,
    )
