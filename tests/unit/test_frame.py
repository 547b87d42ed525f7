from __future__ import annotations

import struct

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ringlab.agent.rings import frame as fr

MAC_A = bytes.fromhex("020000000001")
MAC_B = bytes.fromhex("020000000002")

u32 = st.integers(0, 2**32 - 1)
u16 = st.integers(0, 2**16 - 1)
u64 = st.integers(0, 2**64 - 1)


def make(**kw: int) -> bytes:
    args: dict[str, int] = {"flow_id": 1, "worker": 0, "frame_size": 64}
    args.update(kw)
    return fr.build_frame(dst_mac=MAC_B, src_mac=MAC_A, **args)


def test_layout_matches_the_spec() -> None:
    frame = make(flow_id=0x01020304, worker=0x0506, seq=0x1112131415161718, tx_wall_ns=7, flags=1)
    assert len(frame) == 60  # 64 minus the FCS
    assert frame[:6] == MAC_B and frame[6:12] == MAC_A
    assert frame[12:14] == b"\x88\xb5"
    assert frame[14:18] == b"RLAB"
    assert frame[18] == 1 and frame[19] == 1
    assert frame[20:22] == b"\x05\x06"
    assert frame[22:26] == b"\x01\x02\x03\x04"
    assert frame[26:34] == bytes.fromhex("1112131415161718")
    assert struct.unpack(">Q", frame[34:42])[0] == 7
    assert frame[42:] == bytes(18)


@given(flow=u32, worker=u16, seq=u64, ts=u64, flags=st.integers(0, 255), size=st.integers(64, 9000))
def test_roundtrip(flow: int, worker: int, seq: int, ts: int, flags: int, size: int) -> None:
    frame = make(flow_id=flow, worker=worker, seq=seq, tx_wall_ns=ts, flags=flags, frame_size=size)
    assert len(frame) == size - 4
    h = fr.parse_header(frame)
    assert (h.flow_id, h.worker, h.seq, h.tx_wall_ns, h.flags) == (flow, worker, seq, ts, flags)
    assert h.static == bool(flags & fr.FLAG_STATIC)


@pytest.mark.parametrize("cut", [0, 14, 41])
def test_truncated(cut: int) -> None:
    with pytest.raises(fr.TruncatedFrame, match="shorter than the 42-byte header"):
        fr.parse_header(make()[:cut])


@pytest.mark.parametrize(
    ("offset", "value", "message"),
    [(12, b"\x08\x00", "ethertype 0x0800"), (14, b"XLAB", "magic"), (18, b"\x02", "version 2")],
)
def test_foreign(offset: int, value: bytes, message: str) -> None:
    frame = bytearray(make())
    frame[offset : offset + len(value)] = value
    with pytest.raises(fr.ForeignFrame, match=message):
        fr.parse_header(frame)


@pytest.mark.parametrize("size", [63, 0, 70000])
def test_frame_size_out_of_range(size: int) -> None:
    with pytest.raises(fr.FrameError, match=r"frame_size .* out of range: use 64\.\."):
        make(frame_size=size)


def test_frame_size_limited_by_mtu() -> None:
    fr.check_frame_size(1518, mtu=1500)
    with pytest.raises(fr.FrameError, match=r"64\.\.1518 .*MTU 1500"):
        fr.check_frame_size(1519, mtu=1500)


def test_bad_fields_are_named() -> None:
    with pytest.raises(fr.FrameError, match="flow_id"):
        make(flow_id=2**32)
    with pytest.raises(fr.FrameError, match="worker"):
        make(worker=-1)
    with pytest.raises(fr.FrameError, match="dst_mac must be 6 bytes"):
        fr.build_frame(dst_mac=b"\x01", src_mac=MAC_A, flow_id=1, worker=0, frame_size=64)


@given(
    st.lists(
        st.tuples(
            u32, u16, u64, u64, st.integers(0, 255), st.sampled_from(["ok", "magic", "ver", "eth"])
        ),
        min_size=1,
        max_size=50,
    ),
    st.integers(0, 30),
)
def test_vectorised_parse_matches_scalar(
    rows: list[tuple[int, int, int, int, int, str]], pad: int
) -> None:
    stride = fr.HEADER_END + pad
    buf = bytearray()
    for flow, worker, seq, ts, flags, kind in rows:
        frame = bytearray(make(flow_id=flow, worker=worker, seq=seq, tx_wall_ns=ts, flags=flags))
        if kind == "magic":
            frame[14] ^= 0xFF
        elif kind == "ver":
            frame[18] = 9
        elif kind == "eth":
            frame[12] = 0x86
        buf += frame[: fr.HEADER_END] + bytes(pad)
    arrays = fr.parse_headers(fr.header_view(bytes(buf), 0, len(rows), stride))
    for i, (flow, worker, seq, ts, flags, kind) in enumerate(rows):
        assert bool(arrays.valid[i]) == (kind == "ok")
        assert (int(arrays.flow_id[i]), int(arrays.worker[i])) == (flow, worker)
        assert (int(arrays.seq[i]), int(arrays.tx_ns[i]), int(arrays.flags[i])) == (seq, ts, flags)
    assert arrays.seq.dtype == np.uint64
