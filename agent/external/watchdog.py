"""Stops an external tool whose agent went silent: the heartbeat of agent/external/.

    python -P -m ringlab.agent.external.watchdog PGID TIMEOUT_S [RUNTIME_DIR]

A process of its own beside the tool (process.py starts one per tool): it reads the
agent's heartbeat bytes on stdin, and when none came for TIMEOUT_S (the agent is frozen,
e.g. SIGSTOP) or stdin closes (the tool ended, or the agent died), it sends SIGTERM to
the tool's process group and SIGKILL 5 s later if the group is still there. The kernel's
parent-death signal covers an agent that dies; this covers one that stops, which nothing
inside the agent can: ringlab's own senders have the same heartbeat (rings/isolated.py).
It gets the parent-death signal too (SIGTERM): then it stops the group the same way.
Either way it removes the tool's RUNTIME_DIR (testpmd's /var/run/dpdk/<prefix>) once the
group is gone, which an agent that died or froze cannot.
"""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import signal
import sys
import time
from types import FrameType

_KILL_AFTER_S = 5.0


def _gone(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _signal(pgid: int, signum: int) -> None:
    # The group may end between a look and a signal (the tool got SIGTERM from its own
    # parent-death signal at the same moment).
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


def stop_group(pgid: int) -> None:
    if _gone(pgid):
        return
    _signal(pgid, signal.SIGTERM)
    deadline = time.monotonic() + _KILL_AFTER_S
    while time.monotonic() < deadline:
        if _gone(pgid):
            return
        time.sleep(0.05)
    _signal(pgid, signal.SIGKILL)


_stop_now = False


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    # A flag, not an exception: SIGTERM may come while the group is being stopped or the
    # runtime dir removed (stdin's EOF and the parent-death signal arrive together).
    global _stop_now
    _stop_now = True


def watch(pgid: int, timeout_s: float) -> None:
    last = time.monotonic()
    while not _stop_now:
        ready, _, _ = select.select([0], [], [], min(0.1, timeout_s / 4))
        if ready:
            if not os.read(0, 64):
                break  # EOF: the tool ended (the agent closed it) or the agent died
            last = time.monotonic()
        elif time.monotonic() - last > timeout_s:
            break
    stop_group(pgid)


def main(argv: list[str]) -> int:
    if len(argv) not in (3, 4):
        print(f"usage: {argv[0]} PGID TIMEOUT_S [RUNTIME_DIR]", file=sys.stderr)
        return 2
    pgid = int(argv[1])
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the tool's group may get Ctrl-C
    signal.signal(signal.SIGTERM, _on_sigterm)  # the parent-death signal
    watch(pgid, float(argv[2]))
    if len(argv) == 4:
        # Once the group is gone (a SIGKILLed group's last process may take a moment).
        deadline = time.monotonic() + _KILL_AFTER_S
        while not _gone(pgid) and time.monotonic() < deadline:
            time.sleep(0.05)
        shutil.rmtree(argv[3], ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
