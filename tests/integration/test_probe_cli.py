"""`ringlab probe` and the preflight guard, through the real command line."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import needs_root, ringlab


def default_route_interface() -> str | None:
    from pyroute2 import IPRoute

    with IPRoute() as ipr:
        for route in ipr.get_default_routes():
            index = route.get_attr("RTA_OIF")
            if index:
                return str(ipr.get_links(index)[0].get_attr("IFLA_IFNAME"))
    return None


@needs_root
def test_probe_json_on_the_lab_lists_veth_interfaces(lab: object) -> None:
    proc = ringlab("probe", "--lab", lab.name, "--json")  # type: ignore[attr-defined]
    assert proc.returncode == 0, proc.stderr
    reports = json.loads(proc.stdout)
    assert set(reports) == {"a", "b"}
    for host, peer in (("a", "b"), ("b", "a")):
        interfaces = {i["name"]: i for i in reports[host]["interfaces"]}
        link = interfaces[f"to-{peer}"]
        assert link["driver"] == "veth"
        assert "rx_packets" in link["counters"]
        # Inside a lab namespace nothing is the management interface.
        assert not any(i["management"] for i in interfaces.values())


@needs_root
def test_probe_local_marks_the_default_route_interface_as_management() -> None:
    interface = default_route_interface()
    if interface is None:
        pytest.skip("this machine has no default route, so it has no management interface")
    proc = ringlab("probe", "--local", "--json")
    assert proc.returncode == 0, proc.stderr
    interfaces = {i["name"]: i for i in json.loads(proc.stdout)["local"]["interfaces"]}
    assert interfaces[interface]["management"] is True


@pytest.fixture
def root_namespace_agent(tmp_path: Path) -> Iterator[str]:
    """An agent in the root namespace on a Unix socket; it is only probed, never sends."""
    socket_path = tmp_path / "root-agent.sock"
    agent = subprocess.Popen(
        [sys.executable, "-m", "ringlab", "agent", "serve", "--listen", f"unix:{socket_path}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert agent.stdout is not None
        # The agent prints its listening line once the server is up.
        line = agent.stdout.readline()
        assert "listening" in line, line
        yield f"unix:{socket_path}"
    finally:
        agent.terminate()
        agent.wait(timeout=10)
        if agent.stdout:
            agent.stdout.close()


@needs_root
def test_run_refuses_the_management_interface(
    root_namespace_agent: str, tmp_path: Path, run_db: Path
) -> None:
    interface = default_route_interface()
    if interface is None:
        pytest.skip("this machine has no default route, so it has no management interface")
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text(
        "version: 1\nhosts:\n"
        f"  a: {{agent: '{root_namespace_agent}', interface: {interface}}}\n"
        f"  b: {{agent: '{root_namespace_agent}', interface: {interface}}}\n"
    )
    scenario = tmp_path / "mgmt.yaml"
    scenario.write_text(
        "version: 1\nname: mgmt\nmode: unidirectional\nduration: 1s\nhosts: {a: {}, b: {}}\n"
        "flows:\n  - {from: a, to: b, frame_size: 64, rate: 1kpps}\n"
    )
    proc = ringlab("run", str(scenario), "--inventory", str(inventory))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert interface in proc.stderr
    assert "allow_management_interface" in proc.stderr
    assert "Traceback" not in proc.stderr
    # Refused before any traffic: nothing was stored as a run.
    listing = ringlab("runs", "list")
    assert "mgmt" not in listing.stdout
