"""`ringlab report|compare|runs trend|export|import` through the real command line (no root)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ringlab.controller.cli import main
from ringlab.controller.results import RunResult, load_result
from ringlab.controller.store import Store

FIXTURES = Path(__file__).parents[1] / "fixtures" / "report"


def captured_run(run_id: str, rx_factor: float = 1.0, started: str = "") -> RunResult:
    run = load_result(json.loads((FIXTURES / "run_bidir_vs_sliced.json").read_text()))
    run.run_id = run_id
    run.started_at = started or run.started_at
    for phase in run.phases:
        for flow in phase.flows:
            flow.rx_pps *= rx_factor
    return run


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "runs.db"
    with Store(path) as store:
        store.save(captured_run("20260101-000000-base00").model_copy(update={"tags": ["gold"]}))
        store.save(captured_run("20260102-000000-same00", 0.99, "2026-01-02T00:00:00+00:00"))
        store.save(captured_run("20260103-000000-slow00", 0.80, "2026-01-03T00:00:00+00:00"))
    return path


def test_compare_passes_within_thresholds(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compare", "gold", "20260102", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert "no regression" in out
    assert "-1.00%" in out


def test_compare_fails_past_a_threshold_naming_flow_and_delta(
    db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["compare", "gold", "20260103", "--db", str(db)]) == 1
    out = capsys.readouterr().out
    assert "regression flow a->b in phase bidirectional: rx_pps dropped 20.00%" in out
    # A looser threshold lets the same candidate pass.
    assert main(["compare", "gold", "20260103", "--db", str(db), "--max-rx-pps-drop", "25%"]) == 0


def test_compare_json_and_bad_threshold(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compare", "gold", "20260103", "--db", str(db), "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["violations"][0]["metric"] == "rx_pps"
    assert main(["compare", "gold", "20260103", "--db", str(db), "--max-loss", "lots"]) == 2
    assert "--max-loss: 'lots' is not a percentage" in capsys.readouterr().err


def test_compare_unknown_run_is_a_clear_error(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compare", "gold", "nosuchrun", "--db", str(db)]) == 2
    assert "no run or tag 'nosuchrun'" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("name", "marker"),
    [
        ("r.html", "<!DOCTYPE html>"),
        ("r.md", "# ringlab report"),
        ("r.csv", "run_id,scenario"),
        ("r.json", '"report_format": 1'),
    ],
)
def test_report_format_follows_the_output_suffix(
    db: Path, tmp_path: Path, name: str, marker: str
) -> None:
    out = tmp_path / name
    assert main(["report", "gold", "20260103", "-o", str(out), "--db", str(db)]) == 0
    assert out.read_text().lstrip().startswith(marker) or marker in out.read_text()


def test_report_to_an_unwritable_place_is_a_clear_error(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "missing-dir" / "r.html"
    assert main(["report", "gold", "-o", str(out), "--db", str(db)]) == 2
    assert "cannot write" in capsys.readouterr().err


def test_export_then_import_round_trips(db: Path, tmp_path: Path) -> None:
    exported = tmp_path / "run.json"
    assert main(["runs", "--db", str(db), "export", "gold", "-o", str(exported)]) == 0
    other = tmp_path / "other.db"
    assert main(["runs", "--db", str(other), "import", str(exported)]) == 0
    with Store(db) as a, Store(other) as b:
        assert b.get("20260101-000000-base00").to_json_dict() == a.get("gold").to_json_dict()


def test_export_csv(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["runs", "--db", str(db), "export", "gold", "--format", "csv"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 5 and lines[1].startswith("20260101-000000-base00,bd,bidirectional")


def test_import_iperf3_needs_a_name_and_stores_a_reference(
    db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = str(FIXTURES / "iperf3_udp.json")
    assert main(["runs", "--db", str(db), "import", path]) == 2
    assert "give --as NAME" in capsys.readouterr().err
    assert (
        main(
            [
                "runs",
                "--db",
                str(db),
                "import",
                path,
                "--as",
                "bd",
                "--hosts",
                "a,b",
                "--tag",
                "peer",
            ]
        )
        == 0
    )
    assert "(iperf3, scenario bd)" in capsys.readouterr().out
    with Store(db) as store:
        ref = store.get("peer")
    assert (ref.status, ref.scenario, ref.phases[0].flows[0].engine) == (
        "completed",
        "bd",
        "iperf3",
    )


def test_runs_trend_marks_a_step(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "runs.db"
    rng = np.random.default_rng(3)
    levels = [*rng.normal(1.0, 0.004, 8), *rng.normal(0.85, 0.004, 6)]
    with Store(db) as store:
        for day, factor in enumerate(levels, start=1):
            store.save(
                captured_run(
                    f"202601{day:02d}-000000-r{day:04d}",
                    float(factor),
                    f"2026-01-{day:02d}T00:00:00+00:00",
                )
            )
    assert main(["runs", "--db", str(db), "trend", "bd", "--flow", "a->b"]) == 0
    out = capsys.readouterr().out
    assert out.count("▼ step down") == 2  # bidirectional and time-sliced phases of a->b
    assert "20260109-000000-r0009" in out
    assert main(["runs", "--db", str(db), "trend", "bd", "--flow", "a->b", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [c["run_id"] for c in data[0]["change_points"]] == ["20260109-000000-r0009"]
    assert main(["runs", "--db", str(db), "trend", "nope"]) == 2
    assert "no completed runs of scenario 'nope'" in capsys.readouterr().err
