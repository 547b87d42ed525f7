"""Receive ring geometry that agent and controller must agree on.

The agent applies these; the controller checks scenarios against them so a bad value
fails at load time, with the file and line, instead of at Prepare. Imports nothing, so
both sides can use it (the agent never imports the controller).
"""

from __future__ import annotations

# The receive ring when a flow leaves it open: 32 blocks of 1 MiB (TPACKET_V3).
# Per-block Python work is fixed, so blocks must hold many frames (64 x 256 KiB of whole
# 1500-byte frames dropped at 0.9 Mpps; 32 x 1 MiB did not).
DEFAULT_RX_BLOCK_SIZE = 1 << 20
DEFAULT_RX_BLOCKS = 32
MAX_RX_BLOCK_SIZE = 64 << 20
MAX_RX_BLOCKS = 4096
# All rings (TX and RX) of one session on one agent.
MAX_SESSION_RING_BYTES = 1 << 30

# Drivers with no AF_XDP zero-copy (XDP_ZEROCOPY gets EOPNOTSUPP): virtual interfaces.
# The agent refuses xdp_mode zerocopy on them at Prepare; preflight says so first.
NO_XSK_ZEROCOPY_DRIVERS = frozenset(
    {"veth", "tun", "dummy", "bridge", "macvlan", "ipvlan", "vxlan", "geneve", "bonding"}
)
