"""JUnit XML for CI: one <testcase> per scenario × host set.

A regression is a <failure type="regression"> whose message names the flow and
the delta. A case that did not run to its end (agent unreachable, link down,
busy host, over its time limit) is an <error type="infrastructure">; one that ran
but cannot be judged (no baseline, a metric not measured) an <error
type="not-judged">. The body lists every flow's rx_pps and loss so the CI page
shows the whole picture. Host sets a ``select`` left out for lack of a link are
no test cases: the suite's <system-out> lists them.

The attributes follow the JUnit XML schema CI servers read (Jenkins' junit.xsd, after
Ant's): <testsuites> carries the totals (tests, failures, errors, skipped, time);
<testsuite> its own counts, a ``timestamp`` (when the suite started, in UTC, written
without a zone as the schema's pattern wants) and the ``hostname`` of the controller
that ran it, then <properties> (the hosts the cases ran on, the ringlab version), the
test cases, and <system-out>.
"""

from __future__ import annotations

import socket
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from datetime import UTC, datetime

from ringlab import __version__
from ringlab.controller.report import fmt
from ringlab.controller.report.verdict import CaseOutcome
from ringlab.controller.scenario.suite import Unlinked
from ringlab.controller.scenario.units import format_pps

ERROR_TYPES = {"error": "infrastructure", "not-judged": "not-judged"}


def _details(outcome: CaseOutcome) -> str:
    lines = [f"thresholds: {outcome.thresholds.describe()}"]
    if outcome.candidate is not None:
        lines.append(f"candidate run: {outcome.candidate.run_id}")
    if outcome.baseline is not None:
        lines.append(f"baseline run: {outcome.baseline.run_id}")
    if outcome.comparison is not None:
        for delta in outcome.comparison.flows:
            rx, loss = delta.metric("rx_pps"), delta.metric("loss")
            parts = [f"{delta.label}:"]
            if rx is not None:
                parts.append(
                    f"rx_pps {format_pps(rx.baseline)} -> {format_pps(rx.candidate)}"
                    f" ({fmt.signed_pct(rx.relative)})"
                )
            if loss is not None:
                parts.append(f"loss {fmt.pct(loss.baseline)} -> {fmt.pct(loss.candidate)}")
            if not delta.matched:
                parts.append("only in " + ("baseline" if delta.candidate is None else "candidate"))
            lines.append(" ".join(parts))
    lines.extend(f"REGRESSION {v.message}" for v in outcome.violations)
    return "\n".join(lines)


def suite_started(outcomes: Sequence[CaseOutcome]) -> datetime:
    """When the suite started: its first candidate run's start; now when no case ran."""
    starts = [
        datetime.fromisoformat(o.candidate.started_at)
        for o in outcomes
        if o.candidate is not None and o.candidate.started_at
    ]
    aware = [s if s.tzinfo else s.replace(tzinfo=UTC) for s in starts]
    return min(aware) if aware else datetime.now(UTC)


def render_junit(
    suite: str,
    outcomes: Sequence[CaseOutcome],
    unlinked: Sequence[Unlinked] = (),
    *,
    started: datetime | None = None,
    hostname: str | None = None,
) -> str:
    failures = sum(1 for o in outcomes if o.verdict == "regressed")
    errors = sum(1 for o in outcomes if o.verdict in ERROR_TYPES)
    totals = {
        "tests": str(len(outcomes)),
        "failures": str(failures),
        "errors": str(errors),
        "skipped": "0",
        "time": f"{sum(o.duration_s for o in outcomes):.3f}",
    }
    when = (started or suite_started(outcomes)).astimezone(UTC).replace(tzinfo=None)
    root = ET.Element("testsuites", {"name": f"ringlab regress {suite}", **totals})
    element = ET.SubElement(
        root,
        "testsuite",
        {
            "name": suite,
            **totals,
            "timestamp": when.isoformat(timespec="seconds"),
            "hostname": hostname or socket.gethostname(),
        },
    )
    properties = ET.SubElement(element, "properties")
    hosts = sorted({h for o in outcomes for h in o.hosts})
    for name, value in (("hosts", ",".join(hosts)), ("ringlab.version", __version__)):
        ET.SubElement(properties, "property", name=name, value=value)
    for outcome in outcomes:
        case = ET.SubElement(
            element,
            "testcase",
            classname=f"ringlab.{suite}.{outcome.scenario}",
            name=outcome.name,
            time=f"{outcome.duration_s:.3f}",
        )
        if outcome.verdict == "regressed":
            failure = ET.SubElement(case, "failure", message=outcome.message, type="regression")
            failure.text = _details(outcome)
        elif outcome.verdict in ERROR_TYPES:
            error = ET.SubElement(
                case, "error", message=outcome.message, type=ERROR_TYPES[outcome.verdict]
            )
            error.text = _details(outcome)
        else:
            out = ET.SubElement(case, "system-out")
            out.text = _details(outcome)
    if unlinked:
        note = ET.SubElement(element, "system-out")
        note.text = "\n".join(
            [
                f"{len(unlinked)} host set(s) left out, no interface at both ends of every flow:",
                *(f"{u.name} ({u.field}): {u.reason}" for u in unlinked),
            ]
        )
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"
