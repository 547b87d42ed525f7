"""The receive program: ringlab frames to this queue's AF_XDP socket, the rest to the stack.

    if frame shorter than 14 bytes or ethertype != 0x88B5: return XDP_PASS
    if bpf_xdp_adjust_meta(ctx, -8) == 0 and data_meta + 8 <= data:
        *(u64 *)data_meta = bpf_ktime_get_ns()        # the receive stamp, CLOCK_MONOTONIC
    return bpf_redirect_map(&xskmap, ctx->rx_queue_index, XDP_PASS)

Only ringlab's ethertype is redirected, as the RX ring binds only it: ARP, IPv6
neighbour discovery and everything else on the queue still reach the host's stack, and
"foreign" keeps its meaning (our ethertype, wrong magic or flow). A queue without a
socket in the map passes its frames on (the flags of bpf_redirect_map, kernel >= 5.3).

The receive stamp: AF_XDP descriptors carry no time, so the program writes one into
the 8 bytes of XDP metadata in front of the frame, which the kernel copies into the
UMEM with it (copy mode) or leaves there (zero-copy). It is the same instant as the RX
ring's kernel stamp would be, give or take the stack below the socket. Drivers
without metadata support refuse the adjust; the receiver zeroes that slot before it
recycles a chunk, so 0 there means "no kernel stamp" and user space stamps instead.

`struct xdp_md` (the program's context) offsets: data 0, data_end 4, data_meta 8,
ingress_ifindex 12, rx_queue_index 16.
"""

from __future__ import annotations

import socket

from ringlab.agent.rings import frame as fr
from ringlab.agent.rings.xdp import bpf as b

XDP_PASS = 2
CTX_DATA = 0
CTX_DATA_END = 4
CTX_DATA_META = 8
CTX_RX_QUEUE_INDEX = 16
META_LEN = 8
NAME = "ringlab_xsk"
LICENSE = "Apache-2.0"  # no GPL-only helper is called

R0, R1, R2, R3, R4, R6, R7 = 0, 1, 2, 3, 4, 6, 7
# The ethertype as a little-endian u16 load of its two big-endian bytes sees it.
_ETHERTYPE_LE = socket.htons(fr.ETHERTYPE)


def redirect_program(map_fd: int, stamp: bool = True) -> list[b.Insn]:
    """The program above, the XSKMAP referred to by `map_fd` (resolved at load time)."""
    asm = b.Assembler()
    asm.emit(
        b.mov64_reg(R6, R1),
        b.ldx_mem(b.BPF_W, R2, R6, CTX_DATA),
        b.ldx_mem(b.BPF_W, R3, R6, CTX_DATA_END),
        b.mov64_reg(R4, R2),
        b.add64_imm(R4, fr.ETH_HLEN),
    )
    asm.jump(b.jmp_reg(b.BPF_JGT, R4, R3, 0), "pass")
    asm.emit(b.ldx_mem(b.BPF_H, R4, R2, fr.OFF_ETHERTYPE))
    asm.jump(b.jmp_imm(b.BPF_JNE, R4, _ETHERTYPE_LE, 0), "pass")
    if stamp:
        asm.emit(b.mov64_reg(R1, R6), b.mov64_imm(R2, -META_LEN), b.call(b.FUNC_XDP_ADJUST_META))
        asm.jump(b.jmp_imm(b.BPF_JNE, R0, 0, 0), "redirect")
        # The adjust invalidated every packet pointer: load them again.
        asm.emit(
            b.ldx_mem(b.BPF_W, R7, R6, CTX_DATA_META),
            b.ldx_mem(b.BPF_W, R3, R6, CTX_DATA),
            b.mov64_reg(R4, R7),
            b.add64_imm(R4, META_LEN),
        )
        asm.jump(b.jmp_reg(b.BPF_JGT, R4, R3, 0), "redirect")
        asm.emit(b.call(b.FUNC_KTIME_GET_NS), b.stx_mem(b.BPF_DW, R7, R0, 0))
    asm.label("redirect")
    asm.emit(
        b.ldx_mem(b.BPF_W, R2, R6, CTX_RX_QUEUE_INDEX),
        b.ld_map_fd(R1, map_fd),
        b.mov64_imm(R3, XDP_PASS),
        b.call(b.FUNC_REDIRECT_MAP),
        b.exit_insn(),
    )
    asm.label("pass")
    asm.emit(b.mov64_imm(R0, XDP_PASS), b.exit_insn())
    return asm.assemble()


def minimal_program(map_fd: int) -> list[b.Insn]:
    """libbpf's default AF_XDP program (every frame to the queue's socket), five instructions.

    Kept as the reference the encoding tests compare with known bytes.
    """
    return [
        b.ldx_mem(b.BPF_W, R2, R1, CTX_RX_QUEUE_INDEX),
        *b.ld_map_fd(R1, map_fd),
        b.mov64_imm(R3, XDP_PASS),
        b.call(b.FUNC_REDIRECT_MAP),
        b.exit_insn(),
    ]
