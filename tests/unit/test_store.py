from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import replace
from pathlib import Path

import pytest

from ringlab.controller.store.database import SCHEMA_VERSION, Store, StoreError
from ringlab.controller.store.location import parse_location
from ringlab.controller.store.results import FlowResult, PhaseResult, RunResult, load_result
from ringlab.controller.store.suites import CaseRecord, SuiteRunRecord, SuiteRuns


def open_at(location: Path | str) -> Store:
    """A store on either backend (the store_location fixture: a path, then a URL)."""
    return Store(parse_location(str(location)))


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


def test_round_trip_and_updates_in_place(store_location: Path | str) -> None:
    with open_at(store_location) as store:
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


def test_resolve_by_prefix_tag_and_latest(store_location: Path | str) -> None:
    with open_at(store_location) as store:
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


def test_a_new_run_never_replaces_a_stored_one(store_location: Path | str) -> None:
    with open_at(store_location) as store:
        store.save(make_run("20260101-000000-aaaaaa", "2026-01-01T00:00:00", tx=100))
        again = make_run("20260101-000000-aaaaaa", "2026-01-01T00:00:00", tx=7)
        again.scenario = "imported"
        with pytest.raises(StoreError, match="run 20260101-000000-aaaaaa is already in"):
            store.save(again, new=True)
        kept = store.get("20260101-000000-aaaaaa")
        assert (kept.scenario, kept.phases[0].flows[0].tx_packets) == ("s", 100)
        assert store.has("20260101-000000-aaaaaa") and not store.has("20260101")


def test_a_replacing_save_keeps_the_listing_and_the_document_in_step(
    store_location: Path | str,
) -> None:
    with open_at(store_location) as store:
        run = make_run("20260101-000000-aaaaaa", "2026-01-01T00:00:00")
        store.save(run)
        run.scenario, run.started_at = "t", "2026-01-05T00:00:00"
        store.save(run)
        assert store.get(run.run_id).scenario == "t"
        assert [(r.run_id, r.started_at) for r in store.list_runs(scenario="t")] == [
            (run.run_id, "2026-01-05T00:00:00")
        ]
        assert store.list_runs(scenario="s") == []


def test_a_whole_run_id_resolves_even_when_it_prefixes_another(store_location: Path | str) -> None:
    with open_at(store_location) as store:
        store.save(make_run("20260101-000000-aaaaaa", "2026-01-01T00:00:00"))
        store.save(make_run("20260101-000000-aaaaaa2", "2026-01-02T00:00:00"))
        assert store.resolve("20260101-000000-aaaaaa") == "20260101-000000-aaaaaa"
        with pytest.raises(StoreError, match="matches 2 runs"):
            store.resolve("20260101-000000-aaa")


def test_tagged_lists_a_tags_runs_newest_first(store_location: Path | str) -> None:
    with open_at(store_location) as store:
        store.save(make_run("old", "2026-01-01T00:00:00"))
        store.save(make_run("new", "2026-01-02T00:00:00"))
        store.add_tag("old", "base")
        store.add_tag("new", "base")
        assert store.tagged("base") == ["new", "old"]
        assert store.resolve("base") == "new"
        assert store.tagged("nope") == []


def test_a_claimed_run_id_is_never_overwritten_by_a_second_controller(
    store_location: Path | str,
) -> None:
    with open_at(store_location) as first, open_at(store_location) as second:
        mine = make_run("20260101-000000-aaaaaa", "2026-01-01T00:00:00", tx=100)
        theirs = make_run("20260101-000000-aaaaaa", "2026-01-01T00:00:00", tx=7)
        assert first.claim(mine, "name: s\n") == "20260101-000000-aaaaaa"
        claimed = second.claim(theirs)
        assert claimed != mine.run_id and claimed.startswith("20260101-000000-")
        assert theirs.run_id == claimed
        second.save(theirs)  # later saves of the same run replace it, as before
        assert first.get(mine.run_id).phases[0].flows[0].tx_packets == 100
        assert first.get(claimed).phases[0].flows[0].tx_packets == 7
        assert [r.run_id for r in first.list_runs()] == sorted([mine.run_id, claimed])[::-1]


def test_counts_beyond_32_bits_and_rates_keep_their_precision(store_location: Path | str) -> None:
    with open_at(store_location) as store:
        run = make_run("big", "2026-01-01T00:00:00", tx=5_000_000_000)
        run.phases[0].flows[0].tx_pps = 14_880_952.380952381
        store.save(run)
        (point,) = store.flow_history("s")
        assert (point.tx_packets, point.lost) == (5_000_000_000, 1)
        assert point.tx_pps == 14_880_952.380952381


def test_flow_history_keeps_each_runs_flow_order(store_location: Path | str) -> None:
    with open_at(store_location) as store:
        run = make_run("r", "2026-01-01T00:00:00")
        flow = run.phases[0].flows[0]
        run.phases = [
            PhaseResult(name=name, group="g", flows=[flow.model_copy(update={"name": f})])
            for name, f in (("z-first", "y->x"), ("a-second", "b->a"))
        ]
        store.save(run)
        assert [(p.phase, p.flow) for p in store.flow_history("s")] == [
            ("z-first", "y->x"),
            ("a-second", "b->a"),
        ]


V1_SCHEMA = """
CREATE TABLE runs (run_id TEXT PRIMARY KEY, scenario TEXT NOT NULL, mode TEXT NOT NULL,
    status TEXT NOT NULL, started_at TEXT NOT NULL, finished_at TEXT NOT NULL DEFAULT '',
    scenario_text TEXT NOT NULL DEFAULT '', result_json TEXT NOT NULL);
CREATE TABLE tags (run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
    tag TEXT NOT NULL, PRIMARY KEY (run_id, tag));
CREATE TABLE flows (run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
    phase TEXT NOT NULL, flow TEXT NOT NULL, from_host TEXT NOT NULL, to_host TEXT NOT NULL,
    tx_packets INTEGER NOT NULL, rx_packets INTEGER NOT NULL, lost INTEGER NOT NULL,
    tx_pps REAL NOT NULL, rx_pps REAL NOT NULL, kernel_drops INTEGER NOT NULL,
    PRIMARY KEY (run_id, phase, flow));
PRAGMA user_version = 1;
"""


def test_a_schema_1_sqlite_store_is_migrated_in_place_keeping_its_flow_order(
    tmp_path: Path,
) -> None:
    path = tmp_path / "old.db"
    run = make_run("old", "2026-01-01T00:00:00")
    with sqlite3.connect(path) as db:
        db.executescript(V1_SCHEMA)
        db.execute(
            "INSERT INTO runs VALUES (?, 's', 'unidirectional', 'completed', ?, '', '', ?)",
            (run.run_id, run.started_at, json.dumps(run.to_json_dict())),
        )
        for phase, flow in (("z", "b->a"), ("a", "a->b")):  # rowid order, not name order
            db.execute(
                "INSERT INTO flows VALUES ('old', ?, ?, 'a', 'b', 10, 10, 0, 1.0, 1.0, 0)",
                (phase, flow),
            )
    with Store(path) as store:
        assert [p.phase for p in store.flow_history("s")] == ["z", "a"]
        assert store.get("old").run_id == "old"
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"suite_runs", "suite_cases"} <= tables


def test_a_postgresql_store_from_a_newer_ringlab_is_refused(postgres_url: str) -> None:
    import psycopg

    Store(parse_location(postgres_url)).close()
    with psycopg.connect(postgres_url, autocommit=True) as db:
        db.execute("UPDATE ringlab_schema SET version = %s", (SCHEMA_VERSION + 1,))
    with pytest.raises(StoreError, match="newer than this ringlab"):
        Store(parse_location(postgres_url))


def test_suite_runs_and_cases_on_both_backends(store_location: Path | str) -> None:
    location = parse_location(str(store_location))
    record = SuiteRunRecord("suite-20260101-000000-aaaaaa", "nightly", "gold", "2026-01-01", "")
    with Store(location), SuiteRuns(location) as suites:
        assert suites.begin(record) == record
        again = suites.begin(record)  # another controller drew the same id
        assert again.suite_run_id != record.suite_run_id
        case = CaseRecord(
            record.suite_run_id, "s|a,b", 0, "s on a,b", "s", ("a", "b"), "passed",
            "run-1", None, 1.5e7, "ok", 2.5,
        )  # fmt: skip
        suites.add_case(case)
        suites.add_case(replace(case, verdict="regressed"))  # a case rewritten as it ends
        suites.finish(record.suite_run_id, "2026-01-01T01:00:00")
        assert [r.suite_run_id for r in suites.last_runs("nightly", 5)] == sorted(
            [record.suite_run_id, again.suite_run_id]
        )
        assert suites.cases([record.suite_run_id]) == [replace(case, verdict="regressed")]
        assert suites.suites() == ["nightly"]


def test_controllers_writing_at_once_never_lose_a_run(store_location: Path | str) -> None:
    """Three writers open a new store together (one migrates it) and claim the same ids."""
    ids = [f"20260101-000000-{n:06x}" for n in range(15)]
    start = threading.Barrier(3)
    failures: list[BaseException] = []

    def controller(tx: int) -> None:
        try:
            start.wait(timeout=30)
            with open_at(store_location) as store:
                for run_id in ids:
                    run = make_run(run_id, "2026-01-01T00:00:00", tx=tx)
                    store.claim(run)
                    run.status = "completed"
                    store.save(run)  # the later saves of a claimed run
        except BaseException as exc:
            failures.append(exc)

    writers = [threading.Thread(target=controller, args=(tx,)) for tx in (100, 200, 300)]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(timeout=120)
    assert failures == [] and not any(w.is_alive() for w in writers)
    with open_at(store_location) as store:
        runs = store.list_runs(limit=100)
        assert len(runs) == 45 and len({r.run_id for r in runs}) == 45
        sent = sorted(store.get(r.run_id).phases[0].flows[0].tx_packets for r in runs)
    assert sent == [100] * 15 + [200] * 15 + [300] * 15
