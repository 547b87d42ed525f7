"""Which recorded run store a reaping command can open again (store.database.reopen):
a temporary lab records a PostgreSQL URL with its password hidden."""

from __future__ import annotations

from pathlib import Path

import pytest

from ringlab.controller.store.database import reopen
from ringlab.controller.store.location import PostgresUrl, has_password

WITH_PASSWORD = "postgresql://ci:pw-7f3a@db.lab.example/ringlab_reopen_test"
HIDDEN = "postgresql://ci:***@db.lab.example/ringlab_reopen_test"


def test_a_path_and_a_url_without_a_password_reopen_as_recorded() -> None:
    assert reopen("/var/lib/ringlab/runs.db") == Path("/var/lib/ringlab/runs.db")
    url = "postgresql://ci@db.lab.example/ringlab"
    assert not has_password(url)
    assert reopen(url) == PostgresUrl(url)


def test_a_hidden_password_reopens_only_with_the_same_store_in_ringlab_db(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert has_password(HIDDEN)
    monkeypatch.delenv("RINGLAB_DB", raising=False)
    assert reopen(HIDDEN) is None
    monkeypatch.setenv("RINGLAB_DB", "postgresql://ci:pw-7f3a@db.lab.example/other")
    assert reopen(HIDDEN) is None
    monkeypatch.setenv("RINGLAB_DB", WITH_PASSWORD)
    found = reopen(HIDDEN)
    assert isinstance(found, PostgresUrl) and found.url == WITH_PASSWORD
