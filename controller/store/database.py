"""The run store: SQLite (stdlib), one transaction per write, versioned schema.

A run is written when it starts and again after every phase, so whatever was
measured survives a crash of the controller or an agent.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ringlab.controller.store.results import RunResult, load_result

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    scenario TEXT NOT NULL,
    mode TEXT NOT NULL,
    status TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT NOT NULL DEFAULT '',
    scenario_text TEXT NOT NULL DEFAULT '',
    result_json TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS tags (
    run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
    tag TEXT NOT NULL,
    PRIMARY KEY (run_id, tag)
);
CREATE TABLE IF NOT EXISTS flows (
    run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
    phase TEXT NOT NULL,
    flow TEXT NOT NULL,
    from_host TEXT NOT NULL,
    to_host TEXT NOT NULL,
    tx_packets INTEGER NOT NULL,
    rx_packets INTEGER NOT NULL,
    lost INTEGER NOT NULL,
    tx_pps REAL NOT NULL,
    rx_pps REAL NOT NULL,
    kernel_drops INTEGER NOT NULL,
    PRIMARY KEY (run_id, phase, flow)
);
CREATE INDEX IF NOT EXISTS runs_by_scenario ON runs(scenario, started_at);
"""


class StoreError(Exception):
    pass


def default_db_path() -> Path:
    if env := os.environ.get("RINGLAB_DB"):
        return Path(env)
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home) / "ringlab" / "runs.db"


def open_store(db: Path | None, *, reading: bool = False) -> Store:
    """The store at `db` (a --db option) or the default one.

    A command that only reads refuses a --db path that does not exist: it is almost
    always a typo, and opening it would quietly create an empty store.
    """
    if reading and db is not None and not db.exists():
        raise StoreError(
            f"no run store at {db}; check the path (without --db the store is {default_db_path()})"
        )
    return Store(db or default_db_path())


@dataclass(frozen=True)
class RunSummary:
    run_id: str
    scenario: str
    mode: str
    status: str
    started_at: str
    tags: tuple[str, ...]


@dataclass(frozen=True)
class FlowPoint:
    """One flow of one phase of a stored run: a point of a trend."""

    run_id: str
    started_at: str
    phase: str
    flow: str
    from_host: str
    to_host: str
    tx_packets: int
    rx_packets: int
    lost: int
    tx_pps: float
    rx_pps: float
    kernel_drops: int

    @property
    def loss(self) -> float:
        return self.lost / self.tx_packets if self.tx_packets else 0.0


class Store:
    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open the run store {path}: {exc}") from exc
        self._db.execute("PRAGMA foreign_keys = ON")
        self._db.execute("PRAGMA journal_mode = WAL")
        self._migrate()

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def _migrate(self) -> None:
        (version,) = self._db.execute("PRAGMA user_version").fetchone()
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"the run store {self.path} has schema version {version}, newer than this "
                f"ringlab's {SCHEMA_VERSION}; upgrade ringlab or use another --db"
            )
        with self._transaction() as db:
            for statement in _statements():
                db.execute(statement)
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def save(self, result: RunResult, scenario_text: str = "", *, new: bool = False) -> None:
        """Insert or replace the whole run in one transaction.

        With ``new`` a run already stored under the same id is a StoreError, not
        replaced: imports use it, so a file never overwrites a measured run.
        """
        document = json.dumps(result.to_json_dict())
        # Every column that listings and trends read without the document is replaced
        # with it, so `runs list --scenario` and `runs show` never disagree about a run.
        upsert = (
            ""
            if new
            else " ON CONFLICT(run_id) DO UPDATE SET scenario=excluded.scenario,"
            " mode=excluded.mode, status=excluded.status, started_at=excluded.started_at,"
            " finished_at=excluded.finished_at, result_json=excluded.result_json,"
            " scenario_text=CASE WHEN excluded.scenario_text != '' THEN excluded.scenario_text"
            " ELSE runs.scenario_text END"
        )
        with self._transaction() as db:
            try:
                db.execute(
                    "INSERT INTO runs (run_id, scenario, mode, status, started_at, finished_at,"
                    " scenario_text, result_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?)" + upsert,
                    (
                        result.run_id,
                        result.scenario,
                        result.mode,
                        result.status,
                        result.started_at,
                        result.finished_at,
                        scenario_text,
                        document,
                    ),
                )
            except sqlite3.IntegrityError:
                raise StoreError(
                    f"run {result.run_id} is already in {self.path}; store this one under"
                    " another run id"
                ) from None
            db.execute("DELETE FROM flows WHERE run_id = ?", (result.run_id,))
            db.executemany(
                "INSERT INTO flows VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        result.run_id,
                        phase.name,
                        flow.name,
                        flow.from_host,
                        flow.to_host,
                        flow.tx_packets,
                        flow.rx_packets,
                        flow.lost,
                        flow.tx_pps,
                        flow.rx_pps,
                        flow.kernel_drops,
                    )
                    for phase in result.phases
                    for flow in phase.flows
                ],
            )
            for tag in result.tags:
                db.execute("INSERT OR IGNORE INTO tags VALUES (?, ?)", (result.run_id, tag))

    def get(self, run_id: str) -> RunResult:
        row = self._db.execute(
            "SELECT result_json FROM runs WHERE run_id = ?", (self.resolve(run_id),)
        ).fetchone()
        result = load_result(json.loads(row[0]))
        result.tags = self.tags(result.run_id)
        return result

    def scenario_text(self, run_id: str) -> str:
        row = self._db.execute(
            "SELECT scenario_text FROM runs WHERE run_id = ?", (self.resolve(run_id),)
        ).fetchone()
        return str(row[0])

    def resolve(self, ref: str) -> str:
        """A run id, a unique prefix of one, a tag (latest run with it), or `latest`."""
        if ref == "latest":
            row = self._db.execute(
                "SELECT run_id FROM runs ORDER BY started_at DESC LIMIT 1"
            ).fetchone()
            if row:
                return str(row[0])
            raise StoreError(f"no runs in {self.path} yet")
        tagged = self.tagged(ref)
        if tagged:
            return tagged[0]
        # A whole id names its run even when it is also the prefix of a longer one.
        if self.has(ref):
            return ref
        rows = self._db.execute(
            "SELECT run_id FROM runs WHERE run_id LIKE ? ESCAPE '\\'",
            (ref.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%",),
        ).fetchall()
        if len(rows) == 1:
            return str(rows[0][0])
        if not rows:
            raise StoreError(
                f"no run or tag {ref!r} in {self.path}; `ringlab runs list` shows what is stored"
            )
        raise StoreError(f"{ref!r} matches {len(rows)} runs; give more of the run id")

    def tagged(self, tag: str) -> list[str]:
        """The runs that carry ``tag``, newest first (the first is what the tag resolves to)."""
        rows = self._db.execute(
            "SELECT r.run_id FROM tags t JOIN runs r USING (run_id) WHERE t.tag = ?"
            " ORDER BY r.started_at DESC, r.run_id DESC",
            (tag,),
        )
        return [str(r[0]) for r in rows]

    def has(self, run_id: str) -> bool:
        """Whether a run with exactly this id is stored."""
        row = self._db.execute("SELECT 1 FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        return row is not None

    def tags(self, run_id: str) -> list[str]:
        rows = self._db.execute("SELECT tag FROM tags WHERE run_id = ? ORDER BY tag", (run_id,))
        return [str(r[0]) for r in rows]

    def add_tag(self, ref: str, tag: str) -> str:
        run_id = self.resolve(ref)
        with self._transaction() as db:
            db.execute("INSERT OR IGNORE INTO tags VALUES (?, ?)", (run_id, tag))
        return run_id

    def list_runs(self, limit: int = 50, scenario: str | None = None) -> list[RunSummary]:
        query = "SELECT run_id, scenario, mode, status, started_at FROM runs"
        params: tuple[object, ...] = ()
        if scenario:
            query += " WHERE scenario = ?"
            params = (scenario,)
        query += " ORDER BY started_at DESC LIMIT ?"
        rows = self._db.execute(query, (*params, limit)).fetchall()
        return [
            RunSummary(
                str(r[0]), str(r[1]), str(r[2]), str(r[3]), str(r[4]), tuple(self.tags(r[0]))
            )
            for r in rows
        ]

    def flow_history(
        self, scenario: str, flow: str | None = None, limit: int = 1000
    ) -> list[FlowPoint]:
        """The flows of the last ``limit`` completed runs of ``scenario``, oldest run first."""
        query = (
            "SELECT f.run_id, r.started_at, f.phase, f.flow, f.from_host, f.to_host,"
            " f.tx_packets, f.rx_packets, f.lost, f.tx_pps, f.rx_pps, f.kernel_drops"
            " FROM flows f JOIN runs r USING (run_id)"
            " WHERE r.run_id IN (SELECT run_id FROM runs WHERE scenario = ? AND status = 'completed'"
            " ORDER BY started_at DESC, run_id DESC LIMIT ?)"
        )
        params: list[object] = [scenario, limit]
        if flow is not None:
            query += " AND f.flow = ?"
            params.append(flow)
        query += " ORDER BY r.started_at, r.run_id, f.rowid"
        return [FlowPoint(*row) for row in self._db.execute(query, params)]

    def run_hosts(self, run_id: str) -> frozenset[str]:
        """The hosts a stored run's flows used (its host pair or set)."""
        rows = self._db.execute(
            "SELECT from_host, to_host FROM flows WHERE run_id = ?", (run_id,)
        ).fetchall()
        return frozenset(h for row in rows for h in row)

    def latest_tagged(self, tag: str, scenario: str, hosts: frozenset[str]) -> str | None:
        """The newest completed run of ``scenario`` on exactly ``hosts`` that carries ``tag``."""
        rows = self._db.execute(
            "SELECT r.run_id FROM tags t JOIN runs r USING (run_id)"
            " WHERE t.tag = ? AND r.scenario = ? AND r.status = 'completed'"
            " ORDER BY r.started_at DESC, r.run_id DESC",
            (tag, scenario),
        ).fetchall()
        for (run_id,) in rows:
            if self.run_hosts(str(run_id)) == hosts:
                return str(run_id)
        return None


def _statements() -> list[str]:
    return [s.strip() for s in _SCHEMA.split(";") if s.strip()]
