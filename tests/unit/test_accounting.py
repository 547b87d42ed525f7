from __future__ import annotations

import itertools
import random

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ringlab.agent.rings.accounting import SeqTracker

U64 = 1 << 64


def reference(offsets: list[int]) -> tuple[int, int, int, int]:
    """Per-packet model of the counters: (unique, duplicates, reordered, expected)."""
    seen: set[int] = set()
    highest = -1
    unique = dup = reordered = 0
    for o in offsets:
        if o in seen:
            dup += 1
        else:
            unique += 1
            reordered += o < highest
            seen.add(o)
        highest = max(highest, o)
    return unique, dup, reordered, highest + 1


def feed(tracker: SeqTracker, seqs: list[int], cuts: list[int]) -> None:
    bounds = sorted({0, len(seqs), *[c % (len(seqs) + 1) for c in cuts]})
    for a, b in itertools.pairwise(bounds):
        tracker.update(np.array(seqs[a:b], dtype=np.uint64))


@st.composite
def streams(draw: st.DrawFn) -> list[int]:
    """Offsets 0..n-1 with some lost, some duplicated and local reordering."""
    # A seeded generator, not st.randoms(): each of its thousands of calls would be a
    # Hypothesis draw, past the entropy limit (a failed health check, now and then).
    rnd = random.Random(draw(st.integers(0, 2**32 - 1)))
    n = draw(st.integers(0, 400))
    loss = draw(st.sampled_from([0.0, 0.01, 0.3, 0.9]))
    out = [i for i in range(n) if rnd.random() >= loss]
    for _ in range(draw(st.integers(0, 20))):
        if out:
            out.insert(rnd.randrange(len(out) + 1), rnd.choice(out))
    for _ in range(draw(st.integers(0, 30))):
        if len(out) > 1:
            i = rnd.randrange(len(out) - 1)
            j = min(len(out) - 1, i + rnd.randint(1, 40))
            out[i], out[j] = out[j], out[i]
    return out


@given(streams(), st.integers(0, U64 - 1), st.lists(st.integers(0, 10_000), max_size=8))
def test_counters_match_reference_any_origin_and_batching(
    offsets: list[int], origin: int, cuts: list[int]
) -> None:
    t = SeqTracker(origin=origin)
    feed(t, [(origin + o) % U64 for o in offsets], cuts)
    unique, dup, reordered, expected = reference(offsets)
    assert (t.unique, t.duplicates, t.reordered, t.expected) == (unique, dup, reordered, expected)
    assert t.packets == len(offsets)
    assert t.lost == expected - unique
    assert t.suspect == 0


@given(streams(), st.lists(st.integers(0, 10_000), max_size=5))
def test_lost_is_exact(offsets: list[int], cuts: list[int]) -> None:
    t = SeqTracker()
    feed(t, offsets, cuts)
    assert t.lost == (max(offsets) + 1 - len(set(offsets)) if offsets else 0)


def test_wrap_across_2_64() -> None:
    origin = U64 - 3
    t = SeqTracker(origin=origin)
    t.update(np.array([U64 - 3, U64 - 2, U64 - 1, 0, 2, 1, 1], dtype=np.uint64))
    assert (t.unique, t.duplicates, t.reordered, t.expected, t.lost) == (6, 1, 1, 6, 0)


@given(streams(), st.lists(st.integers(2**40, U64 - 1), min_size=1, max_size=10))
def test_forged_sequence_numbers_are_suspect_and_harmless(
    offsets: list[int], forged: list[int]
) -> None:
    mixed = list(offsets)
    for f in forged:
        mixed.insert(len(mixed) // 2, f)
    t = SeqTracker()
    t.update(np.array(mixed, dtype=np.uint64))
    assert t.suspect == len(forged)
    assert (t.unique, t.duplicates, t.reordered, t.expected) == reference(offsets)


def test_behind_origin_is_suspect() -> None:
    t = SeqTracker(origin=100)
    out = t.update(np.array([100, 99, 101], dtype=np.uint64))
    assert t.suspect == 1 and t.unique == 2
    assert out.accepted.tolist() == [True, False, True]


def test_first_frame_far_ahead_is_suspect() -> None:
    t = SeqTracker(max_jump=1000)
    t.update(np.array([5000, 0, 1], dtype=np.uint64))
    assert (t.suspect, t.unique, t.expected) == (1, 2, 2)


def test_memory_is_bounded_by_the_window() -> None:
    t = SeqTracker(window=64, max_jump=1 << 20)
    for start in range(0, 100_000, 1000):
        t.update(np.arange(start, start + 1000, dtype=np.uint64))
    assert t._bitmap.size == 64
    assert (t.unique, t.expected, t.lost) == (100_000, 100_000, 0)
    # Too old to check for duplication: counted as a late, reordered, unique arrival.
    t.update(np.array([5], dtype=np.uint64))
    assert (t.late, t.reordered, t.unique) == (1, 1, 100_001)
    # Inside the window duplicates are still exact.
    t.update(np.array([99_990], dtype=np.uint64))
    assert t.duplicates == 1


def test_big_jump_slides_window_without_growing() -> None:
    t = SeqTracker(window=128, max_jump=1 << 30)
    t.update(np.array([0, 1, 10_000_000, 2], dtype=np.uint64))
    assert t._bitmap.size == 128
    assert (t.unique, t.expected, t.late) == (4, 10_000_001, 1)


def test_invalid_parameters() -> None:
    with pytest.raises(ValueError, match="positive"):
        SeqTracker(window=0)


def test_add_scalar() -> None:
    t = SeqTracker()
    for s in (0, 2, 1, 1):
        t.add(s)
    assert (t.unique, t.duplicates, t.reordered) == (3, 1, 1)


@st.composite
def local_streams(draw: st.DrawFn) -> list[int]:
    """Long streams whose reordering and duplicates stay within a few dozen frames."""
    # A seeded generator, not st.randoms(): each of its thousands of calls would be a
    # Hypothesis draw, past the entropy limit (a failed health check, now and then).
    rnd = random.Random(draw(st.integers(0, 2**32 - 1)))
    n = draw(st.integers(0, 3000))
    loss = draw(st.sampled_from([0.0, 0.01, 0.3]))
    out = [i for i in range(n) if rnd.random() >= loss]
    for _ in range(draw(st.integers(0, 40))):
        if out:
            i = rnd.randrange(len(out))
            out.insert(min(len(out), i + rnd.randint(0, 20)), out[i])
    for _ in range(draw(st.integers(0, 60))):
        if len(out) > 1:
            i = rnd.randrange(len(out) - 1)
            j = min(len(out) - 1, i + rnd.randint(1, 20))
            out[i], out[j] = out[j], out[i]
    return out


@given(
    local_streams(),
    st.sampled_from([200, 257, 512]),
    st.lists(st.integers(0, 10_000), max_size=12),
)
def test_a_sliding_ring_bitmap_stays_exact(
    offsets: list[int], window: int, cuts: list[int]
) -> None:
    # Streams many windows long: the bitmap wraps around as a ring many times over.
    t = SeqTracker(window=window, max_jump=1 << 20)
    feed(t, offsets, cuts)
    assert t.late == 0
    assert (t.unique, t.duplicates, t.reordered, t.expected) == reference(offsets)
    assert t._bitmap.size <= window
