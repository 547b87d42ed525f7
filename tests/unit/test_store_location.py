"""--db and RINGLAB_DB: a SQLite path or a PostgreSQL URL; bad ones are input errors
(exit 2, which URL, what is wrong, what to do), and a password is never printed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ringlab.controller.cli import main
from ringlab.controller.store.database import StoreError, open_store
from ringlab.controller.store.location import (
    PostgresUrl,
    default_location,
    parse_location,
    redact,
)
from ringlab.errors import StoreLocationError

SECRET = "s3cr3t-pw"


def test_paths_stay_sqlite_paths_and_urls_become_postgres_urls(tmp_path: Path) -> None:
    assert parse_location(str(tmp_path / "runs.db")) == tmp_path / "runs.db"
    assert parse_location("~/runs.db") == Path.home() / "runs.db"
    url = parse_location("postgresql://ci@db.lab/ringlab")
    assert isinstance(url, PostgresUrl) and url.url == "postgresql://ci@db.lab/ringlab"
    assert isinstance(parse_location("postgres://ci@/ringlab?host=/run/postgresql"), PostgresUrl)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (f"postgresql://ci:{SECRET}@db:5432/r", "postgresql://ci:***@db:5432/r"),
        (f"postgresql://ci@db/r?password={SECRET}&port=5", "postgresql://ci@db/r?password=***&port=5"),
        ("postgresql://ci@db/r", "postgresql://ci@db/r"),
    ],
)  # fmt: skip
def test_a_url_prints_without_its_password(url: str, shown: str) -> None:
    location = parse_location(url)
    assert str(location) == redact(url) == shown
    assert SECRET not in repr(location) and SECRET not in f"{location}"


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (f"postgresql://ci:{SECRET}@db:notaport/r", "port 'notaport' is not a port number"),
        (f"postgresql://ci:{SECRET}@db:99999/r", "port '99999' is not a port number"),
        (f"postgresql://ci:{SECRET}@db/r?colour=blue", 'invalid URI query parameter: "colour"'),
        (f"postgresql://ci:{SECRET}@[::1/r", "not a valid PostgreSQL URL"),
        (f"mysql://ci:{SECRET}@db/r", "unknown scheme 'mysql'"),
        ("  ", "is empty"),
    ],
)
def test_a_malformed_url_says_what_is_wrong_and_hides_the_password(value: str, reason: str) -> None:
    with pytest.raises(StoreLocationError) as caught:
        parse_location(value)
    assert reason in caught.value.message
    assert SECRET not in caught.value.message
    assert caught.value.message.startswith("--db")
    assert "postgresql://USER@HOST" in caught.value.message  # the forms that work


def test_a_malformed_db_option_exits_2_without_a_traceback(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["runs", "--db", f"postgresql://ci:{SECRET}@db:x/r", "list"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "argument --db: postgresql://ci:***@db:x/r: port 'x' is not a port number" in err
    assert SECRET not in err and "Traceback" not in err


def test_a_malformed_ringlab_db_exits_2_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RINGLAB_DB", f"postgres://ci:{SECRET}@db/r?nope=1")
    with pytest.raises(StoreLocationError, match=r"^RINGLAB_DB postgres://ci:\*\*\*@db/r"):
        default_location()
    assert main(["runs", "list"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ringlab: RINGLAB_DB postgres://ci:***@db/r?nope=1: not a valid")
    assert SECRET not in err


def test_an_unreachable_server_is_a_clear_error_naming_the_url(tmp_path: Path) -> None:
    # Nothing listens on this socket directory: libpq fails at once.
    url = f"postgresql://ci:{SECRET}@/ringlab?host={tmp_path}&port=5999"
    with pytest.raises(StoreError) as caught:
        open_store(parse_location(url))
    message = str(caught.value)
    assert message.startswith(
        f"cannot connect to the run store postgresql://ci:***@/ringlab?host={tmp_path}"
    )
    assert "check that the server runs" in message and SECRET not in message
    done = subprocess.run(
        [sys.executable, "-m", "ringlab", "runs", "--db", url, "list"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.startswith("ringlab: cannot connect to the run store postgresql://ci:***@")
    assert SECRET not in done.stderr + done.stdout and "Traceback" not in done.stderr


def test_reading_commands_still_refuse_a_sqlite_path_that_does_not_exist(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no run store at"):
        open_store(tmp_path / "typo.db", reading=True)
    assert not (tmp_path / "typo.db").exists()
