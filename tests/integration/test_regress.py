"""`ringlab regress` end to end: a baseline, a slower candidate, an unchanged candidate.

Fixed rates (20 kpps, well under what the veth path carries on two cores) keep
run-to-run noise to a few percent, so a 20% threshold separates "unchanged"
from "rate halved" every time. The suite runs one scenario on two disjoint
host pairs, which run in parallel on their own temporary labs.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import datetime
from pathlib import Path

from helpers import needs_root, ringlab

from ringlab.controller.store.database import Store

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
