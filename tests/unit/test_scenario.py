"""Scenario loading: good files load, every bad file fails with file, line, field and a fix."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ringlab.controller.run.plan import build_plan
from ringlab.controller.scenario import (
    Scenario,
    ScenarioError,
    flow_names,
    load_scenario,
    load_scenario_text,
)
from ringlab.controller.scenario.units import Rate
from ringlab.errors import RinglabInputError

ROOT = Path(__file__).resolve().parents[2]
GOOD = sorted((ROOT / "scenarios").glob("*.yaml"))
BAD = sorted((ROOT / "tests" / "fixtures" / "bad_scenarios").glob("*.yaml"))

MINIMAL = """\
version: 1
name: a-to-b
mode: unidirectional
duration: 5s
hosts: {a: {}, b: {interface: eth1}}
flows:
  - {from: a, to: b, frame_size: 64, rate: max}
"""


def _header(path: Path) -> tuple[list[str], int | None]:
    tokens: list[str] = []
    line: int | None = None
    for text in path.read_text(encoding="utf-8").splitlines():
        if text.startswith("# expect:"):
            tokens.append(text.removeprefix("# expect:").strip())
        elif text.startswith("# line:"):
            line = int(text.removeprefix("# line:"))
    return tokens, line


def _fails(text: str) -> ScenarioError:
    with pytest.raises(ScenarioError) as caught:
        load_scenario_text(text, "s.yaml")
    return caught.value


def test_corpus_is_big_enough_and_annotated() -> None:
    assert len(BAD) >= 35
    for path in BAD:
        tokens, _ = _header(path)
        assert tokens, f"{path.name} has no '# expect:' line"


@pytest.mark.parametrize("path", BAD, ids=[p.stem for p in BAD])
def test_bad_scenario_names_file_line_and_field(path: Path) -> None:
    tokens, line = _header(path)
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    error = caught.value
    assert isinstance(error, RinglabInputError)
    assert error.problems
    for problem in error.problems:
        assert problem.line is not None
        assert problem.render(str(path)).startswith(f"{path} line {problem.line}")
    matching = [p for p in error.problems if all(token in p.render(str(path)) for token in tokens)]
    assert matching, f"no problem mentions all of {tokens}:\n{error.message}"
    if line is not None:
        assert line in [p.line for p in matching], error.message
    assert "Traceback" not in error.message


@pytest.mark.parametrize("path", GOOD, ids=[p.stem for p in GOOD])
def test_example_scenarios_load_and_plan(path: Path) -> None:
    scenario = load_scenario(path)
    plan = build_plan(scenario)
    assert plan.phases
    assert plan.scenario == scenario.name


def test_examples_cover_every_mode_and_compare() -> None:
    names = {p.stem for p in GOOD}
    expected = {"unidirectional", "bidirectional", "time-sliced", "compare", "sendto-baseline"}
    assert expected | {"rate-limited"} <= names


def test_minimal_scenario_values_are_parsed() -> None:
    scenario = load_scenario_text(MINIMAL, "s.yaml")
    assert scenario.duration == 5_000_000_000
    assert scenario.lease == 3_000_000_000
    assert scenario.drain == 200_000_000
    assert scenario.hosts["b"].interface == "eth1"
    assert scenario.hosts["a"].interface is None
    flow = scenario.flows[0]
    assert (flow.src, flow.dst, flow.rate) == ("a", "b", Rate("max", 0.0))
    assert (flow.engine, flow.workers, flow.stamping, flow.qdisc_bypass) == ("ring", 1, True, True)
    assert flow.tx_skb == "linear"
    assert scenario.modes == ("unidirectional",)


def test_null_host_means_no_options() -> None:
    scenario = load_scenario_text(
        MINIMAL.replace("{a: {}, b: {interface: eth1}}", "{a: , b: }"), "s"
    )
    assert scenario.hosts["a"].interface is None


def test_several_problems_are_all_reported_in_file_order() -> None:
    text = MINIMAL.replace("version: 1", "version: 3").replace("rate: max", "rate: fast")
    error = _fails(text.replace("duration: 5s", "duration: 5"))
    assert [p.field for p in error.problems] == ["version", "duration", "flows[0].rate"]
    assert [p.line for p in error.problems] == [1, 4, 7]
    assert len(error.message.splitlines()) == 3


def test_rule_problems_wait_for_field_problems() -> None:
    # A type error elsewhere must not hide behind, or be mixed with, cross-field rules.
    error = _fails(MINIMAL.replace("to: b", "to: a").replace("5s", "5"))
    assert [p.field for p in error.problems] == ["duration"]


def test_unknown_key_lists_allowed_keys() -> None:
    error = _fails(MINIMAL + "leese: 3s\n")
    (problem,) = error.problems
    assert "Did you mean 'lease'?" in problem.text
    assert "allow_management_interface" in problem.text
    assert problem.line == 8


def test_flow_host_suggestion() -> None:
    text = MINIMAL.replace("hosts: {a: {}, b: {interface: eth1}}", "hosts: {alpha: {}, b: {}}")
    text = text.replace("from: a,", "from: alpah,")
    (problem,) = _fails(text).problems
    assert problem.field == "flows[0].from"
    assert "Did you mean 'alpha'?" in problem.text


def test_mixed_directions_in_compare_suggest_dropping_unidirectional() -> None:
    text = (
        MINIMAL.replace("mode: unidirectional", "mode: bidirectional")
        + "  - {from: b, to: a, frame_size: 64, rate: max}\n"
        + "compare: [bidirectional, unidirectional]\n"
    )
    (problem,) = _fails(text).problems
    assert "Remove unidirectional from compare" in problem.text


def test_compare_without_mode_uses_first_listed() -> None:
    text = (
        MINIMAL.replace("mode: unidirectional\n", "")
        + "compare: [time-sliced, unidirectional]\ntime_slice: {slice: 1s}\n"
    )
    scenario = load_scenario_text(text, "s")
    assert scenario.modes == ("time-sliced", "unidirectional")
    assert scenario.primary_mode == "time-sliced"


def test_default_flow_names_number_repeats_per_direction() -> None:
    text = MINIMAL.replace("mode: unidirectional", "mode: bidirectional") + (
        "  - {from: b, to: a, frame_size: 64, rate: max}\n"
        "  - {from: a, to: b, frame_size: 128, rate: max}\n"
        "  - {name: a->b#3, from: a, to: b, frame_size: 256, rate: max}\n"
        "  - {from: a, to: b, frame_size: 512, rate: max}\n"
    )
    scenario = load_scenario_text(text, "s")
    assert flow_names(scenario.flows) == ["a->b", "b->a", "a->b#2", "a->b#3", "a->b#4"]


def test_bit_rate_converts_with_frame_size() -> None:
    scenario = load_scenario_text(MINIMAL.replace("rate: max", "rate: 1Gbps"), "s")
    assert scenario.flows[0].rate.pps(64) == 1e9 / 512


@pytest.mark.parametrize(
    ("text", "token"),
    [
        ("", "empty"),
        ("   \n\n", "empty"),
        ("[]", "top level is a list"),
        ("42", "top level is the value 42"),
        ("a: [1\n", "YAML syntax error"),
        ("a: 1\nb: '\x07'\n", "control character U+0007"),
        ("a: !!int abc\n", "cannot be read as int"),
        ("a: &x [*x]\n", "unknown key 'a'"),
        ("a: " + "[" * 100_000 + "]" * 100_000, "nested more than 64 levels"),
        ("- " * 100_000 + "x", "nested more than 64 levels"),
    ],
)
def test_degenerate_documents(text: str, token: str) -> None:
    error = _fails(text)
    assert token in error.message
    assert error.message.startswith("s.yaml line ")


def test_nesting_limit_is_ours_at_65_levels() -> None:
    # Ours, with the column of the 65th bracket, whatever limit the YAML parser has.
    error = _fails("a: " + "[" * 65 + "]" * 65)
    assert error.message.startswith("s.yaml line 1, column 68: the YAML is nested more than 64")


@pytest.mark.parametrize(
    "text",
    [
        "a: '" + "[" * 100 + "'\n",
        'a: "' + "{" * 100 + '"\n',
        "a: x" + "[" * 100 + "\n",
        "# " + "[" * 100 + "\na: 1\n",
        "a: 1  # " + "{" * 100 + "\n",
        "a: " + "[" * 63 + "]" * 63 + "\n",  # 64 levels with the mapping
    ],
)
def test_brackets_that_are_not_nesting_are_not_counted(text: str) -> None:
    assert "nested" not in _fails(text).message


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    with pytest.raises(ScenarioError, match="no such file") as caught:
        load_scenario(path)
    assert str(path) in caught.value.message


def test_directory_instead_of_file(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="directory"):
        load_scenario(tmp_path)


def test_non_utf8_file_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_bytes(MINIMAL.encode() + b"name: \xff\xfe\n")
    with pytest.raises(ScenarioError, match=r"line 8: byte 0xff is not UTF-8"):
        load_scenario(path)


def test_direct_construction_applies_the_rules() -> None:
    data = {
        "version": 1,
        "name": "x",
        "mode": "unidirectional",
        "duration": "1s",
        "hosts": {"a": {}, "b": {}},
        "flows": [{"from": "a", "to": "a", "frame_size": 64, "rate": "max"}],
    }
    with pytest.raises(ScenarioError, match=r"field flows\[0\]\.to"):
        Scenario.model_validate(data)


def test_scenario_is_immutable() -> None:
    scenario = load_scenario_text(MINIMAL, "s")
    with pytest.raises(ValueError, match="frozen"):
        scenario.name = "other"  # type: ignore[misc]


# Arbitrary YAML-ish input: the loader may reject it, but only with a ScenarioError.
_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["max", "1Gbps", "5s", "0.1%", "a", "b", "time-sliced", "-1s", "1e400pps"]),
)
_keys = st.sampled_from(
    [
        "version",
        "name",
        "mode",
        "duration",
        "hosts",
        "flows",
        "from",
        "to",
        "rate",
        "frame_size",
        "time_slice",
        "slice",
        "compare",
        "expect",
        "max_loss",
        "a",
        "b",
        "x",
    ]
)
_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_keys, inner, max_size=5),
    max_leaves=20,
)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(_keys, _values, max_size=8))
def test_any_structure_loads_or_fails_cleanly(data: dict[str, object]) -> None:
    import yaml

    text = yaml.safe_dump(data)
    try:
        load_scenario_text(text, "h.yaml")
    except ScenarioError as error:
        assert error.message.startswith("h.yaml")
        assert all(p.line is not None for p in error.problems)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab:-[]{}&*!|>'\"#%@` \n\t\x00é1,?.")), max_size=60))
def test_any_text_loads_or_fails_cleanly(text: str) -> None:
    try:
        load_scenario_text(text, "h.yaml")
    except ScenarioError as error:
        assert error.message.startswith("h.yaml")


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(["rate", "duration", "frame_size", "workers", "max_loss", "interface"]),
    _scalars,
)
def test_any_field_value_is_accepted_or_explained(key: str, value: object) -> None:
    import yaml

    rendered = yaml.safe_dump(value, default_flow_style=True).removesuffix("\n...\n").strip()
    text = {
        "rate": MINIMAL.replace("rate: max", f"rate: {rendered}"),
        "duration": MINIMAL.replace("duration: 5s", f"duration: {rendered}"),
        "frame_size": MINIMAL.replace("frame_size: 64", f"frame_size: {rendered}"),
        "workers": MINIMAL.replace("rate: max", f"rate: max, workers: {rendered}"),
        "max_loss": MINIMAL + f"expect: {{max_loss: {rendered}}}\n",
        "interface": MINIMAL.replace("interface: eth1", f"interface: {rendered}"),
    }[key]
    try:
        load_scenario_text(text, "h.yaml")
    except ScenarioError as error:
        assert error.problems[0].line is not None
