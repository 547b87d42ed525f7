from __future__ import annotations

from pathlib import Path

import pytest

from ringlab.agent.probes import dpdk, ethtool_text, pfring, routes

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "probes"


def fixture(name: str) -> str:
    """A captured fixture without its leading '# source:' comment lines."""
    lines = (FIXTURES / name).read_text().splitlines()
    while lines and lines[0].startswith("#"):
        lines.pop(0)
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    ("name", "driver", "version", "firmware", "bus"),
    [
        ("i40e_ethtool_i.txt", "i40e", "2.8.20-k", "6.00 0x800036cb 1.1747.0", "0000:d8:00.0"),
        (
            "ice_ethtool_i.txt",
            "ice",
            "5.19.4-100.fc35.x86_64",
            "4.22 0x80010446 1.3197.0",
            "0000:3b:00.0",
        ),
        ("ixgbe_ethtool_i.txt", "ixgbe", "4.1.5", "0x800004e1", "0000:02:00.0"),
        ("mlx5_ethtool_i.txt", "mlx5_core", "3.0-1 (January 2015)", "14.23.1020", "0000:af:00.0"),
        ("virtio_ethtool_i.txt", "virtio_net", "1.0.0", "", "0000:00:03.0"),
    ],
)
def test_driver_info(name: str, driver: str, version: str, firmware: str, bus: str) -> None:
    info = ethtool_text.parse_driver_info(fixture(name))
    assert (info.driver, info.version, info.firmware, info.bus_info) == (
        driver,
        version,
        firmware,
        bus,
    )


def test_driver_info_rejects_other_text() -> None:
    with pytest.raises(ValueError, match="ethtool -i"):
        ethtool_text.parse_driver_info(fixture("ethtool_g_4096.txt"))


def test_features_drop_fixed_and_requested_notes() -> None:
    feats = ethtool_text.parse_features(fixture("ethtool_k_bridge.txt"))
    assert feats["rx-checksumming"] is False
    assert feats["tx-checksum-ip-generic"] is True
    assert feats["netns-local"] is True
    assert feats["tx-gso-robust"] is False  # "off [requested on]"
    assert "Features for bridge0" not in feats


@pytest.mark.parametrize(
    ("name", "rx", "tx", "rx_max", "tx_max"),
    [
        ("ethtool_g_4096.txt", 4096, 4096, 4096, 4096),
        ("ethtool_g_virtio.txt", 2048, 256, 2048, 256),
        ("ethtool_g_noheadings.txt", 2048, 4096, 8184, 8184),
    ],
)
def test_rings(name: str, rx: int, tx: int, rx_max: int, tx_max: int) -> None:
    r = ethtool_text.parse_rings(fixture(name))
    assert (r.rx, r.tx, r.rx_max, r.tx_max) == (rx, tx, rx_max, tx_max)


def test_channels_combined_and_split() -> None:
    c = ethtool_text.parse_channels(fixture("ethtool_l_combined.txt"))
    assert (c.combined, c.max_combined, c.other, c.rx) == (1, 64, 1, 0)
    s = ethtool_text.parse_channels(fixture("ethtool_l_split.txt"))
    assert (s.rx, s.tx, s.max_rx, s.combined) == (4, 1, 4, 0)


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
