"""Known-answer qdisc faults on a sender's interface: a tbf, and a cls_bpf egress filter
that always drops one sequence number of one ringlab stream.

No netem or gact here (docs/LAB notes); tbf, clsact and cls_bpf work. The filter is a
direct-action eBPF classifier (BPF_PROG_TYPE_SCHED_CLS) loaded with the raw bpf()
syscall, the same way the agent loads its XDP program: it reads the ringlab header
through the skb's data pointers and returns TC_ACT_SHOT for the one frame.
"""

from __future__ import annotations

import os
import struct
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager

from pyroute2 import NetNS

from ringlab.agent.rings import frame as fr
from ringlab.agent.rings.xdp import bpf as b

BPF_PROG_TYPE_SCHED_CLS = 3
# struct __sk_buff: data and data_end (include/uapi/linux/bpf.h).
_SKB_DATA = 76
_SKB_DATA_END = 80
_TC_ACT_OK = 0
_TC_ACT_SHOT = 2
_CLSACT_EGRESS = "ffff:fff3"


def _le(value: bytes) -> int:
    """A big-endian field as a little-endian load from the packet sees it."""
    return int.from_bytes(value, "little")


def drop_seq_program(flow_id: int, worker: int, seq: int) -> list[b.Insn]:
    """TC_ACT_SHOT for the frame of stream (flow_id, worker) with sequence number seq."""
    pass_at = 19
    insns = [
        b.ldx_mem(b.BPF_W, 2, 1, _SKB_DATA),  # 0
        b.ldx_mem(b.BPF_W, 3, 1, _SKB_DATA_END),  # 1
        b.mov64_reg(4, 2),  # 2
        b.add64_imm(4, fr.HEADER_END),  # 3
        b.jmp_reg(b.BPF_JGT, 4, 3, pass_at - 5),  # 4
        b.ldx_mem(b.BPF_H, 4, 2, fr.OFF_ETHERTYPE),  # 5
        b.jmp_imm(b.BPF_JNE, 4, _le(struct.pack(">H", fr.ETHERTYPE)), pass_at - 7),  # 6
        b.ldx_mem(b.BPF_H, 4, 2, fr.OFF_WORKER),  # 7
        b.jmp_imm(b.BPF_JNE, 4, _le(struct.pack(">H", worker)), pass_at - 9),  # 8
        b.ldx_mem(b.BPF_W, 4, 2, fr.OFF_FLOW),  # 9
        *b.ld_imm64(5, _le(struct.pack(">I", flow_id))),  # 10, 11
        b.jmp_reg(b.BPF_JNE, 4, 5, pass_at - 13),  # 12
        b.ldx_mem(b.BPF_DW, 4, 2, fr.OFF_SEQ),  # 13
        *b.ld_imm64(5, _le(struct.pack(">Q", seq))),  # 14, 15
        b.jmp_reg(b.BPF_JNE, 4, 5, pass_at - 17),  # 16
        b.mov64_imm(0, _TC_ACT_SHOT),  # 17
        b.exit_insn(),  # 18
        b.mov64_imm(0, _TC_ACT_OK),  # 19: pass
        b.exit_insn(),  # 20
    ]
    return insns


@contextmanager
def dropping_seq(
    netns: str, interface: str, flow_id: int, seq: int, worker: int = 0
) -> Iterator[None]:
    """A clsact egress filter on `interface` that drops that one frame, every time it is sent."""
    fd = b.load_program(
        drop_seq_program(flow_id, worker, seq), "rl_drop_seq", "GPL", BPF_PROG_TYPE_SCHED_CLS
    )
    try:
        with NetNS(netns) as ns:
            index = ns.link_lookup(ifname=interface)[0]
            ns.tc("add", "clsact", index)
            ns.tc(
                "add-filter",
                "bpf",
                index,
                ":1",
                fd=fd,
                name="rl_drop_seq",
                parent=_CLSACT_EGRESS,
                classid=1,
                direct_action=True,
            )
    finally:
        os.close(fd)  # the filter holds its own reference
    try:
        yield
    finally:
        with NetNS(netns) as ns:
            index = ns.link_lookup(ifname=interface)[0]
            ns.tc("del", "clsact", index)


@contextmanager
def tbf(netns: str, interface: str, rate: str, burst: int, latency: str) -> Iterator[None]:
    """A tbf root qdisc (handle 1:) on `interface`, through iproute2's tc; removed on exit."""
    qdisc = ["ip", "netns", "exec", netns, "tc", "qdisc"]
    subprocess.run(
        [
            *qdisc,
            "add",
            "dev",
            interface,
            "root",
            "handle",
            "1:",
            "tbf",
            "rate",
            rate,
            "burst",
            str(burst),
            "latency",
            latency,
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=30,
    )
    try:
        yield
    finally:
        subprocess.run(
            [*qdisc, "del", "dev", interface, "root"], check=False, capture_output=True, timeout=30
        )
