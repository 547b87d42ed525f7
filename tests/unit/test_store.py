from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from ringlab.controller.store.database import SCHEMA_VERSION, Store, StoreError
from ringlab.controller.store.results import FlowResult, PhaseResult, RunResult, load_result


def make_run(run_id: str, started: str, status: str = "completed", tx: int = 100) -> RunResult:
    flow = FlowResult.model_validate(
        {"name": "a->b", "from": "a", "to": "b", "tx_packets": tx, "rx_packets": tx - 1, "lost": 1}
    )
    return RunResult(
        run_id=run_id,
        scenario="s",
        mode="unidirectional",
        status=status,  # type: ignore[arg-type]
        started_at=started,
        phases=[PhaseResult(name="main", group="unidirectional", flows=[flow])],
    )


def test_round_trip_and_updates_in_place(tmp_path: Path) -> None:
    with Store(tmp_path / "runs.db") as store:
        run = make_run("20260101-000000-aaaaaa", "2026-01-01T00:00:00", status="running")
        store.save(run, "name: s\n")
        run.status = "completed"
        run.phases[0].flows[0].tx_packets = 555
        store.save(run)  # a later save keeps the scenario text
        loaded = store.get("20260101-000000-aaaaaa")
        assert loaded.status == "completed"
        assert loaded.phases[0].flows[0].tx_packets == 555
        assert loaded.phases[0].flows[0].from_host == "a"
        assert store.scenario_text(run.run_id) == "name: s\n"
        assert len(store.list_runs()) == 1


def test_resolve_by_prefix_tag_and_latest(tmp_path: Path) -> None:
    with Store(tmp_path / "runs.db") as store:
        store.save(make_run("20260101-000000-aaaaaa", "2026-01-01T00:00:00"))
        store.save(make_run("20260102-000000-bbbbbb", "2026-01-02T00:00:00"))
        assert store.resolve("latest") == "20260102-000000-bbbbbb"
        assert store.resolve("20260101") == "20260101-000000-aaaaaa"
        store.add_tag("20260101", "baseline")
        assert store.resolve("baseline") == "20260101-000000-aaaaaa"
        assert store.get("baseline").tags == ["baseline"]
        with pytest.raises(StoreError, match="matches 2 runs"):
            store.resolve("2026010")
        with pytest.raises(StoreError, match="no run or tag 'nope'"):
            store.resolve("nope")


def test_a_store_from_a_newer_ringlab_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    Store(path).close()
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(StoreError, match="newer than this ringlab"):
        Store(path)


def test_unknown_result_version_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="schema_version 99"):
        load_result({"schema_version": 99, "run_id": "x", "scenario": "s", "mode": "m"})


def test_a_new_run_never_replaces_a_stored_one(tmp_path: Path) -> None:
    with Store(tmp_path / "runs.db") as store:
        store.save(make_run("20260101-000000-aaaaaa", "2026-01-01T00:00:00", tx=100))
        again = make_run("20260101-000000-aaaaaa", "2026-01-01T00:00:00", tx=7)
        again.scenario = "imported"
        with pytest.raises(StoreError, match="run 20260101-000000-aaaaaa is already in"):
            store.save(again, new=True)
        kept = store.get("20260101-000000-aaaaaa")
        assert (kept.scenario, kept.phases[0].flows[0].tx_packets) == ("s", 100)
        assert store.has("20260101-000000-aaaaaa") and not store.has("20260101")


def test_a_replacing_save_keeps_the_listing_and_the_document_in_step(tmp_path: Path) -> None:
    with Store(tmp_path / "runs.db") as store:
        run = make_run("20260101-000000-aaaaaa", "2026-01-01T00:00:00")
        store.save(run)
        run.scenario, run.started_at = "t", "2026-01-05T00:00:00"
        store.save(run)
        assert store.get(run.run_id).scenario == "t"
        assert [(r.run_id, r.started_at) for r in store.list_runs(scenario="t")] == [
            (run.run_id, "2026-01-05T00:00:00")
        ]
        assert store.list_runs(scenario="s") == []


def test_a_whole_run_id_resolves_even_when_it_prefixes_another(tmp_path: Path) -> None:
    with Store(tmp_path / "runs.db") as store:
        store.save(make_run("20260101-000000-aaaaaa", "2026-01-01T00:00:00"))
        store.save(make_run("20260101-000000-aaaaaa2", "2026-01-02T00:00:00"))
        assert store.resolve("20260101-000000-aaaaaa") == "20260101-000000-aaaaaa"
        with pytest.raises(StoreError, match="matches 2 runs"):
            store.resolve("20260101-000000-aaa")


def test_tagged_lists_a_tags_runs_newest_first(tmp_path: Path) -> None:
    with Store(tmp_path / "runs.db") as store:
        store.save(make_run("old", "2026-01-01T00:00:00"))
        store.save(make_run("new", "2026-01-02T00:00:00"))
        store.add_tag("old", "base")
        store.add_tag("new", "base")
        assert store.tagged("base") == ["new", "old"]
        assert store.resolve("base") == "new"
        assert store.tagged("nope") == []
