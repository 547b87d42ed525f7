"""rtnetlink for XDP: attach through IFLA_XDP, and what an interface has attached.

A netlink socket belongs to the network namespace of the thread that created it, so an
`RtNetlink` opened in the receiver's namespace keeps working from any thread later:
the attachment keeps one for its detach. Errors carry the kernel's extended ack text
when it gives one ("veth: peer MTU too large", "native and generic XDP can't be active
at the same time"...).
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import os
import socket
import struct
from dataclasses import dataclass

NETLINK_ROUTE = 0
SOL_NETLINK = 270
NETLINK_EXT_ACK = 11
NLMSG_ERROR = 2
NLMSG_DONE = 3
NLM_F_REQUEST = 0x1
NLM_F_ACK = 0x4
NLM_F_CAPPED = 0x100
NLM_F_ACK_TLVS = 0x200
NLMSGERR_ATTR_MSG = 1
NLA_F_NESTED = 0x8000
RTM_GETLINK = 18
RTM_SETLINK = 19

IFLA_MTU = 4
IFLA_XDP = 43
IFLA_NUM_TX_QUEUES = 31
IFLA_NUM_RX_QUEUES = 32
IFLA_XDP_FD = 1
IFLA_XDP_ATTACHED = 2
IFLA_XDP_FLAGS = 3
IFLA_XDP_PROG_ID = 4
IFLA_XDP_EXPECTED_FD = 8

XDP_FLAGS_UPDATE_IF_NOEXIST = 1 << 0
XDP_FLAGS_SKB_MODE = 1 << 1
XDP_FLAGS_DRV_MODE = 1 << 2
XDP_FLAGS_REPLACE = 1 << 4
# IFLA_XDP_ATTACHED values.
XDP_ATTACHED_NONE = 0
XDP_ATTACHED_DRV = 1
XDP_ATTACHED_SKB = 2
XDP_ATTACHED_HW = 3
XDP_ATTACHED_MULTI = 4
ATTACHED_NAMES = {0: "none", 1: "native", 2: "generic", 3: "offload", 4: "several"}

_HDR = struct.Struct("=IHHII")
_IFINFO = struct.Struct("=BxHiII")
_NLA = struct.Struct("=HH")
_seq = itertools.count(1)


def _align(n: int) -> int:
    return (n + 3) & ~3


def attr(kind: int, payload: bytes) -> bytes:
    raw = _NLA.pack(_NLA.size + len(payload), kind) + payload
    return raw + bytes(_align(len(raw)) - len(raw))


def parse_attrs(buf: bytes) -> dict[int, bytes]:
    """Top-level attributes of `buf` by type (the nested flag stripped; last one wins)."""
    out = {}
    at = 0
    while at + _NLA.size <= len(buf):
        length, kind = _NLA.unpack_from(buf, at)
        if length < _NLA.size:
            break
        out[kind & ~NLA_F_NESTED] = bytes(buf[at + _NLA.size : at + length])
        at += _align(length)
    return out


@dataclass(frozen=True)
class LinkXdp:
    """What IFLA_XDP and the queue counts say about one interface."""

    attached: int  # XDP_ATTACHED_*
    prog_id: int
    rx_queues: int
    tx_queues: int
    mtu: int

    @property
    def mode(self) -> str:
        return ATTACHED_NAMES.get(self.attached, str(self.attached))


class RtNetlink:
    def __init__(self) -> None:
        self._sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_ROUTE)
        with contextlib.suppress(OSError):  # kernels before 4.12: plain errno, no text
            self._sock.setsockopt(SOL_NETLINK, NETLINK_EXT_ACK, 1)
        self._sock.bind((0, 0))

    def close(self) -> None:
        self._sock.close()

    def _request(self, kind: int, flags: int, payload: bytes) -> list[tuple[int, bytes]]:
        seq = next(_seq)
        msg = _HDR.pack(_HDR.size + len(payload), kind, NLM_F_REQUEST | flags, seq, 0) + payload
        self._sock.send(msg)
        replies: list[tuple[int, bytes]] = []
        while True:
            data = self._sock.recv(65536)
            at = 0
            while at + _HDR.size <= len(data):
                length, mtype, mflags, mseq, _ = _HDR.unpack_from(data, at)
                body = data[at + _HDR.size : at + length]
                at += _align(length)
                if mseq != seq:
                    continue
                if mtype == NLMSG_ERROR:
                    code = struct.unpack_from("=i", body)[0]
                    if code:
                        raise OSError(-code, _error_text(-code, body, mflags))
                    return replies  # the ack
                if mtype == NLMSG_DONE:
                    return replies
                replies.append((mtype, body))
                if not flags & NLM_F_ACK:
                    return replies

    def set_xdp(
        self, ifindex: int, prog_fd: int, flags: int, expected_fd: int | None = None
    ) -> None:
        """Attach `prog_fd` (-1: detach) with XDP_FLAGS_* `flags`."""
        nested = attr(IFLA_XDP_FD, struct.pack("=i", prog_fd)) + attr(
            IFLA_XDP_FLAGS, struct.pack("=I", flags)
        )
        if expected_fd is not None:
            nested += attr(IFLA_XDP_EXPECTED_FD, struct.pack("=i", expected_fd))
        payload = _IFINFO.pack(socket.AF_UNSPEC, 0, ifindex, 0, 0) + attr(
            IFLA_XDP | NLA_F_NESTED, nested
        )
        self._request(RTM_SETLINK, NLM_F_ACK, payload)

    def link_xdp(self, ifindex: int) -> LinkXdp:
        replies = self._request(RTM_GETLINK, 0, _IFINFO.pack(socket.AF_UNSPEC, 0, ifindex, 0, 0))
        if not replies:
            raise OSError(errno.ENODEV, f"no interface with index {ifindex}")
        attrs = parse_attrs(replies[0][1][_IFINFO.size :])
        xdp = parse_attrs(attrs.get(IFLA_XDP, b""))

        def u32(raw: bytes | None) -> int:
            return struct.unpack_from("=I", raw)[0] if raw and len(raw) >= 4 else 0

        return LinkXdp(
            attached=xdp[IFLA_XDP_ATTACHED][0] if xdp.get(IFLA_XDP_ATTACHED) else 0,
            prog_id=u32(xdp.get(IFLA_XDP_PROG_ID)),
            rx_queues=u32(attrs.get(IFLA_NUM_RX_QUEUES)),
            tx_queues=u32(attrs.get(IFLA_NUM_TX_QUEUES)),
            mtu=u32(attrs.get(IFLA_MTU)),
        )


def _error_text(code: int, body: bytes, flags: int) -> str:
    text = os.strerror(code)
    if not flags & NLM_F_ACK_TLVS:
        return text
    # After the error code: the request's header (just the header when capped).
    echoed = _HDR.size if flags & NLM_F_CAPPED else _HDR.unpack_from(body, 4)[0]
    tlvs = parse_attrs(body[4 + _align(echoed) :])
    msg = tlvs.get(NLMSGERR_ATTR_MSG, b"").split(b"\0", 1)[0].decode(errors="replace")
    return f"{text} ({msg})" if msg else text
