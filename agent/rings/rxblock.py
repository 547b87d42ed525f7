"""Reading one TPACKET_V3 block into arrays.

A block holds `num_pkts` packets chained by tp_next_offset. When all packets have
the same stride and MAC offset (the usual case: one flow, one frame size), both the
tpacket3 headers and the ringlab headers are read through strided numpy views with
no per-packet Python. Otherwise the chain is walked once to collect offsets and the
fields are gathered with fancy indexing.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ringlab.agent.rings import frame as fr

# struct tpacket_block_desc: version, offset_to_priv, then tpacket_hdr_v1.
OFF_BLOCK_STATUS = 8
OFF_NUM_PKTS = 12
OFF_FIRST_PKT = 16

TP3_DTYPE = np.dtype(
    {
        "names": ["next", "sec", "nsec", "snaplen", "len", "mac"],
        "formats": ["<u4", "<u4", "<u4", "<u4", "<u4", "<u2"],
        "offsets": [0, 4, 8, 12, 16, 24],
        "itemsize": 48,
    }
)
_U32 = struct.Struct("<I")
_U16 = struct.Struct("<H")


@dataclass(frozen=True)
class BlockPackets:
    rx_ns: npt.NDArray[np.int64]
    snaplen: npt.NDArray[np.uint32]
    length: npt.NDArray[np.uint32]
    headers: fr.HeaderArrays
    regular: bool


def read_block(buf: fr.RawBuffer, block_off: int, block_size: int) -> BlockPackets | None:
    """Packets of the block at block_off (status must already be TP_STATUS_USER)."""
    n = _U32.unpack_from(buf, block_off + OFF_NUM_PKTS)[0]
    if n == 0:
        return None
    first = block_off + _U32.unpack_from(buf, block_off + OFF_FIRST_PKT)[0]
    block_end = block_off + block_size
    stride = _U32.unpack_from(buf, first)[0] if n > 1 else 0
    mac = _U16.unpack_from(buf, first + 24)[0]
    last = first + (n - 1) * stride
    if stride > 0 or n == 1:
        fits = last + max(TP3_DTYPE.itemsize, mac + fr.HEADER_END) <= block_end
        if fits:
            tp = np.ndarray((n,), TP3_DTYPE, buf, first, (stride,))
            nxt = tp["next"]
            if bool((nxt[:-1] == stride).all()) and bool((tp["mac"] == mac).all()):
                heads = fr.parse_headers(fr.header_view(buf, first + mac, n, stride))
                return _packets(tp, heads, regular=True)
    return _walk(buf, block_off, block_size, first, n)


def _walk(buf: fr.RawBuffer, block_off: int, block_size: int, first: int, n: int) -> BlockPackets:
    block_end = block_off + block_size
    offs = np.empty(n, dtype=np.int64)
    macs = np.empty(n, dtype=np.int64)
    off = first
    count = 0
    for _ in range(n):
        if off + TP3_DTYPE.itemsize > block_end:
            break  # a corrupt chain must not walk out of the block
        offs[count] = off
        macs[count] = _U16.unpack_from(buf, off + 24)[0]
        count += 1
        step = _U32.unpack_from(buf, off)[0]
        if step == 0:
            break
        off += step
    offs, macs = offs[:count], macs[:count]
    whole = np.ndarray((block_end,), np.uint8, buf, 0)
    tp = _gather(whole, offs, TP3_DTYPE, block_end)
    head_offs = offs + macs
    heads = fr.parse_headers(_gather(whole, head_offs, fr.HEADER_DTYPE, block_end))
    # A header that would run past the block is junk: make its snaplen say so.
    snaplen = tp["snaplen"].copy()
    snaplen[head_offs + fr.HEADER_END > block_end] = 0
    tp["snaplen"] = snaplen
    return _packets(tp, heads, regular=False)


def _gather(
    whole: np.ndarray, offs: npt.NDArray[np.int64], dtype: np.dtype, end: int
) -> npt.NDArray[np.void]:
    idx = offs[:, None] + np.arange(dtype.itemsize)
    np.clip(idx, 0, end - 1, out=idx)
    rows = np.ascontiguousarray(whole[idx])
    return rows.view(dtype).reshape(offs.size)


def _packets(tp: npt.NDArray[np.void], heads: fr.HeaderArrays, *, regular: bool) -> BlockPackets:
    rx_ns = tp["sec"].astype(np.int64) * 1_000_000_000 + tp["nsec"].astype(np.int64)
    return BlockPackets(
        rx_ns=rx_ns,
        snaplen=tp["snaplen"].astype(np.uint32),
        length=tp["len"].astype(np.uint32),
        headers=heads,
        regular=regular,
    )
