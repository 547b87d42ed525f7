"""testpmd on a real NIC by PCI address (testpmd_vdev: pci): the scenario keys, testpmd's
command line, the agent's guard on fixture sysfs trees, and the results' interface
counters (null with the reason). Pure; fixture-tested only, as no DPDK-capable NIC is here
(tests/fixtures/sysfs/README.md)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from helpers import resolved_testpmd_flow

from ringlab.agent.audit import describe_flow
from ringlab.agent.external import testpmd
from ringlab.agent.external.engine import tool_for
from ringlab.agent.flows import FlowPlan, SessionError
from ringlab.agent.management import pci_port_refusal
from ringlab.agent.probes import dpdk
from ringlab.agent.validation import validate_flows
from ringlab.agent.wire import flow_plan_from_proto
from ringlab.controller.analysis.diagnose import diagnose
from ringlab.controller.checks.preflight import PreflightFlow, preflight
from ringlab.controller.checks.tools import tool_findings
from ringlab.controller.run.assemble import ResolvedFlow, flow_result
from ringlab.controller.run.endpoints import UNKNOWN_PORT_MAC, resolve_flow
from ringlab.controller.run.plan import build_plan
from ringlab.controller.run.prepare import prepare_requests
from ringlab.controller.scenario.load import load_scenario_text
from ringlab.controller.store.results import load_result
from ringlab.errors import ScenarioError
from ringlab.probe_model import DpdkDevice, DpdkState, InterfaceProbe, ProbeReport, ToolProbe
from ringlab.v1 import agent_pb2 as pb

SYSFS = Path(__file__).parent.parent / "fixtures" / "sysfs" / "x553_vfio"
HEAD = """\
version: 1
name: t
mode: unidirectional
duration: 1s
hosts: {a: {}, b: {}}
flows:
"""


def flow(keys: str) -> str:
    return HEAD + f"  - {{from: a, to: b, frame_size: 64, rate: max, {keys}}}\n"


# --- scenario ---------------------------------------------------------------------------


def test_pci_ports_reach_the_plan_lowercased() -> None:
    text = flow(
        "engine: testpmd, testpmd_vdev: pci, from_pci: '0000:05:00.0', to_pci: '0000:3B:00.1'"
    )
    [planned] = build_plan(load_scenario_text(text, "s.yaml")).phases[0].flows
    assert (planned.tool_device, planned.src_pci, planned.dst_pci) == (
        "pci",
        "0000:05:00.0",
        "0000:3b:00.1",
    )


@pytest.mark.parametrize(
    ("keys", "field", "words"),
    [
        (
            "engine: testpmd, testpmd_vdev: pci, from_pci: '05:00.0', to_pci: '0000:05:00.1'",
            "from_pci",
            "not a valid PCI address",
        ),
        (
            "engine: testpmd, testpmd_vdev: pci, from_pci: '0000:05:00.8', to_pci: '0000:05:00.1'",
            "from_pci",
            "domain:bus:device.function",
        ),
        ("engine: testpmd, from_pci: '0000:05:00.0'", "from_pci", "Add testpmd_vdev: pci"),
        (
            "engine: ring, testpmd_vdev: pci, to_pci: '0000:05:00.0'",
            "testpmd_vdev",
            "only applies to engine testpmd",
        ),
        (
            "engine: testpmd, rx_engine: ring, testpmd_vdev: pci, from_pci: '0000:05:00.0',"
            " to_pci: '0000:05:00.1'",
            "to_pci",
            "use rx_engine: testpmd",
        ),
        (
            "engine: testpmd, testpmd_vdev: pci, from_pci: '0000:05:00.0'",
            "testpmd_vdev",
            "to_pci is not set",
        ),
        (
            "engine: testpmd, testpmd_vdev: pci, from_pci: '0000:05:00.0', to_pci: '0000:05:00.1',"
            " from_interface: eth1",
            "from_interface",
            "has no kernel interface",
        ),
    ],
)
def test_pci_keys_are_checked_with_file_line_and_field(keys: str, field: str, words: str) -> None:
    with pytest.raises(ScenarioError, match=words) as caught:
        load_scenario_text(flow(keys), "s.yaml")
    assert f"s.yaml line 7, field flows[0].{field}:" in str(caught.value)


def test_a_bad_pci_address_exits_2_from_check(tmp_path: Path) -> None:
    from ringlab.controller.cli import main

    path = tmp_path / "s.yaml"
    path.write_text(flow("engine: testpmd, testpmd_vdev: pci, from_pci: 'eth0', to_pci: x"))
    assert main(["check", str(path)]) == 2


# --- the command line -------------------------------------------------------------------


def options(**changes: object) -> testpmd.TestpmdOptions:
    base = testpmd.TestpmdOptions(
        interface="",
        role="send",
        frame_size=64,
        vdev="pci",
        pci_address="0000:05:00.0",
        file_prefix="ringlab-1-0",
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_a_pci_port_is_allow_listed_with_hugepages() -> None:
    argv = testpmd.command(options(dst_mac="ff:ff:ff:ff:ff:ff", workers=2), [0, 1, 2, 3])
    before, after = argv[: argv.index("--")], argv[argv.index("--") :]
    assert before == [
        "dpdk-testpmd",
        "-l",
        "0,1,2",
        "--no-shconf",
        "--file-prefix",
        "ringlab-1-0",
        "-a",
        "0000:05:00.0",
    ]
    assert "--no-huge" not in argv and "--no-pci" not in argv and "--vdev" not in argv
    assert {"--forward-mode=txonly", "--nb-cores=2", "--rxq=2", "--txpkts=60"} <= set(after)
    assert "--eth-peer=0,ff:ff:ff:ff:ff:ff" in after


def test_a_pci_port_without_hugepages_gets_no_huge_and_cores_as_given() -> None:
    argv = testpmd.command(options(hugepages=False, role="receive", cores="4-5"), [0, 1])
    assert argv[1:3] == ["-l", "4,5"]
    assert argv[3:6] == ["--no-huge", "-m", "256"]
    assert "--forward-mode=rxonly" in argv


def test_pci_without_an_address_is_refused() -> None:
    with pytest.raises(ValueError, match="needs the port's PCI address"):
        testpmd.command(options(pci_address=""), [0, 1])


def test_virtual_devices_keep_no_huge_and_no_pci() -> None:
    argv = testpmd.command(options(vdev="af_packet", interface="veth0"), [0, 1])
    assert {"--no-huge", "--no-pci", "--vdev"} <= set(argv) and "-a" not in argv


# --- the agent's guard on fixture sysfs trees ----------------------------------------------

MANAGEMENT = {"eno1": "carries the default route (via 10.0.0.1)"}


def test_interfaces_map_to_their_pci_functions() -> None:
    assert dpdk.interface_pci_address(SYSFS, "eno1") == "0000:02:00.2"
    assert dpdk.interface_pci_address(SYSFS, "eth0") == "0000:00:03.0"  # virtio, one deeper
    assert dpdk.interface_pci_address(SYSFS, "veth0") is None
    assert dpdk.pci_driver(SYSFS / "sys/bus/pci/devices/0000:05:00.0") == "vfio-pci"


def test_the_management_nics_device_is_refused_naming_the_interface() -> None:
    why = pci_port_refusal("0000:02:00.2", MANAGEMENT, sysfs_root=SYSFS)
    assert why is not None
    assert "management interface eno1" in why and "carries the default route" in why
    assert "allow_management_interface: true" in why
    # Allowed, it is still refused: igb is not a DPDK driver.
    allowed = pci_port_refusal("0000:02:00.2", MANAGEMENT, True, SYSFS)
    assert allowed is not None and "is bound to igb" in allowed


def test_a_kernel_bound_port_is_refused_with_the_fix() -> None:
    why = pci_port_refusal("0000:07:00.0", MANAGEMENT, sysfs_root=SYSFS)
    assert why == (
        "PCI device 0000:07:00.0 is bound to ixgbe, not to a DPDK driver (igb_uio,"
        " uio_pci_generic, vfio-pci): testpmd cannot drive it. Bind it first:"
        " dpdk-devbind.py -b vfio-pci 0000:07:00.0"
    )


def test_a_missing_device_is_refused() -> None:
    why = pci_port_refusal("0000:99:00.0", {}, sysfs_root=SYSFS)
    assert why is not None and "no PCI device 0000:99:00.0" in why


def test_a_vfio_bound_port_is_accepted() -> None:
    assert pci_port_refusal("0000:05:00.0", MANAGEMENT, sysfs_root=SYSFS) is None


PCI_SEND = FlowPlan(
    flow_id=1,
    name="f",
    role="send",
    interface="",
    src_mac=b"",
    dst_mac=b"\xff" * 6,
    frame_size=64,
    rate_pps=0.0,
    engine="testpmd",
    workers=1,
    stamping=True,
    qdisc_bypass=True,
    paged_skb=False,
    ring_frames=0,
    batch=0,
    rx_engine="testpmd",
    tool_device="pci",
    pci_address="0000:02:00.2",
)


def test_prepare_validation_refuses_the_management_port_as_a_precondition() -> None:
    with pytest.raises(SessionError) as caught:
        validate_flows("s1", [PCI_SEND], 3000, MANAGEMENT, SYSFS)
    assert caught.value.kind == "precondition"
    assert "flow 'f' (id 1): PCI device 0000:02:00.2" in caught.value.message
    validate_flows("s1", [replace(PCI_SEND, pci_address="0000:05:00.0")], 3000, MANAGEMENT, SYSFS)


def test_the_pci_address_crosses_the_wire() -> None:
    [resolved] = [
        ResolvedFlow(
            flow_id=1,
            name="f",
            src_host="a",
            dst_host="b",
            src_interface="",
            dst_interface="",
            src_mac="",
            dst_mac=UNKNOWN_PORT_MAC,
            frame_size=64,
            rate_pps=0.0,
            engine="testpmd",
            workers=1,
            stamping=True,
            qdisc_bypass=True,
            paged_skb=False,
            batch=0,
            ring_frames=0,
            rx_engine="testpmd",
            tool_device="pci",
            src_pci="0000:05:00.0",
            dst_pci="0000:05:00.1",
        )
    ]
    requests = prepare_requests(
        "s", [resolved], 3 * 10**9, management_addresses={}, allow_management_interface=False
    )
    sent = flow_plan_from_proto(requests["a"].flows[0])
    received = flow_plan_from_proto(requests["b"].flows[0])
    assert (sent.pci_address, sent.interface, sent.src_mac) == ("0000:05:00.0", "", b"")
    assert sent.dst_mac == b"\xff" * 6
    assert received.pci_address == "0000:05:00.1"


def test_endpoints_need_no_interface_for_a_pci_end() -> None:
    text = flow(
        "engine: testpmd, testpmd_vdev: pci, from_pci: '0000:05:00.0', to_pci: '0000:05:00.1'"
    )
    [planned] = build_plan(load_scenario_text(text, "s.yaml")).phases[0].flows
    resolved = resolve_flow(
        planned, 1, None, None, {"a": pb.GetInfoResponse(), "b": pb.GetInfoResponse()}
    )
    assert (resolved.src_interface, resolved.dst_interface) == ("", "")
    assert (resolved.src_mac, resolved.dst_mac) == ("", UNKNOWN_PORT_MAC)


# --- results ------------------------------------------------------------------------------


def test_a_dpdk_bound_ports_interface_counters_are_null_with_the_reason() -> None:
    resolved = resolved_testpmd_flow(
        flow_id=1,
        name="f",
        src_interface="",
        dst_interface="eno6",
        src_mac="",
        tool_device="pci",
        src_pci="0000:05:00.0",
    )
    sent = pb.FlowResult(
        role=pb.ROLE_SEND,
        packets=1000,
        bytes=60000,
        count_source="tool",
        interface="0000:05:00.0",
        info={"tool": "dpdk-testpmd", "pci_driver": "vfio-pci"},
    )
    received = pb.FlowResult(
        role=pb.ROLE_RECEIVE,
        packets=990,
        unique_packets=990,
        count_source="tool",
        interface="eno6",
    )
    result = flow_result(resolved, sent, received, {})
    assert result.not_measured["sender_interface"] == (
        "the port 0000:05:00.0 is bound to DPDK (vfio-pci); the kernel does not count it"
    )
    assert "receiver_interface" not in result.not_measured
    assert (result.tx_packets, result.rx_packets) == (1000, 990)
    assert result.counted_by == {"tx": "testpmd", "rx": "testpmd"}


# --- probe and preflight ------------------------------------------------------------------

MEMINFO = Path(__file__).parent.parent / "fixtures" / "probes" / "proc_meminfo_no_hugepages.txt"


def test_hugepages_are_read_from_meminfo() -> None:
    assert dpdk.parse_meminfo_hugepages(MEMINFO.read_text()) == (0, 0)
    assert dpdk.parse_meminfo_hugepages("HugePages_Total:    1024\nHugePages_Free:     1000\n") == (
        1024,
        1000,
    )
    assert dpdk.parse_meminfo_hugepages("MemTotal: 1 kB\n") == (None, None)


def pci_report(hugepages: int | None, driver: str = "vfio-pci") -> ProbeReport:
    return ProbeReport(
        "h",
        "6.1.0",
        interfaces=[InterfaceProbe("eth1", mtu=1500, oper_state="up")],
        tools=[ToolProbe("dpdk-testpmd", "/usr/bin/dpdk-testpmd", "22.11.11")],
        dpdk=DpdkState(
            source="sysfs",
            devices=[DpdkDevice("0000:05:00.0", driver)],
            hugepages_total=hugepages,
            hugepages_free=hugepages,
        ),
    )


PCI_FLOW = PreflightFlow(
    "f1", "a", "", "b", "eth1", 64, engine="testpmd", rx_engine="ring", src_pci="0000:05:00.0"
)


def codes(reports: dict[str, ProbeReport]) -> dict[str, str]:
    findings = preflight([PCI_FLOW], reports, "unidirectional", False, False) + tool_findings(
        [PCI_FLOW], reports
    )
    return {f.code: f.severity for f in findings}


def test_preflight_refuses_a_pci_port_on_a_host_without_hugepages() -> None:
    assert codes({"a": pci_report(512), "b": pci_report(512)}) == {}
    assert codes({"a": pci_report(0), "b": pci_report(512)}) == {"hugepages_missing": "error"}
    older = codes({"a": pci_report(None), "b": pci_report(512)})
    assert older == {"hugepages_not_probed": "warning"}
    [finding] = [
        f
        for f in tool_findings([PCI_FLOW], {"a": pci_report(0), "b": pci_report(0)})
        if f.code == "hugepages_missing"
    ]
    assert "host 'a'" in finding.message and "nr_hugepages" in finding.message


def test_preflight_names_the_fix_for_a_kernel_bound_port() -> None:
    [finding] = tool_findings([PCI_FLOW], {"a": pci_report(512, "ixgbe"), "b": pci_report(512)})
    assert finding.code == "pci_not_dpdk_bound"
    assert "bound to ixgbe" in finding.message
    assert "dpdk-devbind.py -b vfio-pci 0000:05:00.0" in finding.message


def test_a_pci_end_without_a_probe_report_is_still_probe_missing() -> None:
    assert codes({"b": pci_report(512)}) == {"probe_missing": "error"}


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"pci_address": "../../../etc"}, "is not a PCI address"),
        ({"pci_address": ""}, "tool_device pci needs pci_address"),
        ({"tool_device": "af_packet"}, "pci_address is for a testpmd side"),
        ({"engine": "ring"}, "pci_address is for a testpmd side"),
    ],
)
def test_the_agent_refuses_a_malformed_pci_request(change: dict[str, str], words: str) -> None:
    with pytest.raises(SessionError, match=words) as caught:
        validate_flows("s1", [replace(PCI_SEND, **change)], 3000, {}, SYSFS)  # type: ignore[arg-type]
    assert caught.value.kind == "invalid"


def test_a_dpdk_bound_receiver_is_not_diagnosed_from_kernel_counters() -> None:
    fixtures = Path(__file__).parent.parent / "fixtures" / "diagnose"
    run = load_result(json.loads((fixtures / "rx_zero_alone.json").read_text()))
    before = {d.code for d in diagnose(run)}
    assert "app_receives_nothing" in before  # the interface counted what the ring did not
    why = "the port 0000:05:00.1 is bound to DPDK (vfio-pci); the kernel does not count it"
    for phase in run.phases:
        for result in phase.flows:
            result.not_counted = {"receiver_interface": why}
    found = diagnose(run)
    assert "app_receives_nothing" not in {d.code for d in found}
    nothing = [d for d in found if d.code == "nothing_arrived"]
    assert nothing and all(why in d.message and "What to do" in d.message for d in nothing)
    assert not [d for d in found if d.code in ("interface_counters_blind", "kernel_ring_drops")]


def test_the_agent_builds_testpmd_on_the_flows_pci_port() -> None:
    plan = replace(PCI_SEND, pci_address="0000:05:00.0")
    spec, _ = tool_for(plan)
    assert spec.argv[spec.argv.index("-a") + 1] == "0000:05:00.0"
    assert "--no-huge" not in spec.argv and "--eth-peer=0,ff:ff:ff:ff:ff:ff" in spec.argv
    assert spec.runtime_dir.startswith("/var/run/dpdk/ringlab-")


def test_the_audit_line_names_the_pci_port() -> None:
    spec = pb.FlowSpec(flow_id=3, name="f", role=pb.ROLE_RECEIVE, pci_address="0000:05:00.1")
    assert describe_flow(spec) == "#3 'f' receive on '', PCI '0000:05:00.1'"
