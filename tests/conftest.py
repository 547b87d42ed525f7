"""Fixtures shared by all tests: root checks, a built-in lab per test, a private run store."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import IS_ROOT, unique_lab_name

# A real PostgreSQL server for the shared-store tests, unit and integration alike.
from integration.postgres import postgres_server, postgres_url, store_location  # noqa: F401


def pytest_configure(config: pytest.Config) -> None:
    # A shell starts a background job (`scripts/test &`, a CI step run that way) with SIGINT
    # ignored, and every process the tests start would inherit that: the controller would
    # shrug off the tests' Ctrl-C and the tools' stand-ins their SIGINT. Tests that send
    # SIGINT test what a user at a terminal gets, so the suite runs with the default.
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture
def lab_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Labs of this test keep their state under tmp_path, never in /run/ringlab."""
    directory = tmp_path / "labs"
    monkeypatch.setenv("RINGLAB_LAB_DIR", str(directory))
    return directory


@pytest.fixture
def run_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "runs.db"
    monkeypatch.setenv("RINGLAB_DB", str(path))
    return path


@pytest.fixture
def lab(lab_dir: Path) -> Iterator[object]:
    """A running two-host built-in lab (hosts a and b), removed after the test."""
    if not IS_ROOT:
        pytest.skip("needs root: network namespaces, veth and AF_PACKET sockets")
    from ringlab.controller.remote.lab import create_lab, destroy_lab, wait_ready

    created = create_lab(unique_lab_name(), ["a", "b"])
    try:
        asyncio.run(wait_ready(created))
        yield created
    finally:
        destroy_lab(created)
