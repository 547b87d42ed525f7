"""The receive program on an interface: one per interface, shared by this process's sockets.

An interface runs one XDP program, so every receiving socket of this process on one
interface (one per queue) shares one attachment: one XSKMAP, one program, one
attachment, each socket in the map slot of its queue. The last socket to leave
detaches it.

Attach, in order of preference:
1. a bpf link (BPF_LINK_CREATE, attach type BPF_XDP, kernel >= 5.9): the program is
   detached when the link's last fd closes, so an agent killed with SIGKILL leaves no
   program behind;
2. netlink IFLA_XDP (older kernels): stays attached if the process dies (the map slot
   empties with the socket, so frames then simply pass to the stack); detach with
   `ip link set dev IF xdp off`.
Within each, native (driver) mode first when `native` is asked, generic (skb) mode
where the driver refuses it; `generic` asks for generic only. What was used is kept in
`mode` ("native"/"generic"), `via` ("link"/"netlink") and `note` (why native was not).

Another XDP program already on the interface (not ours) is not replaced: the error
names it, since taking over would silently break whoever put it there.
"""

from __future__ import annotations

import errno
import os
import threading

from ringlab.agent.rings.xdp import bpf
from ringlab.agent.rings.xdp import program as prog
from ringlab.agent.rings.xdp.errors import XdpProgramError
from ringlab.agent.rings.xdp.netlink import (
    XDP_ATTACHED_NONE,
    XDP_FLAGS_DRV_MODE,
    XDP_FLAGS_REPLACE,
    XDP_FLAGS_SKB_MODE,
    XDP_FLAGS_UPDATE_IF_NOEXIST,
    RtNetlink,
)
from ringlab.engines import XdpAttach

MAP_NAME = "ringlab_xsks"
_MODE_FLAGS = {"native": XDP_FLAGS_DRV_MODE, "generic": XDP_FLAGS_SKB_MODE}
# These say the interface is taken or we may not: no other mode or path will do better.
_FINAL = (errno.EBUSY, errno.EEXIST, errno.EPERM, errno.EACCES)


class Attachment:
    """The program, its XSKMAP and the attachment on one interface."""

    def __init__(
        self, interface: str, ifindex: int, queues: int, mode: XdpAttach, role: str
    ) -> None:
        if mode not in _MODE_FLAGS:
            raise ValueError(f"xdp_attach {mode!r} is not one of native, generic")
        self.interface = interface
        self.ifindex = ifindex
        self.users = 0
        self.note = ""
        self.stamped = True
        self._link_fd: int | None = None
        self._prog_fd: int | None = None
        self._nl_flags: int | None = None  # set when attached through netlink
        self.map_fd: int | None = None
        self._nl = RtNetlink()  # keeps this namespace for the detach
        try:
            self._refuse_foreign(role)
            self.entries = max(queues, 1)
            self.map_fd = bpf.create_xskmap(self.entries, MAP_NAME)
            self._load(self.map_fd)
            self.mode, self.via = self._attach(mode, role)
        except BaseException:
            self._close_fds()
            raise

    def _refuse_foreign(self, role: str) -> None:
        link = self._nl.link_xdp(self.ifindex)
        if link.attached == XDP_ATTACHED_NONE:
            return
        names = {p.id: p.name for p in bpf.programs()}
        name = names.get(link.prog_id, "?")
        whose = " (another ringlab process's)" if name == prog.NAME else ""
        raise XdpProgramError(
            errno.EBUSY,
            f"{role}: interface {self.interface} already has an XDP program ({link.mode},"
            f" id {link.prog_id}, {name!r}){whose} that this process did not attach: one"
            f" program per interface; detach it (`ip link set dev {self.interface} xdp off`)"
            " if it is stale, or receive with the ring engine",
        )

    def _load(self, map_fd: int) -> None:
        try:
            self._prog_fd = bpf.load_program(prog.redirect_program(map_fd), prog.NAME, prog.LICENSE)
        except OSError as stamped_error:
            # A kernel whose verifier refuses the metadata stamp: redirect without it.
            try:
                self._prog_fd = bpf.load_program(
                    prog.redirect_program(map_fd, stamp=False), prog.NAME, prog.LICENSE
                )
            except OSError as e:
                raise XdpProgramError(
                    e.errno, f"cannot load the receive program: {e.strerror}"
                ) from stamped_error
            self.stamped = False

    def _attach(self, mode: XdpAttach, role: str) -> tuple[str, str]:
        assert self._prog_fd is not None
        tries: list[XdpAttach] = ["native", "generic"] if mode == "native" else ["generic"]
        refused: list[str] = []
        for via in ("link", "netlink"):
            for attempt in tries:
                try:
                    if via == "link":
                        self._link_fd = bpf.link_create_xdp(
                            self._prog_fd, self.ifindex, _MODE_FLAGS[attempt]
                        )
                    else:
                        self._nl.set_xdp(
                            self.ifindex,
                            self._prog_fd,
                            XDP_FLAGS_UPDATE_IF_NOEXIST | _MODE_FLAGS[attempt],
                        )
                        self._nl_flags = _MODE_FLAGS[attempt]
                except OSError as e:
                    refused.append(f"{attempt} via {via}: {e.strerror}")
                    if e.errno in _FINAL:
                        break
                    continue
                if attempt != mode:
                    self.note = f"native refused ({refused[0].split(': ', 1)[1]}): generic"
                return attempt, via
        raise XdpProgramError(
            errno.EOPNOTSUPP,
            f"{role}: cannot attach the receive program to {self.interface}: {'; '.join(refused)}",
        )

    def insert(self, queue: int, xsk_fd: int) -> None:
        if queue >= self.entries:
            raise XdpProgramError(
                errno.EINVAL,
                f"queue {queue} is beyond the {self.entries} queues of {self.interface}",
            )
        assert self.map_fd is not None
        bpf.map_update_u32(self.map_fd, queue, xsk_fd)

    def remove(self, queue: int) -> None:
        if self.map_fd is None:
            return
        try:
            bpf.map_delete_u32(self.map_fd, queue)
        except OSError as e:
            if e.errno != errno.ENOENT:
                raise

    def detach(self) -> None:
        if self._link_fd is not None:
            os.close(self._link_fd)  # the kernel detaches the program with the link
            self._link_fd = None
        elif self._prog_fd is not None and self._nl_flags is not None:
            try:
                # Only if it is still ours (kernel >= 5.7 checks the expected program).
                self._nl.set_xdp(
                    self.ifindex, -1, self._nl_flags | XDP_FLAGS_REPLACE, self._prog_fd
                )
            except OSError:
                self._nl.set_xdp(self.ifindex, -1, self._nl_flags)
            self._nl_flags = None
        self._close_fds()

    def _close_fds(self) -> None:
        for name in ("_link_fd", "_prog_fd", "map_fd"):
            fd = getattr(self, name, None)
            if fd is not None:
                os.close(fd)
                setattr(self, name, None)
        self._nl.close()


_lock = threading.Lock()
_attached: dict[tuple[int, int], Attachment] = {}


def acquire(
    netns: int, interface: str, ifindex: int, queues: int, mode: XdpAttach, role: str
) -> Attachment:
    """The interface's attachment, made on first use (call on a thread in its namespace)."""
    with _lock:
        key = (netns, ifindex)
        found = _attached.get(key)
        if found is None:
            found = _attached[key] = Attachment(interface, ifindex, queues, mode, role)
        found.users += 1
        return found


def release(netns: int, attachment: Attachment) -> None:
    with _lock:
        attachment.users -= 1
        if attachment.users > 0:
            return
        _attached.pop((netns, attachment.ifindex), None)
        attachment.detach()
