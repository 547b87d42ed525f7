"""AF_PACKET constants and socket helpers shared by the engines (linux/if_packet.h)."""

from __future__ import annotations

import ctypes
import errno
import fcntl
import mmap
import resource
import socket
import struct

SOL_PACKET = 263
PACKET_RX_RING = 5
PACKET_STATISTICS = 6
PACKET_VERSION = 10
PACKET_TX_RING = 13
PACKET_LOSS = 14
PACKET_FANOUT = 18
PACKET_FANOUT_DATA = 22
PACKET_QDISC_BYPASS = 20
PACKET_VNET_HDR = 15
VNET_HDR_LEN = 10  # struct virtio_net_hdr

TPACKET_V2 = 1
TPACKET_V3 = 2

PACKET_FANOUT_CBPF = 6
SO_ATTACH_FILTER = 26
# Classic BPF opcodes used here.
BPF_LD_H_ABS = 0x28
BPF_RET_A = 0x16
BPF_RET_K = 0x06

TP_STATUS_KERNEL = 0
TP_STATUS_AVAILABLE = 0
TP_STATUS_USER = 1
TP_STATUS_SEND_REQUEST = 1
TP_STATUS_SENDING = 2
TP_STATUS_WRONG_FORMAT = 4

TPACKET_ALIGNMENT = 16
SIOCGIFMTU = 0x8921
PAGE_SIZE = mmap.PAGESIZE


def tpacket_align(n: int) -> int:
    return (n + TPACKET_ALIGNMENT - 1) & ~(TPACKET_ALIGNMENT - 1)


def open_packet_socket(interface: str, protocol: int, role: str) -> socket.socket:
    """An AF_PACKET SOCK_RAW socket (not yet bound); errors say what to do."""
    try:
        return socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(protocol))
    except PermissionError as e:
        raise PermissionError(
            e.errno, f"{role} on {interface}: AF_PACKET needs root or CAP_NET_RAW ({e.strerror})"
        ) from None


def bind_interface(sock: socket.socket, interface: str, protocol: int, role: str) -> None:
    try:
        sock.bind((interface, protocol))
    except OSError as e:
        if e.errno in (errno.ENODEV, errno.ENXIO):
            raise OSError(
                e.errno,
                f"{role}: interface {interface!r} does not exist in this network namespace;"
                " check the name with `ip link`",
            ) from None
        raise OSError(e.errno, f"{role}: cannot bind to {interface!r}: {e.strerror}") from None


def interface_mtu(sock: socket.socket, interface: str) -> int:
    """MTU through the socket, so the socket's network namespace is the one asked."""
    name = interface.encode()[:15]
    try:
        reply = fcntl.ioctl(sock.fileno(), SIOCGIFMTU, struct.pack("16si12x", name, 0))
    except OSError as e:
        raise OSError(
            e.errno,
            f"interface {interface!r} does not exist in this network namespace;"
            " check the name with `ip link`",
        ) from None
    mtu: int = struct.unpack_from("16si", reply)[1]
    return mtu


def set_bpf(sock: socket.socket, level: int, option: int, *insns: tuple[int, int]) -> None:
    """Hand the kernel a classic BPF program (struct sock_fprog) of (opcode, k) steps."""
    prog = b"".join(struct.pack("<HBBI", code, 0, 0, k & 0xFFFFFFFF) for code, k in insns)
    buffer = ctypes.create_string_buffer(prog, len(prog))  # alive until setsockopt returns
    sock.setsockopt(level, option, struct.pack("HxxxxxxP", len(insns), ctypes.addressof(buffer)))


def set_version(sock: socket.socket, version: int) -> None:
    sock.setsockopt(SOL_PACKET, PACKET_VERSION, version)


def set_packet_loss(sock: socket.socket) -> None:
    """PACKET_LOSS on a TX ring: a malformed request is skipped (AVAILABLE) instead of
    left as WRONG_FORMAT at the kernel's head, where the ring would stop."""
    sock.setsockopt(SOL_PACKET, PACKET_LOSS, 1)


def set_qdisc_bypass(sock: socket.socket, on: bool) -> None:
    try:
        sock.setsockopt(SOL_PACKET, PACKET_QDISC_BYPASS, 1 if on else 0)
    except OSError as e:
        raise OSError(
            e.errno, f"PACKET_QDISC_BYPASS not supported (kernel >= 3.14 needed): {e.strerror}"
        ) from None


def thread_cpu() -> tuple[float, float]:
    """(user, system) CPU seconds of the calling thread."""
    ru = resource.getrusage(resource.RUSAGE_THREAD)
    return ru.ru_utime, ru.ru_stime


def set_vnet_header(sock: socket.socket) -> None:
    try:
        sock.setsockopt(SOL_PACKET, PACKET_VNET_HDR, 1)
    except OSError as e:
        raise OSError(
            e.errno,
            f"PACKET_VNET_HDR not supported ({e.strerror}): set tx_skb: paged for this flow",
        ) from None


def vnet_header(linear_len: int) -> bytes:
    """A virtio_net_hdr asking for no offload, with `linear_len` bytes in the skb's head."""
    return struct.pack("<BBHHHH", 0, 0, linear_len, 0, 0, 0)
