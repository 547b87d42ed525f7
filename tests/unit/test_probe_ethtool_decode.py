"""The ioctl decoders on packed kernel structs (layouts from include/uapi/linux/ethtool.h)."""

from __future__ import annotations

import struct

from ringlab.agent.probes import ethtool_ioctl as e


def test_drvinfo() -> None:
    buf = struct.pack(
        "=I32s32s32s32s32s12sIIIII", 3, b"i40e", b"2.8.20-k", b"6.00 0x800036cb", b"0000:d8:00.0",
        b"", b"", 0, 0, 0, 0, 0,
    )  # fmt: skip
    info = e.decode_drvinfo(buf)
    assert info == e.DrvInfo("i40e", "2.8.20-k", "6.00 0x800036cb", "0000:d8:00.0")


def test_rings_and_channels() -> None:
    rings = e.decode_rings(struct.pack("=9I", 0x10, 4096, 0, 0, 4096, 512, 0, 0, 256))
    assert rings == e.Rings(rx=512, tx=256, rx_max=4096, tx_max=4096)
    ch = e.decode_channels(struct.pack("=9I", 0x3C, 0, 0, 1, 64, 0, 0, 1, 8))
    assert (ch.combined, ch.max_combined, ch.other) == (8, 64, 1)


def test_link_settings_and_unknown_speed() -> None:
    hdr = struct.pack(
        "=IIBBBBBBBbBBBB7I", 0x4C, 25000, 1, 0, 0, 1, 0, 0, 0, 3, 0, 0, 0, 0, *[0] * 7
    )
    assert e.decode_link_settings(hdr) == e.Link(25000, "full")
    unknown = struct.pack(
        "=IIBBBBBBBbBBBB7I", 0x4C, 0xFFFFFFFF, 0xFF, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0, *[0] * 7
    )
    assert e.decode_link_settings(unknown) == e.Link(None, None)
    legacy = struct.pack(
        "=IIIHBBBBBBIIHBBI2I", 1, 0, 0, 0x86A0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0
    )
    assert e.decode_gset(legacy) == e.Link(100000, "half")


def test_features_bits() -> None:
    names = ["rx-checksum", "tx-tcp-segmentation", "rx-gro"]
    block = struct.pack("=4I", 0b111, 0b101, 0b101, 0)
    buf = struct.pack("=II", 0x3A, 1) + block
    assert e.decode_features(buf, names) == {
        "rx-checksum": True,
        "tx-tcp-segmentation": False,
        "rx-gro": True,
    }
    strings = struct.pack("=III", 0x1B, 4, 2) + b"rx-gro".ljust(32, b"\0") + b"lro".ljust(32, b"\0")
    assert e.decode_strings(strings, 2) == ["rx-gro", "lro"]
