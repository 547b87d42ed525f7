"""The four AF_XDP rings: index arithmetic and numpy views over their mmaps.

Each ring is single-producer single-consumer with free-running u32 `producer` and
`consumer` indices (Documentation/networking/af_xdp.rst); a ring of `size` entries
(a power of two) holds entry i at slot i & (size - 1), and the number of entries in
flight is (producer - consumer) mod 2^32, which stays right across the wrap. User
space keeps its own side as an unbounded Python int (`head` of a ring it produces,
`tail` of one it consumes) and writes it to the shared index modulo 2^32.

Ordering: entries (descriptors, UMEM data) are written by numpy before the index is
published by a separate store; x86 keeps stores in order (TSO), and the kernel reads
the index with acquire semantics. Weakly ordered CPUs would need a barrier here.
"""

from __future__ import annotations

import mmap
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

U32 = 1 << 32
MASK32 = U32 - 1
XDP_RING_NEED_WAKEUP = 1

# struct xdp_desc (RX and TX rings); fill and completion rings hold bare u64 addresses.
DESC_DTYPE = np.dtype([("addr", "<u8"), ("len", "<u4"), ("options", "<u4")])
ADDR_DTYPE = np.dtype("<u8")


def in_flight(producer: int, consumer: int) -> int:
    """Entries between two free-running u32 indices (any ints; taken modulo 2^32)."""
    return (producer - consumer) & MASK32


def free_entries(size: int, producer: int, consumer: int) -> int:
    """Room left for the producer of a ring of `size` entries."""
    used = in_flight(producer, consumer)
    if used > size:
        raise ValueError(f"ring of {size} entries has {used} in flight: indices out of step")
    return size - used


def spans(start: int, count: int, size: int) -> list[tuple[int, int]]:
    """The contiguous slot ranges (first slot, length) of `count` entries from index
    `start` in a ring of `size` (a power of two): one range, or two at the wrap."""
    if count <= 0:
        return []
    first = start & (size - 1)
    head = min(count, size - first)
    out = [(first, head)]
    if head < count:
        out.append((0, count - head))
    return out


def is_power_of_two(n: int) -> bool:
    return n > 0 and n & (n - 1) == 0


@dataclass(frozen=True)
class RingOffsets:
    """struct xdp_ring_offset: where producer, consumer, descriptors and flags sit."""

    producer: int
    consumer: int
    desc: int
    flags: int | None  # None: a kernel before need_wakeup (5.4)


class Ring:
    """One mapped ring. `entries` is the descriptor (or address) array of `size` slots."""

    def __init__(
        self,
        mm: mmap.mmap,
        offsets: RingOffsets,
        size: int,
        dtype: np.dtype[np.void] | np.dtype[np.uint64],
    ) -> None:
        self.mm = mm
        self.size = size
        self.mask = size - 1
        self._producer = memoryview(mm)[offsets.producer : offsets.producer + 4].cast("I")
        self._consumer = memoryview(mm)[offsets.consumer : offsets.consumer + 4].cast("I")
        self._flags = (
            None
            if offsets.flags is None
            else memoryview(mm)[offsets.flags : offsets.flags + 4].cast("I")
        )
        # Structured (DESC_DTYPE) for RX/TX, plain u64 addresses for fill/completion.
        self.entries: npt.NDArray[Any] = np.ndarray((size,), dtype, mm, offsets.desc)

    @property
    def producer(self) -> int:
        return int(self._producer[0])

    @producer.setter
    def producer(self, value: int) -> None:
        self._producer[0] = value & MASK32

    @property
    def consumer(self) -> int:
        return int(self._consumer[0])

    @consumer.setter
    def consumer(self, value: int) -> None:
        self._consumer[0] = value & MASK32

    def needs_wakeup(self) -> bool:
        """XDP_RING_NEED_WAKEUP set; True on kernels without the flag (always kick)."""
        return self._flags is None or bool(self._flags[0] & XDP_RING_NEED_WAKEUP)

    def release(self, unmap: bool = True) -> None:
        """Drop every view of the mapping, then unmap it (unless another view still maps it)."""
        for view in (self._producer, self._consumer, self._flags):
            if view is not None:
                view.release()
        del self.entries
        if unmap:
            self.mm.close()


class ProducerRing(Ring):
    """A ring user space fills (fill, TX): `head` entries produced so far."""

    head = 0

    def free(self) -> int:
        return free_entries(self.size, self.head, self.consumer)

    def publish(self, count: int) -> None:
        self.head += count
        self.producer = self.head


class ConsumerRing(Ring):
    """A ring the kernel fills (RX, completion): `tail` entries consumed so far."""

    tail = 0

    def available(self) -> int:
        return in_flight(self.producer, self.tail)

    def release_entries(self, count: int) -> None:
        self.tail += count
        self.consumer = self.tail
