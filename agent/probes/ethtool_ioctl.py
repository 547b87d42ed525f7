"""The SIOCETHTOOL ioctl: driver info, rings, channels, link settings and features.

Each `get_*` function issues one request on a datagram socket (so the answer is
about the network namespace of the calling thread) and hands the bytes to a pure
`decode_*` function. A driver that does not implement a request answers
EOPNOTSUPP (or EINVAL on some old drivers); that becomes `None`, never an error,
because "this driver does not say" is a normal probe result.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import socket
import struct
from dataclasses import dataclass

SIOCETHTOOL = 0x8946
ETHTOOL_GSET = 0x00000001
ETHTOOL_GDRVINFO = 0x00000003
ETHTOOL_GRINGPARAM = 0x00000010
ETHTOOL_GSTRINGS = 0x0000001B
ETHTOOL_GSSET_INFO = 0x00000037
ETHTOOL_GFEATURES = 0x0000003A
ETHTOOL_GCHANNELS = 0x0000003C
ETHTOOL_GLINKSETTINGS = 0x0000004C
ETH_SS_FEATURES = 4
ETH_GSTRING_LEN = 32
IFNAMSIZ = 16

# The driver does not implement the request (or not for this device): "unknown", not a failure.
_UNSUPPORTED = {errno.EOPNOTSUPP, errno.EINVAL, errno.ENODEV, errno.ENOTSUP}

_DRVINFO = struct.Struct("=I32s32s32s32s32s12sIIIII")
_U32X9 = struct.Struct("=9I")
_LINK_HDR = struct.Struct("=IIBBBBBBBbBBBB7I")
_GSET = struct.Struct("=IIIHBBBBBBIIHBBI2I")
SPEED_UNKNOWN = 0xFFFFFFFF
DUPLEX_NAMES = {0: "half", 1: "full"}


@dataclass(frozen=True)
class DrvInfo:
    driver: str
    version: str
    firmware: str
    bus_info: str


@dataclass(frozen=True)
class Rings:
    rx: int
    tx: int
    rx_max: int
    tx_max: int


@dataclass(frozen=True)
class Channels:
    rx: int
    tx: int
    other: int
    combined: int
    max_rx: int
    max_tx: int
    max_other: int
    max_combined: int


@dataclass(frozen=True)
class Link:
    speed_mbps: int | None
    duplex: str | None


def _cstr(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("utf-8", "replace").strip()


def decode_drvinfo(buf: bytes) -> DrvInfo:
    fields = _DRVINFO.unpack_from(buf)
    return DrvInfo(
        driver=_cstr(fields[1]),
        version=_cstr(fields[2]),
        firmware=_cstr(fields[3]),
        bus_info=_cstr(fields[4]),
    )


def decode_rings(buf: bytes) -> Rings:
    _, rx_max, _, _, tx_max, rx, _, _, tx = _U32X9.unpack_from(buf)
    return Rings(rx=rx, tx=tx, rx_max=rx_max, tx_max=tx_max)


def decode_channels(buf: bytes) -> Channels:
    _, mrx, mtx, moth, mcomb, rx, tx, oth, comb = _U32X9.unpack_from(buf)
    return Channels(rx, tx, oth, comb, mrx, mtx, moth, mcomb)


def _link(speed: int, duplex: int) -> Link:
    # Drivers without a link (veth, a down NIC) report SPEED_UNKNOWN / DUPLEX_UNKNOWN (0xff).
    return Link(
        speed_mbps=None if speed in (0, SPEED_UNKNOWN, 0xFFFF) else speed,
        duplex=DUPLEX_NAMES.get(duplex),
    )


def decode_link_settings(buf: bytes) -> Link:
    fields = _LINK_HDR.unpack_from(buf)
    return _link(fields[1], fields[2])


def decode_gset(buf: bytes) -> Link:
    fields = _GSET.unpack_from(buf)
    speed = fields[3] | (fields[12] << 16)
    return _link(speed, fields[4])


def decode_strings(buf: bytes, count: int) -> list[str]:
    base = 12
    return [
        _cstr(buf[base + i * ETH_GSTRING_LEN : base + (i + 1) * ETH_GSTRING_LEN])
        for i in range(count)
    ]


def decode_features(buf: bytes, names: list[str]) -> dict[str, bool]:
    """Active state of each feature; a block is (available, requested, active, never_changed)."""
    (size,) = struct.unpack_from("=I", buf, 4)
    out: dict[str, bool] = {}
    for i, name in enumerate(names):
        block = i // 32
        if block >= size or not name:
            continue
        _, _, active, _ = struct.unpack_from("=4I", buf, 8 + 16 * block)
        # "fixed" features (unchangeable, e.g. veth's netns-local) count too: they are the truth.
        out[name] = bool(active & (1 << (i % 32)))
    return out


class EthtoolSocket:
    """One socket for many requests; closes with the `with` block."""

    def __init__(self) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)

    def __enter__(self) -> EthtoolSocket:
        return self

    def __exit__(self, *exc: object) -> None:
        self._sock.close()

    def request(self, ifname: str, data: bytearray) -> bytearray | None:
        """Run one request in place; None when the driver does not support it."""
        name = ifname.encode()
        if len(name) >= IFNAMSIZ:
            raise ValueError(f"interface name {ifname!r} is longer than {IFNAMSIZ - 1} bytes")
        cbuf = (ctypes.c_char * len(data)).from_buffer(data)
        ifreq = struct.pack("16sP", name, ctypes.addressof(cbuf)).ljust(40, b"\0")
        try:
            fcntl.ioctl(self._sock.fileno(), SIOCETHTOOL, ifreq)
        except OSError as exc:
            if exc.errno in _UNSUPPORTED or exc.errno == errno.EPERM:
                return None
            raise
        finally:
            del cbuf
        return data

    def _cmd(self, ifname: str, cmd: int, size: int) -> bytearray | None:
        data = bytearray(size)
        struct.pack_into("=I", data, 0, cmd)
        return self.request(ifname, data)

    def drvinfo(self, ifname: str) -> DrvInfo | None:
        buf = self._cmd(ifname, ETHTOOL_GDRVINFO, _DRVINFO.size)
        return None if buf is None else decode_drvinfo(bytes(buf))

    def rings(self, ifname: str) -> Rings | None:
        buf = self._cmd(ifname, ETHTOOL_GRINGPARAM, _U32X9.size)
        return None if buf is None else decode_rings(bytes(buf))

    def channels(self, ifname: str) -> Channels | None:
        buf = self._cmd(ifname, ETHTOOL_GCHANNELS, _U32X9.size)
        return None if buf is None else decode_channels(bytes(buf))

    def link(self, ifname: str) -> Link | None:
        # GLINKSETTINGS is a two-step handshake: ask with nwords=0, the kernel answers -nwords.
        hdr = self._cmd(ifname, ETHTOOL_GLINKSETTINGS, _LINK_HDR.size)
        if hdr is not None:
            nwords = struct.unpack_from("=b", hdr, 15)[0]
            if nwords < 0:
                data = bytearray(_LINK_HDR.size + 3 * 4 * -nwords)
                struct.pack_into("=I", data, 0, ETHTOOL_GLINKSETTINGS)
                struct.pack_into("=b", data, 15, -nwords)
                full = self.request(ifname, data)
                if full is not None:
                    return decode_link_settings(bytes(full))
        # Kernels before 4.6 only know the legacy request.
        buf = self._cmd(ifname, ETHTOOL_GSET, _GSET.size)
        return None if buf is None else decode_gset(bytes(buf))

    def features(self, ifname: str) -> dict[str, bool] | None:
        info = bytearray(20)
        struct.pack_into("=IIQ", info, 0, ETHTOOL_GSSET_INFO, 0, 1 << ETH_SS_FEATURES)
        if self.request(ifname, info) is None:
            return None
        (mask,) = struct.unpack_from("=Q", info, 8)
        if not mask & (1 << ETH_SS_FEATURES):
            return None
        (count,) = struct.unpack_from("=I", info, 16)
        strings = bytearray(12 + count * ETH_GSTRING_LEN)
        struct.pack_into("=III", strings, 0, ETHTOOL_GSTRINGS, ETH_SS_FEATURES, count)
        if self.request(ifname, strings) is None:
            return None
        names = decode_strings(bytes(strings), count)
        blocks = (count + 31) // 32
        feats = bytearray(8 + 16 * blocks)
        struct.pack_into("=II", feats, 0, ETHTOOL_GFEATURES, blocks)
        if self.request(ifname, feats) is None:
            return None
        return decode_features(bytes(feats), names)
