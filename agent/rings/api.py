"""The seam between the agent's session layer and the data plane.

The session layer (ringlab.agent.session, .manager, .validation) uses only what is
defined here, plus the isolated-process wrapper of senders (rings/isolated.py):
`open_sender`/`open_receiver` return objects that are opened (sockets bound,
rings mapped) when constructed and do their work in `run`, on a thread the
session layer owns. Each worker owns its socket, its ring and its progress
counters; nothing mutable is shared between workers, and aggregation happens
after they finish.

Progress counters are plain ints written only by their worker; other threads
read them for live stats (reads of Python ints are atomic under the GIL).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from ringlab.engines import BuiltinEngine, BuiltinRxEngine, XdpAttach, XdpMode


@dataclass(frozen=True)
class TxConfig:
    interface: str
    flow_id: int
    worker: int
    src_mac: bytes
    dst_mac: bytes
    # Ethernet frame size including the 4-byte FCS; the buffer handed to the kernel is 4 shorter.
    frame_size: int
    # Target rate of this worker; 0 means as fast as possible.
    rate_pps: float
    engine: BuiltinEngine = "ring"
    # False: static template, nothing rewritten per packet (peak rate, no loss accounting).
    stamping: bool = True
    qdisc_bypass: bool = True
    # Ring engine. False (default): the kernel copies each frame into the skb's head
    # (PACKET_VNET_HDR with hdr_len = frame). True: the skb references the ring's pages,
    # which veth and other forwarding paths must copy into fresh pages (skb_copy_ubufs)
    # per frame: on veth linear was 1.2-2x faster (README, Data plane).
    paged_skb: bool = False
    ring_frames: int = 0  # 0: engine default
    batch: int = 0  # 0: engine default
    # Engine xdp. The socket binds queue xdp_queue + worker of the interface.
    xdp_queue: int = 0
    xdp_mode: XdpMode = "auto"
    # Only used when zero-copy needs a program on the interface to transmit (i40e, ice, mlx5).
    xdp_attach: XdpAttach = "native"
    # Send through the socket of this process's xdp receiver on the same interface and
    # queue (opened before or after): one owner for both directions.
    xdp_share: bool = False


@dataclass(frozen=True)
class RxConfig:
    interface: str
    # Frames whose flow id is not listed are counted as foreign.
    flow_ids: frozenset[int]
    # Flows prepared as static templates; a static frame of any other flow (or a stamped
    # frame of one of these) is forged and counted as suspect, never as the flow's.
    static_flow_ids: frozenset[int] = frozenset()
    worker: int = 0
    workers: int = 1
    # Shared by the workers of one receive flow set (PACKET_FANOUT); None without fanout.
    fanout_group: int | None = None
    block_size: int = 0  # 0: engine default
    block_count: int = 0  # 0: engine default
    # Bytes of each frame copied into the ring (tp_len keeps the whole length); 0: all.
    snap_len: int = 0
    engine: BuiltinRxEngine = "ring"
    # Engine xdp (ring geometry, fanout and snap_len do not apply). The socket binds
    # queue xdp_queue + worker; its UMEM holds xdp_frames chunks (0: 16384, 32 MiB).
    xdp_queue: int = 0
    xdp_mode: XdpMode = "auto"
    xdp_attach: XdpAttach = "native"
    # Receive through the socket of this process's xdp sender on the same queue.
    xdp_share: bool = False
    xdp_frames: int = 0


@dataclass
class Progress:
    """Live counters of one worker, written by that worker only."""

    packets: int = 0
    bytes: int = 0


@dataclass(frozen=True)
class TxResult:
    packets: int
    bytes: int
    send_errors: int
    started_wall_ns: int
    first_wall_ns: int
    last_wall_ns: int
    user_cpu_s: float
    system_cpu_s: float
    # The last send error's text ("" without errors): the count alone does not say why.
    last_error: str = ""
    # Engine-specific counters (xdp: XDP_STATISTICS as xdp_tx_invalid_descs, ...).
    extra: dict[str, int] = field(default_factory=dict)
    # Engine-specific facts as text (xdp: xdp_mode copy|zerocopy, xdp_queue, xdp_share).
    info: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class LatencyStats:
    samples: int = 0
    min_us: float = 0.0
    p50_us: float = 0.0
    p99_us: float = 0.0
    max_us: float = 0.0
    mean_us: float = 0.0


@dataclass(frozen=True)
class StreamStats:
    """Sequence accounting for one (flow id, worker) stream."""

    packets: int = 0  # our frames received, duplicates included
    bytes: int = 0
    unique_packets: int = 0
    duplicates: int = 0
    reordered: int = 0
    expected_packets: int = 0  # highest sequence seen + 1
    first_wall_ns: int = 0
    last_wall_ns: int = 0


@dataclass(frozen=True)
class RxResult:
    # Keyed by flow id; a flow's workers (sender-side) are already merged.
    flows: dict[int, StreamStats]
    latency: dict[int, LatencyStats]
    foreign_frames: int
    suspect_frames: int
    kernel_packets: int
    kernel_drops: int
    kernel_freezes: int
    started_wall_ns: int
    extra: dict[str, int] = field(default_factory=dict)
    # Engine-specific facts as text (xdp: xdp_mode, xdp_attach native|generic, ...).
    info: dict[str, str] = field(default_factory=dict)


class Sender(Protocol):
    progress: Progress

    def run(self, start_mono_ns: int, duration_ns: int, stop: threading.Event) -> TxResult:
        """Wait for start_mono_ns (time.monotonic_ns), send for duration_ns or until stop is set."""
        ...

    def close(self) -> None: ...


class Receiver(Protocol):
    # Per flow id: live counters (the receiver updates them at least once per block).
    progress: dict[int, Progress]

    def run(self, stop: threading.Event, deadline_mono_ns: Callable[[], int | None]) -> RxResult:
        """Count frames until stop is set or the deadline (None: not known yet) passes."""
        ...

    def close(self) -> None: ...


def open_sender(config: TxConfig) -> Sender:
    """Open the socket (and ring) for one sending worker. Raises OSError with a clear message."""
    if config.engine == "sendto":
        from ringlab.agent.rings.sendto import SendtoSender

        return SendtoSender(config)
    if config.engine == "xdp":
        from ringlab.agent.rings.xdp.sender import XdpSender

        return XdpSender(config)
    from ringlab.agent.rings.tx import RingSender

    return RingSender(config)


def open_receiver(config: RxConfig) -> Receiver:
    """Open the socket and RX ring for one receiving worker. Raises OSError with a clear message."""
    if config.engine == "xdp":
        from ringlab.agent.rings.xdp.receiver import XdpReceiver

        return XdpReceiver(config)
    from ringlab.agent.rings.rx import RingReceiver

    return RingReceiver(config)
