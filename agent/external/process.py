"""One run of an external tool as a process: start it, read it, stop it, never leak it.

The tool runs in a process group of its own, so a stop reaches whatever it forks.
An interactive tool (testpmd -i) is told to stop on its stdin first (it prints its final
counters); then, or for the others, SIGINT (testpmd and PF_RING's tools print their
final counters on it), then SIGKILL when it has not exited within `STOP_GRACE_S`.

It must never outlive the agent: the child asks the kernel for SIGTERM when its parent
dies (PR_SET_PDEATHSIG, set by util-linux's `setpriv --pdeathsig TERM` before it execs
the tool: no Python runs between fork and exec, which in a process with gRPC's threads
crashed the child now and then with SIGSEGV when a preexec_fn called prctl). The kernel
sends that signal when the *thread* that forked exits, so the process is started by a
keeper thread that lives exactly as long as it (reads its output, reaps it). SIGTERM
rather than SIGKILL: testpmd then closes its ports, and an af_xdp port detaches its XDP
program instead of leaving it on the interface. An interactive tool also reads EOF on
its stdin when the agent dies, and testpmd quits on it. An agent that is frozen (SIGSTOP)
rather than dead is covered by a heartbeat: a watchdog process beside the tool
(watchdog.py) gets a byte every HEARTBEAT_EVERY_S and stops the tool's group when none
came for HEARTBEAT_TIMEOUT_S, as ringlab's own sending workers stop (rings/isolated.py).

The output (stdout and stderr, merged, made line-buffered by coreutils' stdbuf) goes
line by line to the tool's parser and into a bounded tail kept for the run's results.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

STOP_GRACE_S = 5.0
HEARTBEAT_EVERY_S = 0.5
HEARTBEAT_TIMEOUT_S = 2.0
KILL_WAIT_S = 5.0
TAIL_LINES = 80
# Sets PR_SET_PDEATHSIG and execs the tool (util-linux, Essential on Debian); by its
# path, so an agent whose PATH lacks /usr/bin still finds it.
_DIE_WITH_PARENT = [shutil.which("setpriv") or "/usr/bin/setpriv", "--pdeathsig", "TERM", "--"]
# The tools print with stdio, which a pipe makes block-buffered: their lines and each
# reading would arrive in 4 KiB lumps, late (seen: testpmd's start noticed at its stop).
_LINE_BUFFERED = [shutil.which("stdbuf") or "/usr/bin/stdbuf", "-oL", "-eL"]


@dataclass(frozen=True)
class ToolSpec:
    tool: str  # the executable's name, as on PATH
    package: str  # where it comes from (for "not installed" messages)
    argv: list[str]
    # A directory the tool leaves behind (testpmd's /var/run/dpdk/<prefix>): removed after.
    runtime_dir: str = ""
    # Interactive tools are driven on stdin: what asks for a reading, what starts the
    # traffic, what stops it (and quits). Empty: the tool runs by itself from its start.
    poll_input: str = ""
    start_input: str = ""
    stop_input: str = ""

    @property
    def interactive(self) -> bool:
        return bool(self.start_input)


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
    exit: str  # "exit 0", "signal 9", "" (never started or still running)


class OutputParser(Protocol):
    ready: bool  # the tool has its port and takes commands (or forwards, if not interactive)
    started: bool  # the tool says it is forwarding
    fatal: str  # a line that means it never will ("" while none)
    busy: str  # a line saying a queue/device is held by another program
    readings: int  # complete counter readings so far

    def feed(self, raw: str) -> None: ...


def missing_message(spec: ToolSpec) -> str:
    return (
        f"{spec.tool} is not installed on this host (not on the agent's PATH); it comes"
        f" with {spec.package}"
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
        self._stdin_lock = threading.Lock()
        self._spawn_error = ""
        self.started_wall_ns = 0  # when the traffic began (told to, or said so)
        self.stop_wall_ns = 0  # when it was told to stop
        # (wall_ns, packets) at each reading; the receive window comes from these.
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
        if self.spec.poll_input:
            self.send(self.spec.poll_input)  # answered once the tool takes commands

    def _keep(self) -> None:
        try:
            self._proc = subprocess.Popen(
                [*_DIE_WITH_PARENT, *_LINE_BUFFERED, *self.spec.argv],
                stdin=subprocess.PIPE if self.spec.interactive else subprocess.DEVNULL,
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
        watchdog = self._start_watchdog(self._proc.pid)
        self._spawned.set()
        assert self._proc.stdout is not None
        for line in self._proc.stdout:
            self._tail.append(line.rstrip("\r\n"))
            with self._changed:
                before = self.parser.readings
                started = self.parser.started
                self.parser.feed(line)
                if self.parser.started and not started and not self.started_wall_ns:
                    self.started_wall_ns = self._wall()
                if self.parser.readings != before:
                    self.readings.append((self._wall(), self._live()))
                self._changed.notify_all()
        self._proc.wait()
        with self._stdin_lock:
            for pipe in (self._proc.stdout, self._proc.stdin):
                if pipe is not None:
                    with contextlib.suppress(OSError):
                        pipe.close()
        if self.spec.runtime_dir:
            shutil.rmtree(self.spec.runtime_dir, ignore_errors=True)
        with self._changed:
            self._exited.set()
            self._changed.notify_all()
        if watchdog is not None:
            # EOF tells it the tool ended; it finds the group gone and exits.
            with contextlib.suppress(OSError):
                assert watchdog.stdin is not None
                watchdog.stdin.close()
            with contextlib.suppress(subprocess.TimeoutExpired):
                watchdog.wait(10)

    def _start_watchdog(self, pgid: int) -> subprocess.Popen[bytes] | None:
        """The tool's watchdog, fed by a heartbeat thread of this process (watchdog.py)."""
        command = [
            *_DIE_WITH_PARENT,
            sys.executable,
            "-P",
            "-m",
            "ringlab.agent.external.watchdog",
            str(pgid),
            str(HEARTBEAT_TIMEOUT_S),
            *([self.spec.runtime_dir] if self.spec.runtime_dir else []),
        ]
        try:
            watchdog = subprocess.Popen(
                command,
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        except OSError as exc:
            self._tail.append(f"ringlab: no watchdog for the tool: {exc}")
            return None

        def beat() -> None:
            assert watchdog.stdin is not None
            while not self._exited.wait(HEARTBEAT_EVERY_S):
                try:
                    watchdog.stdin.write(b".")
                    watchdog.stdin.flush()
                except (OSError, ValueError):
                    return

        threading.Thread(target=beat, name=f"tool-beat-{pgid}", daemon=True).start()
        return watchdog

    @property
    def exited(self) -> bool:
        return self._exited.is_set()

    def send(self, text: str) -> None:
        """Write commands to an interactive tool (nothing when it has gone)."""
        proc = self._proc
        if proc is None or proc.stdin is None or self._exited.is_set():
            return
        with self._stdin_lock, contextlib.suppress(OSError, ValueError):
            proc.stdin.write(text)
            proc.stdin.flush()

    def begin(self) -> None:
        """Start the traffic of an interactive tool now."""
        self.started_wall_ns = self._wall()
        self.send(self.spec.start_input)

    def poll(self) -> None:
        if self.spec.poll_input:
            self.send(self.spec.poll_input)

    def wait_ready(self, timeout_s: float, stop: threading.Event | None = None) -> None:
        """Until the tool is ready; ToolFailed when it fails, exits or takes too long."""
        deadline = time.monotonic() + timeout_s
        while True:
            with self._changed:
                busy, fatal = self.parser.busy, self.parser.fatal
                ready, exited = self.parser.ready, self._exited.is_set()
                left = deadline - time.monotonic()
                stopped = stop is not None and stop.is_set()
                if not (busy or fatal or ready or exited or stopped) and left > 0:
                    self._changed.wait(min(left, 0.05))
                    continue
            break
        # Decided under the lock, acted on outside it: stop() waits for the keeper thread.
        if busy:
            self.stop()
            raise self._failure(f"{self.spec.tool}: {busy}", busy_line=busy)
        if fatal:
            self.stop()
            raise self._failure(f"{self.spec.tool} failed: {fatal}")
        if ready or stopped:
            return
        if exited:
            raise self._failure(
                f"{self.spec.tool} exited before forwarding ({self.report().exit}):"
                f" {self.last_line()}"
            )
        self.stop()
        raise self._failure(f"{self.spec.tool} was not ready within {timeout_s:g}s")

    def last_line(self) -> str:
        lines = [line.strip() for line in self._tail if line.strip()]
        return lines[-1] if lines else "(no output)"

    def _failure(self, message: str, busy_line: str = "") -> ToolFailed:
        self._exited.wait(STOP_GRACE_S + KILL_WAIT_S)
        return ToolFailed(message, busy_line=busy_line, report=self.report())

    def wait_until(self, until_mono_ns: int, stop: threading.Event, poll_s: float = 0.0) -> None:
        """Until the instant, a stop, or the tool's exit, whichever is first; asks an
        interactive tool for a reading every `poll_s` meanwhile."""
        next_poll = time.monotonic() + poll_s
        while not stop.is_set() and not self._exited.is_set():
            left = (until_mono_ns - time.monotonic_ns()) / 1e9
            if left <= 0:
                return
            if poll_s and time.monotonic() >= next_poll:
                self.poll()
                next_poll += poll_s
            stop.wait(min(left, 0.05))

    def stop(self) -> None:
        """Stop commands (interactive), SIGINT, SIGKILL, each after the one before had
        STOP_GRACE_S; returns once the tool has exited."""
        proc = self._proc
        if proc is None or self._exited.is_set():
            return
        if not self.stop_wall_ns:
            self.stop_wall_ns = self._wall()
        if self.spec.stop_input:
            self.send(self.spec.stop_input)
            if self._exited.wait(STOP_GRACE_S):
                return
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
