"""The xdp engine's errors, all OSErrors so that callers' data-plane error paths take them.

- `QueueBusy` (EBUSY): another AF_XDP socket owns the interface queue; `interface`,
  `queue`, `owners` (who holds it, as far as this host can tell) and `role` (ours).
- `ZeroCopyUnsupported` (EOPNOTSUPP): xdp_mode zerocopy where the driver has none.
- `XdpProgramError` (the kernel's errno): the receive program could not be loaded or
  attached, or another program is on the interface.

The first two carry fields and pickle with them: senders open in worker processes and
their errors cross a pipe.
"""

from __future__ import annotations

import errno


class QueueBusy(OSError):
    """EBUSY from bind: another AF_XDP socket owns the interface queue."""

    def __init__(self, interface: str, queue: int, owners_text: str, role: str) -> None:
        self.interface = interface
        self.queue = queue
        self.owners = owners_text
        self.role = role
        message = (
            f"{role}: interface {interface} queue {queue} is busy (EBUSY): another AF_XDP"
            f" socket owns it ({owners_text}). One socket per queue, as with zero-copy"
            " applications: send and receive through one socket (xdp_share), give each"
            " socket its own queue (xdp_queue), or run the directions time-sliced"
        )
        super().__init__(errno.EBUSY, message)

    def __reduce__(self) -> tuple[type[QueueBusy], tuple[str, int, str, str]]:
        # Pickled across the sender's process boundary with its fields.
        return (QueueBusy, (self.interface, self.queue, self.owners, self.role))


class ZeroCopyUnsupported(OSError):
    """xdp_mode zerocopy on an interface whose driver has no AF_XDP zero-copy."""

    def __init__(self, interface: str, queue: int, reason: str, role: str) -> None:
        self.interface = interface
        self.queue = queue
        self.reason = reason
        self.role = role
        super().__init__(
            errno.EOPNOTSUPP,
            f"{role}: interface {interface} queue {queue} has no AF_XDP zero-copy ({reason});"
            " use xdp_mode auto or copy (veth and most virtual interfaces have none)",
        )

    def __reduce__(self) -> tuple[type[ZeroCopyUnsupported], tuple[str, int, str, str]]:
        return (ZeroCopyUnsupported, (self.interface, self.queue, self.reason, self.role))


class XdpProgramError(OSError):
    """The receive program could not be loaded or attached; the message says why."""
