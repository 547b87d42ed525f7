"""Bounded one-way latency statistics: exact min/max/mean, percentiles from a reservoir.

The reservoir is Vitter's algorithm R applied a batch at a time: every sample seen
has the same chance to be kept, so percentiles are unbiased estimates while memory
stays at `capacity` samples whatever the run length.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from ringlab.agent.rings.api import LatencyStats

DEFAULT_CAPACITY = 1 << 14


class LatencyReservoir:
    def __init__(self, capacity: int = DEFAULT_CAPACITY, seed: int | None = None) -> None:
        if capacity < 1:
            raise ValueError("capacity must be positive")
        self._sample = np.empty(capacity, dtype=np.int64)
        self._rng = np.random.default_rng(seed)
        self.count = 0
        self._sum = 0
        self._min = 0
        self._max = 0

    def add(self, values_ns: npt.NDArray[np.int64]) -> None:
        m = int(values_ns.size)
        if m == 0:
            return
        lo, hi = int(values_ns.min()), int(values_ns.max())
        self._min = lo if self.count == 0 else min(self._min, lo)
        self._max = hi if self.count == 0 else max(self._max, hi)
        self._sum += int(values_ns.sum(dtype=np.int64))
        cap = self._sample.size
        if self.count < cap:
            k = min(cap - self.count, m)
            self._sample[self.count : self.count + k] = values_ns[:k]
            self.count += k
            values_ns = values_ns[k:]
        rest = int(values_ns.size)
        if rest:
            # Sample i (0-based, overall) replaces a random slot with probability cap/(i+1).
            seen = np.arange(self.count + 1, self.count + rest + 1, dtype=np.int64)
            slot = self._rng.integers(0, seen)
            keep = slot < cap
            self._sample[slot[keep]] = values_ns[keep]
            self.count += rest

    def stats(self) -> LatencyStats:
        if self.count == 0:
            return LatencyStats()
        kept = self._sample[: min(self.count, self._sample.size)]
        p50, p99 = np.percentile(kept, [50, 99])
        return LatencyStats(
            samples=self.count,
            min_us=self._min / 1000,
            p50_us=float(p50) / 1000,
            p99_us=float(p99) / 1000,
            max_us=self._max / 1000,
            mean_us=self._sum / self.count / 1000,
        )
