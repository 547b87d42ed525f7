"""Each sending worker in a process of its own.

A sender must start at a scheduled instant to within a fraction of a millisecond. As
a thread of the agent it has to win the GIL back from the agent's gRPC loop and
receivers when it wakes, and when the thread holding the GIL has just been preempted
by another process, that costs a whole scheduler slice (milliseconds). With sender
threads, starts under CPU load were 1.5-4 ms late on about one phase in ten; this and
the priority drop in start.py were the causes. In a process of its own the sending
thread is the only one that ever wants its interpreter's GIL at the start.

Processes come from a multiprocessing fork server started when the agent starts
(`warm_up`): forking the agent itself would copy a process with gRPC threads in it.
A worker first joins the network namespace of the thread that created it (network
namespaces are per thread, and the fork server keeps the one it started in), so it
sends from wherever an in-process sender would have. Each worker opens its
socket and ring, waits for one `run`, sends, returns its TxResult and exits. Live
counters go through two shared int64s. A worker stops when told to, when its pipe
to the agent closes (agent killed), and when the agent's heartbeat stops for
`HEARTBEAT_TIMEOUT_S` (agent frozen, e.g. SIGSTOP): traffic never outlives, or runs
on behind, the agent that started it.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import multiprocessing.forkserver
import os
import threading
import time
from multiprocessing.connection import Connection, wait
from typing import Any

from ringlab.agent.rings.api import Progress, TxConfig, TxResult, open_sender

_PRELOAD = [
    "numpy",
    "ringlab.agent.rings.isolated",
    "ringlab.agent.rings.tx",
    "ringlab.agent.rings.sendto",
    "ringlab.agent.rings.xdp.sender",
]
_context = multiprocessing.get_context("forkserver")
_context.set_forkserver_preload(_PRELOAD)
OPEN_TIMEOUT_S = 30.0
_STOP_POLL_S = 0.05
HEARTBEAT_EVERY_S = 0.5
HEARTBEAT_TIMEOUT_S = 2.0
_EXIT_TIMEOUT_S = 5.0
_CLONE_NEWNET = 0x40000000


def warm_up() -> None:
    """Start the fork server now, before the agent serves, not in the first Prepare."""
    multiprocessing.forkserver.ensure_running()


class SharedProgress(Progress):
    """Progress counters in shared memory: written by the worker, read by the agent."""

    def __init__(self, counters: Any) -> None:  # a RawArray of two c_int64
        self._counters = counters

    @property  # type: ignore[override]
    def packets(self) -> int:
        return int(self._counters[0])

    @packets.setter
    def packets(self, value: int) -> None:
        self._counters[0] = value

    @property  # type: ignore[override]
    def bytes(self) -> int:
        return int(self._counters[1])

    @bytes.setter
    def bytes(self, value: int) -> None:
        self._counters[1] = value


class IsolatedSender:
    """The Sender interface, with the real sender running in a worker process."""

    def __init__(self, config: TxConfig) -> None:
        counters = _context.RawArray(ctypes.c_int64, 2)
        self.progress: Progress = SharedProgress(counters)
        self._conn, theirs = _context.Pipe()
        name = f"ringlab-tx-{config.flow_id}-{config.worker}"
        netns = f"/proc/{os.getpid()}/task/{threading.get_native_id()}/ns/net"
        self._process = _context.Process(
            target=_worker_main, args=(theirs, config, counters, netns), name=name, daemon=True
        )
        self._process.start()
        theirs.close()
        try:
            ready = self._reply(OPEN_TIMEOUT_S, "open its socket")
        except BaseException:
            self.close()
            raise
        if ready[0] == "error":
            self.close()
            raise ready[1]  # the exception open_sender raised in the worker

    @property
    def pid(self) -> int | None:
        return self._process.pid

    def run(self, start_mono_ns: int, duration_ns: int, stop: threading.Event) -> TxResult:
        self._conn.send(("run", start_mono_ns, duration_ns))
        told_to_stop = False
        next_beat = time.monotonic() + HEARTBEAT_EVERY_S
        while not wait([self._conn, self._process.sentinel], _STOP_POLL_S):
            if stop.is_set() and not told_to_stop:
                self._conn.send(("stop",))
                told_to_stop = True
            elif time.monotonic() >= next_beat:
                self._conn.send(("alive",))
                next_beat += HEARTBEAT_EVERY_S
        reply = self._reply(None, "send")
        if reply[0] != "result":
            raise RuntimeError(f"sender process failed: {reply[-1]}")
        result: TxResult = reply[1]
        return result

    def _reply(self, timeout_s: float | None, doing: str) -> tuple[Any, ...]:
        """The worker's next message; None waits as long as the worker lives."""
        ready = wait([self._conn, self._process.sentinel], timeout_s)
        if self._conn in ready:
            try:
                reply: tuple[Any, ...] = self._conn.recv()
                return reply
            except EOFError:
                pass
        if not ready:
            raise OSError(f"sender process did not {doing} within {timeout_s} s")
        self._process.join(_EXIT_TIMEOUT_S)
        raise RuntimeError(
            f"sender process exited (code {self._process.exitcode}) before it could {doing}"
        )

    def close(self) -> None:
        self._conn.close()  # the worker stops at EOF if it is still sending
        self._process.join(_EXIT_TIMEOUT_S)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()


def _join_netns(path: str) -> None:
    """Enter the network namespace at `path` unless this process is already in it."""
    target, mine = os.stat(path), os.stat("/proc/self/ns/net")
    if (target.st_dev, target.st_ino) == (mine.st_dev, mine.st_ino):
        return  # no CAP_SYS_ADMIN needed for the common case
    fd = os.open(path, os.O_RDONLY)
    try:
        if ctypes.CDLL(None, use_errno=True).setns(fd, _CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"cannot enter the agent's network namespace: {os.strerror(err)}")
    finally:
        os.close(fd)


def _worker_main(conn: Connection, config: TxConfig, counters: Any, netns: str) -> None:
    try:
        _join_netns(netns)
        sender = open_sender(config)
    except Exception as exc:
        try:
            conn.send(("error", exc))
        except Exception:  # an exception that does not pickle: keep its text
            conn.send(("error", OSError(str(exc))))
        return
    sender.progress = SharedProgress(counters)
    try:
        conn.send(("ready",))
        request = conn.recv()
        if request[0] != "run":
            return
        stop = threading.Event()
        threading.Thread(target=_stop_on_message, args=(conn, stop), daemon=True).start()
        try:
            result = sender.run(request[1], request[2], stop)
        except Exception as exc:
            conn.send(("failed", str(exc)))
            return
        conn.send(("result", result))
    except (EOFError, BrokenPipeError):
        pass  # the agent went away
    finally:
        sender.close()


def _stop_on_message(conn: Connection, stop: threading.Event) -> None:
    # Waits with the GIL released; wakes twice a second for a heartbeat.
    with contextlib.suppress(EOFError, OSError):
        while conn.poll(HEARTBEAT_TIMEOUT_S) and conn.recv()[0] == "alive":
            pass
    stop.set()
