"""`ringlab report|compare|runs trend|export|import` through the real command line (no root)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ringlab.controller.cli import main
from ringlab.controller.store.database import Store
from ringlab.controller.store.results import RunResult, load_result

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
        copy = b.get("20260101-000000-base00").to_json_dict()
        # The copy says it came by import (trends mark it); everything else is as exported.
        assert copy.pop("source") == "ringlab-export"
        assert copy == a.get("gold").to_json_dict()


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


def test_importing_an_export_into_its_own_store_adds_a_copy(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    exported = tmp_path / "run.json"
    assert main(["runs", "--db", str(db), "export", "gold", "-o", str(exported)]) == 0
    with Store(db) as store:
        before = store.get("20260101-000000-base00").to_json_dict()
    capsys.readouterr()
    for _ in range(2):  # and again: a second copy, never a replacement of the first
        assert main(["runs", "--db", str(db), "import", str(exported), "--as", "imported"]) == 0
    out = capsys.readouterr().out
    assert "run 20260101-000000-base00 is already stored, so this is a copy tagged" in out
    assert "its tags gold stay on 20260101-000000-base00" in out
    with Store(db) as store:
        assert store.get("20260101-000000-base00").to_json_dict() == before
        assert store.resolve("gold") == "20260101-000000-base00"
        copies = store.list_runs(scenario="imported")
        assert len(copies) == 2 and len({c.run_id for c in copies}) == 2
        for copy in copies:
            # The copy's id comes from the start time it shares with the original.
            assert copy.run_id.startswith("20261122-014834-import-")
            assert copy.tags == ("imported-from-20260101-000000-base00",)
            shown = store.get(copy.run_id)
            assert (shown.scenario, shown.tags) == ("imported", list(copy.tags))
            assert shown.phases == store.get("gold").phases
        assert "20260101-000000-base00" in {r.run_id for r in store.list_runs(scenario="bd")}


def test_compare_refuses_a_run_against_itself(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # The run tagged gold is also the newest one.
    assert main(["compare", "gold", "latest", "--db", str(db)]) == 2
    captured = capsys.readouterr()
    assert "no regression" not in captured.out
    assert (
        "both arguments name run 20260101-000000-base00 (baseline 'gold', candidate 'latest')"
        in captured.err
    )
    assert "give another run for one of them" in captured.err


def test_compare_says_which_run_a_tag_on_several_runs_picks(
    db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    loose = ["--db", str(db), "--max-rx-pps-drop", "25%"]
    with Store(db) as store:
        store.add_tag("20260102", "nightly")
    assert main(["compare", "gold", "nightly", *loose]) == 0
    assert capsys.readouterr().err == ""  # one run tagged nightly: nothing to say
    with Store(db) as store:
        store.add_tag("20260103", "nightly")
    assert main(["compare", "gold", "nightly", *loose]) == 0
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [
        "ringlab: tag 'nightly' is on 2 runs; using the newest, 20260103-000000-slow00"
        " (give a run id to use another)"
    ]
    assert "20260103-000000-slow00 vs baseline 20260101-000000-base00" in captured.out


@pytest.fixture
def peer_db(tmp_path: Path) -> Path:
    """An iperf3 UDP reference (measures rx) and a trafgen one (send only) on a->b."""
    path = tmp_path / "peer.db"
    for name, scenario in (("iperf3_udp.json", "peer"), ("trafgen_1cpu.txt", "tg")):
        source = str(FIXTURES / name)
        args = ["runs", "--db", str(path), "import", source, "--as", scenario, "--hosts", "a,b"]
        assert main([*args, "--tag", scenario]) == 0
    return path


def test_compare_with_a_send_only_candidate_is_not_a_pass(
    peer_db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert main(["compare", "peer", "tg", "--db", str(peer_db)]) == 1
    out = " ".join(capsys.readouterr().out.split())
    assert "no regression" not in out
    assert (
        "not comparable flow a->b in phase main: the baseline measures rx_pps but the candidate"
        " (engine trafgen) does not, so the rx_pps drop limit was not checked" in out
    )
    assert "not comparable, so not a pass: 2 limit check(s)" in out
    assert "(--max-rx-pps-drop none or --max-loss none)" in out
    assert main(["compare", "peer", "tg", "--db", str(peer_db), "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["violations"] == []
    assert [(n["flow"], n["metric"]) for n in data["not_comparable"]] == [
        ("a->b", "rx_pps"),
        ("a->b", "loss"),
    ]
    assert {"rx_pps", "loss"} <= set(data["flows"][0]["not_comparable"])
    # With those limits off, what both runs measure is judged as before.
    off = ["--max-rx-pps-drop", "none", "--max-loss", "none"]
    assert main(["compare", "peer", "tg", "--db", str(peer_db), *off]) == 0
    assert "no regression" in capsys.readouterr().out


def test_compare_warns_when_the_runs_are_of_different_scenarios(
    db: Path, peer_db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert main(["compare", "peer", "tg", "--db", str(peer_db), *["--max-loss", "none"]]) == 1
    captured = capsys.readouterr()
    assert captured.err.startswith("ringlab: warning: baseline ")
    assert "is scenario 'peer' but candidate " in captured.err
    assert "is scenario 'tg'" in captured.err
    assert "vs baseline" in captured.out  # still compared
    assert main(["compare", "gold", "20260102", "--db", str(db)]) == 0
    assert "warning" not in capsys.readouterr().err


def test_db_goes_before_or_after_the_runs_subcommand(
    db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["runs", "--db", str(db), "list"]) == 0
    before = capsys.readouterr().out
    assert main(["runs", "list", "--db", str(db)]) == 0
    assert capsys.readouterr().out == before
    assert "base" in before


@pytest.mark.parametrize(
    "command",
    [["runs", "list"], ["runs", "show", "latest"], ["compare", "a", "b"], ["report", "latest"]],
)
def test_a_mistyped_db_is_refused_not_created(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    missing = tmp_path / "typo.db"
    assert main([*command, "--db", str(missing)]) == 2
    assert f"no run store at {missing}" in capsys.readouterr().err
    assert not missing.exists()


def _store_levels(db: Path, levels: list[float]) -> list[str]:
    """One stored run of the captured scenario per level (rx pps scaled by it); their ids."""
    ids = []
    with Store(db) as store:
        for day, factor in enumerate(levels, start=1):
            run_id = f"202602{day:02d}-000000-s{day:04d}"
            store.save(captured_run(run_id, factor, f"2026-02-{day:02d}T00:00:00+00:00"))
            ids.append(run_id)
    return ids


def test_runs_trend_marks_a_step_of_four_runs_on_each_side(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The history: four runs at one level, then four 40 % lower (1 % noise).
    db = tmp_path / "runs.db"
    noise = np.random.default_rng(11).normal(0, 0.01, 8)
    ids = _store_levels(db, [float(v) for v in np.array([1.0] * 4 + [0.6] * 4) + noise])
    assert main(["runs", "--db", str(db), "trend", "bd", "--flow", "a->b"]) == 0
    out = capsys.readouterr().out
    assert out.count("▼ step down") == 2  # bidirectional and time-sliced phases of a->b
    assert "p=0.0286" in out and "no change point" not in out
    assert main(["runs", "--db", str(db), "trend", "bd", "--flow", "a->b", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [c["run_id"] for c in data[0]["change_points"]] == [ids[4]]
    assert data[0]["change_points"][0]["p_value"] == pytest.approx(2 / 70)
    assert data[0]["alpha"] == 0.05 and data[0]["too_short"] is False
    # At alpha 0.01 eight runs cannot show it, and the CLI says so instead of "no change".
    assert main(["runs", "--db", str(db), "trend", "bd", "--flow", "a->b", "--alpha", "0.01"]) == 0
    out = capsys.readouterr().out
    assert "step down" not in out
    assert "smallest p-value 8 run(s) can give is 0.0286, above alpha 0.01" in out
    assert "it takes 10 runs at alpha 0.01" in out


def test_runs_trend_says_when_the_history_is_too_short(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "runs.db"
    _store_levels(db, [1.0, 1.0, 0.6])
    assert main(["runs", "--db", str(db), "trend", "bd", "--flow", "a->b"]) == 0
    out = capsys.readouterr().out
    assert "too few runs to show a change: 3 run(s) cannot put two on each side" in out
    assert "it takes 8 runs at alpha 0.05" in out
    assert "no change point" not in out
    assert main(["runs", "--db", str(db), "trend", "bd", "--flow", "a->b", "--json"]) == 0
    (series, *_) = json.loads(capsys.readouterr().out)
    assert series["too_short"] is True and series["runs_needed"] == 8
    assert series["min_p_value"] == 1.0 and series["change_points"] == []


def test_runs_trend_on_a_flat_history_says_no_change_point(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "runs.db"
    noise = np.random.default_rng(12).normal(0, 0.01, 10)
    _store_levels(db, [float(v) for v in 1.0 + noise])
    assert main(["runs", "--db", str(db), "trend", "bd", "--flow", "a->b"]) == 0
    out = capsys.readouterr().out
    assert "no change point in 10 run(s) at alpha 0.05" in out and "step" not in out


@pytest.mark.parametrize("alpha", ["0", "0.9", "often"])
def test_runs_trend_refuses_an_alpha_out_of_range(
    db: Path, alpha: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["runs", "--db", str(db), "trend", "bd", "--alpha", alpha])
    assert exc.value.code == 2
    assert "significance level from 0.001 to 0.5" in capsys.readouterr().err


@pytest.mark.parametrize("suffix", ["md", "html"])
def test_a_report_says_when_a_trend_is_too_short_to_show_a_change(
    tmp_path: Path, suffix: str
) -> None:
    # Five runs, a clean 40 % step after the second: no permutation test of five runs can
    # reach 0.05, and the report says so rather than "no change point".
    db = tmp_path / "runs.db"
    ids = _store_levels(db, [1.0, 1.0, 0.6, 0.6, 0.6])
    out = tmp_path / f"report.{suffix}"
    assert main(["report", ids[-1], "-o", str(out), "--db", str(db)]) == 0
    text = out.read_text()
    assert "too few runs to show a change: the smallest p-value 5 run(s) can give is 0.2" in text
    assert "it takes 8 runs at alpha 0.05" in text
    assert "no change point" not in text
    if suffix == "html":
        assert "permutation test, p ≤ 0.05" in text
