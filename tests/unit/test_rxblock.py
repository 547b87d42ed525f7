"""TPACKET_V3 block reading and receive-side classification on synthetic blocks."""

from __future__ import annotations

import struct

import numpy as np

from ringlab.agent.rings import frame as fr
from ringlab.agent.rings.api import Progress
from ringlab.agent.rings.latency import LatencyReservoir
from ringlab.agent.rings.rxblock import read_block
from ringlab.agent.rings.rxcount import FlowCounters

MAC = bytes(6)
BLOCK = 8192
FIRST = 48
MACOFF = 82


def frame(
    flow: int = 1, worker: int = 0, seq: int = 0, ts: int = 0, flags: int = 0, size: int = 64
) -> bytes:
    return fr.build_frame(
        dst_mac=MAC,
        src_mac=MAC,
        flow_id=flow,
        worker=worker,
        seq=seq,
        tx_wall_ns=ts,
        flags=flags,
        frame_size=size,
    )


def block(
    frames: list[bytes], rx_ns: int = 5_000_000_000, macs: list[int] | None = None
) -> bytearray:
    """A block as the kernel lays it out: packets chained by tp_next_offset, last one 0."""
    buf = bytearray(BLOCK)
    struct.pack_into("<III", buf, 8, 1, len(frames), FIRST)
    off = FIRST
    for i, data in enumerate(frames):
        mac = macs[i] if macs else MACOFF
        step = (mac + len(data) + 15) // 16 * 16
        nxt = 0 if i == len(frames) - 1 else step
        sec, nsec = divmod(rx_ns + i, 1_000_000_000)
        struct.pack_into(
            "<IIIIIIHH", buf, off, nxt, sec, nsec, len(data), len(data), 1, mac, mac + 14
        )
        buf[off + mac : off + mac + len(data)] = data
        off += step
    return buf


def test_regular_block_is_read_through_strided_views() -> None:
    frames = [frame(seq=i, ts=4_999_000_000) for i in range(20)]
    b = read_block(block(frames), 0, BLOCK)
    assert b is not None and b.regular
    assert b.headers.seq.tolist() == list(range(20))
    assert bool(b.headers.valid.all())
    assert b.rx_ns.tolist() == [5_000_000_000 + i for i in range(20)]
    assert b.length.tolist() == [60] * 20


def test_mixed_sizes_fall_back_to_the_walk() -> None:
    frames = [frame(seq=i, size=64 if i % 2 else 200) for i in range(9)]
    b = read_block(block(frames), 0, BLOCK)
    assert b is not None and not b.regular
    assert b.headers.seq.tolist() == list(range(9))
    assert b.length.tolist() == [196 if i % 2 == 0 else 60 for i in range(9)]


def test_varying_mac_offset_falls_back_to_the_walk() -> None:
    frames = [frame(seq=i) for i in range(4)]
    b = read_block(block(frames, macs=[82, 86, 82, 82]), 0, BLOCK)
    assert b is not None and not b.regular
    assert b.headers.seq.tolist() == [0, 1, 2, 3]


def test_block_at_an_offset_and_empty_block() -> None:
    ring = bytearray(BLOCK) + block([frame(seq=7)])
    b = read_block(ring, BLOCK, BLOCK)
    assert b is not None and b.headers.seq.tolist() == [7]
    assert read_block(bytearray(BLOCK), 0, BLOCK) is None


def test_corrupt_chain_stays_inside_the_block() -> None:
    buf = block([frame(seq=i) for i in range(3)])
    struct.pack_into("<I", buf, 12, 1000)  # claims 1000 packets
    struct.pack_into("<I", buf, FIRST, 9000)  # and a next offset out of the block
    b = read_block(buf, 0, BLOCK)
    assert b is not None and b.headers.seq.size == 1


def counters(*flows: int) -> tuple[FlowCounters, dict[int, Progress]]:
    progress = {f: Progress() for f in flows}
    return FlowCounters(frozenset(flows), progress), progress


def test_classification_foreign_truncated_forged_static() -> None:
    bad_magic = bytearray(frame(seq=3))
    bad_magic[14] = 0
    frames = [
        frame(seq=0, ts=4_999_999_000),
        frame(flow=99, seq=1),  # unknown flow: foreign
        bytes(bad_magic),  # wrong magic: foreign
        frame(seq=1)[:30],  # truncated: suspect
        frame(seq=2**60),  # forged far ahead: suspect
        frame(seq=1, ts=4_999_999_000),
        frame(seq=1),  # duplicate
        frame(flags=fr.FLAG_STATIC),  # static frame of a stamped flow: forged, suspect
        frame(worker=1, seq=0),  # second stream of flow 1
    ]
    fc, progress = counters(1)
    b = read_block(block(frames), 0, BLOCK)
    assert b is not None
    fc.add(b)
    assert (fc.foreign, fc.suspect, fc.static_packets) == (2, 3, 0)
    s = fc.flow_stats()[1]
    assert (s.packets, s.unique_packets, s.duplicates, s.expected_packets) == (4, 3, 1, 3)
    assert progress[1].packets == 4 and progress[1].bytes == 4 * 60
    lat = fc.latency_stats()[1]
    assert lat.samples == 4 and lat.min_us > 0


def test_static_flows_count_static_frames_only() -> None:
    progress = {1: Progress(), 2: Progress()}
    fc = FlowCounters(frozenset({1, 2}), progress, static_flow_ids=frozenset({2}))
    frames = [
        frame(flow=2, flags=fr.FLAG_STATIC),
        frame(flow=2, flags=fr.FLAG_STATIC),
        frame(flow=2, seq=7),  # stamped frame of a static flow: forged
        frame(flow=1, seq=0),
        frame(flow=1, flags=fr.FLAG_STATIC),  # static frame of a stamped flow: forged
    ]
    b = read_block(block(frames), 0, BLOCK)
    assert b is not None
    fc.add(b)
    assert (fc.suspect, fc.static_packets) == (2, 2)
    stats = fc.flow_stats()
    assert stats[2].packets == 2 and stats[2].unique_packets == 0
    assert stats[1].packets == 1 and stats[1].unique_packets == 1


def test_fast_path_single_stream() -> None:
    fc, _ = counters(1)
    for start in (0, 10, 5):
        b = read_block(
            block([frame(seq=s, ts=4_000_000_000) for s in range(start, start + 10)]), 0, BLOCK
        )
        assert b is not None
        fc.add(b)
    s = fc.flow_stats()[1]
    assert (s.packets, s.unique_packets, s.duplicates, s.reordered, s.expected_packets) == (
        30,
        20,
        10,
        0,
        20,
    )


def test_reservoir_is_bounded_and_exact_on_extremes() -> None:
    r = LatencyReservoir(capacity=100, seed=1)
    values = np.arange(1, 100_001, dtype=np.int64) * 1000
    for chunk in np.array_split(values, 37):
        r.add(chunk)
    st = r.stats()
    assert st.samples == 100_000
    assert (st.min_us, st.max_us) == (1.0, 100_000.0)
    assert abs(st.mean_us - 50_000.5) < 1e-6
    assert r._sample.size == 100
    assert 30_000 < st.p50_us < 70_000  # uniform sample of a uniform ramp
    assert LatencyReservoir().stats().samples == 0
