"""Per-stream sequence accounting, one batch of sequence numbers at a time.

A stream is one (flow id, sender worker); its sequence numbers start at `origin`
(0 for ringlab senders) and count up modulo 2**64. Every sequence number is turned
into an offset from the origin (wrapping uint64 arithmetic), so a stream that
crosses 2**64 is accounted like any other.

Counters:
- unique: distinct offsets seen; duplicates: offsets seen again (exact, from a bitmap)
- reordered: arrived below the highest offset seen before it and not a duplicate
- expected: highest offset + 1, so lost = expected - unique
- suspect: offsets behind the origin (>= 2**63 after wrapping) or more than
  `max_jump` above the highest accepted offset; they change nothing else, so a
  forged sequence number cannot blow up memory or the expected count.

Memory is bounded: the bitmap covers at most `window` offsets below the highest
one. Anything older arrives "late": counted unique and reordered (it cannot be
checked for duplication any more) and in `late`. Once full size the bitmap is a
ring (offset modulo `window`): sliding it forward clears only the slots that leave,
so a long stream costs the same per batch as a short one (moving the whole 16 MiB
bitmap per batch made the receiver drop frames past 2**24 frames).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

DEFAULT_MAX_JUMP = 1 << 24
DEFAULT_WINDOW = 1 << 24
_HALF = np.uint64(1 << 63)


@dataclass(frozen=True)
class BatchOutcome:
    """What one update did; `accepted` masks the input (False: suspect)."""

    accepted: npt.NDArray[np.bool_]
    unique: int
    duplicates: int
    reordered: int
    suspect: int


class SeqTracker:
    """Exact loss/duplicate/reorder accounting for one stream."""

    def __init__(
        self,
        origin: int = 0,
        *,
        max_jump: int = DEFAULT_MAX_JUMP,
        window: int = DEFAULT_WINDOW,
    ) -> None:
        if window < 1 or max_jump < 1:
            raise ValueError("window and max_jump must be positive")
        self._origin = np.uint64(origin % (1 << 64))
        self._max_jump = max_jump
        self._window = window
        self._highest = -1  # highest accepted offset
        self._base = 0  # offset of bitmap[0]
        self._bitmap = np.zeros(min(window, 1 << 12), dtype=np.bool_)
        self.packets = 0
        self.unique = 0
        self.duplicates = 0
        self.reordered = 0
        self.suspect = 0
        self.late = 0

    @property
    def expected(self) -> int:
        return self._highest + 1

    @property
    def lost(self) -> int:
        return self.expected - self.unique

    def add(self, seq: int) -> BatchOutcome:
        return self.update(np.array([seq % (1 << 64)], dtype=np.uint64))

    def update(self, seqs: npt.NDArray[np.uint64]) -> BatchOutcome:
        """Account one batch of sequence numbers, in arrival order."""
        if seqs.size == 0:
            empty = np.zeros(0, dtype=np.bool_)
            return BatchOutcome(empty, 0, 0, 0, 0)
        raw = seqs.astype(np.uint64, copy=False) - self._origin  # wraps mod 2**64
        limit = self._highest + self._max_jump
        accepted = (raw < _HALF) & (raw <= np.uint64(limit))
        suspect = int(raw.size - np.count_nonzero(accepted))
        offs = raw[accepted].astype(np.int64) if suspect else raw.astype(np.int64)
        if offs.size == 0:
            self.suspect += suspect
            return BatchOutcome(accepted, 0, 0, 0, suspect)

        top = max(self._highest, int(offs.max()))
        slid_base = max(self._base, top + 1 - self._window)
        # Sliding the window for the batch's top would push some of the batch's own
        # frames out of it before they are accounted; take the batch in halves.
        if (
            offs.size > 1
            and slid_base > self._base
            and bool(np.any((offs >= self._base) & (offs < slid_base)))
        ):
            mid = raw.size // 2
            return _merge(self.update(seqs[:mid]), self.update(seqs[mid:]))

        running = np.maximum.accumulate(offs)
        before = np.empty_like(offs)
        before[0] = self._highest
        np.maximum(running[:-1], self._highest, out=before[1:])
        new_highest = int(running[-1])
        if new_highest > self._highest:
            self._cover(new_highest)
            self._highest = new_highest

        late_mask = offs < self._base
        n_late = int(np.count_nonzero(late_mask))
        kept = offs[~late_mask] if n_late else offs
        # While the bitmap is smaller than the window every offset is below its size,
        # so offset % size is the offset itself; at full size this is the ring slot.
        slots = kept % self._bitmap.size
        seen = self._bitmap[slots]
        if kept.size > 1 and not bool(np.all(kept[1:] > kept[:-1])):
            # Some offset repeats inside the batch: only its first arrival can be new.
            _, first = np.unique(kept, return_index=True)
            repeat = np.ones(kept.size, dtype=np.bool_)
            repeat[first] = False
            seen = seen | repeat
        self._bitmap[slots] = True

        dup = np.zeros(offs.size, dtype=np.bool_)
        if n_late:
            dup[~late_mask] = seen
        else:
            dup = seen
        n_dup = int(np.count_nonzero(dup))
        n_reordered = int(np.count_nonzero((offs < before) & ~dup))
        n_unique = offs.size - n_dup

        self.packets += offs.size
        self.unique += n_unique
        self.duplicates += n_dup
        self.reordered += n_reordered
        self.suspect += suspect
        self.late += n_late
        return BatchOutcome(accepted, n_unique, n_dup, n_reordered, suspect)

    def _cover(self, highest: int) -> None:
        """Make the bitmap reach `highest`, sliding it forward past `window` entries."""
        need = highest - self._base + 1
        if need <= self._bitmap.size:
            return
        if self._bitmap.size < self._window:
            # Still growing: base is 0 and slots are offsets, so a copy keeps them.
            size = self._bitmap.size
            while size < need and size < self._window:
                size *= 2
            grown = np.zeros(min(size, self._window), dtype=np.bool_)
            grown[: self._bitmap.size] = self._bitmap
            self._bitmap = grown
            if need <= self._bitmap.size:
                return
        window = self._window
        new_base = highest + 1 - window
        if new_base - self._base >= window:
            self._bitmap[:] = False
        else:
            # Clear the slots of the offsets leaving the window: [base, new_base).
            start, end = self._base % window, new_base % window
            if start <= end:
                self._bitmap[start:end] = False
            else:
                self._bitmap[start:] = False
                self._bitmap[:end] = False
        self._base = new_base


def _merge(a: BatchOutcome, b: BatchOutcome) -> BatchOutcome:
    return BatchOutcome(
        accepted=np.concatenate([a.accepted, b.accepted]),
        unique=a.unique + b.unique,
        duplicates=a.duplicates + b.duplicates,
        reordered=a.reordered + b.reordered,
        suspect=a.suspect + b.suspect,
    )
