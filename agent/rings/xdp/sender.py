"""The xdp sender: the TX ring engine's structure over an AF_XDP socket.

Every TX chunk of the UMEM holds a complete test frame from the start, and TX ring
slot k always describes chunk k, so the descriptors are written once at open. Per
batch the sender writes the sequence numbers and the batch's timestamp into the
frames (one numpy assignment each, through strided views over the UMEM) and publishes
the TX producer index; then it kicks the kernel with sendto(MSG_DONTWAIT), unless the
ring says it needs no wakeup (XDP_USE_NEED_WAKEUP, zero-copy drivers that are busy
polling anyway). Chunks come back through the completion ring; only the count
matters, since slot k is reused only after k + ring size - 1 earlier completions.
(Copy mode copies a frame into an skb at sendto; zero-copy drivers complete a queue's
descriptors in ring order.)

Copy mode transmits at most XDP_MAX_TX_SKB_BUDGET descriptors per sendto (32 before
kernel 6.17, which added the option; this sender asks for the whole ring) and returns
EAGAIN with descriptors left, so the sender kicks until the kernel has taken every
posted descriptor or stops making progress.

Counting: `packets` are completions minus frames the device dropped. A frame the device
refuses (veth: the peer's ring is full) is completed but not sent, and that sendto
returns EBUSY, one per frame; those frames are `send_errors`, with the text in
`last_error`. XDP_STATISTICS (tx_invalid_descs, tx_ring_empty_descs) go in `extra`.
"""

from __future__ import annotations

import errno
import select
import sys
import threading
import time
from dataclasses import dataclass, replace

import numpy as np

from ringlab.agent.rings import frame as fr
from ringlab.agent.rings.api import Progress, TxConfig, TxResult
from ringlab.agent.rings.pacing import default_batch, not_sent_report
from ringlab.agent.rings.sendloop import OUTAGE_ERRNOS, Outage, QdiscDrops, run_paced
from ringlab.agent.rings.start import RealtimeStart, run_from_start
from ringlab.agent.rings.xdp import shared
from ringlab.agent.rings.xdp.rings import is_power_of_two
from ringlab.agent.rings.xdp.xsk import XdpStatistics, XskSocket

DEFAULT_RING_FRAMES = 4096
DEFAULT_BATCH = 1024
# A copy-mode kick that moves nothing this many times in a row: wait for completions.
_STALLED_KICKS = 4
# Frames the device dropped: one per sendto that returns these (the frame is completed).
_DROPPED = (errno.EBUSY, errno.EOVERFLOW)
_SWAP = sys.byteorder == "little"


def ring_frames(requested: int) -> int:
    """TX ring (and TX chunk) count: the request rounded up to a power of two."""
    n = requested or DEFAULT_RING_FRAMES
    if n < 1:
        raise ValueError(f"ring_frames {requested} must be positive (0: default)")
    size = 1
    while size < n:
        size *= 2
    return size


class TxPath:
    """Sending through one socket's TX and completion rings, chunks [first, first + frames)."""

    def __init__(self, xsk: XskSocket, first_chunk: int, frames: int, template: bytes) -> None:
        tx, completion = xsk.tx, xsk.completion
        if tx is None or completion is None:
            raise ValueError("the socket has no TX ring")
        if frames != tx.size or not is_power_of_two(frames):
            raise ValueError(f"{frames} TX chunks for a TX ring of {tx.size}")
        self.xsk = xsk
        self.tx = tx
        self.completion = completion
        self.frames = frames
        chunk = xsk.layout.chunk_size
        base = first_chunk * chunk
        umem = xsk.umem_mm
        data = np.ndarray((frames, len(template)), np.uint8, umem, base, (chunk, 1))
        data[:] = np.frombuffer(template, np.uint8)
        desc = tx.entries
        desc["addr"] = base + np.arange(frames, dtype=np.uint64) * chunk
        desc["len"] = len(template)
        desc["options"] = 0
        # Native-endian views written with byte-swapped values: a plain strided copy.
        self.seq = np.ndarray((frames,), np.uint64, umem, base + fr.OFF_SEQ, (chunk,))
        self.ts = np.ndarray((frames,), np.uint64, umem, base + fr.OFF_TX_NS, (chunk,))
        self._ramp = np.arange(frames, dtype=np.uint64)
        self._scratch = np.empty(frames, dtype=np.uint64)

    def stamp(self, i: int, count: int, first_seq: int, wall_be: np.uint64) -> None:
        seqs = self._scratch[:count]
        np.add(self._ramp[:count], np.uint64(first_seq), out=seqs)
        if _SWAP:
            seqs.byteswap(inplace=True)
        self.seq[i : i + count] = seqs
        self.ts[i : i + count] = wall_be

    def release(self) -> None:
        for name in ("seq", "ts"):
            if hasattr(self, name):
                delattr(self, name)


class XdpSender:
    """One sending worker: one AF_XDP socket (its own, or shared with a receiver)."""

    def __init__(self, config: TxConfig) -> None:
        self.config = config
        self.progress = Progress()
        if config.rate_pps < 0:
            raise ValueError(f"rate_pps {config.rate_pps} is negative: use 0 for max rate")
        self._buf_len = fr.buffer_len(config.frame_size)
        self._batch = config.batch or default_batch(config.rate_pps, DEFAULT_BATCH)
        flags = 0 if config.stamping else fr.FLAG_STATIC
        template = fr.build_frame(
            dst_mac=config.dst_mac,
            src_mac=config.src_mac,
            flow_id=config.flow_id,
            worker=config.worker,
            frame_size=config.frame_size,
            flags=flags,
        )
        role = f"xdp sender (flow {config.flow_id}, worker {config.worker})"
        self.queue = config.xdp_queue + config.worker
        fr.check_frame_size(config.frame_size, shared.interface_mtu(config.interface, role))
        self._handle = shared.open_tx(config, self.queue, role, ring_frames(config.ring_frames))
        try:
            self._path = TxPath(
                self._handle.xsk, self._handle.tx_first_chunk, self._handle.tx_frames, template
            )
        except BaseException:
            self._handle.release_tx()
            raise
        self.xsk = self._handle.xsk
        self._stats0 = self.xsk.statistics()
        self._warm_up()
        self.ring_frames = self._path.frames
        self.outage = Outage()
        self.drops = QdiscDrops()  # AF_XDP passes no qdisc: stays empty
        self._state = _TxState()
        self._poller = select.poll()
        self._poller.register(self.xsk.fileno(), select.POLLOUT)

    @property
    def info(self) -> dict[str, str]:
        """How the socket was bound: for the session layer, before and after the run."""
        return self._handle.info()

    # -- hot path ------------------------------------------------------------

    def run(self, start_mono_ns: int, duration_ns: int, stop: threading.Event) -> TxResult:
        result = run_from_start(
            start_mono_ns, stop, lambda gate: self._send(start_mono_ns, duration_ns, stop, gate)
        )
        if result.info:
            return result
        # Stopped before the start: nothing sent, but still say how the socket was bound.
        return replace(result, extra=self._extra(self.xsk.statistics()), info=self.info)

    def _send(
        self, start_mono_ns: int, duration_ns: int, stop: threading.Event, gate: RealtimeStart
    ) -> TxResult:
        state = self._state
        timed = run_paced(
            self, self.config.rate_pps, self._batch, start_mono_ns, duration_ns, stop, gate
        )
        packets = state.done - state.dropped
        extra, info = not_sent_report(
            timed.pacer, packets, state.errors, self.config.interface, self.outage.finish()
        )
        return TxResult(
            packets=packets,
            bytes=packets * self._buf_len,
            send_errors=state.errors,
            started_wall_ns=timed.started_wall_ns,
            first_wall_ns=state.first_wall,
            last_wall_ns=state.last_wall,
            user_cpu_s=timed.user_cpu_s,
            system_cpu_s=timed.system_cpu_s,
            last_error=state.last_error or self.outage.error,
            extra={**self._extra(self.xsk.statistics(), state), **extra},
            info={**self.info, **info},
        )

    # RingEngine (sendloop.py)

    def posted(self) -> int:
        return self._state.head

    def in_flight(self) -> int:
        return self._state.head - self._state.done

    def fill(self, n: int) -> None:
        self._fill(self._state, n, self.config.stamping)

    def kick(self) -> None:
        self._kick(self._state)

    def reclaim(self) -> None:
        self._reclaim(self._state)

    def wait_for_room(self) -> None:
        self._poller.poll(1)

    def _fill(self, state: _TxState, n: int, stamping: bool) -> None:
        n_frames = self._path.frames
        i = self._path.tx.head & (n_frames - 1)  # TX ring slot k describes chunk k
        wall = time.time_ns()
        wall_be = np.uint64(wall).byteswap() if _SWAP else np.uint64(wall)
        if not state.first_wall:
            state.first_wall = wall
        state.last_wall = wall
        done = 0
        while done < n:
            count = min(n - done, n_frames - i)
            if stamping:
                self._path.stamp(i, count, state.seq + done, wall_be)
            done += count
            i = 0
        state.head += n
        state.seq += n
        self._path.tx.publish(n)

    def _kick(self, state: _TxState) -> None:
        tx = self._path.tx
        xsk = self.xsk
        if xsk.zerocopy:
            # The driver transmits from the ring itself; a wakeup only when it asks.
            if not xsk.need_wakeup or tx.needs_wakeup():
                self._count_error(state, xsk.kick_tx())
            return
        stalled = 0
        taken = tx.consumer
        while taken != tx.head & 0xFFFFFFFF and stalled < _STALLED_KICKS:
            self._count_error(state, xsk.kick_tx())
            now_taken = tx.consumer
            stalled = stalled + 1 if now_taken == taken else 0
            taken = now_taken
        state.kicks += 1

    def _count_error(self, state: _TxState, error: OSError | None) -> None:
        if error is None:
            self.outage.accepted()
            return
        if error.errno in OUTAGE_ERRNOS:
            # Link down: the kernel keeps the descriptors; the loop holds posting.
            self.outage.refused(error)
            return
        state.errors += 1
        if error.errno in _DROPPED:
            state.dropped += 1
            state.last_error = f"the device dropped a frame ({error.strerror})"
        else:
            state.last_error = error.strerror or str(error)

    def _reclaim(self, state: _TxState) -> None:
        completion = self._path.completion
        n = completion.available()
        if n:
            completion.release_entries(n)
            state.done += n
            packets = state.done - state.dropped
            self.progress.packets = packets
            self.progress.bytes = packets * self._buf_len

    def _warm_up(self) -> None:
        """Run the per-batch numpy path once before any start (see tx.py); nothing is
        published, so nothing is sent, and the first batch overwrites these stamps."""
        count = min(self._batch, self._path.frames)
        self._path.stamp(0, count, 0, np.uint64(time.time_ns()))

    def _extra(self, stats: XdpStatistics, state: _TxState | None = None) -> dict[str, int]:
        extra = stats.minus(self._stats0).as_extra()
        extra.update(self._handle.flags())
        if state is not None:
            extra["xdp_kicks"] = state.kicks
            extra["xdp_device_drops"] = state.dropped
        return extra

    def close(self) -> None:
        if hasattr(self, "_path"):
            self._path.release()
            del self._path
        if hasattr(self, "_handle"):
            self._handle.release_tx()
            del self._handle


@dataclass
class _TxState:
    head: int = 0  # descriptors ever posted (next slot = head % frames)
    done: int = 0  # completions ever seen
    seq: int = 0
    dropped: int = 0
    errors: int = 0
    kicks: int = 0
    first_wall: int = 0
    last_wall: int = 0
    last_error: str = ""
