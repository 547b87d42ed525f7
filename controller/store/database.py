"""The run store: SQLite (embedded, the default) or PostgreSQL (shared by a lab), one
transaction per write, versioned schema (schema.py); dialect.py holds what differs.

A run is written when it starts and again after every phase, so whatever was
measured survives a crash of the controller or an agent. Its first write claims its run
id (``claim``): a controller that drew an id another one already stored gets a new id,
never the other run's row.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from ringlab.controller.store.dialect import Database, connect
from ringlab.controller.store.dialect import StoreError as StoreError
from ringlab.controller.store.location import (
    PostgresUrl,
    StoreLocation,
    default_location,
    has_password,
    parse_location,
)
from ringlab.controller.store.results import FlowResult, RunResult, load_result, run_source
from ringlab.controller.store.schema import SCHEMA_VERSION as SCHEMA_VERSION
from ringlab.controller.store.schema import migrate

# Tries at a fresh run id before giving up: each collides with odds of 1 in 2**24.
CLAIM_ATTEMPTS = 8
# Run ids per `IN (...)` list: far below SQLite's limit on bound parameters (32766).
IN_CHUNK = 500


def open_store(db: StoreLocation | None, *, reading: bool = False) -> Store:
    """The store at `db` (a --db option) or the default one.

    A command that only reads refuses a --db path that does not exist: it is almost
    always a typo, and opening it would quietly create an empty store.
    """
    if reading and isinstance(db, Path) and not db.exists():
        raise StoreError(
            f"no run store at {db}; check the path (without --db the store is {default_location()})"
        )
    return Store(db or default_location())


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
    # The flows table holds 0 for what a flow never measured: these are those fields, with
    # the reason (FlowResult.not_measured, read from the run's stored document).
    not_measured: dict[str, str] = field(default_factory=dict, hash=False)
    # "ringlab", or the import the run came by (RunResult.source, ``run_source``).
    source: str = "ringlab"

    @property
    def loss(self) -> float:
        return self.lost / self.tx_packets if self.tx_packets else 0.0

    @property
    def imported(self) -> bool:
        return self.source != "ringlab"


# The PostgreSQL stores this process opened, by their URL with the password hidden. A
# temporary lab records its run's store that way (never the password), so the command
# that reaps it when its controller died finds the password here when it opened the same
# store itself (its --db), and only then (``opened_store``).
_OPENED: dict[str, PostgresUrl] = {}


def opened_store(redacted: str) -> PostgresUrl | None:
    """The store this process opened whose URL, password hidden, is ``redacted``."""
    return _OPENED.get(redacted)


def reopen(recorded: str) -> StoreLocation | None:
    """A store as a temporary lab recorded it (a path, or a URL with its password hidden),
    if this process can open it: a path, or a URL without a password, as recorded; a URL
    whose password was hidden only when this command's own store is that URL (its --db,
    which it opened, or RINGLAB_DB); else None."""
    if "://" not in recorded:
        return Path(recorded)
    if not has_password(recorded):
        return parse_location(recorded, "the lab's record of its run store")
    found = opened_store(recorded)
    if found is None and os.environ.get("RINGLAB_DB"):
        own = default_location()
        if isinstance(own, PostgresUrl) and own.redacted == recorded:
            found = own
    return found


class Store:
    """The runs, tags and flows of one store; ``location`` is a SQLite path or a URL."""

    def __init__(self, location: StoreLocation) -> None:
        self.location = location
        self.database: Database = connect(location)
        if isinstance(location, PostgresUrl):
            _OPENED[location.redacted] = location
        try:
            migrate(self.database)
        except BaseException:
            self.database.close()
            raise

    @property
    def path(self) -> StoreLocation:
        """The location, under its older name (callers hand it to SuiteRuns and messages)."""
        return self.location

    def close(self) -> None:
        self.database.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def claim(self, result: RunResult, scenario_text: str = "") -> str:
        """Write a new run for the first time under an id no other run has.

        Two controllers that start in the same second draw ids that differ only in their
        random part; should they match, the second gets a fresh random part here (and
        ``result.run_id`` says so) instead of overwriting the first one's run.
        """
        for _ in range(CLAIM_ATTEMPTS):
            if self._write(result, scenario_text, replace=False):
                return result.run_id
            stem = result.run_id.rsplit("-", 1)[0] if "-" in result.run_id else result.run_id
            result.run_id = f"{stem}-{secrets.token_hex(3)}"
        raise StoreError(
            f"no free run id after {CLAIM_ATTEMPTS} tries in {self.location}; try again"
        )

    def save(self, result: RunResult, scenario_text: str = "", *, new: bool = False) -> None:
        """Insert or replace the whole run in one transaction.

        With ``new`` a run already stored under the same id is a StoreError, not
        replaced: imports use it, so a file never overwrites a measured run.
        """
        if not self._write(result, scenario_text, replace=not new):
            raise StoreError(
                f"run {result.run_id} is already in {self.location}; store this one under"
                " another run id"
            )

    def _write(self, result: RunResult, scenario_text: str, *, replace: bool) -> bool:
        """The run, its flows and tags in one transaction; False (nothing written) when
        ``replace`` is off and the id is taken."""
        document = json.dumps(result.to_json_dict())
        # Every column that listings and trends read without the document is replaced
        # with it, so `runs list --scenario` and `runs show` never disagree about a run.
        on_conflict = (
            " ON CONFLICT (run_id) DO UPDATE SET scenario=excluded.scenario,"
            " mode=excluded.mode, status=excluded.status, started_at=excluded.started_at,"
            " finished_at=excluded.finished_at, result_json=excluded.result_json,"
            " scenario_text=CASE WHEN excluded.scenario_text != '' THEN excluded.scenario_text"
            " ELSE runs.scenario_text END"
            if replace
            else " ON CONFLICT (run_id) DO NOTHING"
        )
        db = self.database
        with db.transaction():
            written = db.run(
                "INSERT INTO runs (run_id, scenario, mode, status, started_at, finished_at,"
                " scenario_text, result_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?)" + on_conflict,
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
            if not written:
                return False
            db.run("DELETE FROM flows WHERE run_id = ?", (result.run_id,))
            flows = [(phase, flow) for phase in result.phases for flow in phase.flows]
            db.run_many(
                "INSERT INTO flows (run_id, phase, flow, from_host, to_host, tx_packets,"
                " rx_packets, lost, tx_pps, rx_pps, kernel_drops, position)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
                        position,
                    )
                    for position, (phase, flow) in enumerate(flows)
                ],
            )
            for tag in result.tags:
                self._insert_tag(result.run_id, tag)
        return True

    def _insert_tag(self, run_id: str, tag: str) -> None:
        self.database.run(
            "INSERT INTO tags (run_id, tag) VALUES (?, ?) ON CONFLICT DO NOTHING", (run_id, tag)
        )

    def mark_aborted(self, run_id: str, reason: str) -> bool:
        """Mark a run that is still `running` as `aborted` with `reason` (its controller
        went away); False when it had ended already or is not stored."""
        db = self.database
        with db.transaction():
            row = db.fetch_one(
                "SELECT result_json FROM runs WHERE run_id = ? AND status = 'running'", (run_id,)
            )
            if row is None:
                return False
            result = load_result(json.loads(row[0]))
            result.status = "aborted"
            result.error = result.error or reason
            db.run(
                "UPDATE runs SET status = ?, result_json = ? WHERE run_id = ?",
                (result.status, json.dumps(result.to_json_dict()), run_id),
            )
        return True

    def get(self, run_id: str) -> RunResult:
        row = self.database.fetch_one(
            "SELECT result_json FROM runs WHERE run_id = ?", (self.resolve(run_id),)
        )
        assert row is not None  # resolve() names a stored run
        result = load_result(json.loads(row[0]))
        result.tags = self.tags(result.run_id)
        return result

    def scenario_text(self, run_id: str) -> str:
        row = self.database.fetch_one(
            "SELECT scenario_text FROM runs WHERE run_id = ?", (self.resolve(run_id),)
        )
        assert row is not None
        return str(row[0])

    def resolve(self, ref: str) -> str:
        """A run id, a unique prefix of one, a tag (latest run with it), or `latest`."""
        if ref == "latest":
            row = self.database.fetch_one(
                "SELECT run_id FROM runs ORDER BY started_at DESC, run_id DESC LIMIT 1"
            )
            if row:
                return str(row[0])
            raise StoreError(f"no runs in {self.location} yet")
        tagged = self.tagged(ref)
        if tagged:
            return tagged[0]
        # A whole id names its run even when it is also the prefix of a longer one.
        if self.has(ref):
            return ref
        rows = self.database.fetch_all(
            "SELECT run_id FROM runs WHERE run_id LIKE ? ESCAPE '\\'",
            (ref.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%",),
        )
        if len(rows) == 1:
            return str(rows[0][0])
        if not rows:
            raise StoreError(
                f"no run or tag {ref!r} in {self.location}; `ringlab runs list` shows what is"
                " stored"
            )
        raise StoreError(f"{ref!r} matches {len(rows)} runs; give more of the run id")

    def tagged(self, tag: str) -> list[str]:
        """The runs that carry ``tag``, newest first (the first is what the tag resolves to)."""
        rows = self.database.fetch_all(
            "SELECT r.run_id FROM tags t JOIN runs r USING (run_id) WHERE t.tag = ?"
            " ORDER BY r.started_at DESC, r.run_id DESC",
            (tag,),
        )
        return [str(r[0]) for r in rows]

    def has(self, run_id: str) -> bool:
        """Whether a run with exactly this id is stored."""
        return self.database.fetch_one("SELECT 1 FROM runs WHERE run_id = ?", (run_id,)) is not None

    def tags(self, run_id: str) -> list[str]:
        rows = self.database.fetch_all(
            "SELECT tag FROM tags WHERE run_id = ? ORDER BY tag", (run_id,)
        )
        return [str(r[0]) for r in rows]

    def add_tag(self, ref: str, tag: str) -> str:
        run_id = self.resolve(ref)
        with self.database.transaction():
            self._insert_tag(run_id, tag)
        return run_id

    def list_runs(self, limit: int = 50, scenario: str | None = None) -> list[RunSummary]:
        query = "SELECT run_id, scenario, mode, status, started_at FROM runs"
        params: tuple[object, ...] = ()
        if scenario:
            query += " WHERE scenario = ?"
            params = (scenario,)
        query += " ORDER BY started_at DESC, run_id DESC LIMIT ?"
        rows = self.database.fetch_all(query, (*params, limit))
        tags = self._tags_of([str(r[0]) for r in rows])
        return [
            RunSummary(
                str(r[0]), str(r[1]), str(r[2]), str(r[3]), str(r[4]), tags.get(str(r[0]), ())
            )
            for r in rows
        ]

    def _tags_of(self, run_ids: Sequence[str]) -> dict[str, tuple[str, ...]]:
        """The tags of many runs in one query per IN_CHUNK runs, not one per run (a round
        trip each on a remote PostgreSQL server)."""
        found: dict[str, list[str]] = {}
        for start in range(0, len(run_ids), IN_CHUNK):
            chunk = run_ids[start : start + IN_CHUNK]
            rows = self.database.fetch_all(
                f"SELECT run_id, tag FROM tags WHERE run_id IN ({', '.join('?' * len(chunk))})"
                " ORDER BY run_id, tag",
                chunk,
            )
            for run_id, tag in rows:
                found.setdefault(str(run_id), []).append(str(tag))
        return {run_id: tuple(tags) for run_id, tags in found.items()}

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
        query += " ORDER BY r.started_at, r.run_id, f.position"
        rows = self.database.fetch_all(query, params)
        known = self._measured_by(list(dict.fromkeys(str(row[0]) for row in rows)))
        points = []
        for row in rows:
            source, not_measured = known.get(str(row[0]), ("ringlab", {}))
            # The row is the table's twelve columns, in FlowPoint's order.
            stored = FlowPoint(*row)
            points.append(
                replace(
                    stored,
                    not_measured=not_measured.get((stored.phase, stored.flow), {}),
                    source=source,
                )
            )
        return points

    def _measured_by(
        self, run_ids: Sequence[str]
    ) -> dict[str, tuple[str, dict[tuple[str, str], dict[str, str]]]]:
        """Per run: its source and, per (phase, flow), the fields it never measured.

        The flows table cannot tell a 0 from a field never measured; the run's stored
        document can (its flows' engines and ``uncollected``), so it is read here instead
        of widening the table. Only the flows are validated, not the whole document."""
        found: dict[str, tuple[str, dict[tuple[str, str], dict[str, str]]]] = {}
        for start in range(0, len(run_ids), IN_CHUNK):
            chunk = run_ids[start : start + IN_CHUNK]
            rows = self.database.fetch_all(
                f"SELECT run_id, result_json FROM runs WHERE run_id IN"
                f" ({', '.join('?' * len(chunk))})",
                chunk,
            )
            for run_id, text in rows:
                document = json.loads(text)
                flows = {
                    (str(phase.get("name")), str(flow.get("name"))): (
                        FlowResult.model_validate(flow).not_measured
                    )
                    for phase in document.get("phases") or ()
                    for flow in phase.get("flows") or ()
                }
                found[str(run_id)] = (run_source(document), flows)
        return found

    def run_hosts(self, run_id: str) -> frozenset[str]:
        """The hosts a stored run's flows used (its host pair or set)."""
        rows = self.database.fetch_all(
            "SELECT from_host, to_host FROM flows WHERE run_id = ?", (run_id,)
        )
        return frozenset(str(h) for row in rows for h in row)

    def latest_tagged(self, tag: str, scenario: str, hosts: frozenset[str]) -> str | None:
        """The newest completed run of ``scenario`` on exactly ``hosts`` that carries ``tag``."""
        rows = self.database.fetch_all(
            "SELECT r.run_id FROM tags t JOIN runs r USING (run_id)"
            " WHERE t.tag = ? AND r.scenario = ? AND r.status = 'completed'"
            " ORDER BY r.started_at DESC, r.run_id DESC",
            (tag, scenario),
        )
        for (run_id,) in rows:
            if self.run_hosts(str(run_id)) == hosts:
                return str(run_id)
        return None
