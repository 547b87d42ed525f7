"""Tables at 80 columns through the real command line: ids and counts are never cut."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from helpers import ringlab, ringlab_in_terminal
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.cells import cell_len
from rich.console import Console

from ringlab.controller.store.database import Store
from ringlab.controller.store.importers import import_trafgen
from ringlab.controller.store.results import RunResult, load_result
from ringlab.controller.views.tables import Column, fit

FIXTURE = Path(__file__).parents[1] / "fixtures" / "report" / "run_bidir_vs_sliced.json"
RUN_ID = "20261203-101010-9c1e2a"
# What a long run at line rate gives: nine-digit counts, latency up to seconds.
COUNTS = ("100,000,000", "99,999,001", "12,345", "123,456")
LATENCY = "12345/67890/1234567"
TRAFGEN = "40000 packets outgoing\n2560000 bytes outgoing\n4 sec, 12 usec on CPU0 (40000 packets)\n"


def big_run() -> RunResult:
    run = load_result(json.loads(FIXTURE.read_text()))
    run.run_id = RUN_ID
    run.tags = ["gold", "nightly-baseline"]
    for phase in run.phases:
        for flow in phase.flows:
            flow.tx_packets, flow.rx_packets, flow.lost = 100_000_000, 99_999_001, 999
            flow.reordered, flow.duplicates, flow.kernel_drops = 12_345, 7, 123_456
            flow.tx_pps, flow.rx_pps = 19_999_999.0, 19_999_800.0
            flow.latency_us.samples = 100
            flow.latency_us.p50, flow.latency_us.p99, flow.latency_us.max = (
                12_345,
                67_890,
                1_234_567,
            )
    return run


@pytest.fixture
def store(tmp_path: Path) -> tuple[Path, str]:
    """A store with a big run and a trafgen import (the longest run id form); the import's id."""
    db = tmp_path / "runs.db"
    imported = import_trafgen(TRAFGEN, "tg-ref", hosts=("a", "b"))
    with Store(db) as opened:
        opened.save(big_run())
        opened.save(imported)
    return db, imported.run_id


def assert_fits(lines: list[str], width: int = 80) -> None:
    too_wide = [line for line in lines if cell_len(line) > width]
    assert not too_wide, "\n".join(too_wide)
    assert not any("…" in line for line in lines), "\n".join(lines)


def test_runs_list_at_80_columns_keeps_every_run_id_whole(store: tuple[Path, str]) -> None:
    db, imported = store
    shown = ringlab_in_terminal("runs", "--db", str(db), "list")
    assert shown.returncode == 0, shown.stderr
    assert_fits(shown.lines())
    rows = [line for line in shown.lines() if line.startswith("│")]
    assert [row.split()[1] for row in rows] == [imported, RUN_ID]
    assert "completed" in rows[0] and "nightly-baseline" in shown.screen
    assert (
        "not shown at 80 columns: started, mode; widen the terminal or use --json" in shown.screen
    )


def test_runs_show_at_80_columns_keeps_counts_and_latency_whole(store: tuple[Path, str]) -> None:
    db, _ = store
    shown = ringlab_in_terminal("runs", "--db", str(db), "show", RUN_ID)
    assert shown.returncode == 0, shown.stderr
    assert_fits(shown.lines())
    for text in (*COUNTS, LATENCY, "20.00M", RUN_ID):
        assert text in shown.screen
    # Counts and rates in two tables per phase, each starting with the flow.
    assert shown.screen.count("┃ flow ┃") == 2 * 3


def test_the_run_table_is_one_table_where_it_fits(store: tuple[Path, str]) -> None:
    db, _ = store
    shown = ringlab_in_terminal("runs", "--db", str(db), "show", RUN_ID, columns=160)
    assert shown.returncode == 0, shown.stderr
    headers = [line for line in shown.lines() if "┃ flow ┃" in line]
    assert len(headers) == 3  # one per phase
    assert "┃ k.drops ┃ latency p50/p99/max µs ┃" in headers[0]
    assert_fits(shown.lines(), 160)


def test_columns_80_is_honoured_when_piped(store: tuple[Path, str]) -> None:
    # A script that sets COLUMNS gets that width; piped output is otherwise 160 wide.
    db, _ = store
    shown = ringlab("runs", "--db", str(db), "show", RUN_ID, env={"COLUMNS": "80"})
    assert shown.returncode == 0, shown.stderr
    assert_fits(shown.stdout.splitlines())
    assert all(text in shown.stdout for text in (*COUNTS, LATENCY))


def test_runs_trend_at_80_columns_keeps_run_ids_whole(store: tuple[Path, str]) -> None:
    db, _ = store
    shown = ringlab_in_terminal("runs", "--db", str(db), "trend", "bd", "--flow", "a->b")
    assert shown.returncode == 0, shown.stderr
    assert_fits(shown.lines())
    assert RUN_ID in shown.screen


def test_runs_list_json_carries_ids_states_and_tags(store: tuple[Path, str]) -> None:
    db, imported = store
    listed = ringlab("runs", "--db", str(db), "list", "--json")
    assert listed.returncode == 0, listed.stderr
    runs = json.loads(listed.stdout)
    assert [r["run_id"] for r in runs] == [imported, RUN_ID]
    assert runs[1] == {
        "run_id": RUN_ID,
        "started_at": "2026-11-22T01:48:34+00:00",
        "scenario": "bd",
        "mode": "bidirectional",
        "status": "completed",
        "tags": ["gold", "nightly-baseline"],
    }
    newest = json.loads(ringlab("runs", "--db", str(db), "list", "--json", "--limit", "1").stdout)
    assert [r["run_id"] for r in newest] == [imported]
    only_bd = ringlab("runs", "--db", str(db), "list", "--json", "--scenario", "nope")
    assert json.loads(only_bd.stdout) == []


words = st.text(alphabet="abcdefghij-0123456789,.:", min_size=1, max_size=24)


@settings(deadline=None, max_examples=60)
@given(
    data=st.data(),
    count=st.integers(1, 8),
    width=st.integers(40, 200),
    rows=st.integers(1, 4),
)
def test_fit_never_cuts_a_kept_cell_that_can_fit(
    data: st.DataObject, count: int, width: int, rows: int
) -> None:
    columns = [
        Column(
            data.draw(words),
            wrap=data.draw(st.booleans()),
            optional=data.draw(st.booleans()),
        )
        for _ in range(count)
    ]
    columns[0] = Column(columns[0].header)  # the key column: an id
    cells = [
        [" ".join(data.draw(st.lists(words, min_size=1, max_size=3))) for _ in columns]
        for _ in range(rows)
    ]
    fitted = fit(columns, cells, width, groups=())
    out = io.StringIO()
    console = Console(file=out, width=width, color_system=None)
    for table in fitted.tables:
        console.print(table)
    screen = out.getvalue()

    # Whenever each column fits beside the key column (an id beside one count), nothing
    # is cut and no line is wider than the terminal.
    def widest(i: int) -> int:
        texts = [columns[i].header, *(row[i] for row in cells)]
        if columns[i].wrap:
            return max(cell_len(word) for text in texts for word in text.split())
        return max(cell_len(text) for text in texts)

    fits_alone = widest(0) + 3 + 1 <= width
    if fits_alone and all(widest(0) + widest(i) + 2 * 3 + 1 <= width for i in range(1, count)):
        assert all(cell_len(line) <= width for line in screen.splitlines())
        assert "…" not in screen
        shown = {c.header for c in columns} - set(fitted.dropped)
        for i, column in enumerate(columns):
            if column.header in shown and not column.wrap:
                for row in cells:
                    assert row[i] in screen


def test_compare_at_80_columns_keeps_phase_and_flow_names_whole(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    baseline, candidate = big_run(), big_run()
    candidate.run_id = "20261204-101010-0a0b0c"
    for phase in candidate.phases:
        for flow in phase.flows:
            flow.rx_pps *= 0.6
    with Store(db) as opened:
        opened.save(baseline)
        opened.save(candidate)
    shown = ringlab_in_terminal("compare", RUN_ID, candidate.run_id, "--db", str(db))
    assert shown.returncode == 1, shown.stderr  # rx_pps dropped 40 %
    assert_fits(shown.lines())
    names = [phase.name for phase in baseline.phases]
    assert "time-sliced/r1/a->b" in names
    rows = [line for line in shown.lines() if line.startswith("│ ") and line[2] != " "]
    assert [row.split()[1] for row in rows] == [
        name for phase in baseline.phases for name in [phase.name] * len(phase.flows)
    ]
    assert "-40.00%" in shown.screen


def test_check_at_80_columns_keeps_phase_names_and_counts_whole() -> None:
    scenarios = Path(__file__).parents[2] / "scenarios"
    for scenario, expected in (
        ("compare.yaml", ["bidirectional ", "time-sliced/r1/a->b", "time-sliced/r2/b->a"]),
        ("rate-limited.yaml", ["1,000,000"]),  # 100kpps for 10 s
    ):
        shown = ringlab_in_terminal("check", str(scenarios / scenario))
        assert shown.returncode == 0, shown.stderr
        # The closing advice is one soft-wrapped line (the terminal folds it); tables fit.
        assert_fits([line for line in shown.lines() if line[:1] in "┏┃┡│└"])
        assert "…" not in shown.screen
        for text in expected:
            assert text in shown.screen, (text, shown.screen)
