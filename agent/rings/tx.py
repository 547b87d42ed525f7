"""TX ring engine: AF_PACKET TPACKET_V2 PACKET_TX_RING driven by numpy.

Every ring frame holds a complete test frame from the start; per batch the sender
writes only sequence numbers, one timestamp and the statuses, each as one numpy
assignment through a strided view over the ring (stride = ring frame size), then
kicks the kernel with send(MSG_DONTWAIT). Frames come back when the kernel frees
their skb (status AVAILABLE); the sender reclaims them in ring order, so `packets` is
exactly what the kernel accepted. The loop itself, and what a refusal means (link
down: hold; a frame the qdisc dropped: try again, give it up after a bound), are in
sendloop.py, shared with the xdp sender.

A frame the qdisc drops stays a request at the kernel's head of the ring, and the
kernel never passes a request. To give one up the sender sets its tp_len to 0: with
PACKET_LOSS on the socket the kernel then skips it as malformed (AVAILABLE, head moves
on) and sends the frames behind it; the reclaim counts it in send_errors, not as sent.
Our frames are never malformed otherwise (one template, one length); the one way
left, an MTU lowered below the frame in the middle of a paged_skb run, would be
skipped and counted as sent: the interface counters then disagree with tx_packets.

Skb layout: by default each ring frame starts with a virtio_net_hdr (PACKET_VNET_HDR)
whose hdr_len covers the whole frame, so tpacket_snd copies the frame into the skb's
linear head. Without it the skb references ring pages, and every path that forwards
the skb into another namespace or to a tap (veth: __dev_forward_skb ->
skb_copy_ubufs) must allocate a page and copy the frame anyway, per frame; measured
on veth the paged layout ran at 0.5-0.8 of the linear one's rate (README, Data plane).
`paged_skb=True` keeps the page-referencing layout for comparison.

Ordering: the data of a frame is written before its status by a separate numpy
assignment; x86 keeps stores in order (TSO), so the kernel never sees a request
before its data. On weakly ordered CPUs this would need a barrier.
"""

from __future__ import annotations

import math
import mmap
import select
import socket
import sys
import threading
import time
from dataclasses import dataclass, field

import numpy as np

from ringlab.agent.rings import frame as fr
from ringlab.agent.rings import packet as pk
from ringlab.agent.rings import qdisc as qd
from ringlab.agent.rings.api import Progress, TxConfig, TxResult
from ringlab.agent.rings.pacing import default_batch, not_sent_report
from ringlab.agent.rings.sendloop import OUTAGE_ERRNOS, Outage, QdiscDrops, run_paced
from ringlab.agent.rings.start import RealtimeStart, run_from_start

TPACKET2_HDRLEN = 52  # TPACKET_ALIGN(sizeof(tpacket2_hdr)) + sizeof(sockaddr_ll)
TX_DATA_OFFSET = TPACKET2_HDRLEN - 20  # where tpacket_snd reads frame data (V2, no TX_HAS_OFF)
OFF_TP_LEN = 4
DEFAULT_RING_FRAMES = 4096
# At max rate: 1024 of the 4096 frames per kick; 512 cost ~4 % of the rate in user time (bench).
DEFAULT_BATCH = 1024
_MAX_BLOCK = 1 << 22
_BUSY = pk.TP_STATUS_SEND_REQUEST | pk.TP_STATUS_SENDING
# Frame fields are big-endian; the ring views are native-endian.
_SWAP = sys.byteorder == "little"


@dataclass(frozen=True)
class RingGeometry:
    frame_stride: int
    block_size: int
    frames: int

    @property
    def blocks(self) -> int:
        return self.frames * self.frame_stride // self.block_size

    @property
    def size(self) -> int:
        return self.frames * self.frame_stride


def tx_geometry(buffer_len: int, ring_frames: int) -> RingGeometry:
    """A TX ring whose frames are equally spaced across block boundaries.

    The kernel never splits a frame over blocks, so a block size that is a multiple
    of the frame size makes the whole ring one uniform stride for numpy.
    """
    stride = pk.tpacket_align(TX_DATA_OFFSET + buffer_len)
    block = stride * pk.PAGE_SIZE // math.gcd(stride, pk.PAGE_SIZE)
    if block > _MAX_BLOCK:
        # One frame per page-rounded block keeps the stride uniform.
        stride = block = -(-stride // pk.PAGE_SIZE) * pk.PAGE_SIZE
    per_block = block // stride
    frames = max(ring_frames, per_block)
    frames = -(-frames // per_block) * per_block
    return RingGeometry(frame_stride=stride, block_size=block, frames=frames)


class RingSender:
    """One sending worker: one socket, one TX ring."""

    def __init__(self, config: TxConfig) -> None:
        self.config = config
        self.progress = Progress()
        self._buf_len = fr.buffer_len(config.frame_size)
        self._batch = config.batch or default_batch(config.rate_pps, DEFAULT_BATCH)
        if config.rate_pps < 0:
            raise ValueError(f"rate_pps {config.rate_pps} is negative: use 0 for max rate")
        flags = 0 if config.stamping else fr.FLAG_STATIC
        template = fr.build_frame(
            dst_mac=config.dst_mac,
            src_mac=config.src_mac,
            flow_id=config.flow_id,
            worker=config.worker,
            frame_size=config.frame_size,
            flags=flags,
        )
        role = f"ring sender (flow {config.flow_id}, worker {config.worker})"
        self._sock = pk.open_packet_socket(config.interface, 0, role)
        try:
            mtu = pk.interface_mtu(self._sock, config.interface)
            fr.check_frame_size(config.frame_size, mtu)
            # Linear: a virtio_net_hdr in front of each frame whose hdr_len is the whole
            # frame makes tpacket_snd copy it into the skb head, so no ring page is
            # referenced and nothing downstream has to copy it again (see module doc).
            self._vnet = b"" if config.paged_skb else pk.vnet_header(self._buf_len)
            if self._vnet:
                pk.set_vnet_header(self._sock)
            pk.set_version(self._sock, pk.TPACKET_V2)
            # A request the kernel cannot build is skipped, not kept: how a frame the
            # qdisc drops on every try is given up (sendloop.py, _dropped).
            pk.set_packet_loss(self._sock)
            if config.qdisc_bypass:
                pk.set_qdisc_bypass(self._sock, True)
            geo = tx_geometry(
                len(self._vnet) + self._buf_len, config.ring_frames or DEFAULT_RING_FRAMES
            )
            self.geometry = geo
            req = np.array([geo.block_size, geo.blocks, geo.frame_stride, geo.frames], np.uint32)
            self._sock.setsockopt(pk.SOL_PACKET, pk.PACKET_TX_RING, req.tobytes())
            self._mm = mmap.mmap(
                self._sock.fileno(), geo.size, mmap.MAP_SHARED, mmap.PROT_WRITE | mmap.PROT_READ
            )
            pk.bind_interface(self._sock, config.interface, 0, role)
        except BaseException:
            self._sock.close()
            raise
        self._init_ring(template)
        self._warm_up()
        self.ring_frames = self.geometry.frames
        self.outage = Outage()
        self.drops = QdiscDrops()
        self._state = _TxState(self.geometry.frames)
        self._poller = select.poll()
        self._poller.register(self._sock.fileno(), select.POLLOUT)
        self._qdiscs = qd.QdiscWatch(config.interface, config.qdisc_bypass, config.worker)

    def _init_ring(self, template: bytes) -> None:
        geo = self.geometry
        n, stride = geo.frames, geo.frame_stride
        mm = self._mm
        content = self._vnet + template
        data = np.ndarray((n, len(content)), np.uint8, mm, TX_DATA_OFFSET, (stride, 1))
        data[:] = np.frombuffer(content, np.uint8)
        self._ring_len = len(content)
        self._tp_len = np.ndarray((n,), np.uint32, mm, OFF_TP_LEN, (stride,))
        self._tp_len[:] = self._ring_len
        frame_at = TX_DATA_OFFSET + len(self._vnet)
        self._status = np.ndarray((n,), np.uint32, mm, 0, (stride,))
        self._status[:] = pk.TP_STATUS_AVAILABLE
        # Native-endian views written with byte-swapped values: a plain strided copy.
        self._seq = np.ndarray((n,), np.uint64, mm, frame_at + fr.OFF_SEQ, (stride,))
        self._ts = np.ndarray((n,), np.uint64, mm, frame_at + fr.OFF_TX_NS, (stride,))
        self._ramp = np.arange(n, dtype=np.uint64)
        self._scratch = np.empty(n, dtype=np.uint64)

    # -- hot path ------------------------------------------------------------

    def run(self, start_mono_ns: int, duration_ns: int, stop: threading.Event) -> TxResult:
        return run_from_start(
            start_mono_ns, stop, lambda gate: self._send(start_mono_ns, duration_ns, stop, gate)
        )

    def _send(
        self, start_mono_ns: int, duration_ns: int, stop: threading.Event, gate: RealtimeStart
    ) -> TxResult:
        state = self._state
        timed = run_paced(
            self, self.config.rate_pps, self._batch, start_mono_ns, duration_ns, stop, gate
        )
        interface = self.config.interface
        extra, info = not_sent_report(
            timed.pacer, state.packets, state.errors, interface, self.outage.finish()
        )
        qdisc_extra, qdisc_info = self._qdiscs.report()
        return TxResult(
            packets=state.packets,
            bytes=state.packets * self._buf_len,
            send_errors=state.errors,
            started_wall_ns=timed.started_wall_ns,
            first_wall_ns=state.first_wall,
            last_wall_ns=state.last_wall,
            user_cpu_s=timed.user_cpu_s,
            system_cpu_s=timed.system_cpu_s,
            last_error=self.outage.error or self.drops.error,
            extra={**extra, **self.drops.extra(), **qdisc_extra},
            info={**info, **self.drops.info(interface), **qdisc_info},
        )

    # RingEngine (sendloop.py)

    def posted(self) -> int:
        return self._state.posted

    def in_flight(self) -> int:
        return self._state.head - self._state.tail

    def fill(self, n: int) -> None:
        self._fill(self._state, n, self.config.stamping)

    def reclaim(self) -> None:
        self._reclaim(self._state)

    def wait_for_room(self) -> None:
        self._poller.poll(1)

    def _fill(self, state: _TxState, n: int, stamping: bool) -> None:
        n_frames = self.geometry.frames
        i = state.head % n_frames
        wall = time.time_ns()
        wall_be = np.uint64(wall).byteswap() if _SWAP else np.uint64(wall)
        if not state.first_wall:
            state.first_wall = wall
        state.last_wall = wall
        done = 0
        while done < n:
            count = min(n - done, n_frames - i)
            if stamping:
                self._stamp(i, count, state.seq + done, wall_be)
            self._status[i : i + count] = pk.TP_STATUS_SEND_REQUEST
            done += count
            i = 0
        state.head += n
        state.posted += n
        state.seq += n

    def _stamp(self, i: int, count: int, first_seq: int, wall_be: np.uint64) -> None:
        seqs = self._scratch[:count]
        np.add(self._ramp[:count], np.uint64(first_seq), out=seqs)
        if _SWAP:
            seqs.byteswap(inplace=True)
        self._seq[i : i + count] = seqs
        self._ts[i : i + count] = wall_be

    def _warm_up(self) -> None:
        """Run the per-batch numpy paths once before any start.

        The first call of each costs extra (ufunc loop lookup, first touch of pages in
        a freshly forked worker): ~200 µs that would otherwise delay the first frame
        after every scheduled start. Frames keep status AVAILABLE, so nothing is sent;
        the first real batch overwrites these stamps.
        """
        count = min(self._batch, self.geometry.frames)
        self._stamp(0, count, 0, np.uint64(time.time_ns()))
        np.count_nonzero(self._status[:count])
        np.count_nonzero((self._status[:count] & _BUSY) != 0)

    def kick(self) -> None:
        try:
            self._sock.send(b"", socket.MSG_DONTWAIT)
        except (BlockingIOError, InterruptedError):
            pass  # socket buffer full: the remaining requests go with the next kick
        except OSError as e:
            if e.errno in OUTAGE_ERRNOS:
                # The kernel refused the whole ring: an outage, not frame errors.
                self.outage.refused(e)
            else:
                self._dropped(e)
        else:
            self.outage.accepted()
            if self.drops.pending:
                self.drops.passed()

    def _dropped(self, error: OSError) -> None:
        """The kernel dropped the frame at its head of the ring and kept it as a request
        (tpacket_snd puts a dropped frame back to SEND_REQUEST and stops there)."""
        state = self._state
        self._reclaim(state)
        position = self._first_request(state)
        if position is None:
            return  # nothing waits: the drop was of a frame already given back
        if not self.drops.dropped(position, error, time.monotonic_ns()):
            return
        # Give it up: a request the kernel cannot build (tp_len 0) is skipped under
        # PACKET_LOSS (status AVAILABLE, head moves on), so the ring goes on behind it.
        slot = position % self.geometry.frames
        self._tp_len[slot] = 0
        state.abandoned.add(position)
        self.drops.gave_up()
        # Send what waits behind it now. A drop of the next frame is counted as any other
        # (its first try: no further give-up, so this goes one level deep at most).
        self.kick()

    def _first_request(self, state: _TxState) -> int | None:
        """Position of the first frame still waiting as a request (the kernel's head)."""
        n_frames = self.geometry.frames
        at = state.tail
        while at < state.head:
            i = at % n_frames
            count = min(state.head - at, n_frames - i)
            waiting = np.flatnonzero(self._status[i : i + count] == pk.TP_STATUS_SEND_REQUEST)
            if waiting.size:
                return at + int(waiting[0])
            at += count
        return None

    def _reclaim(self, state: _TxState) -> None:
        n_frames = self.geometry.frames
        while state.head != state.tail:
            i = state.tail % n_frames
            count = min(state.head - state.tail, n_frames - i)
            st = self._status[i : i + count]
            bad = 0
            # count_nonzero skips the ufunc machinery: ~30 % less reclaim time (bench).
            if not np.count_nonzero(st):  # TP_STATUS_AVAILABLE is 0
                done = count  # the common case: every frame back, none rejected
            else:
                busy = (st & _BUSY) != 0
                done = int(busy.argmax()) if busy.any() else count
                if done == 0:
                    return
                wrong = (st[:done] & pk.TP_STATUS_WRONG_FORMAT) != 0
                bad = int(np.count_nonzero(wrong))
                if bad:
                    st[:done][wrong] = pk.TP_STATUS_AVAILABLE
                    state.errors += bad
            if state.abandoned:
                bad += self._skipped(state, done)
            state.tail += done
            state.packets += done - bad
            self.progress.packets = state.packets
            self.progress.bytes = state.packets * self._buf_len
            if done < count:
                return

    def _skipped(self, state: _TxState, done: int) -> int:
        """Given-up frames among the `done` reclaimed at the tail: back to full length,
        counted as send errors, not as sent."""
        skipped = [p for p in state.abandoned if state.tail <= p < state.tail + done]
        for position in skipped:
            self._tp_len[position % self.geometry.frames] = self._ring_len
            state.abandoned.discard(position)
        state.errors += len(skipped)
        return len(skipped)

    def close(self) -> None:
        # numpy views export the mmap's buffer; drop them before unmapping.
        for name in ("_status", "_seq", "_ts", "_tp_len"):
            if hasattr(self, name):
                delattr(self, name)
        if hasattr(self, "_mm"):
            self._mm.close()
        self._sock.close()


@dataclass
class _TxState:
    frames: int
    head: int = 0  # frames ever posted (next to fill = head % frames)
    tail: int = 0  # frames ever reclaimed
    posted: int = 0
    seq: int = 0
    packets: int = 0
    errors: int = 0
    first_wall: int = 0
    last_wall: int = 0
    # Positions of frames given up (tp_len 0) that the kernel has not handed back yet.
    abandoned: set[int] = field(default_factory=set)
