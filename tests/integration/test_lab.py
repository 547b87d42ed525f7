"""The built-in lab: namespaces, veth links, agents; coexistence and clean teardown."""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path

import pytest
from helpers import needs_root, ringlab, unique_lab_name
from pyroute2 import NetNS

from ringlab.controller.remote.clients import GrpcAgent
from ringlab.controller.remote.lab import LabError, create_lab, destroy_lab, load_lab, netns_name


def namespaces() -> set[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


def interface_names(ns: str) -> set[str]:
    out = subprocess.run(
        ["ip", "-n", ns, "-o", "link", "show"], capture_output=True, text=True, check=True
    ).stdout
    return {line.split(":")[1].strip().split("@")[0] for line in out.splitlines()}


@needs_root
def test_two_labs_coexist_and_down_removes_everything(lab_dir: Path) -> None:
    first, second = unique_lab_name(), unique_lab_name()
    up1 = ringlab("lab", "up", "--name", first, "--hosts", "a,b")
    assert up1.returncode == 0, up1.stderr
    try:
        up2 = ringlab("lab", "up", "--name", second, "--hosts", "a,b,c")
        assert up2.returncode == 0, up2.stderr
        try:
            assert {netns_name(first, "a"), netns_name(second, "c")} <= namespaces()
            assert interface_names(netns_name(second, "a")) == {"lo", "to-b", "to-c"}
            status = ringlab("lab", "status")
            assert first in status.stdout and second in status.stdout
            inventory = (lab_dir / second / "inventory.yaml").read_text()
            assert "links: {a: to-a, b: to-b}" in inventory  # host c's links
        finally:
            down2 = ringlab("lab", "down", "--name", second)
            assert down2.returncode == 0, down2.stderr
        assert not any(n.startswith(netns_name(second, "")) for n in namespaces())
        # The other lab is untouched.
        assert netns_name(first, "b") in namespaces()
    finally:
        assert ringlab("lab", "down", "--name", first).returncode == 0
    assert not any(n.startswith(f"rl-{first}-") for n in namespaces())
    assert not (lab_dir / first).exists()


@needs_root
def test_agents_answer_with_their_interfaces(lab: object) -> None:
    async def ask() -> list[tuple[str, str, str]]:
        host = lab.hosts["a"]  # type: ignore[attr-defined]
        agent = GrpcAgent("a", host.agent)
        try:
            info = await agent.info()
        finally:
            await agent.close()
        return [(i.name, i.driver, i.oper_state) for i in info.interfaces]

    interfaces = asyncio.run(ask())
    assert ("to-b", "veth", "up") in interfaces


@needs_root
def test_failed_up_leaves_nothing_behind(lab_dir: Path) -> None:
    name = unique_lab_name()
    # Someone else already owns the second host's namespace: up must fail and undo its work.
    subprocess.run(["ip", "netns", "add", netns_name(name, "b")], check=True)
    try:
        with pytest.raises(LabError, match="already exists"):
            create_lab(name, ["a", "b"])
        assert netns_name(name, "a") not in namespaces()
        assert not (lab_dir / name).exists()
    finally:
        subprocess.run(["ip", "netns", "del", netns_name(name, "b")], check=True)


@needs_root
def test_bad_lab_input_is_exit_2_without_traceback(lab_dir: Path) -> None:
    for args in (["--hosts", "a"], ["--hosts", "A,b"], ["--name", "Bad_Name"]):
        proc = ringlab("lab", "up", *args)
        assert proc.returncode == 2
        assert "Traceback" not in proc.stderr
    for args in (["--mtu", "67"], ["--mtu", "65536"]):
        proc = ringlab("lab", "up", "--name", unique_lab_name(), *args)
        assert proc.returncode == 2 and "68..65535" in proc.stderr, proc.stderr
    proc = ringlab("lab", "down", "--name", "nosuchlab")
    assert proc.returncode == 2 and "no lab 'nosuchlab'" in proc.stderr
    proc = ringlab("lab", "status", "--name", "nosuchlab")
    assert proc.returncode == 2 and "no lab 'nosuchlab'" in proc.stderr and not proc.stdout


@needs_root
def test_destroy_after_agent_died(lab_dir: Path) -> None:
    lab = create_lab(unique_lab_name(), ["a", "b"])
    try:
        subprocess.run(["kill", "-9", str(lab.hosts["a"].pid)], check=True)
    finally:
        destroy_lab(load_lab(lab.name))
    assert not any(n.startswith(f"rl-{lab.name}-") for n in namespaces())


@needs_root
def test_lab_links_take_the_asked_mtu(lab_dir: Path) -> None:
    proc = ringlab("lab", "up", "--name", (name := unique_lab_name()), "--mtu", "9000")
    try:
        assert proc.returncode == 0, proc.stderr
        assert "MTU 9000" in proc.stdout
        lab = load_lab(name)
        for host, peer in (("a", "b"), ("b", "a")):
            with NetNS(lab.hosts[host].netns) as ns:
                link = ns.link("get", ifname=f"to-{peer}")[0]
            assert link.get_attr("IFLA_MTU") == 9000
    finally:
        ringlab("lab", "down", "--name", name)
    assert not any(n.startswith(f"rl-{name}-") for n in namespaces())


@needs_root
def test_a_temporary_lab_carries_the_scenarios_largest_frame(lab_dir: Path, tmp_path: Path) -> None:
    jumbo = tmp_path / "jumbo.yaml"
    jumbo.write_text(
        "version: 1\nname: jumbo\nmode: unidirectional\nduration: 1s\nhosts: {a: {}, b: {}}\n"
        "flows:\n  - {from: a, to: b, frame_size: 9018, rate: 1kpps}\n"
    )
    proc = ringlab("run", str(jumbo), "--json", env={"RINGLAB_DB": str(tmp_path / "r.db")})
    assert proc.returncode == 0, proc.stderr[-2000:]
    flow = json.loads(proc.stdout)["phases"][0]["flows"][0]
    assert flow["tx_packets"] == flow["rx_packets"] == 1000
    assert flow["rx_bytes"] == 1000 * (9018 - 4)  # whole frames crossed, not cut or dropped
    assert list(lab_dir.glob("*/lab.json")) == []
