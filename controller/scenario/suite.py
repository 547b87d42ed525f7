"""Regression suites: which scenarios run on which host sets, and what counts as a regression.

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

A scenario's host names are placeholders. A list maps them in the order the
scenario lists its hosts; a mapping names each one. ``select`` picks every set of
distinct inventory hosts whose labels match (needs --inventory), once per set: of
its orders, the first in inventory order assigns the placeholders.
The scenario is then rewritten for the real hosts (``with_hosts``): its flows
run between them and default flow names follow (``a->b`` becomes ``c->d``).

Errors name the suite file, the line and the field, like scenario errors.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from ringlab.controller.analysis.compare import Thresholds
from ringlab.controller.remote.inventory import Inventory
from ringlab.controller.scenario import Scenario, StrictModel, load_scenario
from ringlab.controller.scenario.fields import (
    Fraction,
    HostName,
    Invalid,
    Name,
    Version,
    show,
)
from ringlab.controller.scenario.messages import describe
from ringlab.controller.scenario.yaml_lines import YamlDocument, YamlProblem, parse_yaml
from ringlab.errors import Problem, SuiteError

_HOST_NAME: TypeAdapter[str] = TypeAdapter(HostName)


def _host_set(value: object) -> tuple[str, ...] | dict[str, str]:
    example = "[a, b] or {a: host1, b: host2}"

    def host(item: object) -> str:
        try:
            return _HOST_NAME.validate_python(item)
        except ValidationError as error:  # the HostName rule explains itself
            raise Invalid(error.errors()[0]["msg"]) from None

    if isinstance(value, list) and value:
        return tuple(host(item) for item in value)
    if isinstance(value, dict) and value:
        return {str(k): host(v) for k, v in value.items()}
    raise Invalid(
        f"{show(value)} is not a host set. Write a list of hosts in the order the scenario"
        f" lists its hosts, or a mapping from each scenario host to a real one: {example}."
    )


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


class SuiteSpec(StrictModel):
    version: Version
    name: Name
    thresholds: SuiteThresholds = SuiteThresholds()
    tests: list[SuiteTest]


@dataclass(frozen=True)
class SuiteCase:
    """One scenario on one host set: one JUnit test case."""

    scenario: Scenario  # with the real host names
    scenario_path: Path
    scenario_text: str
    placeholders: tuple[tuple[str, str], ...]  # (scenario host, real host)
    thresholds: Thresholds

    @property
    def hosts(self) -> tuple[str, ...]:
        return tuple(real for _, real in self.placeholders)

    @property
    def name(self) -> str:
        return f"{self.scenario.name} on {','.join(self.hosts)}"


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
    try:
        document = parse_yaml(text)
    except YamlProblem as problem:
        raise SuiteError(
            source, [Problem((), problem.text, problem.line, problem.column)]
        ) from None
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


def with_hosts(scenario: Scenario, mapping: Mapping[str, str]) -> Scenario:
    """``scenario`` with each placeholder host replaced by ``mapping[host]``."""
    hosts = {mapping[name]: spec for name, spec in scenario.hosts.items()}
    flows = [
        flow.model_copy(update={"src": mapping[flow.src], "dst": mapping[flow.dst]})
        for flow in scenario.flows
    ]
    return scenario.model_copy(update={"hosts": hosts, "flows": flows})


def expand(suite: Suite, inventory: Inventory | None) -> list[SuiteCase]:
    """Every (scenario, host set) case of the suite, in file order."""
    problems: list[Problem] = []
    cases: list[SuiteCase] = []
    seen: dict[tuple[str, tuple[str, ...]], str] = {}
    base = suite.spec.thresholds.thresholds()
    for index, (test, (scenario, path, text)) in enumerate(
        zip(suite.spec.tests, suite.scenarios, strict=True)
    ):
        loc: tuple[str | int, ...] = ("tests", index)
        placeholders = list(scenario.hosts)
        if test.hosts is not None:
            assignments = list(_listed(suite, loc, test.hosts, placeholders, problems))
        else:
            assert test.select is not None  # load_suite checks one of them is given
            assignments = list(
                _selected(suite, loc, test.select, placeholders, inventory, problems)
            )
        thresholds = base.merged(test.thresholds.thresholds())
        for where, mapping in assignments:
            case = SuiteCase(
                scenario=with_hosts(scenario, mapping),
                scenario_path=path,
                scenario_text=text,
                placeholders=tuple((p, mapping[p]) for p in placeholders),
                thresholds=thresholds,
            )
            key = (scenario.name, tuple(sorted(case.hosts)))
            if key in seen:
                problems.append(
                    suite.problem(
                        where,
                        f"{case.name} is already a case ({seen[key]}); list each scenario"
                        " and host set once",
                    )
                )
                continue
            seen[key] = _field(where)
            cases.append(case)
    if problems:
        problems.sort(key=lambda p: p.line or 0)
        raise SuiteError(str(suite.path), problems)
    return cases


def _field(loc: Sequence[str | int]) -> str:
    return Problem(tuple(loc), "").field


def _listed(
    suite: Suite,
    loc: tuple[str | int, ...],
    host_sets: list[Any],
    placeholders: list[str],
    problems: list[Problem],
) -> Iterable[tuple[tuple[str | int, ...], dict[str, str]]]:
    wanted = ", ".join(placeholders)
    for number, raw in enumerate(host_sets):
        where = (*loc, "hosts", number)
        try:
            value = _host_set(raw)
        except Invalid as error:
            problems.append(suite.problem(where, str(error)))
            continue
        if isinstance(value, tuple):
            if len(value) != len(placeholders):
                problems.append(
                    suite.problem(
                        where,
                        f"{len(value)} host(s) given but the scenario has {len(placeholders)}"
                        f" ({wanted}); give one real host per scenario host, in that order",
                    )
                )
                continue
            mapping = dict(zip(placeholders, value, strict=True))
        else:
            if set(value) != set(placeholders):
                problems.append(
                    suite.problem(
                        where,
                        f"the mapping names {', '.join(value)} but the scenario's hosts are"
                        f" {wanted}; map each of them once",
                    )
                )
                continue
            mapping = dict(value)
        if len(set(mapping.values())) != len(mapping):
            problems.append(
                suite.problem(where, "a host is used twice; every scenario host needs its own")
            )
            continue
        yield where, mapping


def _selected(
    suite: Suite,
    loc: tuple[str | int, ...],
    select: dict[str, dict[str, str]],
    placeholders: list[str],
    inventory: Inventory | None,
    problems: list[Problem],
) -> Iterable[tuple[tuple[str | int, ...], dict[str, str]]]:
    where = (*loc, "select")
    if inventory is None:
        problems.append(
            suite.problem(where, "select picks hosts by inventory labels; pass --inventory FILE")
        )
        return
    if set(select) != set(placeholders):
        problems.append(
            suite.problem(
                where,
                f"select names {', '.join(select) or 'no host'} but the scenario's hosts are"
                f" {', '.join(placeholders)}; give labels for each of them",
            )
        )
        return
    candidates: list[list[str]] = []
    for placeholder in placeholders:
        labels = select[placeholder]
        matching = [
            name
            for name, entry in inventory.hosts.items()
            if all(entry.labels.get(k) == v for k, v in labels.items())
        ]
        if not matching:
            shown = ", ".join(f"{k}={v}" for k, v in labels.items()) or "(none)"
            problems.append(
                suite.problem(
                    (*where, placeholder),
                    f"no inventory host has the labels {shown}; check the labels in the"
                    " inventory's hosts",
                )
            )
            return
        candidates.append(matching)
    found = False
    # A case is a scenario on a set of hosts: of the orders of one set (h1,h2 / h2,h1
    # when a and b take the same labels) the first in inventory order stands for it.
    host_sets: set[frozenset[str]] = set()
    for combination in itertools.product(*candidates):
        hosts = frozenset(combination)
        if len(hosts) == len(combination) and hosts not in host_sets:
            found = True
            host_sets.add(hosts)
            yield where, dict(zip(placeholders, combination, strict=True))
    if not found:
        problems.append(
            suite.problem(
                where,
                "the labels match too few distinct hosts: every scenario host needs its own",
            )
        )


class HostLocks:
    """One lock per host: cases sharing a host run one after another, others in parallel.

    Locks are taken in sorted host order, so two cases never wait on each other
    in a cycle.
    """

    def __init__(self) -> None:
        self._locks: dict[str, asyncio.Lock] = {}

    @contextlib.asynccontextmanager
    async def hold(self, hosts: Iterable[str]) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            for host in sorted(set(hosts)):
                await stack.enter_async_context(self._locks.setdefault(host, asyncio.Lock()))
            yield
