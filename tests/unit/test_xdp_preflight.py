"""Preflight of AF_XDP flows (controller/checks/xdp.py) and the probe facts it reads."""

from __future__ import annotations

from dataclasses import replace

from ringlab.controller.checks.preflight import PreflightFlow
from ringlab.controller.checks.xdp import xdp_findings
from ringlab.probe_model import InterfaceProbe, ProbeReport


def report(**kw: object) -> ProbeReport:
    link = InterfaceProbe(name="to-x", driver="veth", oper_state="up", mtu=1500, **kw)  # type: ignore[arg-type]
    return ProbeReport(hostname="h", kernel="6.1", interfaces=[link], netns_name="rl-t-a")


A_TO_B = PreflightFlow("a->b", "a", "to-x", "b", "to-x", 64, send_xdp=True, receive_xdp=True)
B_TO_A = replace(A_TO_B, flow="b->a", src_host="b", dst_host="a")


def codes(flows: list[PreflightFlow], mode: str = "unidirectional", **kw: object) -> list[str]:
    reports = {"a": report(**kw), "b": report(**kw)}
    return [f"{f.code}:{f.severity}" for f in xdp_findings(flows, reports, mode)]


def test_zerocopy_on_veth_is_refused_auto_is_not() -> None:
    assert codes([replace(A_TO_B, xdp_mode="zerocopy")]) == [
        "xdp_zerocopy_unsupported:error",
        "xdp_zerocopy_unsupported:error",
    ]
    assert codes([A_TO_B]) == []
    assert codes([replace(A_TO_B, xdp_mode="zerocopy", send_xdp=False, receive_xdp=False)]) == []


def test_queue_beyond_the_interface_is_refused() -> None:
    flow = replace(A_TO_B, xdp_queue=1, workers=2)  # queues 1..2
    assert codes([flow], xdp_queues=2) == ["xdp_queue_missing:error"] * 2
    assert codes([flow], xdp_queues=3) == []
    assert codes([flow], rx_queues=4) == []  # no active count: the allocated queues decide


def test_both_ways_on_one_queue_warn_unless_shared_or_separate() -> None:
    found = codes([A_TO_B, B_TO_A], "bidirectional")
    assert found == ["xdp_queue_collision:warning"] * 2
    reports = {"a": report(), "b": report()}
    [first, _] = xdp_findings([A_TO_B, B_TO_A, A_TO_B, B_TO_A], reports, "bidirectional")
    assert first.message.count("a->b (sender)") == 1  # compare lists each flow per phase
    shared = [replace(A_TO_B, xdp_share=True), replace(B_TO_A, xdp_share=True)]
    assert codes(shared, "bidirectional") == []
    assert codes([A_TO_B, replace(B_TO_A, xdp_queue=1)], "bidirectional", xdp_queues=2) == []
    assert codes([A_TO_B, B_TO_A], "time-sliced") == []


def test_someone_elses_program_is_named_ours_is_not() -> None:
    theirs = codes([A_TO_B], xdp_attached="native", xdp_prog_id=7, xdp_prog_name="xdp_fw")
    assert theirs == ["xdp_program_present:warning"]
    assert codes([A_TO_B], xdp_attached="native", xdp_prog_name="ringlab_xsk") == []


def test_probe_facts_survive_the_report_codec() -> None:
    original = report(xdp_attached="generic", xdp_prog_id=12, xdp_prog_name="p", xdp_queues=2)
    again = ProbeReport.from_dict(original.to_dict())
    assert again.interfaces[0] == original.interfaces[0]
    assert again.interfaces[0].xdp_queues == 2


def test_a_non_xdp_sender_into_a_multi_queue_xdp_receiver_is_warned() -> None:
    ring_in = replace(A_TO_B, send_xdp=False)
    assert codes([ring_in], xdp_queues=2) == ["xdp_queue_steering:warning"]
    assert codes([ring_in], xdp_queues=1) == []
    assert codes([A_TO_B], xdp_queues=2) == []  # veth: TX queue q arrives on RX queue q
