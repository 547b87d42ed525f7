"""A real PostgreSQL server for the shared-store tests (Debian's postgresql, no mock).

One server per test session: ``initdb`` in a temporary directory owned by the
unprivileged user ``nobody`` (initdb and postgres refuse to run as root), started with
``pg_ctl`` on a unix socket only (``listen_addresses=''``) in a directory of its own, under
a private port number (it only names the socket file). Every socket path is reachable
from every network namespace, which is how controllers "on other machines" reach it.
Each test gets a database of its own (``postgres_url``). The server is stopped
(``pg_ctl stop -m immediate``) and its directory removed in ``finally``.

Skips only when not root, or when the server binaries are absent (scripts/install --dev
installs them, so CI runs these tests).
"""

from __future__ import annotations

import glob
import os
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

SUPERUSER = "ringlab"
READY_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class PostgresServer:
    socket_dir: Path
    port: int

    def url(self, database: str = "postgres", password: str | None = None) -> str:
        """A URL that reaches the server through its unix socket (host= a directory)."""
        user = SUPERUSER if password is None else f"{SUPERUSER}:{password}"
        return f"postgresql://{user}@/{database}?host={self.socket_dir}&port={self.port}"

    def create_database(self) -> str:
        import psycopg

        name = f"ringlab_{secrets.token_hex(4)}"
        with psycopg.connect(self.url(), autocommit=True) as admin:
            admin.execute(f"CREATE DATABASE {name}")  # a name made here, not user input
        return name


def server_binaries() -> Path | None:
    """The bin directory of the newest installed PostgreSQL server, if any."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_major_version)
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb and shutil.which("pg_ctl") else None


def _major_version(path: str) -> int:
    part = Path(path).parts[-3]
    return int(part) if part.isdigit() else 0


def _as_nobody(*argv: str | Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["runuser", "-u", "nobody", "--", *map(str, argv)],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def _wait_ready(bin_dir: Path, server: PostgresServer, log: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while True:
        ready = subprocess.run(
            [bin_dir / "pg_isready", "-h", server.socket_dir, "-p", str(server.port), "-t", "1"],
            capture_output=True,
            timeout=10,
            check=False,
        )
        if ready.returncode == 0:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"PostgreSQL not ready after {READY_TIMEOUT_S:.0f} s; its log:\n"
                + log.read_text(errors="replace")[-2000:]
            )
        time.sleep(0.1)  # poll interval of a bounded readiness wait


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    if os.geteuid() != 0:
        pytest.skip("needs root: the PostgreSQL test server runs as user nobody (runuser)")
    bin_dir = server_binaries()
    if bin_dir is None:
        pytest.skip("PostgreSQL server binaries not found (apt-get install postgresql)")
    base = Path(tempfile.mkdtemp(prefix="ringlab-pg-"))
    started = False
    try:
        base.chmod(0o755)
        data, sockets = base / "data", base / "sock"
        for directory in (data, sockets):
            directory.mkdir()
            shutil.chown(directory, "nobody", "nogroup")
        log = sockets / "server.log"
        init = _as_nobody(
            bin_dir / "initdb", "-D", data, "-A", "trust", "-U", SUPERUSER,
            "-E", "UTF8", "--locale=C", "--no-sync",
        )  # fmt: skip
        assert init.returncode == 0, init.stderr
        server = PostgresServer(sockets, 20000 + secrets.randbelow(40000))
        options = (
            f"-k {sockets} -p {server.port} -c listen_addresses='' -c fsync=off"
            " -c max_connections=50"
        )
        start = _as_nobody(bin_dir / "pg_ctl", "-D", data, "-l", log, "-o", options, "start")
        started = True
        assert start.returncode == 0, start.stderr + start.stdout
        _wait_ready(bin_dir, server, log)
        yield server
    finally:
        if started:
            _as_nobody(bin_dir / "pg_ctl", "-D", base / "data", "stop", "-m", "immediate")
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> str:
    """A fresh, empty database on the session's server, as a URL."""
    return postgres_server.url(postgres_server.create_database())


@pytest.fixture(params=["sqlite", "postgresql"])
def store_location(request: pytest.FixtureRequest, tmp_path: Path) -> Path | str:
    """A new run store on each backend: a SQLite path, then a PostgreSQL URL (a --db value)."""
    if request.param == "sqlite":
        return tmp_path / "runs.db"
    url: str = request.getfixturevalue("postgres_url")
    return url
