from __future__ import annotations

import json

import pytest

from ringlab.probe_model import (
    SCHEMA_VERSION,
    DpdkDevice,
    DpdkPort,
    DpdkState,
    InterfaceProbe,
    ModuleInfo,
    ModuleSnapshot,
    PfRingState,
    ProbeReport,
    Quirk,
    ReloadImpact,
)


def full_report() -> ProbeReport:
    return ProbeReport(
        hostname="h1",
        kernel="5.14.0",
        netns=True,
        interfaces=[
            InterfaceProbe(
                name="eno1",
                driver="i40e",
                numa_node=0,
                speed_mbps=25000,
                offloads={"rx-checksum": True},
                counters={"rx_packets": 5},
                management=True,
                management_reason="carries the default route (via 10.0.0.1)",
                zc=True,
                zc_reason="driver i40e_zc",
            )
        ],
        pf_ring=PfRingState(
            version="8.6.1", total_rings=2, info={"a": "b"}, zc_interfaces=["eno1"]
        ),
        dpdk=DpdkState(
            source="dpdk-devbind",
            devices=[DpdkDevice(pci="0000:05:00.0", driver="vfio-pci", unused=["ixgbe"])],
            ports=[DpdkPort(port_id=0, tx_offload_capa=["MBUF_FAST_FREE"])],
        ),
        modules=ModuleSnapshot([ModuleInfo("ice", 10, 1, ["irdma"]), ModuleInfo("x", 1, None)]),
        quirks=[Quirk("k", "warning", "m")],
        reload_impact=ReloadImpact("ice", ["irdma", "ice"], ["ens3f0"], True, True, "e", "s"),
        sysctls={"net.core.wmem_max": 212992},
    )


def test_round_trip_through_json() -> None:
    report = full_report()
    again = ProbeReport.from_dict(json.loads(json.dumps(report.to_dict())))
    assert again == report
    assert again.dpdk.bypass_devices[0].pci == "0000:05:00.0"
    assert again.dpdk.ports[0].mbuf_fast_free
    assert again.management_interfaces == ["eno1"]


def test_unknown_schema_version_is_refused_clearly() -> None:
    doc = full_report().to_dict()
    doc["schema_version"] = SCHEMA_VERSION + 1
    with pytest.raises(ValueError, match=r"schema_version 2 is not supported.*version 1"):
        ProbeReport.from_dict(doc)


def test_missing_field_is_a_value_error() -> None:
    doc = full_report().to_dict()
    del doc["hostname"]
    with pytest.raises(ValueError, match="malformed probe report"):
        ProbeReport.from_dict(doc)


def test_quirk_severity_is_validated() -> None:
    with pytest.raises(ValueError, match="severity must be one of info, warning, error"):
        Quirk("x", "fatal", "m")  # type: ignore[arg-type]
