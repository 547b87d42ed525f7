"""A clock as the agent reads it: a function returning nanoseconds (time.monotonic_ns,
time.time_ns). Sessions, holds and pacing take one so tests can pass a fake."""

from __future__ import annotations

from collections.abc import Callable

Clock = Callable[[], int]
