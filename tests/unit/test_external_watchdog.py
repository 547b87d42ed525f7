"""The tool watchdog (agent/external/watchdog.py) as a real process over a real `sleep`."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path


def watched(runtime_dir: Path) -> tuple[subprocess.Popen[bytes], subprocess.Popen[bytes]]:
    tool = subprocess.Popen(["sleep", "60"], start_new_session=True)
    module = "ringlab.agent.external.watchdog"
    watchdog = subprocess.Popen(
        [sys.executable, "-P", "-m", module, str(tool.pid), "0.5", str(runtime_dir)],
        stdin=subprocess.PIPE,
    )
    return tool, watchdog


def test_a_silent_agent_gets_its_tool_stopped_and_its_runtime_dir_removed(tmp_path: Path) -> None:
    runtime = tmp_path / "dpdk-prefix"
    runtime.mkdir()
    tool, watchdog = watched(runtime)
    try:
        assert tool.wait(timeout=10) == -15  # SIGTERM, about 0.5 s after the last beat
        assert watchdog.wait(timeout=10) == 0
        assert not runtime.exists()
    finally:
        tool.kill()
        watchdog.kill()
        assert watchdog.stdin is not None
        watchdog.stdin.close()


def test_heartbeats_keep_the_tool_and_eof_after_its_end_is_quiet(tmp_path: Path) -> None:
    tool, watchdog = watched(tmp_path / "none")
    assert watchdog.stdin is not None
    try:
        deadline = time.monotonic() + 2.0  # four timeouts' worth of beats
        while time.monotonic() < deadline:
            watchdog.stdin.write(b".")
            watchdog.stdin.flush()
            time.sleep(0.1)
        assert tool.poll() is None
        tool.terminate()
        tool.wait(timeout=10)
        watchdog.stdin.close()
        assert watchdog.wait(timeout=10) == 0
    finally:
        tool.kill()
        watchdog.kill()
