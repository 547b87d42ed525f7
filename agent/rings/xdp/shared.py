"""Which socket a sender or receiver uses: its own, or one it shares (`xdp_share`).

One AF_XDP socket may own an interface queue. A host that both sends and receives a
flow pair on one queue therefore needs one socket for both directions, as a single
zero-copy application would have: with `xdp_share` on the TxConfig and the RxConfig,
the first of the two to open makes the socket (TX and completion rings for the
sender, RX and fill rings for the receiver, one UMEM split between them) and the
second joins it. Each ring keeps one producer and one consumer: the sender's thread
only touches TX and completion, the receiver's only RX and fill. The socket closes
when both have closed.

Sharing happens within one process, keyed by (network namespace, ifindex, queue):
the session layer must open a shared sender in the agent's process (not in an
isolated sender process), or the sender's bind finds the queue busy and says so.

Layouts (chunks are UMEM chunks, rings power-of-two entries):
- sender alone: TX = completion = ring_frames chunks, plus a reserve of
  RX_RESERVE chunks in the fill ring (in zero-copy mode the driver fills the
  queue's RX ring from it; without any, the queue would receive nothing)
- receiver alone: RX = xdp_frames chunks, fill ring twice that (see receiver.py)
- shared: both, TX chunks first.
"""

from __future__ import annotations

import errno
import socket
import threading
from dataclasses import dataclass, field

import numpy as np

from ringlab.agent.rings import frame as fr
from ringlab.agent.rings import packet as pk
from ringlab.agent.rings.api import RxConfig, TxConfig
from ringlab.agent.rings.xdp import attach, owners
from ringlab.agent.rings.xdp.netlink import XDP_ATTACHED_NONE, RtNetlink
from ringlab.agent.rings.xdp.xsk import (
    SocketLayout,
    XskSocket,
    chunk_size_for,
    interface_index,
)
from ringlab.engines import XdpMode

DEFAULT_TX_FRAMES = 4096
DEFAULT_RX_FRAMES = 16384
RX_RESERVE = 512
# A received frame can be as long as the MTU plus an Ethernet header and a VLAN tag.
_L2_OVERHEAD = fr.ETH_HLEN + 4


def interface_mtu(interface: str, role: str) -> int:
    """The MTU of `interface` in the calling thread's namespace (clear error if absent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            return pk.interface_mtu(probe, interface)
        except OSError as e:
            raise OSError(e.errno, f"{role}: {e.strerror}") from None


def _power_of_two(n: int) -> int:
    size = 1
    while size < n:
        size *= 2
    return size


@dataclass
class SocketHandle:
    """A socket and the parts of its UMEM each side owns."""

    xsk: XskSocket
    queue: int
    shared: bool
    tx_first_chunk: int = 0
    tx_frames: int = 0
    rx_first_chunk: int = 0
    rx_frames: int = 0
    users: set[str] = field(default_factory=set)
    attachment: attach.Attachment | None = None
    netns: int = 0
    notes: list[str] = field(default_factory=list)

    def info(self) -> dict[str, str]:
        out = {
            "engine": "xdp",
            "xdp_mode": self.xsk.mode,
            "xdp_queue": str(self.queue),
            "xdp_share": "yes" if self.shared else "no",
        }
        notes = [self.xsk.mode_note, *self.notes]
        a = self.attachment
        if a is not None:
            out["xdp_attach"] = a.mode
            out["xdp_attach_via"] = a.via
            notes.append(a.note)
            if not a.stamped:
                notes.append("receive program without kernel stamps: latency stamped in user space")
        text = "; ".join(n for n in notes if n)
        if text:
            out["xdp_notes"] = text
        return out

    def flags(self) -> dict[str, int]:
        out = {
            "xdp_queue": self.queue,
            "xdp_zerocopy": int(self.xsk.zerocopy),
            "xdp_shared": int(self.shared),
        }
        if self.attachment is not None:
            out["xdp_native"] = int(self.attachment.mode == "native")
            out["xdp_link"] = int(self.attachment.via == "link")
        return out

    def release_tx(self) -> None:
        self._release("tx")

    def release_rx(self) -> None:
        self._release("rx")

    def _release(self, side: str) -> None:
        with _lock:
            self.users.discard(side)
            if side == "rx" and self.attachment is not None:
                # Out of the map first: no frame is redirected to a closing socket.
                self.attachment.remove(self.queue)
                attach.release(self.netns, self.attachment)
                self.attachment = None
            if self.users:
                return
            if self.shared:
                _shared.pop(self.xsk.key, None)
            if self.attachment is not None:  # a zero-copy sender's
                attach.release(self.netns, self.attachment)
                self.attachment = None
            self.xsk.close()


_lock = threading.RLock()
_shared: dict[owners.QueueKey, SocketHandle] = {}


def _check_mode(handle: SocketHandle, mode: XdpMode, role: str) -> None:
    if mode == "auto" or mode == handle.xsk.mode:
        return
    raise OSError(
        errno.EINVAL,
        f"{role}: the shared socket on {handle.xsk.interface} queue {handle.queue} is bound"
        f" in {handle.xsk.mode} mode, not {mode}: give both sides the same xdp_mode",
    )


def _shared_layout(
    interface: str, role: str, tx_frames: int, rx_frames: int, tx_buffer: int
) -> SocketLayout:
    mtu = interface_mtu(interface, role)
    chunk = chunk_size_for(max(tx_buffer, min(mtu + _L2_OVERHEAD, 3800)), receive=True)
    return SocketLayout(
        chunks=tx_frames + rx_frames,
        chunk_size=chunk,
        rx=rx_frames,
        tx=tx_frames,
        fill=2 * rx_frames,
        completion=tx_frames,
        tx_budget=tx_frames,
    )


def _existing(interface: str, queue: int, role: str) -> SocketHandle | None:
    ifindex = interface_index(interface, role)
    return _shared.get((owners.netns_inode(), ifindex, queue))


def open_tx(config: TxConfig, queue: int, role: str, frames: int) -> SocketHandle:
    """The socket a sender uses (call on a thread in the interface's namespace)."""
    buffer = fr.buffer_len(config.frame_size)
    if not config.xdp_share:
        layout = SocketLayout(
            chunks=frames + RX_RESERVE,
            chunk_size=chunk_size_for(buffer, receive=False),
            tx=frames,
            fill=RX_RESERVE,
            completion=frames,
            tx_budget=frames,
        )
        handle = SocketHandle(
            XskSocket(config.interface, queue, layout, config.xdp_mode, role),
            queue,
            shared=False,
            tx_first_chunk=0,
            tx_frames=frames,
            users={"tx"},
        )
        _prime_reserve(handle, frames, RX_RESERVE)
        try:
            _attach_for_zerocopy_tx(handle, config, role)
        except BaseException:
            handle.release_tx()
            raise
        return handle
    with _lock:
        found = _existing(config.interface, queue, role)
        if found is None:
            rx_frames = DEFAULT_RX_FRAMES
            layout = _shared_layout(config.interface, role, frames, rx_frames, buffer)
            xsk = XskSocket(
                config.interface, queue, layout, config.xdp_mode, f"shared xdp socket ({role})"
            )
            handle = SocketHandle(xsk, queue, True, 0, frames, frames, rx_frames, netns=xsk.key[0])
            _shared[xsk.key] = handle
        else:
            handle = found
            if "tx" in handle.users:
                raise OSError(
                    errno.EBUSY,
                    f"{role}: the shared socket on {config.interface} queue {queue} already has"
                    " a sender: one sender and one receiver per shared socket",
                )
            _check_mode(handle, config.xdp_mode, role)
            if buffer > handle.xsk.layout.chunk_size:
                raise OSError(
                    errno.EMSGSIZE,
                    f"{role}: frame_size {config.frame_size} does not fit the shared socket's chunks",
                )
            if frames != handle.tx_frames:
                handle.notes.append(f"TX ring {handle.tx_frames} frames (the shared socket's)")
        handle.users.add("tx")
        return handle


def open_rx(config: RxConfig, queue: int, role: str, frames: int) -> SocketHandle:
    """The socket a receiver uses, in the XSKMAP slot of its queue."""
    with _lock:
        handle = _existing(config.interface, queue, role) if config.xdp_share else None
        if handle is not None:
            if "rx" in handle.users:
                raise OSError(
                    errno.EBUSY,
                    f"{role}: the shared socket on {config.interface} queue {queue} already has"
                    " a receiver: one receiver per queue",
                )
            _check_mode(handle, config.xdp_mode, role)
        else:
            if config.xdp_share:
                tx_frames = DEFAULT_TX_FRAMES
                layout = _shared_layout(config.interface, role, tx_frames, frames, 0)
                rx_first = tx_frames
            else:
                mtu = interface_mtu(config.interface, role)
                layout = SocketLayout(
                    chunks=frames,
                    chunk_size=chunk_size_for(min(mtu + _L2_OVERHEAD, 3800), receive=True),
                    rx=frames,
                    fill=2 * frames,
                    completion=1,
                )
                tx_frames = rx_first = 0
            name = f"shared xdp socket ({role})" if config.xdp_share else role
            xsk = XskSocket(config.interface, queue, layout, config.xdp_mode, name)
            handle = SocketHandle(
                xsk,
                queue,
                config.xdp_share,
                0,
                tx_frames,
                rx_first,
                frames,
                netns=xsk.key[0],
            )
            if config.xdp_share:
                _shared[xsk.key] = handle
        try:
            nl = RtNetlink()
            try:
                queues = max(nl.link_xdp(handle.xsk.ifindex).rx_queues, queue + 1)
            finally:
                nl.close()
            handle.attachment = attach.acquire(
                handle.netns, config.interface, handle.xsk.ifindex, queues, config.xdp_attach, role
            )
            handle.attachment.insert(queue, handle.xsk.fileno())
        except BaseException:
            if handle.attachment is not None:
                attach.release(handle.netns, handle.attachment)
                handle.attachment = None
            if not handle.users:
                _shared.pop(handle.xsk.key, None)
                handle.xsk.close()
            raise
        handle.users.add("rx")
        return handle


def _prime_reserve(handle: SocketHandle, first: int, count: int) -> None:
    fill = handle.xsk.fill
    assert fill is not None
    chunk = handle.xsk.layout.chunk_size
    fill.entries[:count] = (first + np.arange(count, dtype=np.uint64)) * chunk
    fill.publish(count)


def _attach_for_zerocopy_tx(handle: SocketHandle, config: TxConfig, role: str) -> None:
    """Zero-copy drivers (i40e, ice, mlx5) transmit from an XSK queue only while an XDP
    program runs on the interface; with none there, attach the receive program (its
    map slot for this queue stays empty, so received frames pass to the stack)."""
    if not handle.xsk.zerocopy:
        return
    nl = RtNetlink()
    try:
        link = nl.link_xdp(handle.xsk.ifindex)
    finally:
        nl.close()
    if link.attached != XDP_ATTACHED_NONE:
        return
    handle.netns = handle.xsk.key[0]
    handle.attachment = attach.acquire(
        handle.netns,
        config.interface,
        handle.xsk.ifindex,
        max(link.rx_queues, handle.queue + 1),
        config.xdp_attach,
        role,
    )
