"""The xdp receiver: the RX ring engine's counting over an AF_XDP socket.

The receive program (program.py) redirects ringlab frames arriving on the socket's
queue into its RX ring. Per read the receiver takes every descriptor the kernel has
produced, gathers the 42-byte ringlab headers and the 8-byte receive stamps in front
of them out of the UMEM with one fancy index each, and hands them to the RX ring's
counting (rxcount.FlowCounters: the same classification, sequence accounting,
latency, foreign and suspect rules) as one block. It then zeroes the stamps, gives
the chunks back through the fill ring and releases the RX descriptors. No per-packet
Python.

Fill ring: twice as many entries as the receiver has chunks. The kernel takes fill
entries into a private cache and publishes its consumer index only when that cache
runs dry, so a fill ring exactly as large as the chunk count looks full to user
space while the kernel still holds most of it; recycled chunks would then wait and
the kernel would find the ring empty and drop. With room for every chunk twice over,
recycled chunks always go straight back.

Timestamps: the program's CLOCK_MONOTONIC stamp (0 where the driver refused the
metadata) turned into CLOCK_REALTIME with the offset between the two clocks read at
each batch; frames without one get the batch's user-space receive time.

Losses the socket saw are XDP_STATISTICS: rx_dropped (no fill entry or frame larger
than a chunk), rx_ring_full (the receiver fell behind), rx_invalid_descs. Their sum
is `kernel_drops`; `kernel_packets` is frames read plus those drops. Counted frames
plus kernel_drops accounts for every frame that reached the socket; frames the
device dropped before the program ran are in the interface's counters.
"""

from __future__ import annotations

import select
import threading
import time
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from ringlab.agent.rings import frame as fr
from ringlab.agent.rings.api import Progress, RxConfig, RxResult
from ringlab.agent.rings.rx import _LATE_CAP_NS, _QUIET_NS
from ringlab.agent.rings.rxblock import BlockPackets
from ringlab.agent.rings.rxcount import FlowCounters
from ringlab.agent.rings.xdp import shared
from ringlab.agent.rings.xdp.program import META_LEN
from ringlab.agent.rings.xdp.rings import ConsumerRing, ProducerRing, spans
from ringlab.agent.rings.xdp.xsk import XdpStatistics, XskSocket

DEFAULT_FRAMES = shared.DEFAULT_RX_FRAMES
# No block retire timeout here: frames in flight at the end arrive within microseconds.
_DRAIN_NS = 20_000_000
# Counting a batch costs a fixed ~0.2 ms of numpy calls (rxcount: the RX ring's counting,
# once per block there) whatever its size, so frames are taken in batches: once
# COALESCE_FRAMES wait, or when the first has waited COALESCE_NS. Measured on the lab VM:
# 265 us per 64-frame batch, 1.4 ms per 4096. Latency is unaffected (the program stamped
# every frame as it arrived); live counters lag by at most COALESCE_NS.
COALESCE_FRAMES = 2048
COALESCE_NS = 2_000_000


class RxPath:
    """Receiving through one socket's RX and fill rings, chunks [first, first + frames)."""

    def __init__(
        self, xsk: XskSocket, first_chunk: int, frames: int, counters: FlowCounters
    ) -> None:
        rx, fill = xsk.rx, xsk.fill
        if rx is None or fill is None:
            raise ValueError("the socket has no RX ring")
        if fill.size < 2 * frames:
            raise ValueError(f"fill ring of {fill.size} for {frames} chunks: it needs twice that")
        self.xsk = xsk
        self.rx: ConsumerRing = rx
        self.fill: ProducerRing = fill
        self.counters = counters
        self.chunk = xsk.layout.chunk_size
        self._shift = self.chunk.bit_length() - 1
        self._rows = np.ndarray((xsk.layout.chunks, self.chunk), np.uint8, xsk.umem_mm)
        self.frames_read = 0
        self.batches = 0
        self.stamped = 0
        self.last_frame_ns = 0
        chunks = (first_chunk + np.arange(frames, dtype=np.uint64)) << np.uint64(self._shift)
        done = 0
        for a, k in spans(fill.head, frames, fill.size):
            fill.entries[a : a + k] = chunks[done : done + k]
            done += k
        fill.publish(frames)

    def pending(self) -> int:
        """Frames the kernel has handed over and not yet read."""
        return self.rx.available()

    def read(self) -> int:
        """Account every frame the kernel has handed over; how many there were."""
        rx = self.rx
        n = rx.available()
        if n == 0:
            return 0
        parts = [rx.entries[a : a + k] for a, k in spans(rx.tail, n, rx.size)]
        desc = parts[0] if len(parts) == 1 else np.concatenate(parts)
        addr = desc["addr"].astype(np.uint64)
        length = desc["len"].astype(np.uint32)
        rows = (addr >> np.uint64(self._shift)).astype(np.intp)
        offset = addr & np.uint64(self.chunk - 1)
        first_off = int(offset[0])
        if (
            bool((offset == first_off).all())
            and META_LEN <= first_off <= self.chunk - fr.HEADER_END
        ):
            heads = self._rows[rows, first_off : first_off + fr.HEADER_END]
            stamps = self._rows[rows, first_off - META_LEN : first_off]
            self._rows[rows, first_off - META_LEN : first_off] = 0
        else:
            heads, stamps = self._gather(rows, offset)
        mono = stamps.copy().view(np.uint64).reshape(n)
        self._account(mono, length, heads)
        # Chunks back to the kernel (fill has room for every chunk), then the descriptors.
        fill = self.fill
        bases = rows.astype(np.uint64) << np.uint64(self._shift)
        done = 0
        for a, k in spans(fill.head, n, fill.size):
            fill.entries[a : a + k] = bases[done : done + k]
            done += k
        fill.publish(n)
        if self.xsk.need_wakeup and fill.needs_wakeup() and self.xsk.zerocopy:
            self.xsk.wake_rx()
        rx.release_entries(n)
        self.frames_read += n
        self.batches += 1
        self.last_frame_ns = time.monotonic_ns()
        return n

    def _gather(
        self, rows: npt.NDArray[np.intp], offset: npt.NDArray[np.uint64]
    ) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.uint8]]:
        """Headers and stamps of frames at differing offsets (unusual drivers)."""
        off = offset.astype(np.intp)
        cols = off[:, None] + np.arange(fr.HEADER_END)
        np.clip(cols, 0, self.chunk - 1, out=cols)
        heads = self._rows[rows[:, None], cols]
        meta_cols = off[:, None] - META_LEN + np.arange(META_LEN)
        ok = (off >= META_LEN)[:, None] & np.ones(META_LEN, dtype=bool)
        np.clip(meta_cols, 0, self.chunk - 1, out=meta_cols)
        stamps = np.where(ok, self._rows[rows[:, None], meta_cols], 0).astype(np.uint8)
        self._rows[rows[:, None], meta_cols] = np.where(ok, 0, self._rows[rows[:, None], meta_cols])
        return heads, stamps

    def _account(
        self,
        mono: npt.NDArray[np.uint64],
        length: npt.NDArray[np.uint32],
        heads: npt.NDArray[np.uint8],
    ) -> None:
        n = int(length.size)
        offset, wall = realtime_offset()
        has = mono != 0
        stamped = int(np.count_nonzero(has))
        if stamped == n:
            rx_ns = mono.astype(np.int64) + offset
        else:
            rx_ns = np.where(has, mono.astype(np.int64) + offset, wall)
        self.stamped += stamped
        view = np.ascontiguousarray(heads).view(fr.HEADER_DTYPE).reshape(n)
        self.counters.add(
            BlockPackets(
                rx_ns=rx_ns,
                snaplen=length,
                length=length,
                headers=fr.parse_headers(view),
                regular=True,
            )
        )

    def release(self) -> None:
        if hasattr(self, "_rows"):
            del self._rows


class XdpReceiver:
    """One receiving worker: an AF_XDP socket on queue xdp_queue + worker; ready when
    constructed (the program attached, the socket in its map slot)."""

    def __init__(self, config: RxConfig) -> None:
        if not config.flow_ids:
            raise ValueError("RxConfig.flow_ids is empty: list the flow ids this receiver counts")
        self.config = config
        self.progress: dict[int, Progress] = {f: Progress() for f in config.flow_ids}
        self.queue = config.xdp_queue + config.worker
        role = f"xdp receiver (worker {config.worker})"
        frames = config.xdp_frames or DEFAULT_FRAMES
        self._handle = shared.open_rx(config, self.queue, role, _power_of_two(frames))
        self.xsk = self._handle.xsk
        self._counters = FlowCounters(config.flow_ids, self.progress, config.static_flow_ids)
        try:
            self._path = RxPath(
                self.xsk, self._handle.rx_first_chunk, self._handle.rx_frames, self._counters
            )
        except BaseException:
            self._handle.release_rx()
            raise
        self._stats0 = self.xsk.statistics()

    @property
    def info(self) -> dict[str, str]:
        return self._handle.info()

    def run(self, stop: threading.Event, deadline_mono_ns: Callable[[], int | None]) -> RxResult:
        started_wall = time.time_ns()
        poller = select.poll()
        poller.register(self.xsk.fileno(), select.POLLIN | select.POLLERR)
        path = self._path
        waiting_since = 0  # when frames were first seen waiting for a batch
        while True:
            pending = path.pending()
            now = time.monotonic_ns()
            if pending:
                if pending >= COALESCE_FRAMES or (
                    waiting_since and now - waiting_since >= COALESCE_NS
                ):
                    path.read()
                    waiting_since = 0
                    continue
                waiting_since = waiting_since or now
            deadline = deadline_mono_ns()
            if stop.is_set():
                break
            if deadline is not None and now >= deadline:
                quiet = not pending and now - path.last_frame_ns >= _QUIET_NS
                if quiet or now >= deadline + _LATE_CAP_NS:
                    break
            if pending:
                time.sleep(max(0, waiting_since + COALESCE_NS - now) / 1e9)
                continue
            wait_ms = 50 if deadline is None else max(1, min(50, (deadline - now) // 1_000_000))
            poller.poll(wait_ms)
        end = time.monotonic_ns() + _DRAIN_NS
        while time.monotonic_ns() < end:
            if not path.read():
                poller.poll(2)
        while path.read():
            pass
        return self._result(started_wall)

    def _result(self, started_wall: int) -> RxResult:
        stats = self.xsk.statistics().minus(self._stats0)
        drops = stats.rx_dropped + stats.rx_ring_full + stats.rx_invalid_descs
        counters = self._counters
        path = self._path
        extra = {
            "batches": path.batches,
            "static_packets": counters.static_packets,
            "late_packets": counters.late_total(),
            "xdp_frames_read": path.frames_read,
            "xdp_kernel_stamped": path.stamped,
        }
        extra.update(stats.as_extra())
        extra.update(self._handle.flags())
        return RxResult(
            flows=counters.flow_stats(),
            latency=counters.latency_stats(),
            foreign_frames=counters.foreign,
            suspect_frames=counters.suspect,
            kernel_packets=path.frames_read + drops,
            kernel_drops=drops,
            kernel_freezes=0,
            started_wall_ns=started_wall,
            extra=extra,
            info=self.info,
        )

    def statistics(self) -> XdpStatistics:
        """XDP_STATISTICS since the receiver opened (live; the socket keeps counting)."""
        return self.xsk.statistics().minus(self._stats0)

    def close(self) -> None:
        if hasattr(self, "_path"):
            self._path.release()
            del self._path
        if hasattr(self, "_handle"):
            self._handle.release_rx()
            del self._handle


def realtime_offset(tries: int = 3) -> tuple[int, int]:
    """(CLOCK_REALTIME - CLOCK_MONOTONIC, now in CLOCK_REALTIME), from the tightest of a few
    mono/real/mono readings: a thread that loses the CPU (or the GIL) between two clock
    reads would otherwise shift every stamp of the batch by that pause (seen: frames
    "received" 265 µs before they were sent)."""
    best_spread, best = -1, (0, 0)
    for _ in range(tries):
        before = time.monotonic_ns()
        wall = time.time_ns()
        after = time.monotonic_ns()
        spread = after - before
        if best_spread < 0 or spread < best_spread:
            best_spread, best = spread, (wall - (before + after) // 2, wall)
        if spread < 20_000:
            break
    return best


def _power_of_two(n: int) -> int:
    size = 1
    while size < n:
        size *= 2
    return size
