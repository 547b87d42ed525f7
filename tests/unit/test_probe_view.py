from __future__ import annotations

from rich.console import Console

from ringlab.controller.views.probe import render_probe, render_reload_impact
from ringlab.probe_model import InterfaceProbe, ProbeReport, Quirk, ReloadImpact


def test_render_probe_names_management_zc_and_quirks() -> None:
    report = ProbeReport(
        hostname="h1",
        kernel="3.10.0",
        interfaces=[
            InterfaceProbe("eno1", driver="i40e", oper_state="up", speed_mbps=25000, management=True,
                           management_reason="carries the default route (via 10.0.0.1)"),
            InterfaceProbe("ens3f1", driver="ice_zc", zc=True, zc_reason="driver ice_zc is a PF_RING ZC driver",
                           counters={"rx_packets": 7}),
        ],
        quirks=[Quirk("qdisc_bypass_missing", "warning", "no bypass")],
    )  # fmt: skip
    console = Console(record=True, width=200)
    render_probe({"lab-a": report}, console)
    out = console.export_text()
    assert "lab-a" in out and "eno1" in out and "MGMT" in out and "25G" in out
    assert "management: eno1 carries the default route" in out
    assert "zero-copy: ens3f1" in out
    assert "qdisc_bypass_missing" in out


def test_render_reload_impact_dangerous() -> None:
    impact = ReloadImpact(
        "ice", ["irdma", "ice", "i40e"], ["eno12399", "ens3f0"], True, True,
        "DANGER: eno12399 is the management interface", "`rmmod irdma && rmmod ice` ...",
    )  # fmt: skip
    console = Console(record=True, width=200)
    render_reload_impact("capture1", impact, console)
    out = console.export_text()
    assert "DANGEROUS" in out
    assert "modules removed: irdma, ice, i40e" in out
    assert "interfaces down: eno12399, ens3f0" in out
    assert "safer: `rmmod irdma && rmmod ice`" in out
