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
