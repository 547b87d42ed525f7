"""Suite files: loading, errors with file/line/field, host sets, selectors and links."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from ringlab.controller.analysis.run_deltas import Thresholds
from ringlab.controller.remote.inventory import Inventory, InventoryHost
from ringlab.controller.run.plan import build_plan
from ringlab.controller.scenario import ScenarioError
from ringlab.controller.scenario.suite import SuiteCase, load_suite
from ringlab.controller.scenario.suite_cases import expand, with_hosts
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
    """Hosts with these labels, each with a default interface (so every set is linked)."""
    return Inventory(
        version=1,
        hosts={
            name: InventoryHost(agent=f"unix:/{name}", labels=lab, interface="eth0")
            for name, lab in labels.items()
        },
    )


def paired(*pairs: tuple[str, str], interfaces: dict[str, str] | None = None) -> Inventory:
    """Hosts linked in pairs, like `ringlab lab up --topology pairs`: the first of each
    pair labelled role=gen, the second role=dut; links only toward the pair's other host."""
    hosts: dict[str, InventoryHost] = {}
    for gen, dut in pairs:
        for host, peer, role in ((gen, dut, "gen"), (dut, gen, "dut")):
            hosts[host] = InventoryHost(
                agent=f"unix:/{host}",
                links={peer: f"to-{peer}"},
                labels={"role": role},
                interface=(interfaces or {}).get(host),
            )
    return Inventory(version=1, hosts=hosts)


def cases_of(path: Path, inv: Inventory | None) -> list[SuiteCase]:
    return list(expand(load_suite(path), inv).cases)


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
    cases = list(expand(suite, None).cases)
    assert [c.name for c in cases] == ["pair on c,d", "pair on f,e"]
    assert cases[0].placeholders == (("a", "c"), ("b", "d"))
    assert cases[1].hosts == ("f", "e")
    assert cases[0].thresholds == Thresholds(max_rx_pps_drop=0.10, max_loss=0.001)
    assert cases[0].scenario_path == (tmp_path / "pair.yaml").resolve()
    assert cases[0].scenario_text == SCENARIO


def test_with_hosts_rewrites_hosts_flows_and_default_flow_names(tmp_path: Path) -> None:
    path = write(tmp_path, "version: 1\nname: s\ntests: [{scenario: pair.yaml, hosts: [[c, d]]}]\n")
    (case,) = cases_of(path, None)
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
    cases = cases_of(path, inv)
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
    cases = cases_of(path, inv)
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


PLAIN = """\
version: 1
name: plain
mode: bidirectional
duration: 1s
hosts: {g: {}, d: {}}
flows:
  - {from: g, to: d, frame_size: 64, rate: 10kpps}
  - {from: d, to: g, frame_size: 64, rate: 10kpps}
"""

GEN_DUT = """\
version: 1
name: s
tests:
  - scenario: pair.yaml
    select: {g: {role: gen}, d: {role: dut}}
"""


def test_select_makes_cases_only_of_linked_host_sets_and_lists_the_rest(tmp_path: Path) -> None:
    # The lab: a-b and c-d linked, a and c generators, b and d DUTs.
    path = write(tmp_path, GEN_DUT, scenario=PLAIN)
    expansion = expand(load_suite(path), paired(("a", "b"), ("c", "d")))
    assert [c.name for c in expansion.cases] == ["plain on a,b", "plain on c,d"]
    assert [(u.name, u.field) for u in expansion.unlinked] == [
        ("plain on a,d", "tests[0].select"),
        ("plain on c,b", "tests[0].select"),
    ]
    assert expansion.unlinked[0].reason == (
        "flows a->d, d->a: no interface on a toward d, on d toward a"
    )


def test_select_on_many_pairs_grows_with_the_pairs_not_their_square(tmp_path: Path) -> None:
    path = write(tmp_path, GEN_DUT, scenario=PLAIN)
    pairs = [(f"g{i}", f"d{i}") for i in range(10)]
    expansion = expand(load_suite(path), paired(*pairs))
    assert [c.hosts for c in expansion.cases] == pairs
    assert len(expansion.unlinked) == 90


@pytest.mark.parametrize(
    ("scenario", "interfaces", "cases"),
    [
        # An interface on the scenario's host serves every flow end on it; d still needs
        # one toward g: only b has a link back toward a, so only a,b and c,d are cases.
        (PLAIN.replace("g: {}", "g: {interface: eth9}"), {}, ["a,b", "c,d"]),
        # Interfaces for both scenario hosts: every combination can run.
        (
            PLAIN.replace("g: {}, d: {}", "g: {interface: eth9}, d: {interface: eth9}"),
            {},
            ["a,b", "a,d", "c,b", "c,d"],
        ),
        # The inventory host's default interface counts too.
        (PLAIN, {"a": "eth0", "b": "eth0", "d": "eth0"}, ["a,b", "a,d", "c,d"]),
    ],
)
def test_an_interface_in_the_scenario_or_the_inventory_host_links_a_set(
    tmp_path: Path, scenario: str, interfaces: dict[str, str], cases: list[str]
) -> None:
    path = write(tmp_path, GEN_DUT, scenario=scenario)
    expansion = expand(load_suite(path), paired(("a", "b"), ("c", "d"), interfaces=interfaces))
    assert [",".join(c.hosts) for c in expansion.cases] == cases


def test_flow_interfaces_count_for_their_own_end(tmp_path: Path) -> None:
    one_way = PLAIN.replace(
        "  - {from: g, to: d, frame_size: 64, rate: 10kpps}\n"
        "  - {from: d, to: g, frame_size: 64, rate: 10kpps}\n",
        "  - {from: g, to: d, frame_size: 64, rate: 10kpps, from_interface: eth7,"
        " to_interface: eth8}\n",
    ).replace("bidirectional", "unidirectional")
    path = write(tmp_path, GEN_DUT, scenario=one_way)
    expansion = expand(load_suite(path), paired(("a", "b"), ("c", "d")))
    assert len(expansion.cases) == 4 and expansion.unlinked == ()


def test_of_a_set_the_first_linked_order_assigns_the_placeholders(tmp_path: Path) -> None:
    # Same labels on both sides; only h2 has an interface toward h1's side of the
    # scenario (g sends from its interface, d needs one toward g).
    scenario = PLAIN.replace("g: {}", "g: {interface: eth9}").replace(
        "mode: bidirectional", "mode: unidirectional"
    )
    scenario = scenario.replace("  - {from: d, to: g, frame_size: 64, rate: 10kpps}\n", "")
    path = write(
        tmp_path,
        "version: 1\nname: s\ntests:\n  - scenario: pair.yaml\n    select: {g: {}, d: {}}\n",
        scenario=scenario,
    )
    inv = Inventory(
        version=1,
        hosts={
            "h1": InventoryHost(agent="unix:/h1"),
            "h2": InventoryHost(agent="unix:/h2", links={"h1": "to-h1"}),
        },
    )
    (case,) = expand(load_suite(path), inv).cases
    assert case.placeholders == (("g", "h1"), ("d", "h2"))


def test_a_select_no_linked_set_matches_is_an_error_at_its_line(tmp_path: Path) -> None:
    suite = GEN_DUT.replace("{g: {role: gen}, d: {role: dut}}", "{g: {role: gen}, d: {role: gen}}")
    path = write(tmp_path, suite, scenario=PLAIN)
    with pytest.raises(SuiteError) as error:
        expand(load_suite(path), paired(("a", "b"), ("c", "d")))
    text = str(error.value)
    assert "suite.yaml line 5, field tests[0].select: select matches 1 host set(s) but none" in text
    assert "a,c (flows a->c, c->a: no interface on a toward c, on c toward a)" in text
    assert "Link the hosts in the inventory" in text


def test_listed_hosts_must_be_in_the_inventory(tmp_path: Path) -> None:
    path = write(
        tmp_path, "version: 1\nname: s\ntests:\n  - {scenario: pair.yaml, hosts: [[a, x]]}\n"
    )
    with pytest.raises(SuiteError) as error:
        expand(load_suite(path), paired(("a", "b")))
    assert "line 4, field tests[0].hosts[0]: no host x in the inventory (it has a, b)" in str(
        error.value
    )


def test_timeouts_come_from_the_test_else_the_suite(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        version: 1
        name: s
        timeout: 2m
        tests:
          - {scenario: pair.yaml, hosts: [[a, b]], timeout: 30s}
          - {scenario: pair.yaml, hosts: [[c, d]]}
        """,
    )
    assert [c.timeout_ns for c in cases_of(path, None)] == [30 * 10**9, 120 * 10**9]
    bad = write(tmp_path, "version: 1\nname: s\ntimeout: soon\ntests: []\n")
    with pytest.raises(SuiteError, match=r"line 3, field timeout: 'soon' is not a duration"):
        load_suite(bad)


def test_a_case_key_ignores_host_order(tmp_path: Path) -> None:
    path = write(tmp_path, "version: 1\nname: s\ntests: [{scenario: pair.yaml, hosts: [[d, c]]}]\n")
    (case,) = cases_of(path, None)
    assert (case.name, case.key) == ("pair on d,c", "pair on c,d")
