"""Helpers for tests (importable as `helpers` thanks to pytest's pythonpath)."""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import os
import pty
import re
import secrets
import select
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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


class CliLab:
    """A built-in lab driven through the real command line (`ringlab run --lab`)."""

    def __init__(self, name: str, env: dict[str, str], store: Path) -> None:
        self.name = name
        self.env = env
        self.store = store
        self.runs = 0

    def run(self, scenario: Path, ok_codes: tuple[int, ...] = (0,)) -> dict[str, Any]:
        """`ringlab run --lab` as a subprocess; the JSON result."""
        self.runs += 1
        env = {**self.env, "RINGLAB_DB": str(self.store / f"run{self.runs}.db")}
        proc = ringlab("run", str(scenario), "--lab", self.name, "--json", env=env, timeout=180)
        assert proc.returncode in ok_codes, proc.stderr[-2000:] + proc.stdout[-2000:]
        result: dict[str, Any] = json.loads(proc.stdout)
        return result


@contextlib.contextmanager
def cli_lab(base: Path, *options: str) -> Iterator[CliLab]:
    """`ringlab lab up` a two-host lab whose state lives under `base`; `lab down` after.

    `options` go to `lab up` (like "--queues", "2")."""
    env = {**os.environ, "RINGLAB_LAB_DIR": str(base / "labs")}
    name = unique_lab_name()
    up = ringlab("lab", "up", "--name", name, *options, env=env)
    try:
        assert up.returncode == 0, up.stderr
        yield CliLab(name, env, base)
    finally:
        down = ringlab("lab", "down", "--name", name, env=env)
        assert down.returncode == 0, down.stderr


def connect_as_nobody(path: Path) -> subprocess.CompletedProcess[str]:
    """A real unprivileged process tries to connect to a Unix socket; prints OK or the errno."""
    probe = (
        "import socket, sys\n"
        "s = socket.socket(socket.AF_UNIX)\n"
        "try:\n    s.connect(sys.argv[1])\nexcept OSError as e:\n    print(e.errno)\n"
        "else:\n    print('OK')\n"
    )
    return subprocess.run(
        ["runuser", "-u", "nobody", "--", "/usr/bin/python3", "-c", probe, str(path)],
        capture_output=True,
        text=True,
        timeout=30,
    )


# Colour and style codes (CSI sequences) and window titles (OSC) a terminal would interpret.
ANSI_ESCAPE = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07]*\x07")


@dataclasses.dataclass(frozen=True)
class Terminal:
    """What a `ringlab` command showed on a terminal, and how it exited."""

    returncode: int
    screen: str  # standard output as the terminal got it, "\r\n" made "\n"
    stderr: str

    def lines(self) -> list[str]:
        return self.screen.splitlines()


def ringlab_in_terminal(
    *args: str, columns: int = 80, env: dict[str, str] | None = None, timeout: float = 120
) -> Terminal:
    """Run the real `ringlab` with its standard output on a terminal `columns` wide.

    A pseudo-terminal of that size, as a user's would be (COLUMNS unset; rich takes a
    "dumb" TERM as 80 columns whatever the size, so TERM is xterm and the colour codes
    are taken out of the screen); standard error goes to a pipe, so a live view stays
    off the screen.
    """
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    full_env = {**os.environ, **(env or {}), "TERM": "xterm"}
    for name in ("COLUMNS", "LINES"):
        full_env.pop(name, None)
    with subprocess.Popen(
        [sys.executable, "-m", "ringlab", *args],
        stdin=subprocess.DEVNULL,
        stdout=slave,
        stderr=subprocess.PIPE,
        env=full_env,
    ) as proc:
        os.close(slave)
        assert proc.stderr is not None
        err = proc.stderr
        stderr_chunks: list[bytes] = []
        chunks: list[bytes] = []
        deadline = time.monotonic() + timeout
        open_fds = {master, err.fileno()}
        while open_fds:
            left = deadline - time.monotonic()
            assert left > 0, f"ringlab {' '.join(args)} did not finish in {timeout} s"
            ready, _, _ = select.select(list(open_fds), [], [], left)
            for fd in ready:
                try:
                    chunk = os.read(fd, 65536)
                except OSError:  # EIO: the last writer closed the terminal
                    chunk = b""
                if not chunk:
                    open_fds.discard(fd)
                    continue
                (chunks if fd == master else stderr_chunks).append(chunk)
        os.close(master)
        returncode = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    screen = b"".join(chunks).decode(errors="replace").replace("\r\n", "\n")
    screen = ANSI_ESCAPE.sub("", screen)
    return Terminal(returncode, screen, b"".join(stderr_chunks).decode(errors="replace"))


def resolved_testpmd_flow(**fields: Any) -> Any:
    """A resolved testpmd flow a->b on the lab's links (run/assemble.ResolvedFlow); the
    tests change only what they are about."""
    from ringlab.controller.run.assemble import ResolvedFlow

    base = ResolvedFlow(
        flow_id=4097,
        name="a->b",
        src_host="a",
        dst_host="b",
        src_interface="to-b",
        dst_interface="to-a",
        src_mac="02:00:00:00:00:01",
        dst_mac="02:00:00:00:00:02",
        frame_size=64,
        rate_pps=0,
        engine="testpmd",
        workers=1,
        stamping=True,
        qdisc_bypass=True,
        paged_skb=False,
        batch=0,
        ring_frames=0,
        rx_engine="testpmd",
    )
    return dataclasses.replace(base, **fields)
