"""Pure evaluation of pass criteria (`expect:`) against a run's results."""

from __future__ import annotations

from collections.abc import Mapping

from ringlab.controller.run.plan import Expect
from ringlab.controller.store.results import ExpectFailure, RunResult


def evaluate(result: RunResult, expectations: Mapping[str, Expect]) -> list[ExpectFailure]:
    """Every criterion a flow missed, in any phase; `expectations` is keyed by flow name."""
    failures: list[ExpectFailure] = []
    for phase in result.phases:
        for flow in phase.flows:
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
