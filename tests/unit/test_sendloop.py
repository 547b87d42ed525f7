"""How a sender meets refusals (agent/rings/sendloop.py): per-frame drop accounting and
the give-up bound, the outage span. Pure: no sockets; times are passed in."""

from __future__ import annotations

import errno

from ringlab.agent.rings.sendloop import GIVE_UP_NS, GIVE_UP_TRIES, Outage, QdiscDrops

ENOBUFS = OSError(errno.ENOBUFS, "No buffer space available")


def test_a_frame_dropped_on_every_try_is_given_up_only_after_tries_and_time() -> None:
    drops = QdiscDrops()
    # Many quick tries are not enough: a full tbf queue can refuse a burst of tries.
    for i in range(GIVE_UP_TRIES * 3):
        assert not drops.dropped(7, ENOBUFS, now_ns=i * 1000)
    # Enough time with enough tries: give it up.
    assert drops.dropped(7, ENOBUFS, now_ns=GIVE_UP_NS)
    drops.gave_up()
    assert (drops.tries, drops.frames, drops.given_up) == (GIVE_UP_TRIES * 3 + 1, 1, 1)
    assert not drops.pending


def test_long_spaced_tries_are_not_enough_without_the_tries() -> None:
    drops = QdiscDrops()
    for i in range(GIVE_UP_TRIES - 1):
        assert not drops.dropped(3, ENOBUFS, now_ns=i * GIVE_UP_NS)


def test_each_frame_counts_once_however_often_it_is_retried() -> None:
    drops = QdiscDrops()
    for frame in (10, 10, 10, 11, 12, 12):
        drops.dropped(frame, ENOBUFS, now_ns=0)
    drops.passed()
    assert (drops.tries, drops.frames, drops.given_up) == (6, 3, 0)
    assert drops.extra() == {"qdisc_drops": 6, "qdisc_dropped_frames": 3, "qdisc_given_up": 0}
    assert "3 frames on eth9" in drops.info("eth9")["qdisc_drops"]
    assert "given up" not in drops.info("eth9")["qdisc_drops"]


def test_no_drops_report_nothing() -> None:
    assert QdiscDrops().extra() == {} and QdiscDrops().info("eth0") == {}


def test_an_outage_is_one_refusal_however_many_retries() -> None:
    outage = Outage()
    down = OSError(errno.ENETDOWN, "Network is down")
    for _ in range(5):
        outage.refused(down)
    assert outage.active
    outage.accepted()
    refusals = outage.finish()
    assert not outage.active
    assert refusals.count == 1 and refusals.total_ns >= 0 and refusals.error == "Network is down"
