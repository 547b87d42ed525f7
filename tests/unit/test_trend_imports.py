"""Trends of histories with imported runs: what an import never measured is null (never
0), imported runs are marked, and a step between tools says so. Also `runs list`'s tags
in one query."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console

from ringlab.controller.analysis.trend_series import build_trends
from ringlab.controller.report.charts import trend_chart
from ringlab.controller.store.database import FlowPoint, Store
from ringlab.controller.store.importers import load_reference
from ringlab.controller.store.location import parse_location
from ringlab.controller.store.results import FlowResult, PhaseResult, RunResult, run_source
from ringlab.controller.views.trend import print_trends, trends_json

TRAFGEN = Path(__file__).parents[1] / "fixtures" / "report" / "trafgen_1cpu.txt"


def ringlab_run(run_id: str, day: int, rx_pps: float) -> RunResult:
    flow = FlowResult.model_validate(
        {"name": "a->b", "from": "a", "to": "b", "tx_packets": 1000, "rx_packets": 1000}
        | {"tx_pps": rx_pps, "rx_pps": rx_pps}
    )
    return RunResult(
        run_id=run_id,
        scenario="peer",
        mode="unidirectional",
        status="completed",
        started_at=f"2026-01-{day:02d}T00:00:00",
        phases=[PhaseResult(name="main", group="unidirectional", flows=[flow])],
    )


def point(index: int, value: float, source: str = "ringlab") -> FlowPoint:
    return FlowPoint(
        f"run{index}", f"2026-01-{index + 1:02d}T00:00:00", "main", "a->b", "a", "b",
        1000, 1000, 0, value, value, 0, source=source,
    )  # fmt: skip


def test_a_send_only_import_is_not_measured_in_a_trend_not_zero(
    store_location: Path | str,
) -> None:
    trafgen = load_reference(
        TRAFGEN, "peer", hosts=("a", "b"), now=datetime(2026, 1, 9, tzinfo=UTC)
    )
    assert trafgen.source == "trafgen"
    with Store(parse_location(str(store_location))) as store:
        for day in (1, 2, 3):
            store.save(ringlab_run(f"r{day}", day, 50_000.0))
        store.save(trafgen, new=True)
        history = store.flow_history("peer")
    assert [p.source for p in history] == ["ringlab"] * 3 + ["trafgen"]
    assert "rx_pps" in history[-1].not_measured and not history[0].not_measured
    (rx,) = build_trends("peer", history, "rx_pps", min_runs=1)
    assert rx.values == (50_000.0, 50_000.0, 50_000.0, None)
    assert "trafgen only sends" in rx.not_measured[-1]
    (tx,) = build_trends("peer", history, "tx_pps", min_runs=1)
    assert tx.values[-1] is not None and tx.values[-1] > 0
    (document,) = trends_json([rx])
    last = document["points"][-1]
    assert (last["value"], last["source"], last["imported"]) == (None, "trafgen", True)
    assert "trafgen only sends" in last["not_measured"]
    assert document["points"][0]["imported"] is False
    console = Console(record=True, width=80)
    print_trends([rx], console)
    text = console.export_text()
    (row,) = [line for line in text.splitlines() if trafgen.run_id[:15] in line]
    assert "not measured" in row and "trafgen" in row and " 0 " not in row
    chart = trend_chart(rx, "t")
    # No point for the import: "n/m" and its source on the axis instead.
    assert ">n/m</text>" in chart and ">trafgen</text>" in chart
    assert rx.no_change_note.startswith("too few runs to show a change: 3 measured run(s)")
    # A report needs measured runs: three are too few for four.
    assert build_trends("peer", history, "rx_pps", min_runs=4) == []


def test_a_step_between_tools_is_marked_as_such() -> None:
    points = [point(i, 50_000.0 + 50 * (i % 2)) for i in range(4)]
    points += [point(i, 30_000.0 + 50 * (i % 2), "iperf3") for i in range(4, 8)]
    (series,) = build_trends("peer", points, "rx_pps")
    (change,) = series.changes
    assert change.index == 4
    assert series.tool_change(change) == (("ringlab",), ("iperf3",))
    (document,) = trends_json([series])
    assert document["change_points"][0]["tool_change"] == {
        "before": ["ringlab"],
        "after": ["iperf3"],
    }
    console = Console(record=True, width=200)
    print_trends([series], console)
    assert "across a change of tool: ringlab → iperf3" in console.export_text()
    chart = trend_chart(series, "t")
    assert "tool changed: ringlab → iperf3" in chart and "imported (iperf3)" in chart


def test_a_step_among_runs_of_one_tool_says_nothing_of_tools() -> None:
    # An export read back was measured by ringlab: no change of tool.
    points = [point(i, 50_000.0 + 50 * (i % 2)) for i in range(4)]
    points += [point(i, 30_000.0 + 50 * (i % 2), "ringlab-export") for i in range(4, 8)]
    (series,) = build_trends("peer", points, "rx_pps")
    (change,) = series.changes
    assert change.index == 4 and series.tool_change(change) is None
    assert trends_json([series])[0]["change_points"][0]["tool_change"] is None


def test_unmeasured_runs_are_left_out_of_the_change_point_search() -> None:
    values: list[tuple[float, str]] = [(50_000.0, "ringlab")] * 4 + [(30_000.0, "ringlab")] * 4
    points = [point(i, v, s) for i, (v, s) in enumerate(values)]
    gap = FlowPoint(
        "gap", "2026-01-04T12:00:00", "main", "a->b", "a", "b", 1000, 0, 0, 1000.0, 0.0, 0,
        not_measured={"rx_pps": "trafgen only sends"}, source="trafgen",
    )  # fmt: skip
    points.insert(4, gap)
    (series,) = build_trends("peer", points, "rx_pps")
    assert series.values[4] is None
    (change,) = series.changes
    # Found among the eight measured runs, placed at the first run after the step.
    assert (series.run_ids[change.index], change.after) == ("run4", 30_000.0)


def test_documents_stored_before_source_existed_are_told_by_their_engines() -> None:
    assert run_source({"run_id": "x", "phases": []}) == "ringlab"
    flows = [{"name": "f", "engine": "iperf3-tcp"}]
    assert run_source({"run_id": "x", "phases": [{"flows": flows}]}) == "iperf3"
    assert run_source({"run_id": "20260101-000000-import-ab12", "phases": []}) == "ringlab-export"
    assert run_source({"run_id": "x", "source": "trafgen"}) == "trafgen"


def test_runs_list_reads_every_runs_tags_in_one_query(store_location: Path | str) -> None:
    with Store(parse_location(str(store_location))) as store:
        for day in range(1, 6):
            store.save(ringlab_run(f"r{day}", day, 1.0))
            store.add_tag(f"r{day}", f"t{day}")
        store.add_tag("r2", "baseline")
        queries: list[str] = []
        fetch_all = store.database.fetch_all

        def counted(sql: str, params: object = ()) -> list[tuple[object, ...]]:
            queries.append(sql)
            return fetch_all(sql, params)  # type: ignore[arg-type]

        store.database.fetch_all = counted  # type: ignore[method-assign]
        runs = store.list_runs()
    assert [(r.run_id, r.tags) for r in runs] == [
        ("r5", ("t5",)),
        ("r4", ("t4",)),
        ("r3", ("t3",)),
        ("r2", ("baseline", "t2")),
        ("r1", ("t1",)),
    ]
    assert len(queries) == 2, queries
