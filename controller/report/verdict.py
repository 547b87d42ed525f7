"""The verdict of one regression case: passed, regressed, or why it could not be judged.

Pure: given the candidate run, its baseline (if any) and the thresholds, says
which it is and why. The JUnit writer, the HTML summary and the terminal all
print this; none of them decides a verdict of its own.

- ``passed`` / ``new-baseline``: nothing past a threshold (or nothing to compare
  with, and this run becomes the baseline).
- ``regressed``: a threshold was crossed; the product got worse.
- ``error``: the case did not run to its end. An infrastructure problem: an agent
  unreachable, a link down, a busy host, a refusal, a run that failed or ran
  over its time limit. Nothing is known about the product.
- ``not-judged``: the run completed but cannot be judged: no baseline, or a
  threshold whose metric one of the runs does not measure.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from ringlab.controller.analysis.run_deltas import (
    NotComparable,
    RunComparison,
    Thresholds,
    Violation,
    compare_runs,
    not_comparable,
    violations,
)
from ringlab.controller.store.results import RunResult

Verdict = Literal["passed", "regressed", "error", "not-judged", "new-baseline"]
VERDICTS: tuple[Verdict, ...] = ("passed", "new-baseline", "regressed", "error", "not-judged")


@dataclass(frozen=True)
class CaseOutcome:
    name: str  # "scenario on host1,host2"
    scenario: str
    hosts: tuple[str, ...]
    verdict: Verdict
    thresholds: Thresholds
    duration_s: float = 0.0
    candidate: RunResult | None = None
    baseline: RunResult | None = None
    comparison: RunComparison | None = None
    violations: tuple[Violation, ...] = ()
    not_comparable: tuple[NotComparable, ...] = ()
    message: str = ""  # the first line a reader needs: why it failed, or "" when it passed

    @property
    def ok(self) -> bool:
        return self.verdict in ("passed", "new-baseline")


def judge(
    name: str,
    scenario: str,
    hosts: tuple[str, ...],
    thresholds: Thresholds,
    candidate: RunResult,
    baseline: RunResult | None,
    *,
    baseline_tag: str,
    becomes_baseline: bool = False,
    duration_s: float = 0.0,
) -> CaseOutcome:
    base = CaseOutcome(
        name=name,
        scenario=scenario,
        hosts=hosts,
        verdict="error",
        thresholds=thresholds,
        duration_s=duration_s,
        candidate=candidate,
        baseline=baseline,
    )
    if candidate.status != "completed":
        reason = candidate.error or "no reason given"
        return replace(base, message=f"run {candidate.run_id} {candidate.status}: {reason}")
    if baseline is None:
        if becomes_baseline:
            return replace(
                base,
                verdict="new-baseline",
                message=f"no earlier baseline; run {candidate.run_id} is now tagged {baseline_tag}",
            )
        return replace(
            base,
            verdict="not-judged",
            message=(
                f"no baseline: no completed run of {scenario} on {','.join(hosts)} is tagged"
                f" {baseline_tag}. Tag one (`ringlab runs tag RUN {baseline_tag}`) or run the"
                " suite once with --update-baseline"
            ),
        )
    comparison = compare_runs(baseline, candidate)
    found = tuple(violations(comparison, thresholds))
    unchecked = tuple(not_comparable(comparison, thresholds))
    if found:
        verdict: Verdict = "regressed"
    else:
        # A limit that could not be checked is not met either: the case is not judged.
        verdict = "not-judged" if unchecked else "passed"
    return replace(
        base,
        verdict=verdict,
        comparison=comparison,
        violations=found,
        not_comparable=unchecked,
        message="; ".join([*(v.message for v in found), *(n.message for n in unchecked)]),
    )


def failed_to_run(
    name: str,
    scenario: str,
    hosts: tuple[str, ...],
    thresholds: Thresholds,
    reason: str,
    duration_s: float = 0.0,
) -> CaseOutcome:
    """A case whose run never produced a result (bad inventory, unreachable agent, refused,
    timed out): an infrastructure error."""
    return CaseOutcome(
        name=name,
        scenario=scenario,
        hosts=hosts,
        verdict="error",
        thresholds=thresholds,
        duration_s=duration_s,
        message=reason,
    )
