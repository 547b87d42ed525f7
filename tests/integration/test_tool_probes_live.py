"""External engines' tools on real agents: `ringlab probe` finds the real dpdk-testpmd and
its version, and PF_RING's tools missing.

The lab's agents run with a PATH that holds only a link to this machine's dpdk-testpmd,
so PF_RING's tools are missing there even on a machine that has them (the fixture is
shared with test_tool_preflight_live.py).
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import needs_root, ringlab
from live_agents import running_lab

from ringlab.controller.remote.lab import Lab

TESTPMD = shutil.which("dpdk-testpmd")
needs_testpmd = pytest.mark.skipif(
    TESTPMD is None, reason="dpdk-testpmd is not installed (Debian: apt install dpdk-dev)"
)


@pytest.fixture
def testpmd_only_lab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Lab]:
    assert TESTPMD is not None
    tools = tmp_path / "bin"
    tools.mkdir()
    (tools / "dpdk-testpmd").symlink_to(TESTPMD)
    with contextlib.ExitStack() as stack:
        with monkeypatch.context() as env:
            # The agents inherit this PATH when the lab starts them; the test does not.
            env.setenv("PATH", str(tools))
            lab = stack.enter_context(running_lab(tmp_path / "labs"))
        yield lab


def debian_dpdk_version() -> str | None:
    """The dpdk package's upstream version ("22.11.11" of "22.11.11-0+deb12u1")."""
    try:
        done = subprocess.run(
            ["dpkg-query", "-W", "-f", "${Version}", "dpdk-dev"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except OSError:
        return None
    if done.returncode != 0 or not done.stdout:
        return None
    return done.stdout.split(":")[-1].split("-")[0]


@needs_root
@needs_testpmd
def test_probe_reports_testpmd_with_its_version_and_pfring_tools_missing(
    testpmd_only_lab: Lab, tmp_path: Path
) -> None:
    # DPDK's default runtime directory, which `dpdk-testpmd -v` alone would create.
    default_runtime = Path("/var/run/dpdk/rte")
    runtime_before = default_runtime.exists()
    env = {"RINGLAB_LAB_DIR": str(tmp_path / "labs")}
    proc = ringlab("probe", "--lab", testpmd_only_lab.name, "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    expected_version = debian_dpdk_version()
    for host, report in json.loads(proc.stdout).items():
        tools = {t["name"]: t for t in report["tools"]}
        testpmd = tools["dpdk-testpmd"]
        assert testpmd["path"] == str(tmp_path / "bin" / "dpdk-testpmd"), host
        assert testpmd["version"], testpmd
        if expected_version is not None:
            assert testpmd["version"] == expected_version
        for name in ("pfsend", "pfcount", "zsend", "zcount"):
            assert tools[name]["path"] is None, (host, name)
            assert tools[name]["version"] is None
    # Asking testpmd its version left no DPDK runtime state behind.
    assert default_runtime.exists() == runtime_before

    text = ringlab("probe", "--lab", testpmd_only_lab.name, env=env)
    assert text.returncode == 0, text.stderr
    assert "missing pfsend, pfcount, zsend, zcount" in text.stdout
    assert "dpdk-testpmd " in text.stdout
