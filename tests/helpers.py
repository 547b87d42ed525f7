"""Helpers for tests (importable as `helpers` thanks to pytest's pythonpath)."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys

import pytest

IS_ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(
    not IS_ROOT, reason="needs root: network namespaces, veth and AF_PACKET sockets"
)


def unique_lab_name() -> str:
    # Lab names end up in namespace names; keep them short and unique per test.
    return f"t{os.getpid() % 10000}{secrets.token_hex(2)}"


def ringlab(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run the real `ringlab` command line in a subprocess."""
    return subprocess.run(
        [sys.executable, "-m", "ringlab", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        stdin=subprocess.DEVNULL,
    )
