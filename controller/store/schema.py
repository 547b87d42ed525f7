"""The run store's tables and their migrations, the same for SQLite and PostgreSQL.

Each migration takes a store from the version before it to its own; a new store runs
them all, an old one the ones it lacks. They run in one transaction that only one
controller holds at a time, so two controllers that open an old or empty store together
migrate it once. A store newer than this ringlab is refused, never written.

- 1: runs, tags, flows (what ringlab has always written).
- 2: flows.position (a flow's place in its run, which SQLite kept as the rowid and
  PostgreSQL has no such thing for), and the suite tables of `ringlab regress`, created
  with IF NOT EXISTS: SQLite stores from before schema 2 may have them already.
"""

from __future__ import annotations

from ringlab.controller.store.dialect import Database, StoreError

_MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE IF NOT EXISTS runs (
            run_id TEXT PRIMARY KEY,
            scenario TEXT NOT NULL,
            mode TEXT NOT NULL,
            status TEXT NOT NULL,
            started_at TEXT NOT NULL,
            finished_at TEXT NOT NULL DEFAULT '',
            scenario_text TEXT NOT NULL DEFAULT '',
            result_json TEXT NOT NULL
        )""",
        """CREATE TABLE IF NOT EXISTS tags (
            run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
            tag TEXT NOT NULL,
            PRIMARY KEY (run_id, tag)
        )""",
        """CREATE TABLE IF NOT EXISTS flows (
            run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
            phase TEXT NOT NULL,
            flow TEXT NOT NULL,
            from_host TEXT NOT NULL,
            to_host TEXT NOT NULL,
            tx_packets {integer} NOT NULL,
            rx_packets {integer} NOT NULL,
            lost {integer} NOT NULL,
            tx_pps {real} NOT NULL,
            rx_pps {real} NOT NULL,
            kernel_drops {integer} NOT NULL,
            PRIMARY KEY (run_id, phase, flow)
        )""",
        "CREATE INDEX IF NOT EXISTS runs_by_scenario ON runs(scenario, started_at)",
    ),
    (
        "ALTER TABLE flows ADD COLUMN position {integer} NOT NULL DEFAULT 0",
        "UPDATE flows SET position = {insertion_order}",
        """CREATE TABLE IF NOT EXISTS suite_runs (
            suite_run_id TEXT PRIMARY KEY,
            suite TEXT NOT NULL,
            baseline_tag TEXT NOT NULL,
            started_at TEXT NOT NULL,
            finished_at TEXT NOT NULL DEFAULT ''
        )""",
        """CREATE TABLE IF NOT EXISTS suite_cases (
            suite_run_id TEXT NOT NULL REFERENCES suite_runs(suite_run_id) ON DELETE CASCADE,
            case_key TEXT NOT NULL,
            position {integer} NOT NULL,
            name TEXT NOT NULL,
            scenario TEXT NOT NULL,
            hosts TEXT NOT NULL,
            verdict TEXT NOT NULL,
            run_id TEXT,
            baseline_run_id TEXT,
            metric {real},
            message TEXT NOT NULL,
            duration_s {real} NOT NULL,
            PRIMARY KEY (suite_run_id, case_key)
        )""",
        "CREATE INDEX IF NOT EXISTS suite_runs_by_suite ON suite_runs(suite, started_at)",
    ),
)

SCHEMA_VERSION = len(_MIGRATIONS)


def migrate(db: Database) -> None:
    """Bring ``db`` to SCHEMA_VERSION; a store already there is only read."""
    if _checked_version(db) == SCHEMA_VERSION:
        return
    with db.migration():
        # Read again under the lock: another controller may have migrated meanwhile.
        version = _checked_version(db)
        for statements in _MIGRATIONS[version:]:
            for statement in statements:
                db.run(db.ddl(statement))
        db.set_schema_version(SCHEMA_VERSION)


def _checked_version(db: Database) -> int:
    version = db.schema_version()
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"the run store {db.location} has schema version {version}, newer than this "
            f"ringlab's {SCHEMA_VERSION}; upgrade ringlab or use another --db"
        )
    return version
