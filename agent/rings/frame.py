"""The ringlab test frame: layout, template builder and header parsers.

Ethernet II, ethertype 0x88B5 (IEEE 802 local experimental), then the ringlab
header at offset 14, all fields in network byte order:

    offset  size  field
    14      4     magic 0x524C4142 ("RLAB")
    18      1     version (1)
    19      1     flags (bit0: static template, seq/timestamp not meaningful)
    20      2     worker
    22      4     flow_id
    26      8     seq (starts at 0 per (flow_id, worker) stream)
    34      8     tx_wall_ns (CLOCK_REALTIME ns; one stamp may be shared by a batch)
    42            end of header, zero padding up to frame_size - 4 (no FCS in the buffer)

The vectorised parser reads the same fields out of many frames at once through a
numpy structured dtype whose fields sit at these offsets; views with any stride
(ring frame stride, TPACKET_V3 packet stride) can use it without copying.
"""

from __future__ import annotations

import mmap
import struct
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

ETHERTYPE = 0x88B5
MAGIC = 0x524C4142
VERSION = 1
FLAG_STATIC = 0x01

OFF_ETHERTYPE = 12
OFF_MAGIC = 14
OFF_VERSION = 18
OFF_FLAGS = 19
OFF_WORKER = 20
OFF_FLOW = 22
OFF_SEQ = 26
OFF_TX_NS = 34
HEADER_END = 42

FCS_LEN = 4
ETH_HLEN = 14
MIN_FRAME_SIZE = 64
# Largest frame an AF_PACKET socket can hand over (64 KiB buffer) plus the FCS.
MAX_FRAME_SIZE = 65535 + FCS_LEN

_HEADER = struct.Struct(">6s6sHIBBHIQQ")
assert _HEADER.size == HEADER_END

# Big-endian fields at their frame offsets; itemsize HEADER_END so a view needs only
# the header bytes to be inside the buffer.
HEADER_DTYPE = np.dtype(
    {
        "names": ["ethertype", "magic", "version", "flags", "worker", "flow_id", "seq", "tx_ns"],
        "formats": [">u2", ">u4", "u1", "u1", ">u2", ">u4", ">u8", ">u8"],
        "offsets": [
            OFF_ETHERTYPE,
            OFF_MAGIC,
            OFF_VERSION,
            OFF_FLAGS,
            OFF_WORKER,
            OFF_FLOW,
            OFF_SEQ,
            OFF_TX_NS,
        ],
        "itemsize": HEADER_END,
    }
)


# Anything a ring or a test hands to the parsers.
RawBuffer = bytes | bytearray | memoryview | mmap.mmap


class FrameError(ValueError):
    """A frame that is not a valid ringlab test frame."""


class TruncatedFrame(FrameError):
    """Shorter than the ringlab header."""


class ForeignFrame(FrameError):
    """Long enough, but wrong ethertype, magic or version."""


@dataclass(frozen=True)
class Header:
    flags: int
    worker: int
    flow_id: int
    seq: int
    tx_wall_ns: int
    version: int = VERSION

    @property
    def static(self) -> bool:
        return bool(self.flags & FLAG_STATIC)


def buffer_len(frame_size: int) -> int:
    """Bytes handed to the kernel for a frame of frame_size (which counts the FCS)."""
    return frame_size - FCS_LEN


def check_frame_size(frame_size: int, mtu: int | None = None) -> None:
    """Raise FrameError naming the allowed range if frame_size cannot be sent."""
    high = MAX_FRAME_SIZE if mtu is None else mtu + ETH_HLEN + FCS_LEN
    if not MIN_FRAME_SIZE <= frame_size <= high:
        where = "" if mtu is None else f" (interface MTU {mtu})"
        raise FrameError(
            f"frame_size {frame_size} is out of range: use {MIN_FRAME_SIZE}..{high} bytes"
            f" including the 4-byte FCS{where}"
        )


def _check_mac(name: str, mac: bytes) -> None:
    if len(mac) != 6:
        raise FrameError(f"{name} must be 6 bytes, got {len(mac)}: {mac.hex(':')}")


def build_frame(
    *,
    dst_mac: bytes,
    src_mac: bytes,
    flow_id: int,
    worker: int,
    frame_size: int,
    seq: int = 0,
    tx_wall_ns: int = 0,
    flags: int = 0,
) -> bytes:
    """One complete frame buffer (frame_size - 4 bytes, zero padded)."""
    _check_mac("dst_mac", dst_mac)
    _check_mac("src_mac", src_mac)
    check_frame_size(frame_size)
    if not 0 <= flow_id < 1 << 32:
        raise FrameError(f"flow_id {flow_id} does not fit in 32 bits")
    if not 0 <= worker < 1 << 16:
        raise FrameError(f"worker {worker} does not fit in 16 bits")
    header = _HEADER.pack(
        dst_mac,
        src_mac,
        ETHERTYPE,
        MAGIC,
        VERSION,
        flags,
        worker,
        flow_id,
        seq % (1 << 64),
        tx_wall_ns % (1 << 64),
    )
    return header + bytes(buffer_len(frame_size) - HEADER_END)


def parse_header(frame: bytes | bytearray | memoryview) -> Header:
    """Parse one frame; raises TruncatedFrame or ForeignFrame."""
    if len(frame) < HEADER_END:
        raise TruncatedFrame(
            f"frame of {len(frame)} bytes is shorter than the {HEADER_END}-byte header"
        )
    _, _, ethertype, magic, version, flags, worker, flow_id, seq, tx_ns = _HEADER.unpack_from(frame)
    if ethertype != ETHERTYPE:
        raise ForeignFrame(f"ethertype 0x{ethertype:04x} is not 0x{ETHERTYPE:04x}")
    if magic != MAGIC:
        raise ForeignFrame(f"magic 0x{magic:08x} is not 0x{MAGIC:08x}")
    if version != VERSION:
        raise ForeignFrame(f"header version {version} is not {VERSION}")
    return Header(
        flags=flags, worker=worker, flow_id=flow_id, seq=seq, tx_wall_ns=tx_ns, version=version
    )


@dataclass(frozen=True)
class HeaderArrays:
    """Fields of many frames; `valid` marks frames with our ethertype, magic and version."""

    valid: npt.NDArray[np.bool_]
    flags: npt.NDArray[np.uint8]
    worker: npt.NDArray[np.uint16]
    flow_id: npt.NDArray[np.uint32]
    seq: npt.NDArray[np.uint64]
    tx_ns: npt.NDArray[np.uint64]


def parse_headers(view: npt.NDArray[np.void]) -> HeaderArrays:
    """Vectorised parse of a HEADER_DTYPE view (any stride); values of invalid frames are junk."""
    valid = (
        (view["ethertype"] == ETHERTYPE) & (view["magic"] == MAGIC) & (view["version"] == VERSION)
    )
    return HeaderArrays(
        valid=valid,
        flags=view["flags"].astype(np.uint8),
        worker=view["worker"].astype(np.uint16),
        flow_id=view["flow_id"].astype(np.uint32),
        seq=view["seq"].astype(np.uint64),
        tx_ns=view["tx_ns"].astype(np.uint64),
    )


def header_view(buffer: RawBuffer, offset: int, count: int, stride: int) -> npt.NDArray[np.void]:
    """A HEADER_DTYPE view of `count` frames starting at `offset`, `stride` bytes apart."""
    return np.ndarray(
        shape=(count,), dtype=HEADER_DTYPE, buffer=buffer, offset=offset, strides=(stride,)
    )
