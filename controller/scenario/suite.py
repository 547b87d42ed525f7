"""Regression suites: which scenarios run on which host sets, and what counts as a regression.

This module holds the suite file's model and reads it (``load_suite``); which cases a
suite makes on an inventory is suite_cases.py's (``expand``).

A suite file::

    version: 1
    name: nightly
    thresholds: {max_rx_pps_drop: 5%, max_loss: 0.1%}
    tests:
      - scenario: unidirectional.yaml        # relative to the suite file
        hosts: [[a, b], [c, d]]              # run on a,b and on c,d
      - scenario: bidirectional.yaml
        hosts: [{a: c, b: a}]                # a mapping names each placeholder
        thresholds: {max_rx_pps_drop: 10%}   # overrides the suite's, key by key
      - scenario: time-sliced.yaml
        select: {a: {nic: ice}, b: {nic: ice}}   # inventory hosts by label
        timeout: 5m                          # a case's limit (the suite may give one too)

A scenario's host names are placeholders. A list maps them in the order the
scenario lists its hosts; a mapping names each one. ``select`` picks every set of
distinct inventory hosts whose labels match (needs --inventory or --lab), once per
set: of its orders, the first in inventory order whose flows all have an interface
on both ends assigns the placeholders. A flow end has an interface when the flow
or the scenario host names one, the inventory links that host toward the flow's
peer, or the inventory host has a default ``interface`` (``choose_interface``, the
rule a run resolves interfaces by). A set none of whose orders has that is left
out (``Expansion.unlinked``: it could never run), and a ``select`` that leaves
nothing is an error at its line.
The scenario is then rewritten for the real hosts (``suite_cases.with_hosts``): its flows
run between them and default flow names follow (``a->b`` becomes ``c->d``).

``timeout`` bounds one case from its start to its verdict; without one the
runner picks a default (controller/run/regress.py).

Errors name the suite file, the line and the field, like scenario errors.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ringlab.controller.analysis.run_deltas import Thresholds
from ringlab.controller.scenario import Scenario, StrictModel, load_scenario
from ringlab.controller.scenario.fields import DurationNs, Fraction, Name, Version
from ringlab.controller.scenario.messages import describe
from ringlab.controller.scenario.yaml_lines import YamlDocument, parse_input_yaml
from ringlab.errors import Problem, SuiteError


class SuiteThresholds(StrictModel):
    max_rx_pps_drop: Fraction | None = None
    max_loss: Fraction | None = None

    def thresholds(self) -> Thresholds:
        return Thresholds(max_rx_pps_drop=self.max_rx_pps_drop, max_loss=self.max_loss)


class SuiteTest(StrictModel):
    scenario: str
    hosts: list[Any] | None = None
    select: dict[str, dict[str, str]] | None = None
    thresholds: SuiteThresholds = SuiteThresholds()
    timeout: DurationNs | None = None


class SuiteSpec(StrictModel):
    version: Version
    name: Name
    thresholds: SuiteThresholds = SuiteThresholds()
    timeout: DurationNs | None = None
    tests: list[SuiteTest]


@dataclass(frozen=True)
class SuiteCase:
    """One scenario on one host set: one JUnit test case."""

    scenario: Scenario  # with the real host names
    scenario_path: Path
    scenario_text: str
    placeholders: tuple[tuple[str, str], ...]  # (scenario host, real host)
    thresholds: Thresholds
    timeout_ns: int | None = None  # the test's or the suite's; None: the runner's default

    @property
    def hosts(self) -> tuple[str, ...]:
        return tuple(real for _, real in self.placeholders)

    @property
    def name(self) -> str:
        return case_name(self.scenario.name, self.hosts)

    @property
    def key(self) -> str:
        """What stays the same for this case from one suite run to the next: the scenario
        and the set of hosts (their order follows the inventory and may change)."""
        return case_key(self.scenario.name, self.hosts)


def case_name(scenario: str, hosts: Sequence[str]) -> str:
    return f"{scenario} on {','.join(hosts)}"


def case_key(scenario: str, hosts: Iterable[str]) -> str:
    return f"{scenario} on {','.join(sorted(hosts))}"


@dataclass(frozen=True)
class Unlinked:
    """A host set a ``select`` matched that is no case: a flow end has no interface."""

    field: str  # tests[0].select
    scenario: str
    hosts: tuple[str, ...]
    reason: str  # "flow a->d: no interface on a toward d"

    @property
    def name(self) -> str:
        return case_name(self.scenario, self.hosts)


@dataclass(frozen=True)
class Expansion:
    cases: tuple[SuiteCase, ...]
    unlinked: tuple[Unlinked, ...]  # listed once in the summary, never run


@dataclass(frozen=True)
class Suite:
    name: str
    path: Path
    spec: SuiteSpec
    document: YamlDocument
    scenarios: tuple[tuple[Scenario, Path, str], ...]  # one per test, as written

    def problem(self, loc: tuple[str | int, ...], text: str, key: bool = False) -> Problem:
        return Problem(loc, text, self.document.line_for(loc, key=key), at_key=key)


def load_suite(path: Path) -> Suite:
    """Read and validate a suite and the scenarios it names; every failure is a SuiteError."""
    source = str(path)
    try:
        text = path.read_text()
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise SuiteError(source, [Problem((), f"cannot read the suite: {reason}")]) from None
    document = parse_input_yaml(text, source, SuiteError)
    if not isinstance(document.data, dict):
        raise SuiteError(
            source,
            [
                Problem(
                    (),
                    "a suite is a mapping with version, name, thresholds and tests;"
                    " see the example at the top of controller/scenario/suite.py",
                    line=1,
                )
            ],
        )
    try:
        spec = SuiteSpec.model_validate(document.data)
    except ValidationError as error:
        found = [describe(detail, SuiteSpec) for detail in error.errors()]
        raise SuiteError(
            source,
            [Problem(p.loc, p.text, document.line_for(p.loc, key=p.at_key)) for p in found],
        ) from None
    problems: list[Problem] = []
    scenarios: list[tuple[Scenario, Path, str]] = []
    for index, test in enumerate(spec.tests):
        loc: tuple[str | int, ...] = ("tests", index)
        if (test.hosts is None) == (test.select is None):
            problems.append(
                Problem(
                    loc,
                    "give exactly one of hosts (a list of host sets) or select (inventory"
                    " labels per scenario host)",
                    document.line_for(loc),
                )
            )
        scenario_path = (path.parent / test.scenario).resolve()
        if not scenario_path.is_file():
            problems.append(
                Problem(
                    (*loc, "scenario"),
                    f"no scenario file {scenario_path} (paths are relative to the suite's"
                    " directory); fix the path",
                    document.line_for((*loc, "scenario")),
                )
            )
            continue
        scenario = load_scenario(scenario_path)  # its errors name the scenario file
        scenarios.append((scenario, scenario_path, scenario_path.read_text()))
    if not spec.tests:
        problems.append(
            Problem(
                ("tests",),
                "tests is empty; list at least one scenario",
                document.line_for(("tests",)),
            )
        )
    if problems:
        raise SuiteError(source, problems)
    return Suite(spec.name, path, spec, document, tuple(scenarios))
