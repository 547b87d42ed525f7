"""AF_XDP engine in pure Python: ctypes for bpf() and the socket structures, numpy over
the mmap'd UMEM and descriptor rings. No clang, libbpf or libxdp on the host.

Modules, one concept each:
- `bpf`: the bpf() syscall, eBPF instruction encoding, maps, programs, links
- `program`: the receive program (ringlab ethertype -> XSKMAP[rx_queue_index])
- `netlink`: rtnetlink for IFLA_XDP (attach without a bpf link, and queries)
- `rings`: producer/consumer index arithmetic and numpy views of the four rings
- `xsk`: one AF_XDP socket with its UMEM: registration, rings, bind, statistics
- `attach`: the program on an interface, shared by this process's sockets on it
- `owners`: who holds a queue (sock_diag), for the EBUSY message
- `errors`: the exceptions below
- `sender`, `receiver`: the Sender and Receiver of rings/api.py; `shared`: one
  socket that both sends and receives (`xdp_share`)

Errors (all OSError, so the session layer's "cannot open the data plane" path takes
them; each message names interface and queue and says what to do):
- `QueueBusy` (errno EBUSY): another AF_XDP socket owns the interface queue. Carries
  `interface`, `queue` and `owners` (what sock_diag and /proc say holds it).
- `ZeroCopyUnsupported` (errno EOPNOTSUPP): `xdp_mode: zerocopy` on a driver without it.
- `XdpProgramError` (errno from the kernel): the receive program could not be loaded
  or attached (verifier log, or an XDP program of someone else on the interface).
"""
