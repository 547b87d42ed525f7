"""One run of an external tool as a process: start it, read it, stop it, never leak it.

The tool runs in a process group of its own, so a stop reaches whatever it forks;
SIGINT first (testpmd and PF_RING's tools print their final counters on it), then
SIGKILL when it has not exited within `STOP_GRACE_S`. It must never outlive the agent:
the child asks the kernel for SIGTERM when its parent dies (PR_SET_PDEATHSIG, set by
util-linux's `setpriv --pdeathsig TERM` before it execs the tool: no Python runs between
fork and exec, which in a process with gRPC's threads crashed the child now and then
with SIGSEGV). The kernel sends that signal when the *thread* that forked exits, so the
process is started by a keeper thread that lives exactly as long as it (reads its
output, reaps it). SIGTERM rather than SIGKILL: testpmd then closes its
ports, and an af_xdp port detaches its XDP program instead of leaving it on the
interface. The output (stdout and stderr, merged) goes line by line to the tool's
parser and into a bounded tail kept for the run's results.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

STOP_GRACE_S = 5.0
KILL_WAIT_S = 5.0
TAIL_LINES = 60


@dataclass(frozen=True)
class ToolSpec:
    tool: str  # the executable's name, as on PATH
    package: str  # where it comes from (for "not installed" messages)
    argv: list[str]
    # A directory the tool leaves behind (testpmd's /var/run/dpdk/<prefix>): removed after.
    runtime_dir: str = ""


class ToolFailed(Exception):
    """The tool is missing, refused its arguments, or exited or failed before or while
    forwarding; `message` is the reason with the tool's own words."""

    def __init__(self, message: str, busy_line: str = "", report: ToolReport | None = None) -> None:
        super().__init__(message)
        self.message = message
        # The tool's line saying another program holds the queue or device ("" otherwise).
        self.busy_line = busy_line
        self.report = report


@dataclass(frozen=True)
class ToolReport:
    command: str
    output: str  # the last TAIL_LINES lines
    exit: str  # "exit 0", "signal 9", "" (never started)


class OutputParser(Protocol):
    started: bool  # the tool says it is forwarding
    fatal: str  # a line that means it never will ("" while none)
    busy: str  # a line saying a queue/device is held by another program

    def feed(self, raw: str) -> None: ...


# Sets PR_SET_PDEATHSIG and execs the tool (util-linux, Essential on Debian).
_DIE_WITH_PARENT = ["setpriv", "--pdeathsig", "TERM", "--"]


def missing_message(spec: ToolSpec) -> str:
    return (
        f"{spec.tool} is not installed on this host (not on PATH); install Debian's"
        f" {spec.package} package (apt-get install {spec.package})"
    )


class ToolProcess:
    """A tool started once, read by its keeper thread, stopped once."""

    def __init__(
        self, spec: ToolSpec, parser: OutputParser, wall_ns: Callable[[], int] = time.time_ns
    ) -> None:
        self.spec = spec
        self.parser = parser
        self._wall = wall_ns
        self._tail: deque[str] = deque(maxlen=TAIL_LINES)
        self._proc: subprocess.Popen[str] | None = None
        self._spawned = threading.Event()
        self._exited = threading.Event()
        self._changed = threading.Condition()
        self._spawn_error = ""
        self.started_wall_ns = 0  # when the tool said it forwards
        self.stop_wall_ns = 0  # when it was told to stop
        # (wall_ns, packets) at each periodic reading; rates come from these.
        self.readings: list[tuple[int, int]] = []
        self._live: Callable[[], int] = lambda: 0

    @property
    def command_line(self) -> str:
        return " ".join(self.spec.argv)

    def start(self, live_packets: Callable[[], int]) -> None:
        """Spawn the tool (from a keeper thread of its own); returns once it is spawned."""
        if shutil.which(self.spec.argv[0]) is None:
            raise ToolFailed(missing_message(self.spec), report=self.report())
        self._live = live_packets
        threading.Thread(target=self._keep, name=f"tool-{self.spec.tool}", daemon=True).start()
        self._spawned.wait()
        if self._spawn_error:
            raise ToolFailed(self._spawn_error, report=self.report())

    def _keep(self) -> None:
        try:
            self._proc = subprocess.Popen(
                [*_DIE_WITH_PARENT, *self.spec.argv],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                errors="replace",
                bufsize=1,
                start_new_session=True,
            )
        except OSError as exc:
            self._spawn_error = f"{self.spec.tool} could not be started: {exc}"
            self._exited.set()
            self._spawned.set()
            return
        self._spawned.set()
        assert self._proc.stdout is not None
        for line in self._proc.stdout:
            self._tail.append(line.rstrip("\n"))
            with self._changed:
                before = self.parser.started
                readings = getattr(self.parser, "readings", 0)
                self.parser.feed(line)
                if self.parser.started and not before:
                    self.started_wall_ns = self._wall()
                if getattr(self.parser, "readings", 0) != readings:
                    self.readings.append((self._wall(), self._live()))
                self._changed.notify_all()
        self._proc.wait()
        if self.spec.runtime_dir:
            shutil.rmtree(self.spec.runtime_dir, ignore_errors=True)
        with self._changed:
            self._exited.set()
            self._changed.notify_all()

    @property
    def exited(self) -> bool:
        return self._exited.is_set()

    def wait_started(self, timeout_s: float, stop: threading.Event | None = None) -> None:
        """Until the tool forwards; ToolFailed when it fails, exits or takes too long."""
        deadline = time.monotonic() + timeout_s
        while True:
            with self._changed:
                busy, fatal = self.parser.busy, self.parser.fatal
                started, exited = self.parser.started, self._exited.is_set()
                left = deadline - time.monotonic()
                waiting = not (busy or fatal or started or exited) and left > 0
                if waiting and not (stop is not None and stop.is_set()):
                    self._changed.wait(min(left, 0.05))
                    continue
            break
        # Decided under the lock, acted on outside it: stop() waits for the keeper thread.
        if busy:
            self.stop()
            raise self._failure(f"{self.spec.tool}: {busy}", busy=True)
        if fatal:
            self.stop()
            raise self._failure(f"{self.spec.tool} failed: {fatal}")
        if started or (stop is not None and stop.is_set()):
            return
        if exited:
            raise self._failure(
                f"{self.spec.tool} exited before forwarding ({self.report().exit}):"
                f" {self._last_line()}"
            )
        self.stop()
        raise self._failure(f"{self.spec.tool} did not start forwarding within {timeout_s:g}s")

    def _last_line(self) -> str:
        lines = [line.strip() for line in self._tail if line.strip()]
        return lines[-1] if lines else "(no output)"

    def _failure(self, message: str, busy: bool = False) -> ToolFailed:
        self._exited.wait(STOP_GRACE_S + KILL_WAIT_S)
        busy_line = self.parser.busy if busy else ""
        return ToolFailed(message, busy_line=busy_line, report=self.report())

    def wait_until(self, until_mono_ns: int, stop: threading.Event) -> None:
        """Until the instant, a stop, or the tool's exit, whichever is first."""
        while not stop.is_set() and not self._exited.is_set():
            left = (until_mono_ns - time.monotonic_ns()) / 1e9
            if left <= 0:
                return
            stop.wait(min(left, 0.05))

    def stop(self) -> None:
        """SIGINT to the group, SIGKILL after STOP_GRACE_S; returns once it has exited."""
        proc = self._proc
        if proc is None or self._exited.is_set():
            return
        if not self.stop_wall_ns:
            self.stop_wall_ns = self._wall()
        self._signal(proc.pid, signal.SIGINT)
        if not self._exited.wait(STOP_GRACE_S):
            self._signal(proc.pid, signal.SIGKILL)
            self._exited.wait(KILL_WAIT_S)

    @staticmethod
    def _signal(pid: int, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signum)

    def report(self) -> ToolReport:
        proc = self._proc
        if proc is None or proc.returncode is None:
            status = ""
        elif proc.returncode < 0:
            status = f"signal {-proc.returncode}"
        else:
            status = f"exit {proc.returncode}"
        return ToolReport(self.command_line, "\n".join(self._tail), status)
