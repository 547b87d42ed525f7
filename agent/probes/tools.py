"""External engines' tools on the agent's PATH: whether each is there, and its version.

The preflight refuses a flow whose engine's tool is missing (controller/checks/tools.py).
A version is asked only with options that print it and exit before the tool touches
anything, bounded by a timeout; a tool without such an option has version None and a
note saying so.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable

from ringlab.probe_model import EXTERNAL_TOOLS, ToolProbe

from . import dpdk, pfring

# Runs a command and returns what it printed (stdout, then stderr); raises OSError or
# subprocess.TimeoutExpired. A seam for tests.
Runner = Callable[[list[str], float], str]
Which = Callable[[str], str | None]

_VERSION_OPTIONS: dict[str, tuple[tuple[str, ...], Callable[[str], str | None]]] = {
    # EAL prints "RTE Version" while it parses -v, and -h makes it exit right after its
    # options: no hugepages, no PCI scan, nothing under /var/run/dpdk. (-v alone goes on
    # to initialise EAL and testpmd, which creates runtime files and memory pools.)
    "dpdk-testpmd": (("-v", "-h"), dpdk.parse_testpmd_version),
    # -h prints the banner with pfring_zc_version() and exits (zsend with status 255).
    "zsend": (("-h",), pfring.parse_zc_tool_version),
    "zcount": (("-h",), pfring.parse_zc_tool_version),
}
_NO_VERSION_OPTION = {
    "pfsend": "pfsend has no version option (its -h prints only the usage)",
    "pfcount": "pfcount has no version option (its -h prints only the usage)",
}


def run_for_output(command: list[str], timeout_s: float) -> str:
    done = subprocess.run(
        command,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        errors="replace",
        timeout=timeout_s,
        check=False,
    )
    return done.stdout + done.stderr


def probe_tools(
    which: Which = shutil.which, run: Runner = run_for_output, timeout_s: float = 5.0
) -> list[ToolProbe]:
    return [probe_tool(name, which, run, timeout_s) for name in EXTERNAL_TOOLS]


def probe_tool(name: str, which: Which, run: Runner, timeout_s: float) -> ToolProbe:
    path = which(name)
    if path is None:
        return ToolProbe(name=name, version_note="not on the agent's PATH")
    if name not in _VERSION_OPTIONS:
        return ToolProbe(name=name, path=path, version_note=_NO_VERSION_OPTION.get(name, ""))
    options, parse = _VERSION_OPTIONS[name]
    asked = " ".join((name, *options))
    try:
        output = run([path, *options], timeout_s)
    except subprocess.TimeoutExpired:
        return ToolProbe(name, path, None, f"`{asked}` did not exit within {timeout_s:g} s")
    except OSError as exc:
        return ToolProbe(name, path, None, f"`{asked}` could not run: {exc.strerror or exc}")
    version = parse(output)
    if version is None:
        first = next((line for line in output.splitlines() if line.strip()), "nothing")
        return ToolProbe(name, path, None, f"`{asked}` printed no version (first line: {first})")
    return ToolProbe(name, path, version, f"from `{asked}`")
