"""`ringlab agent serve` as a real process: the address it reports and the namespace it serves in."""

from __future__ import annotations

import errno
import os
import secrets
import selectors
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import connect_as_nobody, needs_root, ringlab

NETNS_DIR = Path("/run/netns")


def _unique_netns() -> str:
    return f"rlcli{os.getpid() % 10000}{secrets.token_hex(3)}"


def _delete_netns(name: str) -> None:
    if (NETNS_DIR / name).exists():
        subprocess.run(["ip", "netns", "delete", name], check=True)


@pytest.fixture
def absent_netns() -> Iterator[str]:
    """A namespace name nobody has; deleted afterwards should the agent have created it."""
    name = _unique_netns()
    assert not (NETNS_DIR / name).exists()
    try:
        yield name
    finally:
        _delete_netns(name)


@pytest.fixture
def present_netns() -> Iterator[str]:
    if os.geteuid() != 0:
        pytest.skip("needs root: creates a network namespace")
    name = _unique_netns()
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        yield name
    finally:
        _delete_netns(name)


def _start_agent(*args: str, umask: int | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "ringlab", "agent", "serve", *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        umask=-1 if umask is None else umask,
    )


def _first_line(agent: subprocess.Popen[bytes], timeout_s: float = 60) -> str:
    """The agent's first output line; fails instead of blocking when it never comes."""
    assert agent.stdout is not None
    line = b""
    with selectors.DefaultSelector() as selector:
        selector.register(agent.stdout, selectors.EVENT_READ)
        while not line.endswith(b"\n"):
            assert selector.select(timeout_s), f"no complete line from the agent: {line!r}"
            chunk = os.read(agent.stdout.fileno(), 4096)
            if not chunk:
                break
            line += chunk
    return line.decode().partition("\n")[0]


def _stop(agent: subprocess.Popen[bytes]) -> None:
    agent.terminate()
    try:
        agent.wait(timeout=10)
    except subprocess.TimeoutExpired:
        agent.kill()
        agent.wait()
    if agent.stdout is not None:
        agent.stdout.close()


def test_missing_netns_is_refused_and_not_created(absent_netns: str, tmp_path: Path) -> None:
    socket_path = tmp_path / "agent.sock"
    proc = ringlab(
        "agent", "serve", "--listen", f"unix:{socket_path}", "--netns", absent_netns, timeout=30
    )
    assert proc.returncode == 2, proc.stderr
    assert f"no network namespace {absent_netns!r} (ip netns list shows: " in proc.stderr
    assert f"`ip netns add {absent_netns}`" in proc.stderr
    assert not (NETNS_DIR / absent_netns).exists()
    assert not socket_path.exists()


def test_unix_listen_line_shows_the_socket_path(tmp_path: Path) -> None:
    socket_path = tmp_path / "agent.sock"
    agent = _start_agent("--listen", f"unix:{socket_path}")
    try:
        # Readiness waiters (tests, the built-in lab's log) look for "listening" here.
        assert _first_line(agent) == f"ringlab agent listening on unix:{socket_path}"
        assert socket_path.is_socket()
    finally:
        _stop(agent)


@needs_root
def test_agent_serves_inside_an_existing_netns(present_netns: str, tmp_path: Path) -> None:
    socket_path = tmp_path / "agent.sock"
    agent = _start_agent("--listen", f"unix://{socket_path}", "--netns", present_netns)
    try:
        assert _first_line(agent) == f"ringlab agent listening on unix:{socket_path}"
        # setns moves only the calling thread, and the listening line is printed from it.
        served_in = os.stat(f"/proc/{agent.pid}/task/{agent.pid}/ns/net").st_ino
        assert served_in == os.stat(NETNS_DIR / present_netns).st_ino
    finally:
        _stop(agent)


@needs_root
def test_unix_socket_is_private_whatever_the_umask() -> None:
    # A world-traversable place, and the laxest umask: only the agent's own modes protect it.
    base = Path(tempfile.mkdtemp(prefix="rlsock"))
    base.chmod(0o755)
    socket_path = base / "new-dir" / "agent.sock"
    agent = _start_agent("--listen", f"unix:{socket_path}", umask=0)
    try:
        assert _first_line(agent) == f"ringlab agent listening on unix:{socket_path}"
        assert stat.S_IMODE(socket_path.parent.stat().st_mode) == 0o700
        assert stat.S_IMODE(socket_path.stat().st_mode) & 0o077 == 0  # owner only
        socket_path.parent.chmod(0o755)  # even with the directory opened up
        attempt = connect_as_nobody(socket_path)
        assert attempt.stdout.strip() == str(errno.EACCES), attempt.stdout + attempt.stderr
    finally:
        _stop(agent)
        shutil.rmtree(base)
