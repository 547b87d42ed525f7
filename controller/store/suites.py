"""Suite runs in the run store: each `ringlab regress` run, its cases and their verdicts.

A verdict depends on the baseline of the day, so it cannot be worked out again
from the stored runs later: each case's verdict is written as the case ends
(a suite killed halfway keeps the cases that finished), with its run, its
baseline and its key metric, for `ringlab regress history`.

The two tables live in the run store next to the runs (schema.py, migration 2).
This module uses a connection of its own; the store's connection holds no
transaction across an ``await``, so the two never wait on each other.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, replace

from ringlab.controller.store.dialect import Database, StoreError, connect
from ringlab.controller.store.location import StoreLocation
from ringlab.controller.store.schema import migrate

# Tries at a fresh suite run id: see Store.claim.
CLAIM_ATTEMPTS = 8


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
    """The suite tables of the run store at ``location`` (a SQLite path or a URL)."""

    def __init__(self, location: StoreLocation) -> None:
        self.location = location
        self._db: Database = connect(location)
        try:
            migrate(self._db)
        except BaseException:
            self._db.close()
            raise

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> SuiteRuns:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def begin(self, record: SuiteRunRecord) -> SuiteRunRecord:
        """Store a new suite run; the record as stored (its id gets a fresh random part
        should another controller have taken it, as runs do)."""
        for _ in range(CLAIM_ATTEMPTS):
            written = self._db.run(
                "INSERT INTO suite_runs (suite_run_id, suite, baseline_tag, started_at,"
                " finished_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (suite_run_id) DO NOTHING",
                (
                    record.suite_run_id,
                    record.suite,
                    record.baseline_tag,
                    record.started_at,
                    record.finished_at,
                ),
            )
            if written:
                return record
            stem = record.suite_run_id.rsplit("-", 1)[0]
            record = replace(record, suite_run_id=f"{stem}-{secrets.token_hex(3)}")
        raise StoreError(f"no free suite run id after {CLAIM_ATTEMPTS} tries in {self.location}")

    def add_case(self, case: CaseRecord) -> None:
        self._db.run(
            "INSERT INTO suite_cases (suite_run_id, case_key, position, name, scenario, hosts,"
            " verdict, run_id, baseline_run_id, metric, message, duration_s)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (suite_run_id, case_key) DO UPDATE SET position=excluded.position,"
            " name=excluded.name, scenario=excluded.scenario, hosts=excluded.hosts,"
            " verdict=excluded.verdict, run_id=excluded.run_id,"
            " baseline_run_id=excluded.baseline_run_id, metric=excluded.metric,"
            " message=excluded.message, duration_s=excluded.duration_s",
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
        self._db.run(
            "UPDATE suite_runs SET finished_at = ? WHERE suite_run_id = ?",
            (finished_at, suite_run_id),
        )

    def suites(self) -> list[str]:
        rows = self._db.fetch_all("SELECT DISTINCT suite FROM suite_runs ORDER BY suite")
        return [str(r[0]) for r in rows]

    def last_runs(self, suite: str, limit: int) -> list[SuiteRunRecord]:
        """The last ``limit`` suite runs of ``suite``, oldest first."""
        rows = self._db.fetch_all(
            "SELECT * FROM (SELECT suite_run_id, suite, baseline_tag, started_at, finished_at"
            " FROM suite_runs WHERE suite = ? ORDER BY started_at DESC, suite_run_id DESC"
            " LIMIT ?) AS recent ORDER BY started_at, suite_run_id",
            (suite, limit),
        )
        return [SuiteRunRecord(*(str(v) for v in row)) for row in rows]

    def cases(self, suite_run_ids: Sequence[str]) -> list[CaseRecord]:
        """The cases of these suite runs, in suite-run order then file order."""
        if not suite_run_ids:
            return []
        order = {run_id: i for i, run_id in enumerate(suite_run_ids)}
        marks = ",".join("?" * len(suite_run_ids))
        rows = self._db.fetch_all(
            "SELECT suite_run_id, case_key, position, name, scenario, hosts, verdict, run_id,"
            " baseline_run_id, metric, message, duration_s FROM suite_cases"
            f" WHERE suite_run_id IN ({marks})",
            tuple(suite_run_ids),
        )
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
