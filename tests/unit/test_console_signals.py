"""The `ringlab` command's SIGTERM handling, in the process that installed it and in forks."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import os, signal, sys
from ringlab import cli
cli._HANDLER_OWNER = os.getpid()
signal.signal(signal.SIGTERM, cli._terminate_like_ctrl_c)
pid = os.fork()
if pid == 0:
    try:
        os.kill(os.getpid(), signal.SIGTERM)
        signal.pause()
    except KeyboardInterrupt:
        os._exit(3)  # would have run a copy of the controller's cleanup
    os._exit(0)
_, status = os.waitpid(pid, 0)
print("child", os.waitstatus_to_exitcode(status))
try:
    os.kill(os.getpid(), signal.SIGTERM)
    signal.pause()
except KeyboardInterrupt:
    print("owner interrupted")
"""


def test_sigterm_interrupts_the_command_but_kills_a_forked_helper_outright() -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:2] == ["child -15", "owner interrupted"]


BACKGROUND = """
import os, signal
from ringlab import cli
signal.signal(signal.SIGINT, signal.SIG_IGN)  # as a shell starts a background job
cli._HANDLER_OWNER = os.getpid()
signal.signal(signal.SIGTERM, cli._terminate_like_ctrl_c)
signal.alarm(10)  # a handler that does nothing must fail this test, not hang it
try:
    os.kill(os.getpid(), signal.SIGTERM)
    signal.pause()
except KeyboardInterrupt:
    print("interrupted")
"""


def test_sigterm_stops_a_command_started_in_the_background_with_sigint_ignored() -> None:
    done = subprocess.run(
        [sys.executable, "-c", BACKGROUND], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "interrupted\n"
