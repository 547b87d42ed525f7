"""Frames a sender's schedule released but never sent (a link outage, a frozen host).

They are neither sent nor lost: the sender gave them up rather than send them late as a
burst (agent/rings/pacing.py). One finding per flow says how many, why when the kernel
said (it refused to send on the interface: the link was down), and for how long.
"""

from __future__ import annotations

from ringlab.controller.run.expect import NOT_SENT_TOLERANCE
from ringlab.controller.store.results import Diagnosis, RunResult
from ringlab.severity import Severity


def frames_not_sent(result: RunResult) -> list[Diagnosis]:
    found = []
    for phase in result.phases:
        for flow in phase.flows:
            extra = flow.sender_extra
            not_sent = extra.get("not_sent", 0)
            if not not_sent:
                continue
            interface = flow.sender_interface.interface or "its interface"
            refused_s = extra.get("refused_ns", 0) / 1e9
            planned = flow.tx_packets + not_sent
            severity: Severity = "error"
            if refused_s:
                code = "link_outage"
                why = (
                    f"the kernel refused to send on {flow.from_host}:{interface} for "
                    f"{refused_s:.2f} s in all ({extra.get('refusals', 1)} time(s)): the link "
                    "was down or the interface went away"
                )
            else:
                code = "frames_not_sent"
                why = f"{flow.from_host} fell too far behind its schedule (descheduled or frozen)"
                if not_sent <= NOT_SENT_TOLERANCE * planned:
                    severity = "warning"
            found.append(
                Diagnosis(
                    code=code,
                    severity=severity,
                    message=(
                        f"{flow.from_host} did not send {not_sent:,} frames of flow "
                        f"{flow.name}'s schedule ({flow.tx_packets:,} sent): {why}. They were "
                        "given up rather than sent late in a burst, so they are not counted as "
                        "lost; the frames that were sent are accounted as usual. Check the "
                        "link and run again."
                    ),
                    phase=phase.name,
                    flow=flow.name,
                )
            )
    return found
