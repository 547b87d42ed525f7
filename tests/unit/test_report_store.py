"""The store's history queries behind trends and baselines (real SQLite in tmp_path)."""

from __future__ import annotations

import json
from pathlib import Path

from ringlab.controller.store.database import Store
from ringlab.controller.store.location import parse_location
from ringlab.controller.store.results import RunResult, load_result

FIXTURES = Path(__file__).parents[1] / "fixtures" / "report"


def open_at(location: Path | str) -> Store:
    """A store on either backend (the store_location fixture: a path, then a URL)."""
    return Store(parse_location(str(location)))


def run(run_id: str, started: str, hosts: tuple[str, str] = ("a", "b"), **kw: object) -> RunResult:
    result = load_result(json.loads((FIXTURES / "run_bidir_vs_sliced.json").read_text()))
    result.run_id, result.started_at = run_id, started
    for phase in result.phases:
        for flow in phase.flows:
            mapping = {"a": hosts[0], "b": hosts[1]}
            flow.from_host, flow.to_host = mapping[flow.from_host], mapping[flow.to_host]
    return result.model_copy(update=kw)


def test_flow_history_is_oldest_first_and_skips_unfinished_runs(store_location: Path | str) -> None:
    with open_at(store_location) as store:
        store.save(run("r2", "2026-01-02"))
        store.save(run("r1", "2026-01-01"))
        store.save(run("r3", "2026-01-03", status="failed"))
        store.save(run("other", "2026-01-04", scenario="other"))
        points = store.flow_history("bd")
        assert [p.run_id for p in points][::4] == ["r1", "r2"]
        assert len(points) == 8  # 4 flows (phase x flow) per run
        only = store.flow_history("bd", flow="b->a")
        assert {p.flow for p in only} == {"b->a"}
        assert [p.run_id for p in store.flow_history("bd", limit=1)][:1] == ["r2"]
        assert points[0].loss == 0.0


def test_latest_tagged_matches_scenario_host_set_and_status(store_location: Path | str) -> None:
    with open_at(store_location) as store:
        store.save(run("old", "2026-01-01", tags=["gold"]))
        store.save(run("new", "2026-01-02", tags=["gold"]))
        store.save(run("newest-failed", "2026-01-03", tags=["gold"], status="failed"))
        store.save(run("cd", "2026-01-04", hosts=("c", "d"), tags=["gold"]))
        store.save(run("untagged", "2026-01-05"))
        assert store.latest_tagged("gold", "bd", frozenset({"a", "b"})) == "new"
        assert store.latest_tagged("gold", "bd", frozenset({"c", "d"})) == "cd"
        assert store.latest_tagged("gold", "bd", frozenset({"a", "c"})) is None
        assert store.latest_tagged("silver", "bd", frozenset({"a", "b"})) is None
        assert store.run_hosts("cd") == frozenset({"c", "d"})
