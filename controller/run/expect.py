"""Pure evaluation of pass criteria (`expect:`) against a run's results."""

from __future__ import annotations

from collections.abc import Mapping

from ringlab.controller.run.plan import FlowExpectation
from ringlab.controller.store.results import ExpectFailure, RunResult

# The share of a paced flow's frames it may leave unsent without failing the run.
NOT_SENT_TOLERANCE = 0.001


def evaluate(result: RunResult, expectations: Mapping[str, FlowExpectation]) -> list[ExpectFailure]:
    """Every criterion a flow missed, in any phase; `expectations` is keyed by flow name."""
    failures: list[ExpectFailure] = []
    for phase in result.phases:
        for flow in phase.flows:
            # Implied for every paced flow: what its schedule released went out. An outage
            # (the kernel refused to send) or a shortfall over NOT_SENT_TOLERANCE fails the
            # run, whatever `expect:` says; a smaller one is a diagnosis (warning).
            not_sent = flow.sender_extra.get("not_sent", 0)
            planned = flow.tx_packets + not_sent
            if not_sent and (
                flow.sender_extra.get("refusals", 0) or not_sent > NOT_SENT_TOLERANCE * planned
            ):
                failures.append(
                    ExpectFailure(
                        flow=flow.name,
                        phase=phase.name,
                        criterion="all_sent",
                        expected=(
                            f"every frame of the schedule sent (up to {NOT_SENT_TOLERANCE:.1%}"
                            " not sent, none on a link outage)"
                        ),
                        measured=f"{not_sent:,} not sent ({flow.tx_packets:,} sent)",
                    )
                )
            expect = expectations.get(flow.name)
            if expect is None:
                continue
            if expect.max_loss is not None and flow.loss_ratio > expect.max_loss:
                failures.append(
                    ExpectFailure(
                        flow=flow.name,
                        phase=phase.name,
                        criterion="max_loss",
                        expected=f"<= {expect.max_loss:.4%}",
                        measured=f"{flow.loss_ratio:.4%} ({flow.lost} of {flow.tx_packets} lost)",
                    )
                )
            if expect.min_rx_pps is not None and flow.rx_pps < expect.min_rx_pps:
                failures.append(
                    ExpectFailure(
                        flow=flow.name,
                        phase=phase.name,
                        criterion="min_rx_pps",
                        expected=f">= {expect.min_rx_pps:,.0f} pps",
                        measured=f"{flow.rx_pps:,.0f} pps",
                    )
                )
    return failures
