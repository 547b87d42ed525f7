from __future__ import annotations

from pathlib import Path

from ringlab.agent.probes import dpdk, pfring, routes

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "probes"


def fixture(name: str) -> str:
    """A captured fixture without its leading '# source:' comment lines."""
    lines = (FIXTURES / name).read_text().splitlines()
    while lines and lines[0].startswith("#"):
        lines.pop(0)
    return "\n".join(lines) + "\n"


def test_pf_ring_info() -> None:
    state = pfring.parse_pf_ring_info(fixture("pf_ring_info.txt"))
    assert state.version == "7.2.0"
    assert state.total_rings == 4
    assert state.info["Capture TX"] == "Yes [RX+TX]"


def test_pf_ring_polling_mode() -> None:
    assert pfring.polling_mode_is_zc(fixture("pf_ring_dev_i40e_zc.txt"))
    assert not pfring.polling_mode_is_zc(fixture("pf_ring_dev_ixgbe_napi.txt"))
    assert pfring.zc_driver_name("ice_zc")
    assert not pfring.zc_driver_name("ice")
    assert not pfring.zc_driver_name(None)


def test_devbind_status_bypass_and_active() -> None:
    devices = dpdk.parse_devbind_status(fixture("dpdk_devbind_status.txt"))
    by_pci = {d.pci: d for d in devices}
    assert len(devices) == 9
    assert by_pci["0000:05:00.0"].driver == "vfio-pci"
    assert by_pci["0000:05:00.0"].kernel_bypass
    assert by_pci["0000:05:00.0"].unused == ["ixgbe"]
    assert by_pci["0000:02:00.2"].interface == "eno1"
    assert by_pci["0000:02:00.2"].active
    assert not by_pci["0000:02:00.3"].active
    assert not by_pci["0000:07:00.0"].kernel_bypass


def test_devbind_other_section_and_crypto_skipped() -> None:
    devices = dpdk.parse_devbind_status(fixture("dpdk_devbind_other.txt"))
    assert [(d.pci, d.driver, d.interface) for d in devices] == [
        ("0000:00:03.0", "virtio-pci", "ens3"),
        ("0000:00:04.0", None, None),
    ]


def test_tx_offload_capabilities_and_fast_free_warning() -> None:
    capa = dpdk.parse_tx_offload_capabilities(fixture("testpmd_tx_offload_i40e.txt"))
    assert capa[0] == "MBUF_FAST_FREE"
    assert "MULTI_SEGS" in capa
    ports = dpdk.parse_testpmd_port_info(fixture("testpmd_port_info.txt"))
    assert [p.port_id for p in ports] == [0]
    port = dpdk.with_tx_capabilities(ports[0], capa)
    assert port.mbuf_fast_free
    (quirk,) = dpdk.fast_free_quirks([port])
    assert quirk.severity == "warning"
    assert "deep copy" in quirk.message
    no_fast_free = dpdk.with_tx_capabilities(ports[0], ["MULTI_SEGS"])
    assert dpdk.fast_free_quirks([no_fast_free]) == []


def test_default_routes_v4_and_v6() -> None:
    v4 = (
        "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
        "eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n"
        "eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n"
    )
    assert routes.parse_proc_net_route(v4) == {"eth0": "192.0.2.1"}
    v6 = (
        "00000000000000000000000000000000 00 00000000000000000000000000000000 00 "
        "fe800000000000000000000000000001 00000400 00000001 00000000 00000003 eth1\n"
        "00000000000000000000000000000000 00 00000000000000000000000000000000 00 "
        "00000000000000000000000000000000 ffffffff 00000001 00000000 00200200 lo\n"
    )
    assert routes.parse_ipv6_route(v6) == {"eth1": "fe80::1"}
