"""`ringlab deploy` to real OpenSSH servers in namespaces, then a run through the SSH tunnels."""

from __future__ import annotations

import asyncio
import errno
import json
import os
import platform
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import connect_as_nobody, needs_root, ringlab, ringlab_in_terminal
from rich.cells import cell_len
from sshd import HOST_PYTHON, SshLab, agent_pid, make_ssh_lab, remove_ssh_lab

from ringlab.controller.deploy.artifact import build_wheel, find_checkout, wheel_artifact
from ringlab.controller.deploy.host_python import FACTS_SCRIPT, HostPython, parse_facts
from ringlab.controller.deploy.hosts import deploy_all
from ringlab.controller.deploy.wheelhouse import wheelhouse_for
from ringlab.controller.remote.inventory import load_inventory

pytestmark = pytest.mark.drill


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One wheel for the module, so a second deploy sees the same build and only verifies."""
    root = find_checkout()
    assert root is not None, "tests run from a checkout"
    return build_wheel(root, cache=tmp_path_factory.mktemp("wheels")).wheel


@pytest.fixture
def ssh_pair(tmp_path: Path) -> Iterator[SshLab]:
    if os.geteuid() != 0:
        pytest.skip("needs root: network namespaces, veth and sshd")
    lab = make_ssh_lab(tmp_path / "lab", ["a", "b"], [("a", "b")])
    try:
        yield lab
    finally:
        remove_ssh_lab(lab)


def tcp_listeners(pid: int) -> list[str]:
    """The TCP sockets `pid` listens on (local address column of /proc/PID/net/tcp*)."""
    inodes = {
        os.readlink(f"/proc/{pid}/fd/{fd}")[8:-1]
        for fd in os.listdir(f"/proc/{pid}/fd")
        if os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:[")
    }
    found = []
    for table in ("tcp", "tcp6"):
        for row in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            cols = row.split()
            if cols[3] == "0A" and cols[9] in inodes:
                found.append(cols[1])
    return found


def process_state(pid: int) -> str:
    """'R', 'S', 'Z'... or '' once the process is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except (FileNotFoundError, ProcessLookupError):  # gone before or during the read
        return ""
    return next(line.split()[1] for line in status.splitlines() if line.startswith("State:"))


def netns_inode(pid: int) -> int:
    # "net:[4026532xxx]"
    return int(os.readlink(f"/proc/{pid}/ns/net").split("[")[1].rstrip("]"))


@needs_root
def test_deploy_run_through_tunnels_and_stop(ssh_pair: SshLab, wheel: Path, tmp_path: Path) -> None:
    inventory = ssh_pair.inventory(tmp_path / "lab.yaml")
    deploy = ("deploy", "--inventory", str(inventory), "--wheel", str(wheel))

    assert not ssh_pair.known_hosts.exists()
    first = ringlab(*deploy, "--accept-new-host-keys", timeout=600)
    assert first.returncode == 0, first.stdout + first.stderr
    assert first.stdout.count("installed") == 2
    # The row names the host's Python (Debian's, stdlib only: deploy brought the rest).
    assert first.stdout.count(platform.python_version_tuple()[0] + ".") >= 2
    recorded = ssh_pair.known_hosts.read_text()
    for host in ssh_pair.hosts.values():
        assert f"{host.address} {host.host_public}" in recorded
    pids = {}
    for host in ssh_pair.hosts.values():
        pid = agent_pid(host)
        assert pid is not None
        pids[host.name] = pid
        # The agent runs from the host's new venv, inside the host's namespace (sshd's).
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        assert cmdline[0].decode() == f"{host.remote_dir}/venv/bin/python"
        assert netns_inode(pid) == os.stat(f"/run/netns/{host.netns}").st_ino
        # An isolated venv made from the bare host Python: nothing from system site-packages.
        venv_cfg = (host.remote_dir / "venv" / "pyvenv.cfg").read_text()
        assert "include-system-site-packages = false" in venv_cfg
        assert "home = /usr/bin\n" in venv_cfg
        # Only the SSH user and root can reach it: no TCP listener, a private socket.
        assert tcp_listeners(pid) == []
        socket_path = host.remote_dir / "agent.sock"
        assert "--listen" in [a.decode() for a in cmdline]
        assert f"unix:{socket_path}".encode() in cmdline
        attempt = connect_as_nobody(socket_path)
        assert attempt.stdout.strip() == str(errno.EACCES), attempt.stdout + attempt.stderr

    # Same build already running: verify only, same processes.
    again = ringlab(*deploy, timeout=300)
    assert again.returncode == 0, again.stdout + again.stderr
    assert again.stdout.count("verified") == 2 and "installed" not in again.stdout
    assert {h.name: agent_pid(h) for h in ssh_pair.hosts.values()} == pids
    # At 80 columns nothing is cut (the free text wraps), and --json has every field.
    narrow = ringlab_in_terminal(*deploy, timeout=300)
    assert narrow.returncode == 0, narrow.stderr + narrow.screen
    assert all(cell_len(line) <= 80 for line in narrow.lines()), narrow.screen
    assert "…" not in narrow.screen, narrow.screen
    assert narrow.screen.count("verified") == 2
    for host in ssh_pair.hosts.values():
        assert host.name in narrow.screen
    as_json = ringlab(*deploy, "--json", timeout=300)
    assert as_json.returncode == 0, as_json.stderr
    document = json.loads(as_json.stdout)  # the document alone: progress went to stderr
    assert document["ok"] is True and document["wheel"] == wheel.name
    assert document["build_id"] and document["build_id"] in as_json.stderr
    listed = {h["host"]: h for h in document["hosts"]}
    assert set(listed) == set(ssh_pair.hosts)
    for name, host in ssh_pair.hosts.items():
        entry = listed[name]
        assert (entry["action"], entry["ok"]) == ("verified", True)
        assert entry["python"].startswith(platform.python_version_tuple()[0] + ".")
        assert entry["agent_version"] and entry["target"].endswith("@" + host.address)
        assert entry["seconds"] >= 0

    scenario = tmp_path / "short.yaml"
    scenario.write_text(
        "version: 1\nname: over-ssh\nmode: bidirectional\nduration: 1s\n"
        "hosts: {a: {}, b: {}}\n"
        "flows:\n  - {from: a, to: b, frame_size: 64, rate: 20kpps, engine: ring}\n"
        "  - {from: b, to: a, frame_size: 64, rate: 20kpps, engine: ring}\n"
    )
    run = ringlab(
        "run",
        str(scenario),
        "--inventory",
        str(inventory),
        "--db",
        str(tmp_path / "r.db"),
        "--json",
    )
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    assert result["status"] == "completed"
    flows = result["phases"][0]["flows"]
    assert sorted(f["name"] for f in flows) == ["a->b", "b->a"]
    for flow in flows:
        # Paced: exactly rate x duration, every frame counted by ringlab and the interface.
        assert flow["tx_packets"] == 20_000
        assert flow["rx_packets"] == flow["tx_packets"]
        assert flow["lost"] == 0 and flow["duplicates"] == 0
        assert flow["receiver_interface"]["rx_packets"] == flow["rx_packets"]
    for name, host in result["hosts"].items():
        assert f"via ssh root@{ssh_pair.hosts[name].address}:22" in host["address"]

    stopped = ringlab(*deploy, "--stop")
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert stopped.stdout.count("stopped") >= 2
    for host in ssh_pair.hosts.values():
        assert process_state(pids[host.name]) in ("", "Z")
        assert agent_pid(host) is None


@needs_root
def test_a_failing_host_does_not_stop_the_others(
    ssh_pair: SshLab, wheel: Path, tmp_path: Path
) -> None:
    ssh_pair.write_known_hosts()
    # Host b's interpreter does not exist: only b fails, and says what to set.
    inventory = ssh_pair.inventory(tmp_path / "lab.yaml", python={"b": "/nonexistent/python3"})
    outcomes = asyncio.run(deploy_all(load_inventory(inventory), wheel_artifact(wheel), ["a", "b"]))
    a, b = outcomes
    assert (a.action, a.ok) == ("installed", True)
    assert (b.action, b.ok) == ("failed", False)
    assert "there is no /nonexistent/python3 on the host" in b.detail
    assert "python3-venv" in b.detail and "hosts.b.ssh.python" in b.detail
    assert agent_pid(ssh_pair.hosts["a"]) is not None
    assert agent_pid(ssh_pair.hosts["b"]) is None
    # Stopping reports per host too: a stops, b has nothing running.
    stopped = asyncio.run(deploy_all(load_inventory(inventory), None, ["a", "b"], stop=True))
    assert [(o.action, o.ok) for o in stopped] == [("stopped", True), ("not running", True)]


@needs_root
def test_an_agent_that_cannot_start_fails_at_once_with_its_log(
    ssh_pair: SshLab, wheel: Path, tmp_path: Path
) -> None:
    ssh_pair.write_known_hosts()
    inventory = load_inventory(ssh_pair.inventory(tmp_path / "lab.yaml"))
    host = ssh_pair.hosts["a"]

    # A directory where the agent's socket goes: its bind fails and it exits.
    (host.remote_dir / "agent.sock" / "in-the-way").mkdir(parents=True)
    (outcome,) = asyncio.run(deploy_all(inventory, wheel_artifact(wheel), ["a"]))
    assert (outcome.action, outcome.ok) == ("failed", False)
    # The watcher saw the process exit: no wait for the health check's timeout.
    assert "exited at start" in outcome.detail
    # The agent's own words, from the end of its log on the host.
    log = outcome.detail.split("agent.log on the host ends with:")[1]
    assert f"cannot listen on unix:{host.remote_dir}/agent.sock" in log
    assert outcome.detail.startswith("agent a (") and outcome.detail.count("agent a (") == 1


def _local_host_python() -> HostPython:
    out = subprocess.run(
        [HOST_PYTHON, "-c", FACTS_SCRIPT], capture_output=True, text=True, check=True
    ).stdout
    return parse_facts("local", HOST_PYTHON, out)


@needs_root
def test_a_controller_without_an_index_deploys_from_a_wheelhouse_directory(
    ssh_pair: SshLab, wheel: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ssh_pair.write_known_hosts()
    inventory = load_inventory(ssh_pair.inventory(tmp_path / "lab.yaml"))
    # Filled once where an index is reachable (here: into a cache of this test's own) ...
    filled = wheelhouse_for(_local_host_python(), cache=tmp_path / "elsewhere").directory
    carried = tmp_path / "carried"
    shutil.copytree(filled, carried)
    # ... then used by a controller whose own cache is empty, with the index unreachable.
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "empty-cache"))
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")

    empty = tmp_path / "empty"
    empty.mkdir()
    (lacking,) = asyncio.run(
        deploy_all(inventory, wheel_artifact(wheel), ["a"], wheelhouse_source=empty)
    )
    assert (lacking.action, lacking.ok) == ("failed", False)
    assert f"--wheelhouse {empty} lacks the agent's wheels for CPython" in lacking.detail
    assert "pip download --only-binary :all:" in lacking.detail

    (outcome,) = asyncio.run(
        deploy_all(inventory, wheel_artifact(wheel), ["a"], wheelhouse_source=carried)
    )
    assert (outcome.action, outcome.ok) == ("installed", True), outcome.detail
    assert agent_pid(ssh_pair.hosts["a"]) is not None
