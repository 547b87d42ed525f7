"""One AF_XDP socket with its UMEM: registration, the four rings, bind, statistics.

Set-up order is the kernel's (Documentation/networking/af_xdp.rst): socket(AF_XDP),
XDP_UMEM_REG over page-aligned anonymous memory cut into equal chunks, the fill and
completion ring sizes (both are required even when one side is unused), the RX and/or
TX ring sizes, XDP_MMAP_OFFSETS, one mmap per ring at its page offset, then bind to
(ifindex, queue) with XDP_COPY or XDP_ZEROCOPY and XDP_USE_NEED_WAKEUP.

Modes: `zerocopy` binds with XDP_ZEROCOPY and fails with ZeroCopyUnsupported where the
driver has none; `copy` binds with XDP_COPY; `auto` tries zero-copy and, on
EOPNOTSUPP, opens a fresh socket in copy mode (a failed bind leaves its UMEM in an
unknown state, so the socket is not reused), keeping the reason. XDP_OPTIONS then says
what the kernel actually did. On veth only copy mode exists.

Busy: xp_assign_dev() refuses a queue that already has a buffer pool with EBUSY,
before the copy/zero-copy choice. Teardown of a closed socket is asynchronous (the
pool is released from a workqueue), so a bind right after a close can see EBUSY for a
moment: EBUSY is retried for up to BUSY_RETRY_NS unless a live owner is known (one of
this process's sockets, or one sock_diag lists), and then raised as QueueBusy.

Close: numpy views and memoryviews first, then the ring mappings (a mapped ring keeps
the socket, and with it the queue, alive), then the socket, then the UMEM.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import mmap
import os
import socket
import struct
import time
from dataclasses import dataclass

from ringlab.agent.rings.xdp import owners
from ringlab.agent.rings.xdp.errors import QueueBusy, ZeroCopyUnsupported
from ringlab.agent.rings.xdp.rings import (
    ADDR_DTYPE,
    DESC_DTYPE,
    ConsumerRing,
    ProducerRing,
    RingOffsets,
    is_power_of_two,
)
from ringlab.engines import XdpMode

AF_XDP = 44
SOL_XDP = 283
XDP_MMAP_OFFSETS = 1
XDP_RX_RING = 2
XDP_TX_RING = 3
XDP_UMEM_REG = 4
XDP_UMEM_FILL_RING = 5
XDP_UMEM_COMPLETION_RING = 6
XDP_STATISTICS = 7
XDP_OPTIONS = 8
XDP_MAX_TX_SKB_BUDGET = 9  # kernel >= 6.17; copy mode's descriptors per sendto (default 32)
XDP_OPTIONS_ZEROCOPY = 1

XDP_COPY = 1 << 1
XDP_ZEROCOPY = 1 << 2
XDP_USE_NEED_WAKEUP = 1 << 3

XDP_PGOFF_RX_RING = 0
XDP_PGOFF_TX_RING = 0x80000000
XDP_UMEM_PGOFF_FILL_RING = 0x100000000
XDP_UMEM_PGOFF_COMPLETION_RING = 0x180000000

# The kernel keeps this much headroom in front of received data in every chunk.
XDP_PACKET_HEADROOM = 256
MIN_CHUNK = 2048
BUSY_RETRY_NS = 1_000_000_000
_BUSY_POLL_S = 0.005

_STATS_FIELDS = (
    "rx_dropped",
    "rx_invalid_descs",
    "tx_invalid_descs",
    "rx_ring_full",
    "rx_fill_ring_empty_descs",
    "tx_ring_empty_descs",
)
_libc = ctypes.CDLL(None, use_errno=True)


@dataclass(frozen=True)
class XdpStatistics:
    """struct xdp_statistics: cumulative for the socket's life (reads do not reset)."""

    rx_dropped: int = 0
    rx_invalid_descs: int = 0
    tx_invalid_descs: int = 0
    rx_ring_full: int = 0
    rx_fill_ring_empty_descs: int = 0
    tx_ring_empty_descs: int = 0

    def as_extra(self) -> dict[str, int]:
        return {f"xdp_{name}": getattr(self, name) for name in _STATS_FIELDS}

    def minus(self, before: XdpStatistics) -> XdpStatistics:
        return XdpStatistics(*(getattr(self, n) - getattr(before, n) for n in _STATS_FIELDS))


@dataclass(frozen=True)
class SocketLayout:
    """Ring sizes (0: no such ring) and UMEM chunks; every size a power of two."""

    chunks: int
    chunk_size: int
    rx: int = 0
    tx: int = 0
    fill: int = 1
    completion: int = 1
    tx_budget: int = 0  # XDP_MAX_TX_SKB_BUDGET to ask for; 0: the kernel's default

    def check(self) -> None:
        for name in ("rx", "tx", "fill", "completion"):
            n = getattr(self, name)
            if n and not is_power_of_two(n):
                raise ValueError(f"{name} ring size {n} is not a power of two")
        if not self.rx and not self.tx:
            raise ValueError("an AF_XDP socket needs an RX or a TX ring")
        if (
            not is_power_of_two(self.chunk_size)
            or not MIN_CHUNK <= self.chunk_size <= mmap.PAGESIZE
        ):
            raise ValueError(
                f"chunk size {self.chunk_size} must be a power of two in {MIN_CHUNK}..{mmap.PAGESIZE}"
            )


def chunk_size_for(buffer_len: int, receive: bool) -> int:
    """The smallest chunk a frame of buffer_len bytes fits in (received frames sit
    behind XDP_PACKET_HEADROOM); OSError naming the limit when none does."""
    need = buffer_len + (XDP_PACKET_HEADROOM if receive else 0)
    size = MIN_CHUNK
    while size < need and size < mmap.PAGESIZE:
        size *= 2
    if need > size:
        most = mmap.PAGESIZE - (XDP_PACKET_HEADROOM if receive else 0)
        raise OSError(
            errno.EMSGSIZE,
            f"a {buffer_len}-byte frame does not fit one {mmap.PAGESIZE}-byte UMEM chunk"
            f" (at most {most} bytes without the FCS; multi-buffer frames are not supported):"
            " use a smaller frame_size or the ring engine",
        )
    return size


def interface_index(name: str, role: str) -> int:
    """The index of `name` in the calling thread's namespace, or the usual clear error."""
    try:
        return socket.if_nametoindex(name)
    except OSError as e:
        raise OSError(
            e.errno or errno.ENODEV,
            f"{role}: interface {name!r} does not exist in this network namespace;"
            " check the name with `ip link`",
        ) from None


SIOCETHTOOL = 0x8946
ETHTOOL_GCHANNELS = 0x3C


def active_queues(interface: str) -> int | None:
    """Queues in use (ETHTOOL_GCHANNELS: combined plus the larger of rx and tx), which is
    what a bind may name; None where the driver does not say. A veth allocates a queue
    per CPU but starts with one in use. Asks in the calling thread's namespace."""
    # struct ethtool_channels: cmd, max_rx, max_tx, max_other, max_combined, rx_count,
    # tx_count, other_count, combined_count
    channels = ctypes.create_string_buffer(struct.pack("<9I", ETHTOOL_GCHANNELS, *[0] * 8), 36)
    ifreq = struct.pack("16sP8x", interface.encode()[:15], ctypes.addressof(channels))
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            fcntl.ioctl(probe.fileno(), SIOCETHTOOL, ifreq)
    except OSError:
        return None
    rx, tx, _, combined = struct.unpack_from("<4I", channels.raw, 20)
    return combined + max(rx, tx) or None


def _xdp_socket(role: str) -> socket.socket:
    try:
        return socket.socket(AF_XDP, socket.SOCK_RAW, 0)
    except OSError as e:
        if e.errno in (errno.EPERM, errno.EACCES):
            why = "AF_XDP needs root or CAP_NET_RAW"
        elif e.errno == errno.EAFNOSUPPORT:
            why = "this kernel has no AF_XDP (CONFIG_XDP_SOCKETS); use the ring engine"
        else:
            why = "cannot create an AF_XDP socket"
        raise OSError(e.errno, f"{role}: {why} ({e.strerror})") from None


class XskSocket:
    """A bound AF_XDP socket, ready when constructed.

    `zerocopy` says what the kernel did (XDP_OPTIONS), `mode_note` why zero-copy was
    not used in auto mode, `umem_mm` is the UMEM, and `rx`, `tx`, `fill`, `completion`
    are the mapped rings (None where the layout has none).
    """

    def __init__(
        self,
        interface: str,
        queue: int,
        layout: SocketLayout,
        mode: XdpMode,
        role: str,
        need_wakeup: bool = True,
    ) -> None:
        layout.check()
        if mode not in ("auto", "copy", "zerocopy"):
            raise ValueError(f"xdp_mode {mode!r} is not one of auto, copy, zerocopy")
        if queue < 0:
            raise ValueError(f"xdp_queue {queue} is negative")
        self.interface = interface
        self.queue = queue
        self.layout = layout
        self.role = role
        self.ifindex = interface_index(interface, role)
        self.key: owners.QueueKey = (owners.netns_inode(), self.ifindex, queue)
        self.mode_note = ""
        wake = XDP_USE_NEED_WAKEUP if need_wakeup else 0
        if mode == "copy":
            self._open(XDP_COPY | wake)
        else:
            try:
                self._open(XDP_ZEROCOPY | wake)
            except OSError as e:
                if e.errno not in (errno.EOPNOTSUPP, errno.ENOTSUP) or isinstance(e, QueueBusy):
                    raise
                if mode == "zerocopy":
                    raise ZeroCopyUnsupported(
                        interface, queue, os.strerror(e.errno), role
                    ) from None
                self.mode_note = f"zero-copy refused ({os.strerror(e.errno)}): copy mode"
                self._open(XDP_COPY | wake)
        self.need_wakeup = bool(wake)
        self.zerocopy = self._options() & XDP_OPTIONS_ZEROCOPY != 0
        owners.claim(self.key, role)

    @property
    def mode(self) -> str:
        return "zerocopy" if self.zerocopy else "copy"

    # -- set-up ------------------------------------------------------------------

    def _open(self, bind_flags: int) -> None:
        layout = self.layout
        self.sock = _xdp_socket(self.role)
        self._maps: list[mmap.mmap] = []
        self.rx: ConsumerRing | None = None
        self.tx: ProducerRing | None = None
        self.fill: ProducerRing | None = None
        self.completion: ConsumerRing | None = None
        self.umem_mm = mmap.mmap(
            -1,
            layout.chunks * layout.chunk_size,
            flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS,
            prot=mmap.PROT_READ | mmap.PROT_WRITE,
        )
        try:
            self._register_umem()
            sock = self.sock
            sock.setsockopt(SOL_XDP, XDP_UMEM_FILL_RING, layout.fill)
            sock.setsockopt(SOL_XDP, XDP_UMEM_COMPLETION_RING, layout.completion)
            if layout.rx:
                sock.setsockopt(SOL_XDP, XDP_RX_RING, layout.rx)
            if layout.tx:
                sock.setsockopt(SOL_XDP, XDP_TX_RING, layout.tx)
            self._map_rings()
            if layout.tx and layout.tx_budget:
                self._set_tx_budget(min(layout.tx_budget, layout.tx))
            self._bind(bind_flags)
        except BaseException:
            self._teardown()
            raise

    def _register_umem(self) -> None:
        anchor = ctypes.c_char.from_buffer(self.umem_mm)
        address = ctypes.addressof(anchor)
        del anchor
        # struct xdp_umem_reg: addr, len, chunk_size, headroom, flags, tx_metadata_len
        reg = struct.pack("<QQIIII", address, len(self.umem_mm), self.layout.chunk_size, 0, 0, 0)
        try:
            self.sock.setsockopt(SOL_XDP, XDP_UMEM_REG, reg)
        except OSError as e:
            hint = ""
            if e.errno in (errno.ENOMEM, errno.EPERM):
                hint = " (RLIMIT_MEMLOCK too small without CAP_IPC_LOCK? run as root or raise `ulimit -l`)"
            raise OSError(
                e.errno, f"{self.role}: cannot register the UMEM: {e.strerror}{hint}"
            ) from None

    def _map_rings(self) -> None:
        raw = self.sock.getsockopt(SOL_XDP, XDP_MMAP_OFFSETS, 128)
        with_flags = len(raw) >= 128  # kernels before 5.4 have no flags word
        per_ring = 4 if with_flags else 3
        values = struct.unpack_from(f"<{per_ring * 4}Q", raw)
        offs = []
        for i in range(4):
            producer, consumer, desc = values[i * per_ring : i * per_ring + 3]
            flags = values[i * per_ring + 3] if with_flags else None
            offs.append(RingOffsets(producer, consumer, desc, flags))
        rx_off, tx_off, fill_off, comp_off = offs
        layout = self.layout
        if layout.rx:
            self.rx = ConsumerRing(
                self._map(rx_off, layout.rx, 16, XDP_PGOFF_RX_RING), rx_off, layout.rx, DESC_DTYPE
            )
        if layout.tx:
            self.tx = ProducerRing(
                self._map(tx_off, layout.tx, 16, XDP_PGOFF_TX_RING), tx_off, layout.tx, DESC_DTYPE
            )
        self.fill = ProducerRing(
            self._map(fill_off, layout.fill, 8, XDP_UMEM_PGOFF_FILL_RING),
            fill_off,
            layout.fill,
            ADDR_DTYPE,
        )
        self.completion = ConsumerRing(
            self._map(comp_off, layout.completion, 8, XDP_UMEM_PGOFF_COMPLETION_RING),
            comp_off,
            layout.completion,
            ADDR_DTYPE,
        )

    def _map(self, off: RingOffsets, entries: int, entry_size: int, pgoff: int) -> mmap.mmap:
        mm = mmap.mmap(
            self.sock.fileno(),
            off.desc + entries * entry_size,
            mmap.MAP_SHARED | mmap.MAP_POPULATE,
            mmap.PROT_READ | mmap.PROT_WRITE,
            offset=pgoff,
        )
        self._maps.append(mm)
        return mm

    def _set_tx_budget(self, budget: int) -> None:
        try:
            self.sock.setsockopt(SOL_XDP, XDP_MAX_TX_SKB_BUDGET, struct.pack("I", budget))
            self.tx_budget = budget
        except OSError:
            self.tx_budget = 32  # an older kernel: its fixed TX_BATCH_SIZE

    def _bind(self, flags: int) -> None:
        # struct sockaddr_xdp: family, flags, ifindex, queue_id, shared_umem_fd
        addr = ctypes.create_string_buffer(
            struct.pack("<HHIII", AF_XDP, flags, self.ifindex, self.queue, 0), 16
        )
        deadline = time.monotonic_ns() + BUSY_RETRY_NS
        while True:
            if _libc.bind(self.sock.fileno(), addr, 16) == 0:
                return
            err = ctypes.get_errno()
            if err == errno.EBUSY:
                known = self._live_owner()
                if known is None and time.monotonic_ns() < deadline:
                    time.sleep(_BUSY_POLL_S)  # a closed socket's pool is still being released
                    continue
                raise QueueBusy(
                    self.interface, self.queue, known or self._owners_guess(), self.role
                )
            raise OSError(err, self._bind_error(err, flags))

    def _live_owner(self) -> str | None:
        mine = owners.holder(self.key)
        if mine is not None:
            return f"this process's {mine}"
        found = owners.diag_owners(self.ifindex, self.queue)
        if found:
            return "; ".join(o.describe() for o in found)
        return None

    def _owners_guess(self) -> str:
        found = owners.diag_owners(self.ifindex, self.queue)
        if found:
            return "; ".join(o.describe() for o in found)
        if found is None:
            holders = [o for o in owners.ring_holders() if all(p != os.getpid() for p, _ in o.pids)]
            if holders:
                listed = "; ".join(o.describe() for o in holders[:4])
                return f"processes with AF_XDP sockets: {listed}"
        return "held past the teardown wait; no owner could be identified"

    def _bind_error(self, err: int, flags: int) -> str:
        text = os.strerror(err)
        where = f"{self.role}: cannot bind to {self.interface} queue {self.queue}"
        if err == errno.EINVAL:
            queues = active_queues(self.interface)
            if queues is not None and self.queue >= queues:
                return (
                    f"{where}: the interface has {queues} queue(s) (0..{queues - 1});"
                    " pick an existing xdp_queue (veth: `ip link add ... numrxqueues N"
                    " numtxqueues N`, or `ethtool -L IF rx N tx N`)"
                )
        if err == errno.EPERM:
            return f"{where}: AF_XDP needs root or CAP_NET_RAW ({text})"
        if err == errno.ENETDOWN:
            return f"{where}: the interface is down ({text}); bring it up first"
        return f"{where}: {text}"

    def _options(self) -> int:
        raw = self.sock.getsockopt(SOL_XDP, XDP_OPTIONS, 4)
        flags: int = struct.unpack("<I", raw[:4])[0]
        return flags

    # -- running -----------------------------------------------------------------

    def fileno(self) -> int:
        return self.sock.fileno()

    def statistics(self) -> XdpStatistics:
        raw = self.sock.getsockopt(SOL_XDP, XDP_STATISTICS, 48)
        values = struct.unpack_from(f"<{len(raw) // 8}Q", raw)
        return XdpStatistics(*values[: len(_STATS_FIELDS)])

    def kick_tx(self) -> OSError | None:
        """sendto(MSG_DONTWAIT) to make the kernel transmit; EAGAIN (descriptors left
        after the budget, or a busy device) is not an error. Returns other errors."""
        try:
            self.sock.send(b"", socket.MSG_DONTWAIT)
        except (BlockingIOError, InterruptedError):
            pass
        except OSError as e:
            return e
        return None

    def wake_rx(self) -> None:
        """recvfrom(MSG_DONTWAIT): wakes a driver that asked for it on the fill ring."""
        with contextlib.suppress(BlockingIOError, InterruptedError):
            self.sock.recv(0, socket.MSG_DONTWAIT)

    def close(self) -> None:
        if not hasattr(self, "sock"):
            return
        owners.release(self.key)
        self._teardown()

    def _teardown(self) -> None:
        for ring in (self.rx, self.tx, self.fill, self.completion):
            if ring is not None:
                ring.release()
        self.rx = self.tx = self.fill = self.completion = None
        for mm in self._maps:
            if not mm.closed:
                mm.close()
        self._maps = []
        self.sock.close()
        self.umem_mm.close()
