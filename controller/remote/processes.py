"""Processes the lab starts and watches: agents, and the controller that owns a lab.

Which process owns something is told apart from a later process with the same pid.

A temporary lab records its controller as (pid, start time, boot id). A pid alone is
not enough: after the controller dies the kernel may give its pid to any new process,
and a lab must not be kept (or an unrelated process killed) because of that. The start
time (clock ticks since boot, field 22 of /proc/PID/stat) differs for a reused pid, and
the boot id for a pid seen in an earlier boot.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

PROC = Path("/proc")

# Agents this process started, so they are waited for (and not warned about) when stopped.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


@dataclass(frozen=True)
class ProcessIdentity:
    pid: int
    start_ticks: int
    boot_id: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ProcessIdentity:
        return cls(int(data["pid"]), int(data["start_ticks"]), str(data["boot_id"]))


def boot_id() -> str:
    return (PROC / "sys/kernel/random/boot_id").read_text().strip()


def _stat(pid: int) -> tuple[str, int] | None:
    """(state letter, start time in ticks) of `pid`, or None when there is no such process."""
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # The command name (field 2) may hold spaces and parentheses: split after the last ')'.
    fields = text[text.rindex(")") + 2 :].split()
    return fields[0], int(fields[19])


def identity(pid: int | None = None) -> ProcessIdentity:
    """This process's identity, or `pid`'s (which must exist)."""
    pid = os.getpid() if pid is None else pid
    stat = _stat(pid)
    if stat is None:
        raise ProcessLookupError(pid)
    return ProcessIdentity(pid, stat[1], boot_id())


def alive(owner: ProcessIdentity) -> bool:
    """Whether the very process `owner` names still runs (a zombie has ended)."""
    if owner.boot_id != boot_id():
        return False
    stat = _stat(owner.pid)
    return stat is not None and stat[1] == owner.start_ticks and stat[0] not in ("Z", "X")


def command_line(pid: int) -> list[str]:
    """The arguments `pid` was started with; [] when it is gone or unreadable."""
    try:
        raw = (PROC / str(pid) / "cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def listening_under(prefix: str) -> list[int]:
    """Agent processes (`... serve --listen unix:PREFIX...`) serving sockets under `prefix`."""
    found = []
    for entry in PROC.iterdir():
        if entry.name.isdigit():
            args = command_line(int(entry.name))
            if "serve" in args and any(a.startswith(prefix) for a in args):
                found.append(int(entry.name))
    return found


def started(child: subprocess.Popen[bytes]) -> None:
    """Remember an agent this process started, to wait for it when it is stopped."""
    _CHILDREN[child.pid] = child


def is_child(pid: int) -> bool:
    """Whether `pid` is an agent this process started (and has not waited for yet)."""
    return pid in _CHILDREN


def _wait_exit(pid: int, timeout_s: float) -> bool:
    """True once `pid` has exited (pidfd, no polling loop); False on timeout."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        readable, _, _ = select.select([fd], [], [], timeout_s)
        return bool(readable)
    finally:
        os.close(fd)


def _reap(pid: int) -> None:
    child = _CHILDREN.pop(pid, None)
    if child is not None:
        child.wait()
        return
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def stop(pid: int) -> None:
    """SIGTERM `pid`, SIGKILL after 5 s; waited for if it is our child."""
    if pid <= 0:
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        _reap(pid)
        return
    if not _wait_exit(pid, 5.0):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        _wait_exit(pid, 5.0)
    _reap(pid)
