"""Session timing that agent and controller must agree on.

The agent enforces these; the controller checks scenarios against them so a bad
`lease:` or `drain:` fails at load time with the file and line, not at Prepare or
Start. Imports nothing, so both sides can use it.
"""

from __future__ import annotations

# Traffic stops by itself this long after the controller's last RenewLease.
MIN_LEASE_MS = 200
MAX_LEASE_MS = 600_000
# How long receivers keep counting after the senders stop, for frames still in flight.
MAX_DRAIN_NS = 60 * 10**9
# How long one phase may send: the controller's scenario limit too (a day).
MAX_DURATION_NS = 24 * 3600 * 10**9
# A Start's start_at_wall_ns must lie within this window around the agent's clock: a
# start far ahead or far behind is a clock (or a unit) gone wrong, not a schedule. The
# controller schedules starts a fraction of a second ahead, corrected by each agent's
# measured clock offset.
MAX_START_AHEAD_NS = 600 * 10**9
MAX_START_BEHIND_NS = 60 * 10**9
# Session ids name threads and audit lines: short, and characters a shell and a log keep.
MAX_SESSION_ID_LEN = 128
SESSION_ID_CHARS = "A-Z a-z 0-9 . _ - : @ + ="
# Stop returns once the session's workers have stopped (a sender drains its ring for up
# to 1 s), or answers DEADLINE_EXCEEDED after this long; a controller waits 3 s for it.
STOP_WAIT_NS = 2_500_000_000
