"""Agents that never reported: what their silence cost, and keeping it out of the evidence.

A dead or frozen agent leaves its flows' counts unknown (``FlowResult.uncollected``),
not 0. Read as zeros they looked like the PF_RING ZC signature (a receiver at 0 while
its peer sends, both ways), so the evidence rules only see flows whose counts came
back, and one finding per silent agent says which flows lost which counts.
"""

from __future__ import annotations

from ringlab.controller.store.results import Diagnosis, FlowResult, RunResult


def collected_only(result: RunResult) -> RunResult:
    """The run with every flow whose counts were not all collected left out."""
    phases = [
        phase.model_copy(update={"flows": [f for f in phase.flows if _collected(f)]})
        for phase in result.phases
    ]
    return result.model_copy(update={"phases": phases})


def _collected(flow: FlowResult) -> bool:
    # An external receiving tool that failed before counting left rx unknown too.
    return not flow.uncollected and "rx_packets" not in flow.not_counted


def silent_agents(result: RunResult) -> list[Diagnosis]:
    """One error per phase and agent that did not report, naming what is unknown."""
    found = []
    for phase in result.phases:
        cost: dict[str, list[str]] = {}
        for flow in phase.flows:
            if "tx_packets" in flow.uncollected:
                cost.setdefault(flow.from_host, []).append(f"{flow.name} (sent)")
            if "rx_packets" in flow.uncollected:
                cost.setdefault(flow.to_host, []).append(f"{flow.name} (received)")
        for host, flows in cost.items():
            found.append(
                Diagnosis(
                    code="agent_not_reporting",
                    severity="error",
                    message=(
                        f"agent {host} did not report its results in phase {phase.name} (it "
                        f"died, froze, or its link went away): the counts of {', '.join(flows)} "
                        "are unknown, and so is those flows' loss; they are null in the "
                        "result, not 0, and no diagnosis reads them as traffic. Check the "
                        f"agent on {host} (its log, `ringlab lab status` or `ringlab deploy`) "
                        "and run again."
                    ),
                    phase=phase.name,
                )
            )
    return found
