"""eBPF instruction encoding against bytes derived by hand from the kernel's rules.

struct bpf_insn is {u8 code; u8 dst_reg:4, src_reg:4; s16 off; s32 imm}, little-endian,
so byte 1 is src << 4 | dst. The codes come from the macros of include/linux/filter.h:
BPF_LDX_MEM(BPF_W, ...) = BPF_LDX 0x01 | BPF_W 0x00 | BPF_MEM 0x60 = 0x61, and so on
(each case below spells its sum out).
"""

from __future__ import annotations

import pytest

from ringlab.agent.rings.xdp import bpf as b
from ringlab.agent.rings.xdp import program as p


def hexes(insns: list[b.Insn]) -> list[str]:
    return [i.encode().hex(" ") for i in insns]


@pytest.mark.parametrize(
    ("insn", "expected"),
    [
        # BPF_ALU64 0x07 | BPF_MOV 0xb0 | BPF_X 0x08; dst r6, src r1 -> 0x16
        (b.mov64_reg(6, 1), "bf 16 00 00 00 00 00 00"),
        # BPF_ALU64 | BPF_MOV | BPF_K = 0xb7; imm -8 as two's complement
        (b.mov64_imm(2, -8), "b7 02 00 00 f8 ff ff ff"),
        # BPF_ALU64 | BPF_ADD 0x00 | BPF_K = 0x07; imm 14
        (b.add64_imm(4, 14), "07 04 00 00 0e 00 00 00"),
        # BPF_LDX | BPF_H 0x08 | BPF_MEM = 0x69; r4 = *(u16 *)(r2 + 12)
        (b.ldx_mem(b.BPF_H, 4, 2, 12), "69 24 0c 00 00 00 00 00"),
        # BPF_STX 0x03 | BPF_DW 0x18 | BPF_MEM = 0x7b; *(u64 *)(r7 + 0) = r0
        (b.stx_mem(b.BPF_DW, 7, 0, 0), "7b 07 00 00 00 00 00 00"),
        # BPF_JMP 0x05 | BPF_JNE 0x50 | BPF_K = 0x55; off 17; imm 0xb588
        (b.jmp_imm(b.BPF_JNE, 4, 0xB588, 17), "55 04 11 00 88 b5 00 00"),
        # BPF_JMP | BPF_JGT 0x20 | BPF_X = 0x2d; r4 > r3 -> regs 0x34; off 19
        (b.jmp_reg(b.BPF_JGT, 4, 3, 19), "2d 34 13 00 00 00 00 00"),
        # BPF_JMP | BPF_JEQ 0x10 | BPF_K = 0x15; a backward jump: off -3 = 0xfffd
        (b.jmp_imm(b.BPF_JEQ, 0, 0, -3), "15 00 fd ff 00 00 00 00"),
        # BPF_JMP | BPF_CALL 0x80 = 0x85; imm = helper id 5 (ktime_get_ns)
        (b.call(b.FUNC_KTIME_GET_NS), "85 00 00 00 05 00 00 00"),
        # BPF_JMP | BPF_EXIT 0x90 = 0x95
        (b.exit_insn(), "95 00 00 00 00 00 00 00"),
    ],
)
def test_single_instructions(insn: b.Insn, expected: str) -> None:
    assert insn.encode().hex(" ") == expected


def test_a_64_bit_immediate_takes_two_slots_low_half_first() -> None:
    # BPF_LD 0x00 | BPF_DW 0x18 | BPF_IMM 0x00 = 0x18; the second slot carries the high half.
    assert hexes(b.ld_imm64(1, 0x1122334455667788)) == [
        "18 01 00 00 88 77 66 55",
        "00 00 00 00 44 33 22 11",
    ]
    # A map fd: src_reg BPF_PSEUDO_MAP_FD (1), so byte 1 is 0x11 for r1.
    assert hexes(b.ld_map_fd(1, 7)) == ["18 11 00 00 07 00 00 00", "00 00 00 00 00 00 00 00"]


def test_libbpf_default_xsk_program_bytes() -> None:
    """libbpf's xsk.c default program, written there with the kernel's macros:
    BPF_LDX_MEM(BPF_W, BPF_REG_2, BPF_REG_1, 16), BPF_LD_MAP_FD(BPF_REG_1, fd),
    BPF_MOV64_IMM(BPF_REG_3, 2), BPF_EMIT_CALL(BPF_FUNC_redirect_map), BPF_EXIT_INSN()."""
    assert hexes(p.minimal_program(map_fd=5)) == [
        "61 12 10 00 00 00 00 00",  # r2 = ctx->rx_queue_index (offset 16)
        "18 11 00 00 05 00 00 00",  # r1 = map fd 5 ...
        "00 00 00 00 00 00 00 00",  # ... upper half
        "b7 03 00 00 02 00 00 00",  # r3 = XDP_PASS
        "85 00 00 00 33 00 00 00",  # call 51, bpf_redirect_map
        "95 00 00 00 00 00 00 00",  # exit
    ]


def test_receive_program_bytes() -> None:
    """The program the receiver loads (the kernel's verifier accepted exactly these)."""
    assert hexes(p.redirect_program(map_fd=3)) == [
        "bf 16 00 00 00 00 00 00",  # 0  r6 = r1 (ctx)
        "61 62 00 00 00 00 00 00",  # 1  r2 = ctx->data
        "61 63 04 00 00 00 00 00",  # 2  r3 = ctx->data_end
        "bf 24 00 00 00 00 00 00",  # 3  r4 = r2
        "07 04 00 00 0e 00 00 00",  # 4  r4 += 14
        "2d 34 13 00 00 00 00 00",  # 5  if r4 > r3 goto 25 (pass)
        "69 24 0c 00 00 00 00 00",  # 6  r4 = ethertype (u16 at 12)
        "55 04 11 00 88 b5 00 00",  # 7  if r4 != htons(0x88b5) goto 25 (pass)
        "bf 61 00 00 00 00 00 00",  # 8  r1 = r6
        "b7 02 00 00 f8 ff ff ff",  # 9  r2 = -8
        "85 00 00 00 36 00 00 00",  # 10 call 54, bpf_xdp_adjust_meta
        "55 00 07 00 00 00 00 00",  # 11 if r0 != 0 goto 19 (redirect)
        "61 67 08 00 00 00 00 00",  # 12 r7 = ctx->data_meta
        "61 63 00 00 00 00 00 00",  # 13 r3 = ctx->data
        "bf 74 00 00 00 00 00 00",  # 14 r4 = r7
        "07 04 00 00 08 00 00 00",  # 15 r4 += 8
        "2d 34 02 00 00 00 00 00",  # 16 if r4 > r3 goto 19 (redirect)
        "85 00 00 00 05 00 00 00",  # 17 call 5, bpf_ktime_get_ns
        "7b 07 00 00 00 00 00 00",  # 18 *(u64 *)(r7 + 0) = r0
        "61 62 10 00 00 00 00 00",  # 19 r2 = ctx->rx_queue_index
        "18 11 00 00 03 00 00 00",  # 20 r1 = map fd 3 ...
        "00 00 00 00 00 00 00 00",  # 21 ... upper half
        "b7 03 00 00 02 00 00 00",  # 22 r3 = XDP_PASS
        "85 00 00 00 33 00 00 00",  # 23 call 51, bpf_redirect_map
        "95 00 00 00 00 00 00 00",  # 24 exit
        "b7 00 00 00 02 00 00 00",  # 25 r0 = XDP_PASS
        "95 00 00 00 00 00 00 00",  # 26 exit
    ]


def test_program_without_stamp_keeps_the_filter_and_redirect() -> None:
    insns = p.redirect_program(map_fd=3, stamp=False)
    assert len(insns) == 16
    calls = [i.imm for i in insns if i.code == b.BPF_JMP | b.BPF_CALL]
    assert calls == [b.FUNC_REDIRECT_MAP]


@pytest.mark.parametrize("stamp", [True, False])
def test_every_jump_lands_inside_the_program(stamp: bool) -> None:
    insns = p.redirect_program(map_fd=3, stamp=stamp)
    exits = [k for k, i in enumerate(insns) if i.code == b.BPF_JMP | b.BPF_EXIT]
    assert exits[-1] == len(insns) - 1
    for k, insn in enumerate(insns):
        is_jump = insn.code & 0x07 == b.BPF_JMP and insn.code & 0xF0 not in (b.BPF_CALL, b.BPF_EXIT)
        if is_jump:
            assert 0 <= k + 1 + insn.off < len(insns), (k, insn)


def test_assembler_resolves_forward_and_backward_labels() -> None:
    asm = b.Assembler()
    asm.label("top")
    asm.emit(b.mov64_imm(0, 0))
    asm.jump(b.jmp_imm(b.BPF_JEQ, 0, 1, 0), "end")
    asm.emit(b.ld_imm64(1, 1))  # two slots between the jump and its target
    asm.jump(b.jmp_imm(b.BPF_JEQ, 0, 0, 0), "top")
    asm.label("end")
    asm.emit(b.exit_insn())
    out = asm.assemble()
    assert [i.off for i in out] == [0, 3, 0, 0, -5, 0]


def test_assembler_refuses_unknown_and_duplicate_labels() -> None:
    asm = b.Assembler()
    asm.jump(b.jmp_imm(b.BPF_JEQ, 0, 0, 0), "nowhere")
    with pytest.raises(ValueError, match="undefined label 'nowhere'"):
        asm.assemble()
    asm.label("x")
    with pytest.raises(ValueError, match="defined twice"):
        asm.label("x")


@pytest.mark.parametrize(
    "fields",
    [
        {"code": 256},
        {"code": 0, "dst": 16},
        {"code": 0, "off": 1 << 15},
        {"code": 0, "imm": 1 << 32},
    ],
)
def test_fields_that_do_not_fit_are_refused(fields: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        b.Insn(**fields)


def test_object_names_are_limited_to_15_bytes() -> None:
    with pytest.raises(ValueError, match="longer than 15 bytes"):
        b.create_xskmap(1, "a-name-that-is-too-long")
