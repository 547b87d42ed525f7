"""Suite runs in the run store: each `ringlab regress` run, its cases and their verdicts.

A verdict depends on the baseline of the day, so it cannot be worked out again
from the stored runs later: each case's verdict is written as the case ends
(a suite killed halfway keeps the cases that finished), with its run, its
baseline and its key metric, for `ringlab regress history`.

The two tables live in the run store's SQLite file next to the runs, created
here if missing (``IF NOT EXISTS``): a store written by an older ringlab gains
them on first use, and an older ringlab never reads them. This module uses a
connection of its own; the store's connection holds no transaction across an
``await``, so the two never wait on each other.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ringlab.controller.store.database import StoreError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS suite_runs (
    suite_run_id TEXT PRIMARY KEY,
    suite TEXT NOT NULL,
    baseline_tag TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS suite_cases (
    suite_run_id TEXT NOT NULL REFERENCES suite_runs(suite_run_id) ON DELETE CASCADE,
    case_key TEXT NOT NULL,
    position INTEGER NOT NULL,
    name TEXT NOT NULL,
    scenario TEXT NOT NULL,
    hosts TEXT NOT NULL,
    verdict TEXT NOT NULL,
    run_id TEXT,
    baseline_run_id TEXT,
    metric REAL,
    message TEXT NOT NULL,
    duration_s REAL NOT NULL,
    PRIMARY KEY (suite_run_id, case_key)
);
CREATE INDEX IF NOT EXISTS suite_runs_by_suite ON suite_runs(suite, started_at)
"""


@dataclass(frozen=True)
class SuiteRunRecord:
    suite_run_id: str
    suite: str
    baseline_tag: str
    started_at: str
    finished_at: str  # '' while running, or when the controller went away


@dataclass(frozen=True)
class CaseRecord:
    suite_run_id: str
    case_key: str  # scenario and sorted hosts: the same case from one suite run to the next
    position: int  # the case's place in its suite run (file order)
    name: str  # "scenario on h1,h2", hosts in placeholder order
    scenario: str
    hosts: tuple[str, ...]
    verdict: str
    run_id: str | None  # None: the run never started
    baseline_run_id: str | None
    metric: float | None  # the key metric (analysis/history.py); None: not measured
    message: str
    duration_s: float


class SuiteRuns:
    """The suite tables of the run store at ``path``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, isolation_level=None, timeout=30)
            self._db.execute("PRAGMA foreign_keys = ON")
            for statement in _SCHEMA.split(";"):
                self._db.execute(statement)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open the suite history in {path}: {exc}") from exc

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> SuiteRuns:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def begin(self, record: SuiteRunRecord) -> None:
        self._db.execute(
            "INSERT INTO suite_runs VALUES (?, ?, ?, ?, ?)",
            (
                record.suite_run_id,
                record.suite,
                record.baseline_tag,
                record.started_at,
                record.finished_at,
            ),
        )

    def add_case(self, case: CaseRecord) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO suite_cases VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                case.suite_run_id,
                case.case_key,
                case.position,
                case.name,
                case.scenario,
                ",".join(case.hosts),
                case.verdict,
                case.run_id,
                case.baseline_run_id,
                case.metric,
                case.message,
                case.duration_s,
            ),
        )

    def finish(self, suite_run_id: str, finished_at: str) -> None:
        self._db.execute(
            "UPDATE suite_runs SET finished_at = ? WHERE suite_run_id = ?",
            (finished_at, suite_run_id),
        )

    def suites(self) -> list[str]:
        rows = self._db.execute("SELECT DISTINCT suite FROM suite_runs ORDER BY suite")
        return [str(r[0]) for r in rows]

    def last_runs(self, suite: str, limit: int) -> list[SuiteRunRecord]:
        """The last ``limit`` suite runs of ``suite``, oldest first."""
        rows = self._db.execute(
            "SELECT * FROM (SELECT suite_run_id, suite, baseline_tag, started_at, finished_at"
            " FROM suite_runs WHERE suite = ? ORDER BY started_at DESC, suite_run_id DESC"
            " LIMIT ?) ORDER BY started_at, suite_run_id",
            (suite, limit),
        )
        return [SuiteRunRecord(*(str(v) for v in row)) for row in rows]

    def cases(self, suite_run_ids: Sequence[str]) -> list[CaseRecord]:
        """The cases of these suite runs, in suite-run order then file order."""
        if not suite_run_ids:
            return []
        order = {run_id: i for i, run_id in enumerate(suite_run_ids)}
        marks = ",".join("?" * len(suite_run_ids))
        rows = self._db.execute(
            "SELECT suite_run_id, case_key, position, name, scenario, hosts, verdict, run_id,"
            " baseline_run_id, metric, message, duration_s FROM suite_cases"
            f" WHERE suite_run_id IN ({marks})",
            tuple(suite_run_ids),
        ).fetchall()
        records = [
            CaseRecord(
                suite_run_id=str(r[0]),
                case_key=str(r[1]),
                position=int(r[2]),
                name=str(r[3]),
                scenario=str(r[4]),
                hosts=tuple(str(r[5]).split(",")),
                verdict=str(r[6]),
                run_id=None if r[7] is None else str(r[7]),
                baseline_run_id=None if r[8] is None else str(r[8]),
                metric=None if r[9] is None else float(r[9]),
                message=str(r[10]),
                duration_s=float(r[11]),
            )
            for r in rows
        ]
        return sorted(records, key=lambda c: (order[c.suite_run_id], c.position))
