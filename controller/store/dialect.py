"""One connection to a run store, SQLite or PostgreSQL, behind one small interface.

The store's SQL is written once, in the SQL both engines accept: ``?`` placeholders,
``INSERT ... ON CONFLICT ... DO NOTHING / DO UPDATE`` upserts, and ``{integer}`` /
``{real}`` column types in the schema. What differs lives here and nowhere else:

- placeholders: psycopg takes ``%s``, so ``?`` is rewritten (and a literal ``%`` doubled);
- column types: PostgreSQL's INTEGER and REAL are 32-bit, too small for packet counts and
  rates, so the schema gets BIGINT and DOUBLE PRECISION there;
- the schema version: SQLite keeps it in ``PRAGMA user_version`` (as ringlab always did),
  PostgreSQL in a one-row table ``ringlab_schema``;
- transactions: SQLite ``BEGIN IMMEDIATE`` (a writer waits up to 30 s for another),
  PostgreSQL a psycopg transaction; a migration there also holds an advisory lock, so two
  controllers that meet an empty database do not both create the tables;
- errors: either driver's error becomes a StoreError that names the store.

JSON documents are TEXT in both: the result document is read whole, and TEXT keeps it as
written (a jsonb column would reorder its keys and refuse NaN).
"""

from __future__ import annotations

import sqlite3
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ringlab.controller.store.location import PostgresUrl, StoreLocation

if TYPE_CHECKING:
    import psycopg

Row = tuple[Any, ...]
Params = Sequence[object]

# Seconds libpq waits for a server before giving up, unless the URL says otherwise: its
# default is to wait for ever on a host that drops packets.
CONNECT_TIMEOUT_S = 10
SQLITE_BUSY_TIMEOUT_S = 30
# pg_advisory_xact_lock key for schema migrations ("ringlab" in ASCII).
_MIGRATION_LOCK = 0x72696E676C6162


class StoreError(Exception):
    pass


class Database(ABC):
    """A connection with the dialect's differences applied; one per Store or SuiteRuns."""

    dialect: str  # "sqlite" or "postgresql"

    def __init__(self, location: StoreLocation) -> None:
        self.location = location

    @abstractmethod
    def fetch_all(self, sql: str, params: Params = ()) -> list[Row]:
        """Every row of a query (``?`` placeholders)."""

    def fetch_one(self, sql: str, params: Params = ()) -> Row | None:
        rows = self.fetch_all(sql, params)
        return rows[0] if rows else None

    @abstractmethod
    def run(self, sql: str, params: Params = ()) -> int:
        """Execute a write; the number of rows it changed."""

    @abstractmethod
    def run_many(self, sql: str, rows: Sequence[Params]) -> None:
        """Execute a write once per row of parameters."""

    @abstractmethod
    def transaction(self) -> AbstractContextManager[None]:
        """Everything inside commits together, or (on any exception) not at all."""

    def migration(self) -> AbstractContextManager[None]:
        """A transaction that only one controller at a time holds, for schema changes."""
        return self.transaction()

    @abstractmethod
    def schema_version(self) -> int:
        """The store's schema version; 0 for a store with no tables yet."""

    @abstractmethod
    def set_schema_version(self, version: int) -> None:
        """Record ``version`` (inside the migration's transaction)."""

    @abstractmethod
    def ddl(self, statement: str) -> str:
        """A schema statement with this dialect's column types filled in."""

    @abstractmethod
    def close(self) -> None:
        """Close the connection."""


class SqliteDatabase(Database):
    dialect = "sqlite"

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, isolation_level=None, timeout=SQLITE_BUSY_TIMEOUT_S)
            self._db.execute("PRAGMA foreign_keys = ON")
            self._db.execute("PRAGMA journal_mode = WAL")
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open the run store {path}: {exc}") from exc

    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as exc:
            raise StoreError(f"the run store {self.location}: {exc}") from exc

    def fetch_all(self, sql: str, params: Params = ()) -> list[Row]:
        with self._errors():
            return self._db.execute(sql, params).fetchall()

    def run(self, sql: str, params: Params = ()) -> int:
        with self._errors():
            return self._db.execute(sql, params).rowcount

    def run_many(self, sql: str, rows: Sequence[Params]) -> None:
        with self._errors():
            self._db.executemany(sql, rows)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self._errors():
            self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        with self._errors():
            self._db.execute("COMMIT")

    def schema_version(self) -> int:
        row = self.fetch_one("PRAGMA user_version")
        return int(row[0]) if row else 0

    def set_schema_version(self, version: int) -> None:
        self.run(f"PRAGMA user_version = {int(version)}")

    def ddl(self, statement: str) -> str:
        return statement.format(integer="INTEGER", real="REAL", insertion_order="rowid")

    def close(self) -> None:
        self._db.close()


class PostgresDatabase(Database):
    dialect = "postgresql"

    def __init__(self, url: PostgresUrl) -> None:
        super().__init__(url)
        import psycopg
        from psycopg.conninfo import conninfo_to_dict, make_conninfo

        self._errors_type = psycopg.Error
        given = conninfo_to_dict(url.url)
        conninfo = make_conninfo(
            url.url,
            connect_timeout=given.get("connect_timeout", CONNECT_TIMEOUT_S),
            application_name=given.get("application_name", "ringlab"),
        )
        try:
            self._db: psycopg.Connection[Row] = psycopg.connect(conninfo, autocommit=True)
        except psycopg.Error as exc:
            raise StoreError(connect_failure(url, exc)) from None

    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except self._errors_type as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise StoreError(f"the run store {self.location}: {reason}") from exc

    def _sql(self, sql: str) -> str:
        return sql.replace("%", "%%").replace("?", "%s")

    def fetch_all(self, sql: str, params: Params = ()) -> list[Row]:
        with self._errors():
            return self._db.execute(self._sql(sql), params).fetchall()

    def run(self, sql: str, params: Params = ()) -> int:
        with self._errors():
            return self._db.execute(self._sql(sql), params).rowcount

    def run_many(self, sql: str, rows: Sequence[Params]) -> None:
        with self._errors(), self._db.cursor() as cursor:
            cursor.executemany(self._sql(sql), rows)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self._errors(), self._db.transaction():
            yield

    @contextmanager
    def migration(self) -> Iterator[None]:
        with self.transaction():
            self.run("SELECT pg_advisory_xact_lock(?)", (_MIGRATION_LOCK,))
            self.run("CREATE TABLE IF NOT EXISTS ringlab_schema (version INTEGER NOT NULL)")
            yield

    def schema_version(self) -> int:
        exists = self.fetch_one("SELECT to_regclass('ringlab_schema') IS NOT NULL")
        if not exists or not exists[0]:
            return 0
        row = self.fetch_one("SELECT max(version) FROM ringlab_schema")
        return int(row[0]) if row and row[0] is not None else 0

    def set_schema_version(self, version: int) -> None:
        self.run("DELETE FROM ringlab_schema")
        self.run("INSERT INTO ringlab_schema (version) VALUES (?)", (version,))

    def ddl(self, statement: str) -> str:
        # A PostgreSQL store starts empty at schema 1 (ringlab never wrote one before
        # schema 2), so no flow row there needs its insertion order back.
        return statement.format(integer="BIGINT", real="DOUBLE PRECISION", insertion_order="0")

    def close(self) -> None:
        self._db.close()


def connect_failure(url: PostgresUrl, exc: Exception) -> str:
    """What failed connecting to ``url``, and what to do about it (password left out)."""
    lines = [line.strip() for line in url.scrub(str(exc)).splitlines() if line.strip()]
    reason = "; ".join(lines) or type(exc).__name__
    if "does not exist" in reason and "database" in reason:
        hint = "create it (createdb -O USER DATABASE, see docs/shared-store.md) or fix the URL"
    elif "authentication" in reason or "password" in reason or "role" in reason:
        hint = "check the user and its password (~/.pgpass or PGPASSWORD keep it out of the URL)"
    else:
        hint = "check that the server runs and that the URL's host, port and socket directory are right"
    return f"cannot connect to the run store {url}: {reason}; {hint}"


def connect(location: StoreLocation) -> Database:
    if isinstance(location, PostgresUrl):
        return PostgresDatabase(location)
    return SqliteDatabase(location)
