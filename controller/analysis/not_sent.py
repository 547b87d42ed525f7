"""Frames a sender's schedule released but never sent (a link outage, a frozen host).

They are neither sent nor lost: the sender gave them up rather than send them late as a
burst (agent/rings/pacing.py). One finding per flow says how many, why when the kernel
said (it refused to send on the interface: the link was down), and for how long.

Any shortfall of a paced flow is reported: within NOT_SENT_TOLERANCE (0.1 %) of its
schedule as a warning, beyond it as an error that also fails the run (`all_sent`). A
paced flow whose sender did not account for its shortfall (sent + rejected + not sent
below the schedule by more than the schedule's rounding) is a `paced_shortfall` warning
down to that rounding, where `sender_shortfall` (diagnose.py) speaks only below 90 %.
"""

from __future__ import annotations

from collections.abc import Iterator

from ringlab.controller.run.expect import NOT_SENT_TOLERANCE
from ringlab.controller.store.results import Diagnosis, FlowResult, PhaseResult, RunResult
from ringlab.severity import Severity

# A schedule sends floor(duration x rate / workers) per worker: up to workers - 1 (at most
# 15) frames fewer than rate x duration, and a float duration rounds by one more.
SCHEDULE_ROUNDING_FRAMES = 16
# Below this share of its schedule diagnose.sender_shortfall reports a paced flow.
_SENDER_SHORTFALL = 0.9


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
            share = f"{not_sent / planned:.3%} of the schedule"
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
            within = not_sent <= NOT_SENT_TOLERANCE * planned
            share += f", {'within' if within else 'over'} the {NOT_SENT_TOLERANCE:.1%} tolerance"
            # As expect.evaluate judges it: an outage, or a shortfall over the tolerance.
            fails = extra.get("refusals", 0) or not within
            share += ": the run fails (all_sent)" if fails else ": the run passes"
            found.append(
                Diagnosis(
                    code=code,
                    severity=severity,
                    message=(
                        f"{flow.from_host} did not send {not_sent:,} frames of flow "
                        f"{flow.name}'s schedule ({flow.tx_packets:,} sent; {share}): {why}. They were "
                        "given up rather than sent late in a burst, so they are not counted as "
                        "lost; the frames that were sent are accounted as usual. Check the "
                        "link and run again."
                    ),
                    phase=phase.name,
                    flow=flow.name,
                )
            )
    return found


def paced_shortfall(result: RunResult) -> Iterator[Diagnosis]:
    """Paced flows that sent fewer frames than their schedule without saying why."""
    for phase in result.phases:
        for flow in phase.flows:
            missing = _unaccounted(phase, flow)
            if missing is None or missing <= SCHEDULE_ROUNDING_FRAMES:
                continue
            asked = missing + flow.tx_packets
            yield Diagnosis(
                code="paced_shortfall",
                severity="warning",
                message=(
                    f"{flow.name} sent {flow.tx_packets:,} frames of the {asked:,} its schedule "
                    f"asked ({flow.target_pps:,.0f} pps for {phase.duration_s:g} s): {missing:,} "
                    f"({missing / asked:.3%}) were neither sent, rejected nor reported as not "
                    "sent. Any shortfall of a paced flow beyond the schedule's rounding "
                    f"({SCHEDULE_ROUNDING_FRAMES} frames) is reported. What to do: check the "
                    "sender's errors and its agent's log; a sender that stopped early (a lease "
                    "or Stop) or an engine that does not count what it skipped does this."
                ),
                phase=phase.name,
                flow=flow.name,
            )


def _unaccounted(phase: PhaseResult, flow: FlowResult) -> int | None:
    """Frames of a paced flow's schedule neither sent, rejected nor reported not sent; None
    when that is not known (not paced, not completed, or the sender never reported)."""
    if phase.status != "completed" or flow.target_pps <= 0 or phase.duration_s <= 0:
        return None
    if not flow.measured("tx_packets"):
        return None
    asked = int(flow.target_pps * phase.duration_s)
    if flow.tx_packets < _SENDER_SHORTFALL * asked:
        return None  # diagnose.sender_shortfall reports it
    extra = flow.sender_extra
    return asked - flow.tx_packets - extra.get("not_sent", 0) - flow.send_errors
