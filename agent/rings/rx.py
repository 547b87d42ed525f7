"""RX ring engine: AF_PACKET TPACKET_V3 PACKET_RX_RING, one block at a time.

The socket is bound to ethertype 0x88B5, so the kernel filters: only ringlab-type
frames reach the ring (other traffic costs nothing). "Foreign" therefore means our
ethertype with a wrong magic/version or an unknown flow id.

Fanout (RxConfig.fanout_group): the workers of a receive set join one
PACKET_FANOUT_CBPF group whose classic BPF program returns the frame's sender
worker field; the kernel takes it modulo the group size. So every (flow, sender
worker) stream lands on exactly one receiving socket, keeping exact sequence
accounting per socket, and N sender workers spread over N receivers. (HASH would
put every worker of a non-IP flow on one socket; LB/CPU would split a stream over
sockets and make duplicates and reordering invisible.)

Timestamps: tp_sec/tp_nsec of each packet are CLOCK_REALTIME stamps taken by the
kernel on receive; one-way latency = that minus the frame's tx_wall_ns.
"""

from __future__ import annotations

import mmap
import select
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterable

import numpy as np

from ringlab.agent.rings import frame as fr
from ringlab.agent.rings import packet as pk
from ringlab.agent.rings.api import Progress, RxConfig, RxResult
from ringlab.agent.rings.rxblock import OFF_BLOCK_STATUS, read_block
from ringlab.agent.rings.rxcount import FlowCounters
from ringlab.ring_limits import DEFAULT_RX_BLOCK_SIZE, DEFAULT_RX_BLOCKS

# Frames longer than this reach the ring cut to it (a socket filter returning the
# length): counting reads only the 42-byte header, and tp_len still holds the whole
# length. The kernel then copies 64 bytes per frame instead of up to 9 KiB, and a block
# holds as many 1500-byte frames as 64-byte ones, so per-block Python work stays small.
RX_SNAP_LEN = 64
V3_FRAME_SIZE = 2048  # only checked by the kernel for V3; packets are packed in blocks
RETIRE_BLOCK_MS = 8
_STATS = struct.Struct("<III")
_STATS_EVERY_NS = 1_000_000_000
# Frames still in flight when the run ends land in a block the kernel retires
# after RETIRE_BLOCK_MS; keep reading that long (plus margin) after the end.
_DRAIN_NS = 4 * RETIRE_BLOCK_MS * 1_000_000
# Past its deadline a receiver keeps counting while frames still arrive (a sender that
# started late is still sending its tail), until the link has been quiet this long...
_QUIET_NS = 100_000_000
# ...but never longer than this past the deadline.
_LATE_CAP_NS = 2_000_000_000

# Classic BPF offset of the MAC header (SKF_LL_OFF).
_SKF_LL_OFF = -0x200000


class RingReceiver:
    """One receiving worker: one socket, one RX ring; ready when constructed."""

    def __init__(self, config: RxConfig) -> None:
        if not config.flow_ids:
            raise ValueError("RxConfig.flow_ids is empty: list the flow ids this receiver counts")
        self.config = config
        self.progress: dict[int, Progress] = {f: Progress() for f in config.flow_ids}
        self._block_size = config.block_size or DEFAULT_RX_BLOCK_SIZE
        self._blocks = config.block_count or DEFAULT_RX_BLOCKS
        if self._block_size % pk.PAGE_SIZE or self._block_size < V3_FRAME_SIZE:
            raise ValueError(
                f"block_size {self._block_size} must be a multiple of the page size"
                f" ({pk.PAGE_SIZE}) and at least {V3_FRAME_SIZE}"
            )
        if config.snap_len and config.snap_len < fr.HEADER_END:
            raise ValueError(
                f"snap_len {config.snap_len} would cut the {fr.HEADER_END}-byte ringlab header:"
                " use 0 (whole frames) or at least that"
            )
        role = f"ring receiver (worker {config.worker})"
        # Protocol 0 until bound: nothing is queued before the ring exists.
        self._sock = pk.open_packet_socket(config.interface, 0, role)
        try:
            pk.set_version(self._sock, pk.TPACKET_V3)
            frames = self._block_size // V3_FRAME_SIZE * self._blocks
            req = struct.pack(
                "<7I", self._block_size, self._blocks, V3_FRAME_SIZE, frames, RETIRE_BLOCK_MS, 0, 0
            )
            self._sock.setsockopt(pk.SOL_PACKET, pk.PACKET_RX_RING, req)
            size = self._block_size * self._blocks
            self._mm = mmap.mmap(
                self._sock.fileno(), size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE
            )
            if config.snap_len:
                # Before bind: no frame is queued whole once the socket receives.
                pk.set_bpf(
                    self._sock,
                    socket.SOL_SOCKET,
                    pk.SO_ATTACH_FILTER,
                    (pk.BPF_RET_K, config.snap_len),
                )
            pk.bind_interface(self._sock, config.interface, fr.ETHERTYPE, role)
            if config.fanout_group is not None:
                self._join_fanout(config.fanout_group)
        except BaseException:
            if hasattr(self, "_mm"):
                self._mm.close()
            self._sock.close()
            raise
        self._status = np.ndarray(
            (self._blocks,), np.uint32, self._mm, OFF_BLOCK_STATUS, (self._block_size,)
        )
        self._counters = FlowCounters(config.flow_ids, self.progress, config.static_flow_ids)
        self._kernel = [0, 0, 0]
        self._cursor = 0
        self.blocks_read = 0
        self._last_block_ns = 0
        self.blocks_walked = 0

    def _join_fanout(self, group: int) -> None:
        if not 0 <= group < 1 << 16:
            raise ValueError(f"fanout_group {group} must fit in 16 bits (0..65535)")
        try:
            self._sock.setsockopt(
                pk.SOL_PACKET, pk.PACKET_FANOUT, group | pk.PACKET_FANOUT_CBPF << 16
            )
            # A = u16 at MAC header + 20 (the sender-worker field); return A.
            pk.set_bpf(
                self._sock,
                pk.SOL_PACKET,
                pk.PACKET_FANOUT_DATA,
                (pk.BPF_LD_H_ABS, _SKF_LL_OFF + fr.OFF_WORKER),
                (pk.BPF_RET_A, 0),
            )
        except OSError as e:
            raise OSError(
                e.errno,
                f"cannot join PACKET_FANOUT group {group} on {self.config.interface}:"
                f" {e.strerror} (the group id may be in use with other settings; pick another)",
            ) from None

    def run(self, stop: threading.Event, deadline_mono_ns: Callable[[], int | None]) -> RxResult:
        started_wall = time.time_ns()
        poller = select.poll()
        poller.register(self._sock.fileno(), select.POLLIN | select.POLLERR)
        next_stats = time.monotonic_ns() + _STATS_EVERY_NS
        while True:
            if self._read_ready():
                continue
            now = time.monotonic_ns()
            if now >= next_stats:
                self._read_kernel_stats()
                next_stats = now + _STATS_EVERY_NS
            deadline = deadline_mono_ns()
            if stop.is_set():
                break
            if deadline is not None and now >= deadline:
                quiet = now - self._last_block_ns >= _QUIET_NS
                if quiet or now >= deadline + _LATE_CAP_NS:
                    break
            wait_ms = 50 if deadline is None else max(1, min(50, (deadline - now) // 1_000_000))
            poller.poll(wait_ms)
        end = time.monotonic_ns() + _DRAIN_NS
        while time.monotonic_ns() < end:
            if not self._read_ready():
                poller.poll(2)
        while self._read_ready():
            pass
        self._read_kernel_stats()
        counters = self._counters
        return RxResult(
            flows=counters.flow_stats(),
            latency=counters.latency_stats(),
            foreign_frames=counters.foreign,
            suspect_frames=counters.suspect,
            kernel_packets=self._kernel[0],
            kernel_drops=self._kernel[1],
            kernel_freezes=self._kernel[2],
            started_wall_ns=started_wall,
            extra={
                "blocks": self.blocks_read,
                "blocks_walked": self.blocks_walked,
                "static_packets": counters.static_packets,
                "late_packets": counters.late_total(),
            },
        )

    def _read_ready(self) -> bool:
        """Account the block under the cursor if the kernel handed it over."""
        i = self._cursor
        if not int(self._status[i]) & pk.TP_STATUS_USER:
            return False
        block = read_block(self._mm, i * self._block_size, self._block_size)
        if block is not None:
            self._counters.add(block)
            if not block.regular:
                self.blocks_walked += 1
        self._status[i] = pk.TP_STATUS_KERNEL
        self._cursor = (i + 1) % self._blocks
        self.blocks_read += 1
        self._last_block_ns = time.monotonic_ns()
        return True

    def _read_kernel_stats(self) -> None:
        # tpacket_stats_v3 resets on every read; tp_packets already includes tp_drops.
        raw = self._sock.getsockopt(pk.SOL_PACKET, pk.PACKET_STATISTICS, _STATS.size)
        for k, v in enumerate(_STATS.unpack(raw)):
            self._kernel[k] += v

    def close(self) -> None:
        if hasattr(self, "_status"):
            del self._status
        self._mm.close()
        self._sock.close()


def snap_len_for(frame_sizes: Iterable[int]) -> int:
    """RxConfig.snap_len for a receiver of these frame sizes (with FCS): 0 when every
    frame fits in RX_SNAP_LEN, which saves the filter's per-frame run."""
    largest = max(frame_sizes, default=0) - fr.FCS_LEN
    return RX_SNAP_LEN if largest > RX_SNAP_LEN else 0
