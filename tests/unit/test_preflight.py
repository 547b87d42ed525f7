from __future__ import annotations

import pytest

from ringlab.controller.checks.preflight import Finding, PreflightFlow, has_errors, preflight
from ringlab.probe_model import DpdkDevice, DpdkState, InterfaceProbe, ProbeReport, Quirk


def host(*itfs: InterfaceProbe, quirks: list[Quirk] | None = None, **kw: object) -> ProbeReport:
    return ProbeReport(
        hostname="h",
        kernel="6.1.0",
        interfaces=list(itfs),
        quirks=quirks or [],
        **kw,  # type: ignore[arg-type]
    )


def up(name: str, **kw: object) -> InterfaceProbe:
    return InterfaceProbe(name=name, oper_state="up", mtu=1500, **kw)  # type: ignore[arg-type]


FLOW = PreflightFlow("f1", "a", "eth1", "b", "eth1", frame_size=64)


def run(
    reports: dict[str, ProbeReport],
    flows: list[PreflightFlow] | None = None,
    mode: str = "unidirectional",
    zc_ok: bool = False,
    mgmt_ok: bool = False,
) -> list[Finding]:
    return preflight(flows or [FLOW], reports, mode, zc_ok, mgmt_ok)


def codes(findings: list[Finding]) -> list[tuple[str, str]]:
    return [(f.code, f.severity) for f in findings]


def test_clean_plan_has_no_findings() -> None:
    assert run({"a": host(up("eth1")), "b": host(up("eth1"))}) == []


def test_sending_on_management_interface_is_refused_with_the_override_named() -> None:
    mgmt = up("eth1", management=True, management_reason="carries the default route (via 10.0.0.1)")
    findings = run({"a": host(mgmt), "b": host(up("eth1"))})
    assert codes(findings) == [("management_interface", "error")]
    assert "a:eth1" in findings[0].message
    assert "allow_management_interface: true" in findings[0].message
    assert has_errors(findings)
    allowed = run({"a": host(mgmt), "b": host(up("eth1"))}, mgmt_ok=True)
    assert codes(allowed) == [("management_interface", "warning")]
    assert not has_errors(allowed)


def test_receiving_on_management_interface_is_not_refused() -> None:
    mgmt = up("eth1", management=True, management_reason="x")
    assert run({"a": host(up("eth1")), "b": host(mgmt)}) == []


def test_interface_down_and_missing() -> None:
    down = InterfaceProbe(name="eth1", oper_state="down", mtu=1500)
    findings = run({"a": host(up("eth1")), "b": host(down)})
    assert codes(findings) == [("interface_down", "error")]
    assert "ip link set eth1 up" in findings[0].message
    missing = run(
        {
            "a": host(up("eth0"), dpdk=DpdkState(devices=[DpdkDevice("0000:05:00.0", "vfio-pci")])),
            "b": host(up("eth1")),
        }
    )
    assert codes(missing) == [("interface_missing", "error")]
    assert "it has: eth0" in missing[0].message
    assert "DPDK" in missing[0].message


@pytest.mark.parametrize(("frame", "ok"), [(1518, True), (1519, False)])
def test_frame_size_against_mtu_plus_18(frame: int, ok: bool) -> None:
    flow = PreflightFlow("big", "a", "eth1", "b", "eth1", frame_size=frame)
    findings = run({"a": host(up("eth1")), "b": host(up("eth1"))}, [flow])
    if ok:
        assert findings == []
    else:
        assert {f.code for f in findings} == {"frame_exceeds_mtu"}
        assert "frame_size 1519 exceeds MTU 1500 + 18 = 1518" in findings[0].message


def test_zc_bidirectional_needs_time_sliced_or_override() -> None:
    zc = up("eth1", zc=True, zc_reason="driver i40e_zc is a PF_RING ZC driver")
    reports = {"a": host(zc), "b": host(up("eth1"))}
    refused = run(reports, mode="bidirectional")
    assert codes(refused) == [("zc_bidirectional", "error")]
    assert "mode: time-sliced" in refused[0].message
    assert "allow_zc_bidirectional: true" in refused[0].message
    assert codes(run(reports, mode="bidirectional", zc_ok=True)) == [
        ("zc_bidirectional", "warning")
    ]
    assert run(reports, mode="time-sliced") == []


def test_quirks_pass_through_and_missing_report() -> None:
    reports = {
        "a": host(up("eth1"), quirks=[Quirk("old", "warning", "w"), Quirk("i", "info", "x")]),
    }
    findings = run(reports)
    assert ("quirk:old", "warning") in codes(findings)
    assert ("probe_missing", "error") in codes(findings)
    assert all(f.code != "quirk:i" for f in findings)


def test_wmem_max_smaller_than_ring() -> None:
    flow = PreflightFlow("f", "a", "eth1", "b", "eth1", frame_size=64, tx_buffer_bytes=8 << 20)
    reports = {
        "a": host(up("eth1"), sysctls={"net.core.wmem_max": 212992}),
        "b": host(up("eth1")),
    }
    assert codes(run(reports, [flow])) == [("wmem_max_too_small", "warning")]


def test_findings_are_deduplicated_and_values_validated() -> None:
    mgmt = up("eth1", management=True, management_reason="r")
    flows = [FLOW, FLOW]
    assert len(run({"a": host(mgmt), "b": host(up("eth1"))}, flows)) == 1
    with pytest.raises(ValueError, match="frame_size must be >= 64"):
        PreflightFlow("f", "a", "x", "b", "y", frame_size=10)


def test_fix_commands_reach_into_the_agents_namespace() -> None:
    big = PreflightFlow("f1", "a", "to-b", "b", "to-a", frame_size=9018)
    findings = run(
        {"a": host(up("to-b"), netns_name="rl-lab-a"), "b": host(up("to-a"))}, flows=[big]
    )
    by_host = {f.message.split(": ")[1].split(":")[0]: f.message for f in findings}
    assert "`ip -n rl-lab-a link set to-b mtu 9000`" in by_host["a"]
    assert "`ip link set to-a mtu 9000`" in by_host["b"]  # an agent in the host's namespace
