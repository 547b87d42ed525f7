"""Receive-side counting: classify a block's packets and account them per stream.

Classification per packet:
- suspect: captured length shorter than the ringlab header (truncated), or a sequence
  number the stream's SeqTracker rejects (behind the origin / far ahead): counted,
  never accounted
- foreign: ringlab ethertype but wrong magic/version, or a flow id not asked for
- static (flags bit0): counted in packets/bytes of its flow, no sequence accounting
- otherwise: sequence accounting per (flow id, sender worker) and one-way latency
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from ringlab.agent.rings import frame as fr
from ringlab.agent.rings.accounting import SeqTracker
from ringlab.agent.rings.api import LatencyStats, Progress, StreamStats
from ringlab.agent.rings.latency import LatencyReservoir
from ringlab.agent.rings.rxblock import BlockPackets


class _Flow:
    def __init__(self) -> None:
        self.streams: dict[int, SeqTracker] = {}
        self.packets = 0
        self.bytes = 0
        self.first_ns = 0
        self.last_ns = 0
        self.latency = LatencyReservoir()

    def seen(self, rx_ns: npt.NDArray[np.int64]) -> None:
        lo, hi = int(rx_ns.min()), int(rx_ns.max())
        self.first_ns = lo if not self.first_ns else min(self.first_ns, lo)
        self.last_ns = max(self.last_ns, hi)

    def stats(self) -> StreamStats:
        ts = self.streams.values()
        return StreamStats(
            packets=self.packets,
            bytes=self.bytes,
            unique_packets=sum(t.unique for t in ts),
            duplicates=sum(t.duplicates for t in ts),
            reordered=sum(t.reordered for t in ts),
            expected_packets=sum(t.expected for t in ts),
            first_wall_ns=self.first_ns,
            last_wall_ns=self.last_ns,
        )


class FlowCounters:
    def __init__(
        self,
        flow_ids: frozenset[int],
        progress: dict[int, Progress],
        static_flow_ids: frozenset[int] = frozenset(),
    ) -> None:
        self._ids = np.array(sorted(flow_ids), dtype=np.uint32)
        self._static_ids = np.array(sorted(static_flow_ids & flow_ids), dtype=np.uint32)
        self._flows = {f: _Flow() for f in sorted(flow_ids)}
        self._progress = progress
        self.foreign = 0
        self.suspect = 0
        self.static_packets = 0
        self.late = 0

    def add(self, block: BlockPackets) -> None:
        heads = block.headers
        truncated = block.snaplen < fr.HEADER_END
        n_trunc = int(np.count_nonzero(truncated))
        known = self._known(heads.flow_id)
        ours = heads.valid & known
        if n_trunc:
            ours &= ~truncated
            self.suspect += n_trunc
        n_ours = int(np.count_nonzero(ours))
        self.foreign += ours.size - n_trunc - n_ours
        if n_ours == 0:
            return
        static = (heads.flags & fr.FLAG_STATIC) != 0
        flows = heads.flow_id
        # A frame whose static flag disagrees with how its flow was prepared is forged.
        forged = ours & (static != np.isin(flows, self._static_ids))
        n_forged = int(np.count_nonzero(forged))
        if n_forged:
            ours &= ~forged
            n_ours -= n_forged
            self.suspect += n_forged
            if n_ours == 0:
                return
        everything = n_ours == ours.size
        if everything and not bool(static.any()) and _constant(flows) and _constant(heads.worker):
            self._stream(int(flows[0]), int(heads.worker[0]), block, None)
            return
        stamped = ours & ~static
        if bool(stamped.any()):
            keys = (flows.astype(np.uint64) << np.uint64(16)) | heads.worker.astype(np.uint64)
            for key in np.unique(keys[stamped]).tolist():
                mask = stamped & (keys == key)
                self._stream(key >> 16, key & 0xFFFF, block, mask)
        static_ours = ours & static
        if bool(static_ours.any()):
            for flow in np.unique(flows[static_ours]).tolist():
                mask = static_ours & (flows == flow)
                f = self._flows[flow]
                count = int(np.count_nonzero(mask))
                size = int(block.length[mask].sum(dtype=np.int64))
                f.packets += count
                f.bytes += size
                f.seen(block.rx_ns[mask])
                self.static_packets += count
                self._bump(flow, count, size)

    def _known(self, flow_ids: npt.NDArray[np.uint32]) -> npt.NDArray[np.bool_]:
        idx = np.searchsorted(self._ids, flow_ids)
        np.clip(idx, 0, self._ids.size - 1, out=idx)
        known: npt.NDArray[np.bool_] = self._ids[idx] == flow_ids
        return known

    def _stream(
        self, flow: int, worker: int, block: BlockPackets, mask: npt.NDArray[np.bool_] | None
    ) -> None:
        f = self._flows[flow]
        tracker = f.streams.get(worker)
        if tracker is None:
            tracker = f.streams[worker] = SeqTracker()
        heads = block.headers
        seqs = heads.seq if mask is None else heads.seq[mask]
        outcome = tracker.update(seqs)
        self.suspect += outcome.suspect
        accepted = outcome.accepted
        rx_ns = block.rx_ns if mask is None else block.rx_ns[mask]
        tx_ns = heads.tx_ns if mask is None else heads.tx_ns[mask]
        length = block.length if mask is None else block.length[mask]
        if outcome.suspect:
            rx_ns, tx_ns, length = rx_ns[accepted], tx_ns[accepted], length[accepted]
        count = int(rx_ns.size)
        if count == 0:
            return
        size = int(length.sum(dtype=np.int64))
        f.packets += count
        f.bytes += size
        f.seen(rx_ns)
        f.latency.add(rx_ns - tx_ns.astype(np.int64))
        self._bump(flow, count, size)

    def _bump(self, flow: int, count: int, size: int) -> None:
        p = self._progress[flow]
        p.packets += count
        p.bytes += size

    def flow_stats(self) -> dict[int, StreamStats]:
        return {flow: f.stats() for flow, f in self._flows.items()}

    def latency_stats(self) -> dict[int, LatencyStats]:
        return {flow: f.latency.stats() for flow, f in self._flows.items()}

    def late_total(self) -> int:
        return sum(t.late for f in self._flows.values() for t in f.streams.values())


def _constant(values: npt.NDArray[np.integer]) -> bool:
    return bool(values.size == 0 or (values == values[0]).all())
