"""Rate control at batch granularity from a monotonic clock.

The schedule is absolute and releases each batch at the start of its slot: by time
t the sender may have sent floor((t - start) * rate) + burst frames, and over the
whole run floor(duration * rate). Frames are released a batch (`burst`) at a time:
nothing until a whole batch is free (or the rest of the run, if that is smaller), so
a paced sender makes one kick per batch. A sender that falls behind catches up in
bursts of at most `burst` frames and never runs ahead of the schedule, so the total
over the run holds the rate and the last batch leaves before the end.

Catching up is bounded: a sender more than CATCH_UP_NS of traffic (and two batches)
behind its schedule skips what it owes beyond one batch (a link outage, a frozen host). Those frames are `skipped`,
counted and reported as not sent, never sent late: after a link outage of a second
the sender used to emit every owed frame at once, 12-23x the target rate, which is a
burst no paced test asked for and which can overflow the receiver.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from ringlab.clock import Clock

NS = 1_000_000_000
# A paced flow releases about this much traffic per batch: bursts stay short (smooth
# rate, low queueing latency) while kicks stay few.
PACED_BATCH_NS = 1_000_000
MIN_PACED_BATCH = 8
# A paced sender that fell behind near the end may overrun its window this long to
# send the frames its schedule still owes.
FINISH_GRACE_NS = 100_000_000
# The most a paced sender may be behind its schedule and still catch up: enough for a
# descheduled sender on a busy host (a few ms, now and then tens), while a catch-up burst
# stays under half of a 100 ms stats interval, so no interval exceeds 1.5x the rate.
CATCH_UP_NS = 50_000_000


def default_batch(rate_pps: float, most: int) -> int:
    """Frames per batch when the scenario leaves it open: `most` at max rate, else ~1 ms."""
    if rate_pps <= 0:
        return most
    return max(MIN_PACED_BATCH, min(most, round(rate_pps * PACED_BATCH_NS / NS)))


class Pacer:
    def __init__(
        self,
        rate_pps: float,
        start_ns: int,
        burst: int,
        end_ns: int | None = None,
        clock: Clock = time.monotonic_ns,
    ) -> None:
        if rate_pps < 0 or not math.isfinite(rate_pps):
            raise ValueError(
                f"rate_pps {rate_pps} is invalid: use 0 for max rate or a positive rate"
            )
        if burst < 1:
            raise ValueError(f"burst {burst} must be at least 1")
        self.rate_pps = rate_pps
        self.start_ns = start_ns
        self.end_ns = end_ns
        self.burst = burst
        self.clock = clock
        self.total = None if end_ns is None or rate_pps == 0 else self.due(end_ns)
        # Frames the schedule released that were given up (the sender was too far behind).
        self.skipped = 0
        # (monotonic ns, frames) of every give-up, for the outage report.
        self.skips: list[tuple[int, int]] = []
        self.max_lag = max(2 * burst, int(rate_pps * CATCH_UP_NS // NS))

    @property
    def unlimited(self) -> bool:
        return self.rate_pps == 0

    def due(self, now_ns: int) -> int:
        """Frames the schedule allows in total by now_ns."""
        if now_ns <= self.start_ns:
            return 0
        if self.end_ns is not None:
            now_ns = min(now_ns, self.end_ns)
        return int((now_ns - self.start_ns) * self.rate_pps // NS)

    def _step(self, sent: int) -> int:
        """Size of the next release: a batch, or what is left of the run."""
        if self.total is None:
            return self.burst
        return max(1, min(self.burst, self.total - sent - self.skipped))

    def released(self, now_ns: int) -> int:
        """Frames the schedule has released in total by now_ns."""
        if now_ns < self.start_ns:
            return 0
        out = self.due(now_ns) + self.burst
        return out if self.total is None else min(out, self.total)

    def allowed(self, sent: int, now_ns: int | None = None) -> int:
        """How many frames to send now (0 or up to burst), given `sent` so far."""
        if self.unlimited:
            return self.burst
        now = self.clock() if now_ns is None else now_ns
        ready = self.released(now) - sent - self.skipped
        if ready > self.max_lag + self.burst:
            give_up = ready - self.burst
            self.skipped += give_up
            self.skips.append((now, give_up))
            ready = self.burst
        if ready < self._step(sent):
            return 0
        return min(self.burst, ready)

    def finished(self, sent: int, now_ns: int) -> bool:
        """The run is over: its time is up and, when paced, the schedule's frames are out.

        A sender that fell behind near the end (descheduled for a few ms) finishes what
        it owes within FINISH_GRACE_NS instead of dropping it.
        """
        if self.end_ns is None or now_ns < self.end_ns:
            return False
        if self.total is None:
            return True
        return sent + self.skipped >= self.total or now_ns >= self.end_ns + FINISH_GRACE_NS

    def next_ns(self, sent: int) -> int:
        """Monotonic time at which the next release is due."""
        if self.unlimited:
            return self.start_ns
        if self.total is not None and self.end_ns is not None and sent + self.skipped >= self.total:
            return self.end_ns  # the run's frames are all out
        frames = sent + self.skipped + self._step(sent) - self.burst
        if frames <= 0:
            return self.start_ns
        at = self.start_ns + math.ceil(frames * NS / self.rate_pps)
        while self.due(at) < frames and (self.end_ns is None or at < self.end_ns):
            at += 1  # float rounding in the ceil above
        return at


def sleep_until(deadline_ns: int, clock: Clock = time.monotonic_ns) -> None:
    """Sleep until deadline_ns; the last stretch is a short sleep to limit oversleep."""
    while True:
        left = deadline_ns - clock()
        if left <= 0:
            return
        # time.sleep overshoots by ~50-100 µs; leave that to a final short sleep.
        time.sleep((left - 200_000) / NS if left > 400_000 else left / NS)


@dataclass
class Refusals:
    """Spans when the kernel refused a sender's whole ring (link down): an outage."""

    total_ns: int = 0
    count: int = 0
    error: str = ""


def not_sent_report(
    pacer: Pacer, sent: int, rejected: int, interface: str, refusals: Refusals | None = None
) -> tuple[dict[str, int], dict[str, str]]:
    """TxResult extra/info for the frames a paced schedule released that never went out:
    given up behind schedule, or still waiting at the end. Every engine reports them, so a
    frame is sent, rejected (send_errors) or not sent, never just missing."""
    refused = refusals or Refusals()
    not_sent = max(0, pacer.total - sent - rejected) if pacer.total else 0
    if not not_sent and not refused.count:
        return {}, {}
    extra = {
        "not_sent": not_sent,
        "given_up": pacer.skipped,
        "refused_ns": refused.total_ns,
        "refusals": refused.count,
    }
    text = (
        f"{not_sent:,} frames of the schedule were not sent (given up more than "
        f"{CATCH_UP_NS // 1_000_000} ms behind schedule rather than sent late, or still "
        "waiting at the end)"
    )
    if refused.total_ns:
        text += (
            f"; the kernel refused to send on {interface} for {refused.total_ns / 1e9:.3f} s "
            f"in all ({refused.error or 'no reason given'}: the link was down?)"
        )
    return extra, {"not_sent": text}
