"""The JUnit XML of `ringlab regress run --junit`, held to what the JUnit schema CI
servers read asks of it (windyroad/JUnit-Schema JUnit.xsd, the Ant format Jenkins and
GitLab parse): totals on <testsuites>, a zone-less timestamp and a hostname on each
<testsuite>, and the children in the schema's order."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta, timezone

from test_report_verdict import LIMITS, captured_run, slower, verdict

from ringlab.controller.report.junit import render_junit
from ringlab.controller.report.verdict import CaseOutcome, failed_to_run

# JUnit.xsd: timestamp is an xs:dateTime restricted to this pattern ("timezone may
# not be specified"); hostname an xs:token of at least one character; counts integers;
# time a decimal number of seconds.
TIMESTAMP = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}")
COUNTS = ("tests", "failures", "errors", "skipped")


def outcomes() -> list[CaseOutcome]:
    return [
        verdict(captured_run("c1"), captured_run()),
        verdict(slower(0.7), captured_run()),
        failed_to_run("bd on c,d", "bd", ("c", "d"), LIMITS, "no host c", duration_s=1.5),
    ]


def test_testsuites_carries_the_totals_of_its_suites() -> None:
    root = ET.fromstring(render_junit("nightly", outcomes(), hostname="ci-1"))
    assert root.tag == "testsuites"
    suites = root.findall("testsuite")
    assert suites
    for name in COUNTS:
        assert root.get(name) == str(sum(int(s.get(name) or "x") for s in suites)), name
    assert [root.get(n) for n in COUNTS] == ["3", "1", "1", "0"]
    total = float(root.get("time") or "x")
    assert total == sum(float(s.get("time") or "x") for s in suites)
    assert total >= 1.5


def test_each_testsuite_has_a_schema_timestamp_and_the_hostname() -> None:
    cases = outcomes()
    started = datetime(2026, 12, 3, 17, 4, 5, tzinfo=timezone(timedelta(hours=2)))
    root = ET.fromstring(render_junit("nightly", cases, started=started, hostname="ci-1"))
    suite = root.find("testsuite")
    assert suite is not None
    assert suite.get("timestamp") == "2026-12-03T15:04:05"  # in UTC, without the zone
    assert suite.get("hostname") == "ci-1"
    for name in COUNTS:
        assert re.fullmatch(r"[0-9]+", suite.get(name) or ""), name
    assert re.fullmatch(r"[0-9]+(\.[0-9]+)?", suite.get("time") or "")


def test_by_default_the_timestamp_is_the_first_runs_start_and_the_host_this_one() -> None:
    cases = outcomes()
    assert cases[0].candidate is not None
    first = cases[0].candidate.started_at
    suite = ET.fromstring(render_junit("nightly", cases)).find("testsuite")
    assert suite is not None
    stamp = suite.get("timestamp") or ""
    assert TIMESTAMP.fullmatch(stamp), stamp
    expected = datetime.fromisoformat(first)
    expected = expected if expected.tzinfo else expected.replace(tzinfo=UTC)
    assert stamp == expected.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
    hostname = suite.get("hostname") or ""
    assert hostname and not re.search(r"\s", hostname)


def test_a_suite_where_nothing_ran_still_has_a_timestamp() -> None:
    failed = [failed_to_run("bd on c,d", "bd", ("c", "d"), LIMITS, "no host c")]
    suite = ET.fromstring(render_junit("nightly", failed)).find("testsuite")
    assert suite is not None and TIMESTAMP.fullmatch(suite.get("timestamp") or "")


def test_children_come_in_the_schemas_order() -> None:
    suite = ET.fromstring(render_junit("nightly", outcomes())).find("testsuite")
    assert suite is not None
    tags = [child.tag for child in suite]
    # properties, then the test cases, then system-out / system-err
    assert tags[0] == "properties" and set(tags[1:]) == {"testcase"}
    properties = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert properties["hosts"] == "a,b,c,d"
    assert properties["ringlab.version"]
