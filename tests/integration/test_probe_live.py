"""probe_host on real interfaces: a veth pair in fresh namespaces, and the root namespace."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from ringlab.agent.probes.collect import probe_host
from ringlab.agent.probes.routes import read_default_route_ifaces
from ringlab.probe_model import ProbeReport

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root: network namespaces, veth")

# Inside the namespace: send one raw frame so a counter moves, then print the report.
_CHILD = """
import json, socket, sys
from ringlab.agent.probes.collect import probe_host
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((sys.argv[1], 0))
s.send(b"\\xff" * 6 + b"\\x02" * 6 + b"\\x88\\xb5" + b"\\x00" * 46)
s.close()
print(json.dumps(probe_host().to_dict()))
"""


@dataclass(frozen=True)
class VethLab:
    ns_a: str
    ns_b: str
    if_a: str
    if_b: str


@pytest.fixture
def veth_lab() -> Iterator[VethLab]:
    from pyroute2 import IPRoute, NetNS, netns

    tag = f"{os.getpid() % 100000}{uuid.uuid4().hex[:4]}"
    lab = VethLab(f"rlpa{tag}", f"rlpb{tag}", f"rpa{tag}", f"rpb{tag}")
    netns.create(lab.ns_a)
    try:
        netns.create(lab.ns_b)
        try:
            with IPRoute() as ipr:
                ipr.link("add", ifname=lab.if_a, kind="veth", peer=lab.if_b)
                ia = ipr.link_lookup(ifname=lab.if_a)[0]
                ib = ipr.link_lookup(ifname=lab.if_b)[0]
                ipr.link("set", index=ia, net_ns_fd=lab.ns_a)
                ipr.link("set", index=ib, net_ns_fd=lab.ns_b)
            for ns, ifname in ((lab.ns_a, lab.if_a), (lab.ns_b, lab.if_b)):
                with NetNS(ns) as nsr:
                    nsr.link("set", index=nsr.link_lookup(ifname=ifname)[0], state="up")
                    nsr.link("set", index=nsr.link_lookup(ifname="lo")[0], state="up")
            yield lab
        finally:
            netns.remove(lab.ns_b)
    finally:
        netns.remove(lab.ns_a)


def _check_lab_report(report: ProbeReport, ifname: str) -> None:
    itf = report.interface(ifname)
    assert itf is not None, [i.name for i in report.interfaces]
    assert itf.driver == "veth"
    assert itf.oper_state == "up"
    assert itf.mtu == 1500
    assert {"rx_packets", "tx_packets", "rx_bytes", "tx_bytes"} <= set(itf.counters)
    assert itf.qdisc is not None
    assert report.management_interfaces == []
    assert report.netns


def test_probe_in_namespace_subprocess(veth_lab: VethLab) -> None:
    # `ip netns exec` also remounts /sys, so sysfs and netlink agree here.
    res = subprocess.run(
        ["ip", "netns", "exec", veth_lab.ns_a, sys.executable, "-c", _CHILD, veth_lab.if_a],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 0, res.stderr
    report = ProbeReport.from_dict(json.loads(res.stdout))
    _check_lab_report(report, veth_lab.if_a)
    itf = report.interface(veth_lab.if_a)
    assert itf is not None and itf.counters["tx_packets"] >= 1
    assert [i.name for i in report.interfaces] == sorted(["lo", veth_lab.if_a])


def test_probe_in_namespace_thread(veth_lab: VethLab) -> None:
    # A thread that setns()es sees the namespace through netlink and ioctls, but /sys still
    # shows the process's namespace: the probe must not mix the two.
    from pyroute2 import netns

    result: dict[str, ProbeReport | BaseException] = {}

    def worker() -> None:
        try:
            netns.setns(veth_lab.ns_b, flags=0)
            result["report"] = probe_host(interfaces=[veth_lab.if_b])
        except BaseException as exc:  # reported to the test thread below
            result["error"] = exc

    t = threading.Thread(target=worker)
    t.start()
    t.join(timeout=60)
    assert not t.is_alive()
    if "error" in result:
        raise result["error"]  # type: ignore[misc]
    report = result["report"]
    assert isinstance(report, ProbeReport)
    _check_lab_report(report, veth_lab.if_b)


def test_root_namespace_marks_default_route_interface() -> None:
    defaults = read_default_route_ifaces(Path("/"))
    if not defaults:
        pytest.skip("this machine has no default route")
    report = probe_host()
    assert not report.netns
    assert set(report.management_interfaces) >= set(defaults)
    for name in defaults:
        itf = report.interface(name)
        assert itf is not None and "default route" in itf.management_reason
    assert report.hostname == socket.gethostname()
