"""A suite's cases: each test's scenario on each host set it names (``hosts``) or its
labels pick from the inventory (``select``), with the scenario rewritten for the real
hosts. The file format is described in suite.py.

Errors name the suite file, the line and the field, like scenario errors.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from pydantic import TypeAdapter, ValidationError

from ringlab.controller.remote.inventory import Inventory
from ringlab.controller.run.endpoints import choose_interface
from ringlab.controller.scenario import Scenario, flow_names
from ringlab.controller.scenario.fields import HostName, Invalid, show
from ringlab.controller.scenario.suite import Expansion, Suite, SuiteCase, Unlinked
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


def with_hosts(scenario: Scenario, mapping: Mapping[str, str]) -> Scenario:
    """``scenario`` with each placeholder host replaced by ``mapping[host]``."""
    hosts = {mapping[name]: spec for name, spec in scenario.hosts.items()}
    flows = [
        flow.model_copy(update={"src": mapping[flow.src], "dst": mapping[flow.dst]})
        for flow in scenario.flows
    ]
    return scenario.model_copy(update={"hosts": hosts, "flows": flows})


def expand(suite: Suite, inventory: Inventory | None) -> Expansion:
    """Every (scenario, host set) case of the suite, in file order, and the host sets
    ``select`` left out for lack of an interface."""
    problems: list[Problem] = []
    cases: list[SuiteCase] = []
    unlinked: list[Unlinked] = []
    seen: dict[str, str] = {}
    base = suite.spec.thresholds.thresholds()
    for index, (test, (scenario, path, text)) in enumerate(
        zip(suite.spec.tests, suite.scenarios, strict=True)
    ):
        loc: tuple[str | int, ...] = ("tests", index)
        placeholders = list(scenario.hosts)
        if test.hosts is not None:
            assignments = list(_listed(suite, loc, test.hosts, placeholders, problems))
            if inventory is not None:
                assignments = [
                    (where, mapping)
                    for where, mapping in assignments
                    if _in_inventory(suite, where, mapping, inventory, problems)
                ]
        else:
            assert test.select is not None  # load_suite checks one of them is given
            assignments = list(
                _selected(
                    suite, loc, test.select, scenario, inventory, problems.append, unlinked.append
                )
            )
        thresholds = base.merged(test.thresholds.thresholds())
        timeout = test.timeout if test.timeout is not None else suite.spec.timeout
        for where, mapping in assignments:
            case = SuiteCase(
                scenario=with_hosts(scenario, mapping),
                scenario_path=path,
                scenario_text=text,
                placeholders=tuple((p, mapping[p]) for p in placeholders),
                thresholds=thresholds,
                timeout_ns=timeout,
            )
            if case.key in seen:
                problems.append(
                    suite.problem(
                        where,
                        f"{case.name} is already a case ({seen[case.key]}); list each scenario"
                        " and host set once",
                    )
                )
                continue
            seen[case.key] = _field(where)
            cases.append(case)
    if problems:
        problems.sort(key=lambda p: p.line or 0)
        raise SuiteError(str(suite.path), problems)
    return Expansion(tuple(cases), tuple(unlinked))


def missing_interfaces(scenario: Scenario, inventory: Inventory) -> str | None:
    """Why ``scenario`` (with real host names) cannot run on ``inventory``'s links, like
    "flows a->d, d->a: no interface on a toward d, on d toward a"; None when every flow
    end has an interface."""
    flows: dict[str, None] = {}
    ends: dict[str, None] = {}
    for flow, name in zip(scenario.flows, flow_names(scenario.flows), strict=True):
        for host, peer, override in (
            (flow.src, flow.dst, flow.from_interface),
            (flow.dst, flow.src, flow.to_interface),
        ):
            entry = inventory.hosts.get(host)
            chosen = choose_interface(
                override,
                scenario.hosts[host].interface,
                entry.links if entry else {},
                entry.interface if entry else None,
                peer,
            )
            if chosen is None:
                flows[name] = None
                ends[f"{host} toward {peer}"] = None
    if not flows:
        return None
    which = "flow" if len(flows) == 1 else "flows"
    return f"{which} {', '.join(flows)}: no interface on {', on '.join(ends)}"


def _in_inventory(
    suite: Suite,
    where: tuple[str | int, ...],
    mapping: Mapping[str, str],
    inventory: Inventory,
    problems: list[Problem],
) -> bool:
    missing = [host for host in mapping.values() if host not in inventory.hosts]
    if missing:
        problems.append(
            suite.problem(
                where,
                f"no host {', '.join(missing)} in the inventory (it has"
                f" {', '.join(inventory.hosts)}); name inventory hosts, or use select",
            )
        )
    return not missing


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
    scenario: Scenario,
    inventory: Inventory | None,
    problem: Callable[[Problem], None],
    left_out: Callable[[Unlinked], None],
) -> Iterable[tuple[tuple[str | int, ...], dict[str, str]]]:
    where = (*loc, "select")
    placeholders = list(scenario.hosts)
    if inventory is None:
        problem(
            suite.problem(
                where, "select picks hosts by inventory labels; pass --inventory FILE or --lab NAME"
            )
        )
        return
    if set(select) != set(placeholders):
        problem(
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
        matching = inventory.select(labels)
        if not matching:
            shown = ", ".join(f"{k}={v}" for k, v in labels.items()) or "(none)"
            problem(
                suite.problem(
                    (*where, placeholder),
                    f"no inventory host has the labels {shown}; check the labels in the"
                    " inventory's hosts",
                )
            )
            return
        candidates.append(matching)
    # A case is a scenario on a set of hosts: of the orders of one set (h1,h2 / h2,h1
    # when a and b take the same labels) the first in inventory order whose flows all
    # have interfaces stands for it. A set without such an order is left out.
    chosen: set[frozenset[str]] = set()
    why_not: dict[frozenset[str], tuple[tuple[str, ...], str]] = {}
    for combination in itertools.product(*candidates):
        hosts = frozenset(combination)
        if len(hosts) != len(combination) or hosts in chosen:
            continue
        mapping = dict(zip(placeholders, combination, strict=True))
        missing = missing_interfaces(with_hosts(scenario, mapping), inventory)
        if missing is not None:
            why_not.setdefault(hosts, (combination, missing))
            continue
        chosen.add(hosts)
        yield where, mapping
    skipped = [(order, reason) for hosts, (order, reason) in why_not.items() if hosts not in chosen]
    for order, reason in skipped:
        left_out(Unlinked(_field(where), scenario.name, order, reason))
    if chosen:
        return
    if not skipped:
        problem(
            suite.problem(
                where,
                "the labels match too few distinct hosts: every scenario host needs its own",
            )
        )
        return
    shown = "; ".join(f"{','.join(order)} ({reason})" for order, reason in skipped[:4])
    more = f" and {len(skipped) - 4} more" if len(skipped) > 4 else ""
    problem(
        suite.problem(
            where,
            f"select matches {len(skipped)} host set(s) but none has an interface at both ends"
            f" of every flow: {shown}{more}. Link the hosts in the inventory (hosts.HOST.links:"
            " {PEER: IFACE}), give an interface in the scenario or the inventory host, or"
            " change the labels",
        )
    )
