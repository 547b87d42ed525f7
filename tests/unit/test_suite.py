"""Suite files: loading, errors with file/line/field, host sets, selectors, host locks."""

from __future__ import annotations

import asyncio
import textwrap
from pathlib import Path

import pytest

from ringlab.controller.analysis.compare import Thresholds
from ringlab.controller.remote.inventory import Inventory, InventoryHost
from ringlab.controller.run.plan import build_plan
from ringlab.controller.scenario import ScenarioError
from ringlab.controller.scenario.suite import HostLocks, expand, load_suite, with_hosts
from ringlab.errors import SuiteError

SCENARIO = """\
version: 1
name: pair
mode: bidirectional
duration: 1s
hosts: {a: {}, b: {interface: eth1}}
flows:
  - {from: a, to: b, frame_size: 64, rate: 10kpps}
  - {from: b, to: a, frame_size: 64, rate: 10kpps}
  - {name: bulk, from: a, to: b, frame_size: 1518, rate: 1kpps}
"""


def write(tmp_path: Path, suite: str, scenario: str = SCENARIO) -> Path:
    (tmp_path / "pair.yaml").write_text(scenario)
    path = tmp_path / "suite.yaml"
    path.write_text(textwrap.dedent(suite))
    return path


def inventory(**labels: dict[str, str]) -> Inventory:
    return Inventory(
        version=1,
        hosts={
            name: InventoryHost(agent=f"unix:/{name}", labels=lab) for name, lab in labels.items()
        },
    )


def test_a_suite_expands_into_one_case_per_host_set(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        version: 1
        name: nightly
        thresholds: {max_rx_pps_drop: 5%, max_loss: 0.1%}
        tests:
          - scenario: pair.yaml
            hosts: [[c, d], {a: f, b: e}]
            thresholds: {max_rx_pps_drop: 10%}
        """,
    )
    suite = load_suite(path)
    cases = expand(suite, None)
    assert [c.name for c in cases] == ["pair on c,d", "pair on f,e"]
    assert cases[0].placeholders == (("a", "c"), ("b", "d"))
    assert cases[1].hosts == ("f", "e")
    assert cases[0].thresholds == Thresholds(max_rx_pps_drop=0.10, max_loss=0.001)
    assert cases[0].scenario_path == (tmp_path / "pair.yaml").resolve()
    assert cases[0].scenario_text == SCENARIO


def test_with_hosts_rewrites_hosts_flows_and_default_flow_names(tmp_path: Path) -> None:
    path = write(tmp_path, "version: 1\nname: s\ntests: [{scenario: pair.yaml, hosts: [[c, d]]}]\n")
    (case,) = expand(load_suite(path), None)
    scenario = case.scenario
    assert list(scenario.hosts) == ["c", "d"]
    assert scenario.hosts["d"].interface == "eth1"  # options travel with the host
    plan = build_plan(scenario)
    assert plan.hosts == ("c", "d")
    assert [f.name for f in plan.phases[0].flows] == ["c->d", "d->c", "bulk"]
    assert [(f.src_host, f.dst_host) for f in plan.phases[0].flows] == [
        ("c", "d"),
        ("d", "c"),
        ("c", "d"),
    ]


def test_with_hosts_leaves_the_original_untouched(tmp_path: Path) -> None:
    path = write(tmp_path, "version: 1\nname: s\ntests: [{scenario: pair.yaml, hosts: [[c, d]]}]\n")
    suite = load_suite(path)
    original = suite.scenarios[0][0]
    with_hosts(original, {"a": "x", "b": "y"})
    assert list(original.hosts) == ["a", "b"]


def test_select_picks_every_assignment_of_matching_hosts(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        version: 1
        name: s
        tests:
          - scenario: pair.yaml
            select: {a: {role: tx}, b: {nic: ice}}
        """,
    )
    inv = inventory(h1={"role": "tx", "nic": "ice"}, h2={"nic": "ice"}, h3={"nic": "i40e"})
    cases = expand(load_suite(path), inv)
    assert [c.hosts for c in cases] == [("h1", "h2")]  # h1 cannot be both a and b


def test_select_with_the_same_labels_makes_one_case_per_host_set(tmp_path: Path) -> None:
    # The suite's own example: both scenario hosts on ice NICs. h1,h2 and h2,h1 are
    # the same host set, and a suite runs each scenario on a host set once.
    path = write(
        tmp_path,
        """
        version: 1
        name: s
        tests:
          - scenario: pair.yaml
            select: {a: {nic: ice}, b: {nic: ice}}
        """,
    )
    inv = inventory(h1={"nic": "ice"}, h2={"nic": "ice"}, h3={"nic": "ice"}, h4={"nic": "i40e"})
    cases = expand(load_suite(path), inv)
    assert sorted(tuple(sorted(c.hosts)) for c in cases) == [
        ("h1", "h2"),
        ("h1", "h3"),
        ("h2", "h3"),
    ]
    # The first assignment in inventory order is kept: a is the host listed first.
    assert [dict(c.placeholders)["a"] for c in cases] == ["h1", "h1", "h2"]


def test_select_without_an_inventory_says_to_pass_one(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "version: 1\nname: s\ntests:\n  - scenario: pair.yaml\n    select: {a: {}, b: {}}\n",
    )
    with pytest.raises(SuiteError) as error:
        expand(load_suite(path), None)
    assert "suite.yaml line 5, field tests[0].select: select picks hosts" in str(error.value)
    assert "--inventory" in str(error.value)


def test_select_with_no_matching_host_names_the_labels(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "version: 1\nname: s\ntests:\n  - scenario: pair.yaml\n    select: {a: {nic: ice}, b: {}}\n",
    )
    with pytest.raises(
        SuiteError, match=r"tests\[0\]\.select\.a: no inventory host has the labels nic=ice"
    ):
        expand(load_suite(path), inventory(h1={}, h2={}))


@pytest.mark.parametrize(
    ("tests", "line", "field", "text"),
    [
        (
            "  - {scenario: pair.yaml, hosts: [[c]]}",
            4,
            "tests[0].hosts[0]",
            "1 host(s) given but the scenario has 2 (a, b)",
        ),
        (
            "  - {scenario: pair.yaml, hosts: [[c, c]]}",
            4,
            "tests[0].hosts[0]",
            "a host is used twice",
        ),
        (
            "  - {scenario: pair.yaml, hosts: [{a: c, z: d}]}",
            4,
            "tests[0].hosts[0]",
            "the mapping names a, z but the scenario's hosts are a, b",
        ),
        (
            "  - {scenario: pair.yaml, hosts: [[c, Bad_Name]]}",
            4,
            "tests[0].hosts[0]",
            "'Bad_Name' is not a valid host name",
        ),
        ("  - {scenario: pair.yaml, hosts: [c]}", 4, "tests[0].hosts[0]", "'c' is not a host set"),
        (
            "  - {scenario: pair.yaml, hosts: [[c, d], [d, c]]}",
            4,
            "tests[0].hosts[1]",
            "pair on d,c is already a case (tests[0].hosts[0])",
        ),
    ],
)
def test_bad_host_sets_name_file_line_and_field(
    tmp_path: Path, tests: str, line: int, field: str, text: str
) -> None:
    path = write(tmp_path, f"version: 1\nname: s\ntests:\n{tests}\n")
    with pytest.raises(SuiteError) as error:
        expand(load_suite(path), None)
    assert f"suite.yaml line {line}, field {field}: {text}" in str(error.value)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("version: 1\nname: s\ntests: []\n", "line 3, field tests: tests is empty"),
        ("version: 1\nname: s\n", "field tests: tests is missing"),
        (
            "version: 1\nname: s\ntests:\n  - {scenario: nope.yaml, hosts: [[a, b]]}\n",
            "line 4, field tests[0].scenario: no scenario file",
        ),
        (
            "version: 1\nname: s\ntests:\n  - {scenario: pair.yaml}\n",
            "line 4, field tests[0]: give exactly one of hosts",
        ),
        (
            "version: 1\nname: s\nthresholds: {max_loss: 200%}\ntests: []\n",
            "line 3, field thresholds.max_loss: '200%' is more than 100%",
        ),
        (
            "version: 1\nname: s\ntests:\n  - {scenario: pair.yaml, hosts: [[a, b]], treshold: {}}\n",
            "unknown key 'treshold'. Did you mean 'thresholds'?",
        ),
        ("- just a list\n", "a suite is a mapping"),
        ("version: 1\nname: s\ntests: [\n", "YAML syntax error"),
    ],
)
def test_bad_suites_are_refused_with_file_and_line(
    tmp_path: Path, body: str, expected: str
) -> None:
    path = write(tmp_path, body)
    with pytest.raises(SuiteError) as error:
        load_suite(path)
    assert expected in str(error.value)
    assert str(path) in str(error.value)


def test_a_bad_scenario_is_reported_in_its_own_file(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "version: 1\nname: s\ntests: [{scenario: pair.yaml, hosts: [[c, d]]}]\n",
        scenario=SCENARIO.replace("rate: 10kpps", "rate: fast", 1),
    )
    with pytest.raises(ScenarioError, match=r"pair\.yaml line 7, field flows\[0\]\.rate"):
        load_suite(path)


def test_a_missing_suite_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(SuiteError, match="cannot read the suite"):
        load_suite(tmp_path / "none.yaml")


async def test_host_locks_run_disjoint_sets_together_and_shared_hosts_in_turn() -> None:
    locks = HostLocks()
    inside: set[str] = set()
    overlaps: list[set[str]] = []
    release = asyncio.Event()
    entered = {name: asyncio.Event() for name in ("ab", "cd", "bc")}

    async def case(name: str, hosts: tuple[str, str]) -> None:
        async with locks.hold(hosts):
            inside.add(name)
            overlaps.append(set(inside))
            entered[name].set()
            await release.wait()
            inside.discard(name)

    tasks = [
        asyncio.create_task(case("ab", ("a", "b"))),
        asyncio.create_task(case("cd", ("c", "d"))),
        asyncio.create_task(case("bc", ("b", "c"))),
    ]
    await entered["ab"].wait()
    await entered["cd"].wait()
    assert inside == {"ab", "cd"}  # disjoint: both run
    assert not entered["bc"].is_set()  # shares b with ab and c with cd: waits
    release.set()
    await asyncio.gather(*tasks)
    assert entered["bc"].is_set()
    assert {"ab", "bc"} not in overlaps and {"bc", "cd"} not in overlaps
