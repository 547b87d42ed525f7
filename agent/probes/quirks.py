"""Kernel quirks that change how AF_PACKET tests behave, from the release string and sysctls.

Pure functions; each Quirk's message says what happens and how to fix it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from ringlab.probe_model import Quirk

# sysctl names as ProbeReport.sysctls keys.
WMEM_MAX = "net.core.wmem_max"
RMEM_MAX = "net.core.rmem_max"


def parse_kernel_version(release: str) -> tuple[int, int, int]:
    """'6.18.44-fc-v669' -> (6, 18, 44); '3.10.0-957.el7.x86_64' -> (3, 10, 0)."""
    m = re.match(r"^(\d+)\.(\d+)(?:\.(\d+))?", release.strip())
    if not m:
        raise ValueError(f"kernel release {release!r} does not start with MAJOR.MINOR")
    return int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)


def kernel_quirks(release: str) -> list[Quirk]:
    try:
        version = parse_kernel_version(release)
    except ValueError:
        return [
            Quirk(
                "kernel_version_unknown",
                "warning",
                f"kernel release {release!r} could not be parsed; version-dependent checks "
                f"(TPACKET_V3, qdisc bypass, MSG_DONTWAIT on TX rings) were skipped.",
            )
        ]
    shown = ".".join(map(str, version))
    out: list[Quirk] = []
    if version < (3, 2):
        out.append(
            Quirk(
                "tpacket_v3_missing",
                "error",
                f"kernel {shown} has no TPACKET_V3 (added in 3.2): the ring receiver cannot run. "
                f"Fix: run the agent on a 3.2+ kernel.",
            )
        )
    if version < (3, 14):
        out.append(
            Quirk(
                "qdisc_bypass_missing",
                "warning",
                f"kernel {shown} has no PACKET_QDISC_BYPASS (added in 3.14): frames go through "
                f"the qdisc, which costs rate and adds its own queueing. Fix: use a 3.14+ kernel, "
                f"or accept qdisc-path numbers (set qdisc_bypass: false to make that explicit).",
            )
        )
    if version < (4, 1):
        out.append(
            Quirk(
                "tx_ring_dontwait_ignored",
                "warning",
                f"kernel {shown} ignores MSG_DONTWAIT on TX_RING sends (fixed in 4.1): every "
                f"send() blocks until all pending frames are out, holding the ring meanwhile. "
                f"Fix: use a 4.1+ kernel, or the sendto engine, and expect lower TX rates.",
            )
        )
    return out


def socket_buffer_quirks(
    sysctls: Mapping[str, int], requested_sndbuf: int = 0, requested_rcvbuf: int = 0
) -> list[Quirk]:
    """Compare requested socket buffer sizes (bytes) with net.core.{w,r}mem_max.

    SO_SNDBUF/SO_RCVBUF are silently capped at these maxima; a TX ring whose
    in-flight frames exceed SO_SNDBUF stalls, a small receive buffer drops.
    """
    out: list[Quirk] = []
    for requested, key, what in (
        (requested_sndbuf, WMEM_MAX, "send"),
        (requested_rcvbuf, RMEM_MAX, "receive"),
    ):
        limit = sysctls.get(key)
        if requested <= 0 or limit is None or requested <= limit:
            continue
        out.append(
            Quirk(
                f"{key.rsplit('.', 1)[1]}_too_small",
                "warning",
                f"{key} is {limit} bytes but the ring needs a {what} buffer of {requested}: the "
                f"kernel caps the socket buffer silently, so fewer frames can be in flight. Fix: "
                f"`sysctl -w {key}={requested}` (and put it back afterwards), or run as root so "
                f"SO_{'SND' if what == 'send' else 'RCV'}BUFFORCE can exceed the limit.",
            )
        )
    return out
