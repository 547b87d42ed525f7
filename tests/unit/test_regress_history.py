"""`ringlab regress history`: per case verdicts and received rate over suite runs, change
points, the key metric, and the command's text and JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ringlab.controller.analysis.history import build_history, key_metric
from ringlab.controller.cli import main
from ringlab.controller.store.database import Store
from ringlab.controller.store.location import parse_location
from ringlab.controller.store.results import FlowResult, PhaseResult, RunResult
from ringlab.controller.store.suites import CaseRecord, SuiteRunRecord, SuiteRuns


def suite_run(number: int) -> SuiteRunRecord:
    return SuiteRunRecord(
        f"suite-{number:02d}", "nightly", "gold", f"2026-01-{number:02d}T00:00:00+00:00", "x"
    )


def case(number: int, hosts: tuple[str, str], verdict: str, metric: float | None) -> CaseRecord:
    return CaseRecord(
        suite_run_id=f"suite-{number:02d}",
        case_key=f"pair on {','.join(sorted(hosts))}",
        position=0 if "a" in hosts else 1,
        name=f"pair on {','.join(hosts)}",
        scenario="pair",
        hosts=hosts,
        verdict=verdict,
        run_id=None if verdict == "error" else f"run-{number:02d}-{hosts[0]}",
        baseline_run_id="base",
        metric=metric,
        message="" if verdict == "passed" else verdict,
        duration_s=1.5,
    )


def nightly(runs: int, step_at: int | None = None) -> tuple[list[SuiteRunRecord], list[CaseRecord]]:
    """a,b steady at 20k pps (an error in run 2); c,d at 20k, halved from ``step_at`` on,
    and missing from run 1."""
    suites = [suite_run(n) for n in range(1, runs + 1)]
    records = []
    for n in range(1, runs + 1):
        noise = (n % 3) * 50.0
        records.append(
            case(n, ("a", "b"), "error", None)
            if n == 2
            else case(n, ("a", "b"), "passed", 20_000 + noise)
        )
        if n > 1:
            low = step_at is not None and n >= step_at
            records.append(
                case(
                    n,
                    ("c", "d"),
                    "regressed" if low else "passed",
                    (10_000 if low else 20_000) + noise,
                )
            )
    return suites, records


def test_each_case_has_one_entry_per_suite_run_oldest_first() -> None:
    suites, records = nightly(3)
    history = build_history("nightly", suites, records)
    ab, cd = history.cases
    assert (ab.name, cd.name) == ("pair on a,b", "pair on c,d")
    assert [e.verdict if e else None for e in ab.entries] == ["passed", "error", "passed"]
    assert [e.verdict if e else None for e in cd.entries] == [None, "passed", "passed"]
    # An error has no metric and stays out of the series; too short for a change point.
    assert (ab.measured, ab.too_short, ab.changes) == (2, True, ())


def test_a_step_in_a_case_is_a_change_point_at_its_suite_run() -> None:
    suites, records = nightly(9, step_at=6)
    history = build_history("nightly", suites, records)
    ab, cd = history.cases
    assert ab.changes == () and not ab.too_short
    (change,) = cd.changes
    assert change.suite_run_id == "suite-06" and change.change.direction == "down"
    assert change.change.relative == pytest.approx(-0.5, abs=0.01)
    assert change.change.p_value <= 0.05


def test_the_key_metric_adds_flows_up_and_averages_phases() -> None:
    def flow(name: str, rx: float, engine: str = "ring") -> FlowResult:
        return FlowResult.model_validate(
            {"name": name, "from": "a", "to": "b", "rx_pps": rx, "engine": engine}
        )

    run = RunResult(run_id="r", scenario="s", mode="bidirectional")
    run.phases = [
        PhaseResult(name="p1", group="bidirectional", flows=[flow("x", 100), flow("y", 50)]),
        PhaseResult(name="p2", group="bidirectional", flows=[flow("x", 30)]),
        PhaseResult(name="p3", group="bidirectional", flows=[flow("t", 999, "trafgen")]),
    ]
    assert key_metric(run) == pytest.approx((150 + 30) / 2)  # trafgen measures no rx
    run.phases = run.phases[2:]
    assert key_metric(run) is None


@pytest.fixture
def store(store_location: Path | str) -> Path | str:
    """The suite history on each backend (a SQLite path, then a PostgreSQL URL)."""
    location = parse_location(str(store_location))
    suites_, records = nightly(9, step_at=6)
    with Store(location), SuiteRuns(location) as suites:
        for record in suites_:
            suites.begin(record)
        for record in records:
            suites.add_case(record)
    return store_location


def test_history_command_shows_verdicts_and_change_points(
    store: Path | str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    assert main(["regress", "history", "nightly", "--db", str(store), "--last", "4"]) == 0
    out = capsys.readouterr().out
    assert "2 case(s) over the last 4 suite run(s)" in out
    rows = {line.split("│")[1].strip(): line for line in out.splitlines() if "pair on" in line}
    assert "P P P P" in rows["pair on a,b"]
    assert "R R R R" in rows["pair on c,d"]
    assert "too few runs to show a change: 4 measured, it takes 8" in rows["pair on c,d"]
    assert main(["regress", "history", "nightly", "--db", str(store)]) == 0
    out = capsys.readouterr().out
    assert "▼ at 2026-01-06 00:00:00: 20.06kpps → 10.04kpps (-49.97%, p=0.0286)" in out
    assert "P E P P P P P P P" in out and "- P P P P R R R R" in out


def test_history_json_and_one_case_s_runs(
    store: Path | str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert main(["regress", "history", "nightly", "--db", str(store), "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert [r["id"] for r in document["suite_runs"]][:2] == ["suite-01", "suite-02"]
    cd = document["cases"][1]
    assert cd["case"] == "pair on c,d" and cd["runs"][0] is None
    assert cd["runs"][8] == {
        "suite_run": "suite-09",
        "verdict": "regressed",
        "run_id": "run-09-c",
        "baseline_run_id": "base",
        "rx_pps": 10_000.0,
        "message": "regressed",
        "duration_s": 1.5,
    }
    assert [c["suite_run"] for c in cd["change_points"]] == ["suite-06"]
    monkeypatch.setenv("COLUMNS", "200")
    assert main(["regress", "history", "nightly", "--db", str(store), "--case", "pair on c,d"]) == 0
    out = capsys.readouterr().out
    assert "run-09-c" in out and "suite-06" in out and "regressed" in out


def test_history_of_an_unknown_suite_or_case_says_what_there_is(
    store: Path | str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert main(["regress", "history", "weekly", "--db", str(store)]) == 2
    assert "no suite runs of 'weekly'" in capsys.readouterr().err
    assert main(["regress", "history", "nightly", "--db", str(store), "--case", "x"]) == 2
    assert "its cases are 'pair on a,b', 'pair on c,d'" in capsys.readouterr().err
    assert main(["regress", "history", "nightly", "--db", str(tmp_path / "none.db")]) == 2
    assert "no run store at" in capsys.readouterr().err
