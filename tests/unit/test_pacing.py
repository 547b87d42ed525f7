from __future__ import annotations

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from ringlab.agent.rings.pacing import NS, Pacer, Refusals, not_sent_report


class FakeClock:
    def __init__(self, now: int = 0) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


def simulate(
    rate: float, duration_ns: int, burst: int, lag_ns: list[int] | None = None
) -> tuple[int, list[tuple[int, int]]]:
    """Drive a pacer the way the engines do; returns (sent, [(time, released)])."""
    clock = FakeClock(1_000)
    start = clock.now
    end = start + duration_ns
    p = Pacer(rate, start, burst, end, clock)
    sent = 0
    log = []
    lags = iter(lag_ns or [])
    while clock.now < end:
        n = p.allowed(sent)
        if n:
            assert n <= burst
            sent += n
            log.append((clock.now, sent))
            clock.now += next(lags, 0)  # time spent sending
        else:
            nxt = p.next_ns(sent)
            assert nxt > clock.now, "next_ns must be in the future when nothing is allowed"
            clock.now = nxt
    return sent, log


@pytest.mark.parametrize("burst", [1, 64, 512, 4096])
def test_100kpps_holds_within_1_percent(burst: int) -> None:
    sent, _ = simulate(100_000, NS, burst)
    assert abs(sent - 100_000) <= 1_000
    assert sent == 100_000  # the last (partial) batch leaves before the end


@settings(deadline=None)
@given(
    rate=st.floats(1, 5e6),
    duration_ms=st.integers(1, 2000),
    burst=st.integers(1, 2048),
)
def test_never_ahead_of_schedule_and_total_exact(rate: float, duration_ms: int, burst: int) -> None:
    duration = duration_ms * 1_000_000
    assume(duration * rate / NS / burst < 5_000)  # keep the simulation short
    sent, log = simulate(rate, duration, burst)
    assert sent == int(duration * rate // NS)
    for t, released in log:
        assert released <= int((t - 1_000) * rate // NS) + burst


@settings(deadline=None)
@given(st.lists(st.integers(0, 1_000_000), min_size=1, max_size=200))
def test_late_sender_catches_up(lags: list[int]) -> None:
    # Up to 1 ms per 256-frame batch: the sender can do 256 kpps, the target is 100 kpps.
    sent, _ = simulate(100_000, NS, 256, lags * 1000)
    # Only a lag during the very last batches can leave frames behind.
    assert 100_000 - (max(lags) * 100_000 // NS + 256) <= sent <= 100_000
    assert sent >= 99_000


def test_batches_are_whole_until_the_last() -> None:
    _, log = simulate(10_000, NS // 10, 300)
    sizes = [b - a for (_, a), (_, b) in zip([(0, 0), *log], log, strict=False)]
    assert sizes == [300, 300, 300, 100]


def test_unlimited_rate() -> None:
    p = Pacer(0, 0, 128, None, FakeClock())
    assert p.allowed(10**9) == 128 and p.unlimited


@pytest.mark.parametrize(("rate", "burst"), [(-1, 10), (float("nan"), 10), (10, 0)])
def test_invalid(rate: float, burst: int) -> None:
    with pytest.raises(ValueError, match=r"rate_pps|burst"):
        Pacer(rate, 0, burst)


def test_default_batch_is_about_a_millisecond_of_traffic() -> None:
    from ringlab.agent.rings.pacing import default_batch

    assert default_batch(0, 512) == 512  # max rate: the engine's batch
    assert default_batch(100_000, 512) == 100
    assert default_batch(2_000_000, 512) == 512
    assert default_batch(1_000, 512) == 8  # never a kick per frame


def test_a_sender_behind_at_the_end_finishes_what_it_owes() -> None:
    from ringlab.agent.rings.pacing import FINISH_GRACE_NS, Pacer

    pacer = Pacer(10_000, start_ns=0, burst=10, end_ns=200_000_000, clock=lambda: 0)
    assert pacer.total == 2000
    end = 200_000_000
    assert not pacer.finished(1999, end - 1)
    # Time is up but 70 frames are still owed: keep going, and they are all allowed now.
    assert not pacer.finished(1930, end)
    assert pacer.allowed(1930, end) == 10
    assert pacer.finished(2000, end)
    # ...but not forever.
    assert pacer.finished(1930, end + FINISH_GRACE_NS)
    unlimited = Pacer(0, start_ns=0, burst=512, end_ns=end)
    assert unlimited.finished(5, end) and not unlimited.finished(5, end - 1)


def test_a_sender_far_behind_skips_what_it_owes_instead_of_bursting() -> None:
    # 50 kpps, 1 ms batches; the sender could not send for 1 s (link down), then resumes.
    pacer = Pacer(50_000, start_ns=0, burst=50, end_ns=3 * NS)
    sent = 0
    now = 0
    while now < NS // 2:  # half a second of normal sending
        sent += pacer.allowed(sent, now)
        now += 1_000_000
    assert pacer.skipped == 0
    behind_since = now
    now += NS  # nothing went out for a second
    burst = pacer.allowed(sent, now)
    assert burst == 50  # one batch, not the 50,000 owed
    assert pacer.skipped == pytest.approx(50_000, abs=100)
    assert pacer.skips == [(now, pacer.skipped)]
    sent += burst
    # Afterwards the schedule holds from where it is: the run still ends with
    # sent + skipped == rate x duration, never more.
    while not pacer.finished(sent, now):
        sent += pacer.allowed(sent, now)
        now += 1_000_000
    assert sent + pacer.skipped == 150_000
    assert behind_since < now


def test_a_short_hiccup_is_caught_up_without_skipping() -> None:
    pacer = Pacer(20_000, start_ns=0, burst=20, end_ns=NS)
    sent = pacer.allowed(0, 0)
    late = 40 * 1_000_000  # 40 ms descheduled: under CATCH_UP_NS
    while n := pacer.allowed(sent, late):
        sent += n
    assert pacer.skipped == 0
    assert sent >= 20 * 40


def test_every_engine_reports_what_the_schedule_released_but_never_went_out() -> None:
    pacer = Pacer(1_000, start_ns=0, burst=10, end_ns=NS)  # 1,000 frames in all
    assert not_sent_report(pacer, sent=1_000, rejected=0, interface="eth1") == ({}, {})
    extra, info = not_sent_report(pacer, sent=900, rejected=40, interface="eth1")
    assert extra == {"not_sent": 60, "given_up": 0, "refused_ns": 0, "refusals": 0}
    assert info["not_sent"].startswith("60 frames of the schedule were not sent")
    extra, info = not_sent_report(
        pacer,
        sent=500,
        rejected=0,
        interface="eth1",
        refusals=Refusals(2 * NS, 1, "Network is down"),
    )
    assert extra["not_sent"] == 500 and extra["refusals"] == 1
    assert (
        "refused to send on eth1 for 2.000 s" in info["not_sent"]
        and "Network is down" in info["not_sent"]
    )
    unlimited = Pacer(0, start_ns=0, burst=10, end_ns=NS)  # max rate: no schedule to owe
    assert not_sent_report(unlimited, sent=5, rejected=0, interface="eth1") == ({}, {})
