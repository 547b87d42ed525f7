"""`ringlab regress` end to end: a baseline, a slower candidate, an unchanged candidate;
select on a lab linked in pairs, an infrastructure error apart from regressions, the
history of three suite runs, and a case stopped at its time limit.

Fixed rates (20 kpps, well under what the veth path carries on two cores) keep
run-to-run noise to a few percent, so a 20% threshold separates "unchanged"
from "rate halved" every time. The suite runs one scenario on two disjoint
host pairs, which run in parallel on their own temporary labs.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
import yaml
from helpers import needs_root, ringlab, unique_lab_name

from ringlab.controller.remote.lab import netns_name
from ringlab.controller.store.database import Store

pytestmark = pytest.mark.drill

SCENARIO = """\
version: 1
name: rg-pair
mode: unidirectional
duration: 1s
hosts: {{a: {{}}, b: {{}}}}
flows:
  - {{from: a, to: b, frame_size: 64, rate: {rate}}}
"""

SUITE = """\
version: 1
name: rg-suite
thresholds: {max_rx_pps_drop: 20%, max_loss: 1%}
tests:
  - scenario: pair.yaml
    hosts: [[a, b], [c, d]]
"""


def _cases(junit: Path) -> dict[str, ET.Element]:
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None
    return {case.get("name", ""): case for case in suite.findall("testcase")}


@needs_root
def test_regress_flags_a_slower_candidate_and_passes_an_unchanged_one(tmp_path: Path) -> None:
    env = {"RINGLAB_DB": str(tmp_path / "runs.db"), "RINGLAB_LAB_DIR": str(tmp_path / "labs")}
    scenario = tmp_path / "pair.yaml"
    suite = tmp_path / "suite.yaml"
    suite.write_text(SUITE)
    junit, html = tmp_path / "junit.xml", tmp_path / "summary.html"

    def regress(*extra: str) -> int:
        done = ringlab(
            "regress",
            str(suite),
            "--baseline",
            "gold",
            "--junit",
            str(junit),
            "--html",
            str(html),
            *extra,
            env=env,
            timeout=180,
        )
        assert done.returncode in (0, 1), done.stderr
        return done.returncode

    scenario.write_text(SCENARIO.format(rate="20kpps"))
    assert regress("--update-baseline") == 0
    cases = _cases(junit)
    assert sorted(cases) == ["rg-pair on a,b", "rg-pair on c,d"]
    with Store(Path(env["RINGLAB_DB"])) as store:
        baseline_ab = store.latest_tagged("gold", "rg-pair", frozenset({"a", "b"}))
        baseline_cd = store.latest_tagged("gold", "rg-pair", frozenset({"c", "d"}))
        assert baseline_ab and baseline_cd
        ab, cd = store.get(baseline_ab), store.get(baseline_cd)
    # Every run is stored and tagged with the suite; the host placeholders were renamed.
    assert "rg-suite" in ab.tags and ab.phases[0].flows[0].name == "a->b"
    assert cd.phases[0].flows[0].name == "c->d" and set(cd.hosts) == {"c", "d"}
    # The pairs share no host, so they ran at the same time.
    start = {r.run_id: datetime.fromisoformat(r.started_at) for r in (ab, cd)}
    end = {r.run_id: datetime.fromisoformat(r.finished_at) for r in (ab, cd)}
    assert start[ab.run_id] < end[cd.run_id] and start[cd.run_id] < end[ab.run_id]

    # Half the rate: both pairs regress, and the failure names the flow and the delta.
    scenario.write_text(SCENARIO.format(rate="10kpps"))
    assert regress() == 1
    cases = _cases(junit)
    for name, flow in (("rg-pair on a,b", "a->b"), ("rg-pair on c,d", "c->d")):
        failure = cases[name].find("failure")
        assert failure is not None, name
        message = failure.get("message", "")
        assert f"flow {flow} in phase main: rx_pps dropped" in message
        dropped = float(message.split("rx_pps dropped ")[1].split("%")[0])
        assert 40 < dropped < 60
    assert "2 regressed" in html.read_text()

    # Back to the baseline's rate: unchanged, so it passes against the same baseline.
    scenario.write_text(SCENARIO.format(rate="20kpps"))
    assert regress() == 0
    cases = _cases(junit)
    assert all(c.find("failure") is None and c.find("error") is None for c in cases.values())
    text = junit.read_text()
    assert f"baseline run: {baseline_ab}" in text and f"baseline run: {baseline_cd}" in text


def test_a_baseline_tag_that_every_run_gets_is_refused_before_any_run(tmp_path: Path) -> None:
    env = {"RINGLAB_DB": str(tmp_path / "runs.db"), "RINGLAB_LAB_DIR": str(tmp_path / "labs")}
    (tmp_path / "pair.yaml").write_text(SCENARIO.format(rate="1kpps"))
    suite = tmp_path / "suite.yaml"
    suite.write_text(SUITE)
    for baseline, extra in (("rg-suite", ()), ("nightly", ("--tag", "nightly"))):
        done = ringlab("regress", str(suite), "--baseline", baseline, *extra, env=env)
        assert done.returncode == 2, done.stdout + done.stderr
        assert "would become the next baseline" in done.stderr
    assert not (tmp_path / "labs").exists()  # refused before any lab was made


GEN_DUT_SUITE = """\
version: 1
name: rg-lab
thresholds: {max_rx_pps_drop: 20%, max_loss: 1%}
tests:
  - scenario: pair.yaml
    select: {a: {role: gen}, b: {role: dut}}
"""


def _labelled_inventory(lab_inventory: Path, target: Path, roles: dict[str, str]) -> None:
    """The lab's own inventory with a role label on each host, as a real lab would write."""
    document = yaml.safe_load(lab_inventory.read_text())
    for host, role in roles.items():
        document["hosts"][host]["labels"] = {"role": role}
    target.write_text(yaml.safe_dump(document, sort_keys=False))


@contextlib.contextmanager
def _pairs_lab(tmp_path: Path, hosts: str) -> Iterator[tuple[str, dict[str, str]]]:
    env = {"RINGLAB_DB": str(tmp_path / "runs.db"), "RINGLAB_LAB_DIR": str(tmp_path / "labs")}
    name = unique_lab_name()
    up = ringlab("lab", "up", "--name", name, "--hosts", hosts, "--topology", "pairs", env=env)
    try:
        assert up.returncode == 0, up.stderr
        yield name, env
    finally:
        down = ringlab("lab", "down", "--name", name, env=env)
        assert down.returncode == 0, down.stderr


@needs_root
def test_select_on_a_paired_lab_runs_linked_sets_and_keeps_errors_apart(tmp_path: Path) -> None:
    """The issue's lab: a-b and c-d linked, a and c generators, b and d DUTs."""
    (tmp_path / "pair.yaml").write_text(SCENARIO.format(rate="20kpps"))
    suite = tmp_path / "suite.yaml"
    suite.write_text(GEN_DUT_SUITE)
    junit, html = tmp_path / "junit.xml", tmp_path / "summary.html"
    with _pairs_lab(tmp_path, "a,b,c,d") as (lab, env):
        inventory = tmp_path / "lab.yaml"
        _labelled_inventory(
            tmp_path / "labs" / lab / "inventory.yaml",
            inventory,
            {"a": "gen", "b": "dut", "c": "gen", "d": "dut"},
        )

        def regress(*extra: str) -> subprocess.CompletedProcess[str]:
            return ringlab(
                "regress", str(suite), "--baseline", "gold", "--inventory", str(inventory),
                "--junit", str(junit), "--html", str(html), *extra, env=env, timeout=180,
            )  # fmt: skip

        first = regress("--update-baseline")
        assert first.returncode == 0, first.stdout + first.stderr
        # Exactly the two linked pairs are cases; the unlinked ones are listed, not run.
        assert sorted(_cases(junit)) == ["rg-pair on a,b", "rg-pair on c,d"]
        assert "2 host set(s) left out" in first.stdout
        assert (
            "rg-pair on a,d (tests[0].select): flow a->d: no interface on a toward d, on d"
            " toward a" in first.stdout
        )
        assert "rg-pair on c,b (tests[0].select)" in first.stdout
        assert "2 case(s): 2 passed, 0 regressed, 0 error(s), 0 not judged" in first.stdout
        for number, case in ((1, "rg-pair on a,b"), (2, "rg-pair on c,d")):
            assert f"start [{number}/2] {case}" in first.stderr
            assert f"end   [{number}/2] {case} new-baseline" in first.stderr

        second = regress()
        assert second.returncode == 0, second.stdout + second.stderr
        cases = _cases(junit)
        assert all(c.find("failure") is None and c.find("error") is None for c in cases.values())

        # The c-d link goes down: that case is an infrastructure error, a,b still passes.
        link = ["ip", "-n", netns_name(lab, "c"), "link", "set", "to-d"]
        subprocess.run([*link, "down"], check=True)
        try:
            third = regress()
        finally:
            subprocess.run([*link, "up"], check=True)
        assert third.returncode == 3, third.stdout + third.stderr
        cases = _cases(junit)
        assert cases["rg-pair on a,b"].find("error") is None
        error = cases["rg-pair on c,d"].find("error")
        assert error is not None and error.get("type") == "infrastructure"
        assert "to-d is down" in error.get("message", "")
        assert cases["rg-pair on c,d"].find("failure") is None
        assert "1 passed, 0 regressed, 1 error(s), 0 not judged" in third.stdout
        assert 'id="case-2-runs"' in html.read_text()

        # Three suite runs per case: new baseline, passed, then the error.
        shown = ringlab("regress", "history", str(suite), "--json", env=env)
        assert shown.returncode == 0, shown.stderr
        history = json.loads(shown.stdout)
        verdicts = {c["case"]: [r["verdict"] for r in c["runs"]] for c in history["cases"]}
        assert verdicts == {
            "rg-pair on a,b": ["new-baseline", "passed", "passed"],
            "rg-pair on c,d": ["new-baseline", "passed", "error"],
        }
        ab = next(c for c in history["cases"] if c["case"] == "rg-pair on a,b")
        assert all(18_000 < r["rx_pps"] < 22_000 for r in ab["runs"])
        table = ringlab("regress", "history", "rg-lab", env={**env, "COLUMNS": "120"})
        assert table.returncode == 0, table.stderr
        assert "B P E" in table.stdout and "B P P" in table.stdout


@needs_root
def test_a_case_over_its_time_limit_is_stopped_and_does_not_hold_the_others(
    tmp_path: Path,
) -> None:
    env = {"RINGLAB_DB": str(tmp_path / "runs.db"), "RINGLAB_LAB_DIR": str(tmp_path / "labs")}
    (tmp_path / "long.yaml").write_text(
        SCENARIO.format(rate="1kpps").replace("rg-pair", "rg-long").replace("1s", "60s")
    )
    (tmp_path / "pair.yaml").write_text(SCENARIO.format(rate="1kpps"))
    suite = tmp_path / "suite.yaml"
    suite.write_text(
        "version: 1\nname: rg-time\ntests:\n"
        "  - {scenario: long.yaml, hosts: [[a, b]], timeout: 8s}\n"
        "  - {scenario: pair.yaml, hosts: [[c, d]]}\n"
    )
    junit = tmp_path / "junit.xml"
    started = time.monotonic()
    done = ringlab(
        "regress", str(suite), "--baseline", "gold", "--update-baseline",
        "--junit", str(junit), env=env, timeout=120,
    )  # fmt: skip
    elapsed = time.monotonic() - started
    assert done.returncode == 3, done.stdout + done.stderr
    assert elapsed < 50  # the 60 s scenario was stopped
    cases = _cases(junit)
    error = cases["rg-long on a,b"].find("error")
    assert error is not None and "ran over its time limit of 8s" in error.get("message", "")
    assert cases["rg-pair on c,d"].find("error") is None
    with Store(Path(env["RINGLAB_DB"])) as store:
        (long_run,) = [r for r in store.list_runs() if r.scenario == "rg-long"]
        assert long_run.status == "aborted"
        assert "time limit" in (store.get(long_run.run_id).error or "")
    # The stopped case's temporary lab was removed like any other.
    assert not list((tmp_path / "labs").glob("*/lab.json"))
