"""The bpf() syscall through ctypes, and eBPF instruction encoding.

Instructions follow the kernel's `struct bpf_insn` (include/uapi/linux/bpf.h): one
8-byte little-endian record {u8 code; u8 dst_reg:4, src_reg:4; s16 off; s32 imm}, the
register nibbles with dst in the low four bits on little-endian hosts. `code` is
class | size/op | mode/source as in the kernel's BPF_* macros; the helpers below are
named after those macros (include/linux/filter.h). A 64-bit immediate load
(BPF_LD | BPF_DW | BPF_IMM) takes two slots, the second holding the upper 32 bits.

Only what the receive program and the cleanup checks need is here: map create and
update, program load (with the verifier's log on failure), link create, and walking
the kernel's program and map ids by name.
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import struct
from dataclasses import dataclass

# Syscall numbers of bpf(2) per machine (asm/unistd.h).
_NR_BPF = {
    "x86_64": 321,
    "aarch64": 280,
    "riscv64": 280,
    "ppc64le": 361,
    "s390x": 351,
    "i686": 357,
    "armv7l": 386,
}

# Commands (enum bpf_cmd).
BPF_MAP_CREATE = 0
BPF_MAP_UPDATE_ELEM = 2
BPF_MAP_DELETE_ELEM = 3
BPF_PROG_LOAD = 5
BPF_PROG_GET_NEXT_ID = 11
BPF_MAP_GET_NEXT_ID = 12
BPF_PROG_GET_FD_BY_ID = 13
BPF_MAP_GET_FD_BY_ID = 14
BPF_OBJ_GET_INFO_BY_FD = 15
BPF_LINK_CREATE = 28

BPF_MAP_TYPE_XSKMAP = 17
BPF_PROG_TYPE_XDP = 6
BPF_XDP = 37  # enum bpf_attach_type
BPF_ANY = 0

# Instruction classes, sizes, modes, ops and sources.
BPF_LD = 0x00
BPF_LDX = 0x01
BPF_STX = 0x03
BPF_JMP = 0x05
BPF_ALU64 = 0x07
BPF_W = 0x00
BPF_H = 0x08
BPF_B = 0x10
BPF_DW = 0x18
BPF_IMM = 0x00
BPF_MEM = 0x60
BPF_ADD = 0x00
BPF_MOV = 0xB0
BPF_K = 0x00
BPF_X = 0x08
BPF_JEQ = 0x10
BPF_JGT = 0x20
BPF_JNE = 0x50
BPF_CALL = 0x80
BPF_EXIT = 0x90
BPF_PSEUDO_MAP_FD = 1

# Helper function ids (the order of ___BPF_FUNC_MAPPER).
FUNC_KTIME_GET_NS = 5
FUNC_REDIRECT_MAP = 51
FUNC_XDP_ADJUST_META = 54

BPF_OBJ_NAME_LEN = 16
_LOG_SIZE = 1 << 16


@dataclass(frozen=True)
class Insn:
    code: int
    dst: int = 0
    src: int = 0
    off: int = 0
    imm: int = 0

    def __post_init__(self) -> None:
        if not (0 <= self.code < 256 and 0 <= self.dst < 16 and 0 <= self.src < 16):
            raise ValueError(f"bad instruction fields: {self}")
        if not -(1 << 15) <= self.off < 1 << 15:
            raise ValueError(f"offset {self.off} does not fit in 16 bits")
        if not -(1 << 31) <= self.imm < 1 << 32:
            raise ValueError(f"immediate {self.imm} does not fit in 32 bits")

    def encode(self) -> bytes:
        return struct.pack(
            "<BBhI", self.code, self.src << 4 | self.dst, self.off, self.imm & 0xFFFFFFFF
        )


def encode(insns: list[Insn]) -> bytes:
    return b"".join(i.encode() for i in insns)


# -- the kernel's instruction macros ---------------------------------------------


def mov64_reg(dst: int, src: int) -> Insn:
    return Insn(BPF_ALU64 | BPF_MOV | BPF_X, dst, src)


def mov64_imm(dst: int, imm: int) -> Insn:
    return Insn(BPF_ALU64 | BPF_MOV | BPF_K, dst, 0, 0, imm)


def add64_imm(dst: int, imm: int) -> Insn:
    return Insn(BPF_ALU64 | BPF_ADD | BPF_K, dst, 0, 0, imm)


def ldx_mem(size: int, dst: int, src: int, off: int) -> Insn:
    return Insn(BPF_LDX | size | BPF_MEM, dst, src, off)


def stx_mem(size: int, dst: int, src: int, off: int) -> Insn:
    return Insn(BPF_STX | size | BPF_MEM, dst, src, off)


def ld_imm64(dst: int, value: int, src: int = 0) -> list[Insn]:
    """Two slots: the low 32 bits, then the high 32 bits in a zero instruction."""
    value &= (1 << 64) - 1
    return [
        Insn(BPF_LD | BPF_DW | BPF_IMM, dst, src, 0, value & 0xFFFFFFFF),
        Insn(0, 0, 0, 0, value >> 32),
    ]


def ld_map_fd(dst: int, map_fd: int) -> list[Insn]:
    return ld_imm64(dst, map_fd, BPF_PSEUDO_MAP_FD)


def jmp_imm(op: int, dst: int, imm: int, off: int) -> Insn:
    return Insn(BPF_JMP | op | BPF_K, dst, 0, off, imm)


def jmp_reg(op: int, dst: int, src: int, off: int) -> Insn:
    return Insn(BPF_JMP | op | BPF_X, dst, src, off)


def call(func: int) -> Insn:
    return Insn(BPF_JMP | BPF_CALL, 0, 0, 0, func)


def exit_insn() -> Insn:
    return Insn(BPF_JMP | BPF_EXIT)


class Assembler:
    """Instructions with named jump targets; offsets count slots from the next one."""

    def __init__(self) -> None:
        self._slots: list[Insn | tuple[Insn, str]] = []
        self._labels: dict[str, int] = {}

    def emit(self, *insns: Insn | list[Insn]) -> None:
        for item in insns:
            self._slots.extend(item if isinstance(item, list) else [item])

    def jump(self, insn: Insn, target: str) -> None:
        """A conditional or plain jump whose offset is filled in at `target`."""
        self._slots.append((insn, target))

    def label(self, name: str) -> None:
        if name in self._labels:
            raise ValueError(f"label {name!r} defined twice")
        self._labels[name] = len(self._slots)

    def assemble(self) -> list[Insn]:
        out = []
        for at, slot in enumerate(self._slots):
            if isinstance(slot, tuple):
                insn, target = slot
                if target not in self._labels:
                    raise ValueError(f"jump to undefined label {target!r}")
                off = self._labels[target] - (at + 1)
                slot = Insn(insn.code, insn.dst, insn.src, off, insn.imm)
            out.append(slot)
        return out


# -- the syscall -------------------------------------------------------------------

_libc = ctypes.CDLL(None, use_errno=True)
_syscall = _libc.syscall
_syscall.restype = ctypes.c_long


def _nr_bpf() -> int:
    machine = platform.machine()
    try:
        return _NR_BPF[machine]
    except KeyError:
        raise OSError(
            errno.ENOSYS, f"the xdp engine does not know bpf()'s syscall number on {machine}"
        ) from None


def bpf(cmd: int, attr: bytearray) -> int:
    """bpf(cmd, attr, len(attr)); the kernel may write back into `attr`."""
    buf = (ctypes.c_char * len(attr)).from_buffer(attr)
    ret = _syscall(ctypes.c_long(_nr_bpf()), ctypes.c_int(cmd), buf, ctypes.c_uint(len(attr)))
    del buf
    if ret < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return int(ret)


def _name(name: str) -> bytes:
    raw = name.encode()
    if len(raw) >= BPF_OBJ_NAME_LEN:
        raise ValueError(f"bpf object name {name!r} is longer than 15 bytes")
    return raw


def create_xskmap(entries: int, name: str) -> int:
    """An XSKMAP of `entries` slots (key: queue index, value: socket fd)."""
    # map_type, key_size, value_size, max_entries, map_flags, inner_map_fd, numa_node, map_name
    attr = bytearray(
        struct.pack("<7I16s", BPF_MAP_TYPE_XSKMAP, 4, 4, entries, 0, 0, 0, _name(name))
    )
    return bpf(BPF_MAP_CREATE, attr)


def _elem_attr(
    map_fd: int, key: bytes, value: bytes | None, flags: int
) -> tuple[bytearray, list[object]]:
    keep: list[object] = []
    kbuf = ctypes.create_string_buffer(key, len(key))
    keep.append(kbuf)
    vptr = 0
    if value is not None:
        vbuf = ctypes.create_string_buffer(value, len(value))
        keep.append(vbuf)
        vptr = ctypes.addressof(vbuf)
    attr = bytearray(struct.pack("<IIQQQ", map_fd, 0, ctypes.addressof(kbuf), vptr, flags))
    return attr, keep


def map_update_u32(map_fd: int, key: int, value: int) -> None:
    attr, keep = _elem_attr(map_fd, struct.pack("<I", key), struct.pack("<I", value), BPF_ANY)
    bpf(BPF_MAP_UPDATE_ELEM, attr)
    del keep


def map_delete_u32(map_fd: int, key: int) -> None:
    attr, keep = _elem_attr(map_fd, struct.pack("<I", key), None, 0)
    bpf(BPF_MAP_DELETE_ELEM, attr)
    del keep


def load_program(
    insns: list[Insn], name: str, license: str, prog_type: int = BPF_PROG_TYPE_XDP
) -> int:
    """Load a program; on refusal the OSError's message carries the verifier's log."""
    code = ctypes.create_string_buffer(encode(insns))
    lic = ctypes.create_string_buffer(license.encode())

    def attempt(log: ctypes.Array[ctypes.c_char] | None) -> int:
        # prog_type, insn_cnt, insns, license, log_level, log_size, log_buf, kern_version,
        # prog_flags, prog_name, prog_ifindex, expected_attach_type
        attr = bytearray(
            struct.pack(
                "<IIQQIIQII16sII",
                prog_type,
                len(insns),
                ctypes.addressof(code),
                ctypes.addressof(lic),
                1 if log is not None else 0,
                len(log) if log is not None else 0,
                ctypes.addressof(log) if log is not None else 0,
                0,
                0,
                _name(name),
                0,
                BPF_XDP,
            )
        )
        return bpf(BPF_PROG_LOAD, attr)

    try:
        return attempt(None)
    except OSError as first:
        log = ctypes.create_string_buffer(_LOG_SIZE)
        try:
            return attempt(log)  # refused again: now with the verifier's reasons
        except OSError as e:
            text = log.value.decode(errors="replace").strip()
            detail = f"; verifier log:\n{text}" if text else ""
            raise OSError(e.errno, f"{e.strerror}{detail}") from first


def link_create_xdp(prog_fd: int, ifindex: int, xdp_flags: int) -> int:
    """Attach an XDP program through a bpf link: it goes when the last fd of the link closes."""
    attr = bytearray(struct.pack("<IIII", prog_fd, ifindex, BPF_XDP, xdp_flags) + bytes(32))
    return bpf(BPF_LINK_CREATE, attr)


# -- looking objects up ------------------------------------------------------------


@dataclass(frozen=True)
class ObjectInfo:
    id: int
    type: int
    name: str


def _next_id(cmd: int, start: int) -> int | None:
    attr = bytearray(struct.pack("<II", start, 0))
    try:
        bpf(cmd, attr)
    except OSError as e:
        if e.errno == errno.ENOENT:
            return None
        raise
    next_id: int = struct.unpack_from("<II", attr)[1]
    return next_id


def _info(fd: int, size: int) -> bytearray:
    info = ctypes.create_string_buffer(size)
    attr = bytearray(struct.pack("<IIQ", fd, size, ctypes.addressof(info)))
    bpf(BPF_OBJ_GET_INFO_BY_FD, attr)
    return bytearray(info.raw)


def _walk(next_cmd: int, fd_cmd: int, info_size: int, name_at: int) -> list[ObjectInfo]:
    found = []
    current = 0
    while (current := _next_id(next_cmd, current) or 0) != 0:
        try:
            fd = bpf(fd_cmd, bytearray(struct.pack("<III", current, 0, 0)))
        except OSError as e:
            if e.errno == errno.ENOENT:
                continue  # freed between the two calls
            raise
        try:
            raw = _info(fd, info_size)
        finally:
            os.close(fd)
        kind, ident = struct.unpack_from("<II", raw)
        name = raw[name_at : name_at + BPF_OBJ_NAME_LEN].split(b"\0", 1)[0].decode(errors="replace")
        found.append(ObjectInfo(ident, kind, name))
    return found


def programs() -> list[ObjectInfo]:
    """Every BPF program loaded on the host (struct bpf_prog_info: name at offset 64)."""
    return _walk(BPF_PROG_GET_NEXT_ID, BPF_PROG_GET_FD_BY_ID, 80, 64)


def maps() -> list[ObjectInfo]:
    """Every BPF map on the host (struct bpf_map_info: name at offset 24)."""
    return _walk(BPF_MAP_GET_NEXT_ID, BPF_MAP_GET_FD_BY_ID, 40, 24)
