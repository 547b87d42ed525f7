"""What a Prepare may ask of this agent: limits and per-flow checks, shared by Prepare
and CheckPrepare so both give the same verdict and the same message."""

from __future__ import annotations

import math
import mmap
import re
from collections.abc import Mapping
from pathlib import Path

from ringlab.agent import sysinfo
from ringlab.agent.flows import FlowPlan, SessionError
from ringlab.agent.management import pci_port_refusal
from ringlab.agent.rings import packet as pk
from ringlab.agent.rings.frame import MAX_FRAME_SIZE
from ringlab.agent.rings.xdp import xsk
from ringlab.ring_limits import (
    DEFAULT_RX_BLOCK_SIZE,
    DEFAULT_RX_BLOCKS,
    MAX_RX_BLOCK_SIZE,
    MAX_RX_BLOCKS,
    MAX_SESSION_RING_BYTES,
    NO_XSK_ZEROCOPY_DRIVERS,
)
from ringlab.session_limits import (
    MAX_DRAIN_NS,
    MAX_DURATION_NS,
    MAX_LEASE_MS,
    MAX_SESSION_ID_LEN,
    MAX_START_AHEAD_NS,
    MAX_START_BEHIND_NS,
    MIN_LEASE_MS,
    SESSION_ID_CHARS,
)

MAX_WORKERS = 16
# Sockets and rings of one session: a bound so one request cannot exhaust the host.
MAX_SESSION_WORKERS = 64
MAX_RING_FRAMES = 1 << 20
# Memory of one sender's TX ring (frames x slot); 512 MiB is far above any useful ring.
MAX_RING_BYTES = 512 << 20
MAX_BATCH = 1 << 16
# 800 Gb/s of 64-byte frames is 1.19 Gpps; anything above 2 Gpps is a typo.
MAX_RATE_PPS = 2e9
# AF_XDP: queues of one interface (NICs have up to a few hundred), receive UMEM chunks.
MAX_XDP_QUEUE = 1024
MAX_XDP_FRAMES = 1 << 20
DEFAULT_XDP_TX_FRAMES = 4096
DEFAULT_XDP_RX_FRAMES = 16384
# Frames in one UMEM chunk (a page): the whole chunk to send, 256 bytes less where the
# socket also receives (XDP_PACKET_HEADROOM); frame_size counts the 4-byte FCS.
MAX_XDP_TX_FRAME = mmap.PAGESIZE + 4
MAX_XDP_RX_FRAME = mmap.PAGESIZE - xsk.XDP_PACKET_HEADROOM + 4
_SESSION_ID = re.compile(r"[A-Za-z0-9._:@+=-]+")


def check_session_id(session_id: str) -> None:
    """A session id the agent can name threads and audit lines with."""
    if not session_id:
        raise SessionError("invalid", "session_id is empty; give each session a unique id")
    if len(session_id) > MAX_SESSION_ID_LEN:
        raise SessionError(
            "invalid",
            f"session_id is {len(session_id):,} characters long; the limit is "
            f"{MAX_SESSION_ID_LEN} (ringlab uses RUNID-pN)",
        )
    if not _SESSION_ID.fullmatch(session_id):
        bad = sorted({c for c in session_id if not _SESSION_ID.fullmatch(c)})
        shown = " ".join(repr(c) for c in bad[:5])
        raise SessionError(
            "invalid",
            f"session_id {session_id!r} has characters a session id may not have ({shown}); "
            f"use only {SESSION_ID_CHARS}",
        )


def check_start(start_at_wall_ns: int, duration_ns: int, drain_ns: int, now_wall_ns: int) -> None:
    """A Start whose times make sense against this agent's clock."""
    if not 0 < duration_ns <= MAX_DURATION_NS:
        raise SessionError(
            "invalid",
            f"duration_ns {duration_ns} must be > 0 and at most {MAX_DURATION_NS} (24 h); "
            "longer runs belong in several phases",
        )
    if not 0 <= drain_ns <= MAX_DRAIN_NS:
        raise SessionError("invalid", f"drain_ns {drain_ns} must be 0..{MAX_DRAIN_NS}")
    ahead = start_at_wall_ns - now_wall_ns
    if not -MAX_START_BEHIND_NS <= ahead <= MAX_START_AHEAD_NS:
        when = f"{ahead / 1e9:+,.0f} s from"
        raise SessionError(
            "invalid",
            f"start_at_wall_ns {start_at_wall_ns} is {when} this agent's clock "
            f"({now_wall_ns}); a start must lie between {MAX_START_BEHIND_NS // 10**9} s "
            f"behind and {MAX_START_AHEAD_NS // 10**9} s ahead of it. Check the controller's "
            "and this host's clocks (ringlab measures their offset with SyncClock) and that "
            "the time is in nanoseconds since 1970",
        )


# A PCI port's frames without DPDK's jumbo setup: testpmd's default MTU 1500 + 18.
PCI_LARGEST_FRAME = 1518


def validate_flows(
    session_id: str,
    flows: list[FlowPlan],
    lease_ms: int,
    management: Mapping[str, str],
    sysfs_root: Path = Path("/"),
) -> None:
    """Reject requests that cannot be right before touching any socket.

    `management` maps each management interface to why it is one (see
    ringlab.agent.management); a flow on one is refused unless it allows it.
    """
    check_session_id(session_id)
    if not flows:
        raise SessionError("invalid", "no flows in Prepare; a session needs at least one flow")
    if not MIN_LEASE_MS <= lease_ms <= MAX_LEASE_MS:
        unset = " (0: not set; there is no default)" if lease_ms == 0 else ""
        raise SessionError(
            "invalid",
            f"lease_ms {lease_ms}{unset} is out of range {MIN_LEASE_MS}..{MAX_LEASE_MS}; "
            "traffic stops by itself this long after the last RenewLease",
        )
    total_workers = sum(max(1, f.workers) for f in flows)
    if total_workers > MAX_SESSION_WORKERS:
        raise SessionError(
            "invalid",
            f"{len(flows)} flows ask for {total_workers} workers; one session may use at most "
            f"{MAX_SESSION_WORKERS} (each worker is a socket, a ring and a thread)",
        )
    interfaces = {i.name: i for i in sysinfo.list_interfaces()}
    seen: set[tuple[int, str]] = set()
    _check_receive_engines(flows)
    _check_shared_sockets(flows)
    mtus = {name: iface.mtu for name, iface in interfaces.items()}
    session_ring_bytes = _rx_ring_bytes(flows) + _xdp_rx_umem_bytes(flows, mtus)
    for flow in flows:
        where = f"flow {flow.name!r} (id {flow.flow_id})"
        if (flow.flow_id, flow.role) in seen:
            raise SessionError("invalid", f"{where}: flow id used twice for {flow.role}")
        seen.add((flow.flow_id, flow.role))
        if flow.role not in ("send", "receive"):
            raise SessionError("invalid", f"{where}: role must be send or receive")
        driver = ""
        _check_pci_request(where, flow)
        if flow.pci_address:
            refusal = pci_port_refusal(
                flow.pci_address, management, flow.allow_management_interface, sysfs_root
            )
            if refusal is not None:
                raise SessionError("precondition", f"{where}: {refusal}")
            largest, mtu_of = PCI_LARGEST_FRAME, f"testpmd's default MTU 1500 on {flow.pci_address}"
        else:
            iface = interfaces.get(flow.interface)
            if iface is None:
                names = ", ".join(interfaces)
                raise SessionError(
                    "invalid",
                    f"{where}: no interface {flow.interface!r} here; this host has {names}",
                )
            why = management.get(flow.interface)
            if why is not None and not flow.allow_management_interface:
                raise SessionError(
                    "precondition",
                    f"{where}: interface {flow.interface} {why}; ringlab refuses to {flow.role}"
                    " test traffic on a management interface. Use a test interface, or set "
                    "allow_management_interface: true in the scenario if this is intended",
                )
            driver = iface.driver
            largest = min(iface.mtu + 18, MAX_FRAME_SIZE)
            mtu_of = f"MTU {iface.mtu} of {flow.interface}"
        if not 64 <= flow.frame_size <= largest:
            unset = " (0: not set; there is no default)" if flow.frame_size == 0 else ""
            raise SessionError(
                "invalid",
                f"{where}: frame_size {flow.frame_size}{unset} must be 64..{largest} "
                f"({mtu_of} + 18 bytes of Ethernet header and FCS)",
            )
        if not 1 <= flow.workers <= MAX_WORKERS:
            raise SessionError("invalid", f"{where}: workers must be 1..{MAX_WORKERS}")
        if not (math.isfinite(flow.rate_pps) and 0 <= flow.rate_pps <= MAX_RATE_PPS):
            raise SessionError(
                "invalid",
                f"{where}: rate_pps {flow.rate_pps} is impossible; use 0 (as fast as possible) "
                f"or a rate up to {MAX_RATE_PPS:.0e}",
            )
        if flow.role == "receive":
            _check_rx_ring(where, flow)
        _check_xdp(where, flow)
        if flow.xdp:
            _check_xdp_interface(where, flow, driver)
        if not 0 <= flow.ring_frames <= MAX_RING_FRAMES:
            raise SessionError(
                "invalid",
                f"{where}: ring_frames {flow.ring_frames} is absurd; use 0 (default) "
                f"or up to {MAX_RING_FRAMES}",
            )
        ring_bytes = flow.ring_frames * ring_slot_bytes(flow.frame_size)
        if flow.role == "send" and flow.xdp:
            ring_bytes = xdp_tx_umem_bytes(flow)
        if flow.role == "send" and ring_bytes > MAX_RING_BYTES:
            raise SessionError(
                "invalid",
                f"{where}: ring_frames {flow.ring_frames} of {flow.frame_size}-byte frames need "
                f"{ring_bytes >> 20} MiB per worker; the limit is {MAX_RING_BYTES >> 20} MiB, "
                "use fewer ring_frames",
            )
        if flow.role == "send":
            session_ring_bytes += ring_bytes * flow.workers
        if session_ring_bytes > MAX_SESSION_RING_BYTES:
            raise SessionError(
                "invalid",
                f"{where}: the rings of this session would need {session_ring_bytes >> 20} MiB; "
                f"the limit is {MAX_SESSION_RING_BYTES >> 20} MiB, use fewer ring_frames, "
                "rx_blocks or workers",
            )
        if not 0 <= flow.batch <= MAX_BATCH:
            raise SessionError(
                "invalid", f"{where}: batch {flow.batch} is absurd; use 0 (default) .. {MAX_BATCH}"
            )
        if flow.role == "send" and len(flow.dst_mac) != 6:
            raise SessionError("invalid", f"{where}: dst_mac must be a MAC address")


# domain:bus:device.function, lower-case hex, as sysfs names PCI functions.
_PCI_ADDRESS = re.compile(r"[0-9a-f]{4}:[0-9a-f]{2}:[01][0-9a-f]\.[0-7]")


def _check_pci_request(where: str, flow: FlowPlan) -> None:
    """pci_address goes with tool_device "pci" on a testpmd side, and is a PCI address
    (it names a sysfs path: nothing else may reach it)."""
    if flow.tool_device == "pci" and flow.side_engine == "testpmd" and not flow.pci_address:
        raise SessionError(
            "invalid", f"{where}: tool_device pci needs pci_address, the port testpmd drives"
        )
    if not flow.pci_address:
        return
    if flow.tool_device != "pci" or flow.side_engine != "testpmd":
        raise SessionError(
            "invalid",
            f"{where}: pci_address is for a testpmd side with tool_device pci; this side runs"
            f" {flow.side_engine} with tool_device {flow.tool_device or '(none)'}",
        )
    if not _PCI_ADDRESS.fullmatch(flow.pci_address):
        raise SessionError(
            "invalid",
            f"{where}: pci_address {flow.pci_address[:40]!r} is not a PCI address like"
            " 0000:3b:00.0 (domain:bus:device.function, lower-case hex)",
        )


def _check_xdp(where: str, flow: FlowPlan) -> None:
    if flow.xdp_queue + flow.workers > MAX_XDP_QUEUE:
        raise SessionError(
            "invalid",
            f"{where}: xdp_queue {flow.xdp_queue} with {flow.workers} worker(s) reaches queue "
            f"{flow.xdp_queue + flow.workers - 1}; queues go up to {MAX_XDP_QUEUE - 1}",
        )
    if not 0 <= flow.xdp_frames <= MAX_XDP_FRAMES:
        raise SessionError(
            "invalid",
            f"{where}: xdp_frames {flow.xdp_frames} must be 0 (default) .. {MAX_XDP_FRAMES}",
        )
    if flow.xdp_share and not flow.xdp:
        side = "engine" if flow.role == "send" else "rx_engine"
        raise SessionError(
            "invalid",
            f"{where}: xdp_share needs AF_XDP on this side ({side} xdp); remove xdp_share "
            "or use the xdp engine",
        )


def _check_xdp_interface(where: str, flow: FlowPlan, driver: str) -> None:
    """What the AF_XDP bind would refuse and the interface already tells."""
    if flow.xdp_mode == "zerocopy" and driver in NO_XSK_ZEROCOPY_DRIVERS:
        raise SessionError(
            "invalid",
            f"{where}: xdp_mode zerocopy, but {flow.interface} (driver {driver}) has no AF_XDP "
            "zero-copy; use xdp_mode auto (zero-copy where the driver has it) or copy",
        )
    queues = xsk.active_queues(flow.interface)
    last = flow.xdp_queue + flow.workers - 1
    if queues is not None and last >= queues:
        raise SessionError(
            "invalid",
            f"{where}: xdp_queue {flow.xdp_queue} with {flow.workers} worker(s) binds queues "
            f"up to {last}, but {flow.interface} has {queues} queue(s) (0..{queues - 1}); use "
            "a lower xdp_queue or fewer workers, or give the interface more queues",
        )
    shared = flow.xdp_share and flow.role == "send"
    largest = MAX_XDP_RX_FRAME if shared else MAX_XDP_TX_FRAME
    if flow.role == "send" and flow.frame_size > largest:
        raise SessionError(
            "invalid",
            f"{where}: frame_size {flow.frame_size} does not fit one AF_XDP UMEM chunk (at most "
            f"{largest} bytes{' on a shared socket' if shared else ''}; multi-buffer frames "
            "are not supported); use a smaller frame_size or the ring engine",
        )


def _check_shared_sockets(flows: list[FlowPlan]) -> None:
    """A shared socket (xdp_share) has one sender, one receiver and one bind mode."""
    senders: dict[tuple[str, int], FlowPlan] = {}
    modes: dict[tuple[str, int], FlowPlan] = {}
    for flow in flows:
        if not (flow.xdp and flow.xdp_share):
            continue
        where = f"flow {flow.name!r} (id {flow.flow_id})"
        for queue in flow.xdp_queues():
            key = (flow.interface, queue)
            other = modes.setdefault(key, flow)
            if other.xdp_mode != flow.xdp_mode:
                raise SessionError(
                    "invalid",
                    f"{where}: xdp_mode {flow.xdp_mode} on the socket {flow.interface} queue "
                    f"{queue} shares with flow {other.name!r}, which asks {other.xdp_mode}; "
                    "a shared socket has one mode",
                )
            if flow.role == "send":
                first = senders.setdefault(key, flow)
                if first is not flow:
                    raise SessionError(
                        "invalid",
                        f"{where}: flow {first.name!r} already sends through the shared socket "
                        f"on {flow.interface} queue {queue}; a shared socket has one sender "
                        "(give this flow its own xdp_queue)",
                    )


def _check_receive_engines(flows: list[FlowPlan]) -> None:
    """One receive engine per interface: the XDP program takes ringlab's frames away
    from AF_PACKET, so a ring receiver beside an xdp one on an interface would count 0."""
    first: dict[str, FlowPlan] = {}
    for flow in flows:
        if flow.role != "receive":
            continue
        other = first.setdefault(flow.interface, flow)
        if other.rx_engine != flow.rx_engine:
            raise SessionError(
                "invalid",
                f"flow {flow.name!r} (id {flow.flow_id}) receives on {flow.interface} with "
                f"engine {flow.rx_engine} and flow {other.name!r} (id {other.flow_id}) with "
                f"{other.rx_engine}: frames the XDP program redirects to AF_XDP never reach "
                "an AF_PACKET ring, so the ring receiver would count nothing. Receive every "
                "flow of one interface with one engine (rx_engine)",
            )


def xdp_tx_umem_bytes(flow: FlowPlan) -> int:
    """UMEM an xdp sender pins: (TX ring + 512 fill chunks) x chunk, per worker."""
    frames = 1 << max(0, (flow.ring_frames or DEFAULT_XDP_TX_FRAMES) - 1).bit_length()
    chunk = 2048 if flow.frame_size <= 2048 else 4096
    return (frames + 512) * chunk


def _xdp_rx_umem_bytes(flows: list[FlowPlan], mtus: Mapping[str, int]) -> int:
    """UMEM of the xdp receivers: one socket per (interface, queue), xdp_frames chunks."""
    sockets: dict[tuple[str, int], int] = {}
    for flow in flows:
        if flow.role != "receive" or not flow.xdp:
            continue
        chunk = 2048 if mtus.get(flow.interface, 1500) <= 1774 else 4096
        size = (flow.xdp_frames or DEFAULT_XDP_RX_FRAMES) * chunk
        for queue in flow.xdp_queues():
            key = (flow.interface, queue)
            sockets[key] = max(sockets.get(key, 0), size)
    return sum(sockets.values())


def _check_rx_ring(where: str, flow: FlowPlan) -> None:
    size = flow.rx_block_size
    if size and (size % pk.PAGE_SIZE or not pk.PAGE_SIZE <= size <= MAX_RX_BLOCK_SIZE):
        raise SessionError(
            "invalid",
            f"{where}: rx_block_size {size} must be 0 (default) or a multiple of this host's "
            f"page size ({pk.PAGE_SIZE}) up to {MAX_RX_BLOCK_SIZE >> 20} MiB",
        )
    if flow.rx_blocks == 1 or not 0 <= flow.rx_blocks <= MAX_RX_BLOCKS:
        raise SessionError(
            "invalid",
            f"{where}: rx_blocks {flow.rx_blocks} must be 0 (default) or 2..{MAX_RX_BLOCKS}",
        )


def _rx_ring_bytes(flows: list[FlowPlan]) -> int:
    """Memory of the receive rings: one set per interface, sized by its largest request."""
    by_interface: dict[str, list[FlowPlan]] = {}
    for flow in flows:
        if flow.role == "receive" and not flow.xdp:
            by_interface.setdefault(flow.interface, []).append(flow)
    total = 0
    for group in by_interface.values():
        size = max(f.rx_block_size for f in group) or DEFAULT_RX_BLOCK_SIZE
        count = max(f.rx_blocks for f in group) or DEFAULT_RX_BLOCKS
        total += size * count * max(f.workers for f in group)
    return total


def ring_slot_bytes(frame_size: int) -> int:
    """Upper bound of one TX ring slot: frame, tpacket2 header, 16-byte alignment."""
    return frame_size + 64
