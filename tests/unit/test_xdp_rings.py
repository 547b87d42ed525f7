"""AF_XDP ring index arithmetic, and the receive path driven by a stand-in kernel.

Ring indices are free-running u32s; everything must stay right when producer and
consumer cross 2^32 (a long run at a few Mpps does within an hour). The receive path
test plays the kernel's part on anonymous memory laid out like the real rings: it
takes chunks from the fill ring, writes frames and stamps into them, publishes RX
descriptors, and checks what the receiver counted and gave back.
"""

from __future__ import annotations

import mmap
import pickle
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ringlab.agent.rings import frame as fr
from ringlab.agent.rings.api import Progress
from ringlab.agent.rings.rxcount import FlowCounters
from ringlab.agent.rings.xdp.errors import QueueBusy, ZeroCopyUnsupported
from ringlab.agent.rings.xdp.receiver import RxPath, realtime_offset
from ringlab.agent.rings.xdp.rings import (
    ADDR_DTYPE,
    DESC_DTYPE,
    MASK32,
    U32,
    ConsumerRing,
    ProducerRing,
    RingOffsets,
    free_entries,
    in_flight,
    spans,
)
from ringlab.agent.rings.xdp.sender import ring_frames
from ringlab.agent.rings.xdp.xsk import XdpStatistics, chunk_size_for

sizes = st.sampled_from([1, 2, 8, 64, 4096])
indices = st.integers(min_value=0, max_value=U32 - 1)


@given(size=sizes, consumer=indices, data=st.data())
def test_in_flight_and_free_across_the_wrap(size: int, consumer: int, data: st.DataObject) -> None:
    k = data.draw(st.integers(0, size))
    producer = (consumer + k) & MASK32  # may have wrapped past 2^32 while the consumer did not
    assert in_flight(producer, consumer) == k
    assert free_entries(size, producer, consumer) == size - k
    # Unbounded counters on the user side give the same answers as their u32 images.
    assert in_flight(consumer + k + 5 * U32, consumer) == k


def test_free_entries_refuses_indices_out_of_step() -> None:
    with pytest.raises(ValueError, match="out of step"):
        free_entries(8, 9, 0)


@given(size=sizes, start=st.integers(0, 3 * U32), data=st.data())
def test_spans_cover_the_slots_in_order(size: int, start: int, data: st.DataObject) -> None:
    count = data.draw(st.integers(0, size))
    got = [slot for first, n in spans(start, count, size) for slot in range(first, first + n)]
    assert got == [(start + i) % size for i in range(count)]
    assert len(spans(start, count, size)) <= 2


OFFSETS = RingOffsets(producer=0, consumer=64, desc=192, flags=128)


def ring_memory(size: int, entry: int) -> mmap.mmap:
    return mmap.mmap(-1, OFFSETS.desc + size * entry)


@settings(max_examples=60)
@given(
    size=st.sampled_from([4, 16, 256]),
    before_wrap=st.integers(0, 600),
    ops=st.lists(st.tuples(st.booleans(), st.integers(0, 300)), max_size=40),
)
def test_producer_and_consumer_views_agree_across_the_wrap(
    size: int, before_wrap: int, ops: list[tuple[bool, int]]
) -> None:
    """One side produces, the other consumes, through the same shared indices; entries
    come out in order and the counts stay exact while the u32 indices wrap."""
    mm = ring_memory(size, 8)
    producer = ProducerRing(mm, OFFSETS, size, ADDR_DTYPE)
    consumer = ConsumerRing(mm, OFFSETS, size, ADDR_DTYPE)
    base = U32 - before_wrap
    producer.head = base
    producer.producer = base
    consumer.tail = base
    consumer.consumer = base
    sent = got = 0
    try:
        for produce, n in ops:
            if produce:
                n = min(n, producer.free())
                for first, k in spans(producer.head, n, size):
                    producer.entries[first : first + k] = np.arange(sent, sent + k, dtype=np.uint64)
                    sent += k
                producer.publish(n)
            else:
                n = min(n, consumer.available())
                for first, k in spans(consumer.tail, n, size):
                    assert consumer.entries[first : first + k].tolist() == list(range(got, got + k))
                    got += k
                consumer.release_entries(n)
            assert consumer.available() == sent - got
            assert producer.free() == size - (sent - got)
            assert producer.producer == (base + sent) & MASK32
            assert consumer.consumer == (base + got) & MASK32
    finally:
        producer.release(unmap=False)
        consumer.release()


# -- the receive path against a stand-in kernel --------------------------------------

CHUNK = 2048
HEADROOM = 256  # XDP_PACKET_HEADROOM: where the kernel puts received data in a chunk
FLOW = 9


@dataclass
class Layout:
    chunks: int
    chunk_size: int = CHUNK


class FakeSocket:
    """What RxPath uses of an XskSocket, over anonymous memory."""

    def __init__(self, frames: int, start_index: int) -> None:
        self.layout = Layout(chunks=frames)
        self.umem_mm = mmap.mmap(-1, frames * CHUNK)
        self.rx = ConsumerRing(ring_memory(frames, 16), OFFSETS, frames, DESC_DTYPE)
        fill_mm = ring_memory(2 * frames, 8)
        self.fill = ProducerRing(fill_mm, OFFSETS, 2 * frames, ADDR_DTYPE)
        # The kernel's sides of the same rings.
        self.k_rx = ProducerRing(self.rx.mm, OFFSETS, frames, DESC_DTYPE)
        self.k_fill = ConsumerRing(fill_mm, OFFSETS, 2 * frames, ADDR_DTYPE)
        for ring in (self.rx, self.fill, self.k_rx, self.k_fill):
            if isinstance(ring, ProducerRing):
                ring.head = start_index
                ring.producer = start_index
            else:
                ring.tail = start_index
                ring.consumer = start_index
        self.need_wakeup = False
        self.zerocopy = False
        self.umem = np.ndarray((len(self.umem_mm),), np.uint8, self.umem_mm)

    def close(self) -> None:
        for ring in (self.k_rx, self.k_fill):
            ring.release(unmap=False)
        for ring in (self.rx, self.fill):
            ring.release()
        del self.umem
        self.umem_mm.close()

    def wake_rx(self) -> None:
        raise AssertionError("copy mode never needs a wakeup")

    def deliver(self, seqs: list[int], stamp: bool, length: int = 60) -> list[int]:
        """Receive frames: take fill entries, write frame + stamp, publish descriptors."""
        n = len(seqs)
        assert self.k_fill.available() >= n and self.k_rx.free() >= n
        addrs = []
        for first, k in spans(self.k_fill.tail, n, self.k_fill.size):
            addrs += self.k_fill.entries[first : first + k].tolist()
        self.k_fill.release_entries(n)
        descs = []
        for addr, seq in zip(addrs, seqs, strict=True):
            assert addr % CHUNK == 0, "chunks come back aligned"
            data = addr + HEADROOM
            frame = fr.build_frame(
                dst_mac=b"\x02" * 6,
                src_mac=b"\x04" * 6,
                flow_id=FLOW,
                worker=0,
                frame_size=64,
                seq=seq,
                tx_wall_ns=1_000,
            )
            self.umem[data : data + len(frame)] = np.frombuffer(frame, np.uint8)
            meta = np.uint64(5_000 + seq if stamp else 0)
            self.umem[data - 8 : data] = np.frombuffer(meta.tobytes(), np.uint8)
            descs.append((data, length, 0))
        at = 0
        for first, k in spans(self.k_rx.head, n, self.k_rx.size):
            self.k_rx.entries[first : first + k] = np.array(descs[at : at + k], dtype=DESC_DTYPE)
            at += k
        self.k_rx.publish(n)
        return addrs


@settings(max_examples=30, deadline=None)
@given(
    before_wrap=st.integers(0, 300),
    batches=st.lists(st.integers(1, 64), min_size=1, max_size=12),
    stamp=st.booleans(),
)
def test_receive_path_counts_every_frame_and_recycles_its_chunks(
    before_wrap: int, batches: list[int], stamp: bool
) -> None:
    frames = 64
    sock = FakeSocket(frames, U32 - before_wrap)
    progress = {FLOW: Progress()}
    counters = FlowCounters(frozenset({FLOW}), progress)
    path = RxPath(cast(Any, sock), 0, frames, counters)
    try:
        assert sock.k_fill.available() == frames  # every chunk offered at the start
        seq = 0
        for n in batches:
            taken = sock.deliver(list(range(seq, seq + n)), stamp)
            seq += n
            assert path.read() == n
            # The same chunks went back, and their stamp slots were cleared.
            back = []
            start = sock.fill.head - n
            for first, k in spans(start, n, sock.fill.size):
                back += sock.fill.entries[first : first + k].tolist()
            assert back == taken
            for addr in taken:
                assert not sock.umem[addr + HEADROOM - 8 : addr + HEADROOM].any()
            assert sock.rx.available() == 0
        stats = counters.flow_stats()[FLOW]
        assert (stats.unique_packets, stats.expected_packets, stats.duplicates) == (seq, seq, 0)
        assert stats.bytes == 60 * seq
        assert progress[FLOW].packets == seq
        assert path.stamped == (seq if stamp else 0)
        if stamp:
            offset, _ = realtime_offset()
            lat = counters.latency_stats()[FLOW]
            # Stamps were 5000 + seq ns on the monotonic clock; frames say sent at 1000.
            assert abs(lat.min_us * 1000 - (5_000 + offset - 1_000)) < 1e6
    finally:
        path.release()
        sock.close()


def test_short_frames_are_suspect_not_counted() -> None:
    sock = FakeSocket(16, 0)
    counters = FlowCounters(frozenset({FLOW}), {FLOW: Progress()})
    path = RxPath(cast(Any, sock), 0, 16, counters)
    try:
        sock.deliver([0, 1], stamp=True, length=30)
        sock.deliver([2], stamp=True)
        assert path.read() == 3
        assert counters.suspect == 2
        assert counters.flow_stats()[FLOW].unique_packets == 1
    finally:
        path.release()
        sock.close()


# -- small pure pieces -----------------------------------------------------------


def test_ring_frames_round_up_to_a_power_of_two() -> None:
    assert [ring_frames(n) for n in (0, 1, 3, 4096, 5000)] == [4096, 1, 4, 4096, 8192]


def test_chunk_size_fits_the_frame_and_names_the_limit() -> None:
    assert chunk_size_for(60, receive=False) == 2048
    assert chunk_size_for(1514, receive=True) == 2048
    assert chunk_size_for(1800, receive=True) == 4096
    with pytest.raises(OSError, match="does not fit one 4096-byte UMEM chunk") as caught:
        chunk_size_for(4000, receive=True)
    assert "at most 3840 bytes" in str(caught.value)


def test_statistics_difference_and_names() -> None:
    before = XdpStatistics(1, 2, 3, 4, 5, 6)
    after = XdpStatistics(11, 2, 3, 14, 25, 6)
    assert after.minus(before).as_extra() == {
        "xdp_rx_dropped": 10,
        "xdp_rx_invalid_descs": 0,
        "xdp_tx_invalid_descs": 0,
        "xdp_rx_ring_full": 10,
        "xdp_rx_fill_ring_empty_descs": 20,
        "xdp_tx_ring_empty_descs": 0,
    }


def test_busy_error_names_the_queue_and_survives_pickling() -> None:
    """Senders open in a worker process: the error crosses a pipe with its fields."""
    error = QueueBusy("eth3", 2, "pid 42 (python3)", "xdp sender (flow 1, worker 0)")
    text = str(error)
    assert "interface eth3 queue 2 is busy (EBUSY)" in text
    assert "another AF_XDP socket owns it (pid 42 (python3))" in text
    assert "xdp_share" in text and "xdp_queue" in text and "time-sliced" in text
    copy = pickle.loads(pickle.dumps(error))
    assert isinstance(copy, QueueBusy) and copy.errno == error.errno
    assert (copy.interface, copy.queue, copy.owners, str(copy)) == (
        "eth3",
        2,
        "pid 42 (python3)",
        text,
    )
    zc = pickle.loads(pickle.dumps(ZeroCopyUnsupported("veth0", 0, "Operation not supported", "r")))
    assert "has no AF_XDP zero-copy" in str(zc) and zc.interface == "veth0"


def test_realtime_offset_matches_the_clocks() -> None:
    import time

    offset, wall = realtime_offset()
    assert abs(time.monotonic_ns() + offset - time.time_ns()) < 5_000_000
    assert abs(wall - time.time_ns()) < 1_000_000_000
