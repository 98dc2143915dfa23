"""The device allow-list on cgroup v2: an eBPF program of type CGROUP_DEVICE per container cgroup.

cgroup v1 has a `devices` controller that takes the allow-list as text (cgroups.DEVICE_RULES).
cgroup v2 has no such files: the kernel asks a BPF program attached to the cgroup instead, on every
open and mknod of a device node. Without one, CAP_MKNOD in a container reaches every host disk, so
a v2 cgroup that cannot get its program must not run a container (`attach` raises).

`compile_rules` is pure (rules -> instructions) so unit tests run the program through a small
interpreter without root; `attach` loads it and attaches it with BPF_F_ALLOW_MULTI, so programs a
parent cgroup holds (systemd's, for instance) still run too: all must allow.
"""
from __future__ import annotations

import ctypes
import errno
import os
import platform
import struct
from dataclasses import dataclass
from pathlib import Path

from engine.errors import EngineError

# The program's context, struct bpf_cgroup_dev_ctx: u32 access_type (access << 16 | type),
# u32 major, u32 minor.
DEV_BLOCK, DEV_CHAR = 1, 2
ACC_MKNOD, ACC_READ, ACC_WRITE = 1, 2, 4
_ACCESS_ALL = ACC_MKNOD | ACC_READ | ACC_WRITE
_TYPES = {"a": None, "b": DEV_BLOCK, "c": DEV_CHAR}
_ACCESS = {"m": ACC_MKNOD, "r": ACC_READ, "w": ACC_WRITE}

# eBPF opcodes used here (class | op | source)
_LDX_W = 0x61        # dst = *(u32 *)(src + off)
_AND_K = 0x57        # dst &= imm (64-bit)
_RSH_K = 0x77        # dst >>= imm
_MOV_X = 0xBF        # dst = src
_MOV_K = 0xB7        # dst = imm
_JNE_K = 0x55        # if dst != imm: pc += off
_EXIT = 0x95

_BPF_PROG_LOAD, _BPF_PROG_ATTACH = 5, 8
_PROG_TYPE_CGROUP_DEVICE = 15
_ATTACH_CGROUP_DEVICE = 6
_F_ALLOW_MULTI = 2
_SYS_BPF = {"x86_64": 321, "aarch64": 280}


@dataclass(frozen=True)
class DeviceRule:
    """One allow rule; None for type, major or minor means "any"."""

    type: int | None
    major: int | None
    minor: int | None
    access: int


@dataclass(frozen=True)
class Insn:
    code: int
    dst: int = 0
    src: int = 0
    off: int = 0
    imm: int = 0

    def encode(self) -> bytes:
        return struct.pack("<BBhi", self.code, (self.src << 4) | self.dst, self.off, self.imm)


def parse_rule(text: str) -> DeviceRule:
    """`c 1:3 rwm`, `b *:* m`, `a` (the v1 devices.allow syntax)."""
    parts = text.split()
    if not parts or parts[0] not in _TYPES or len(parts) not in (1, 3):
        raise ValueError(f"bad device rule {text!r}")
    if len(parts) == 1:
        return DeviceRule(_TYPES[parts[0]], None, None, _ACCESS_ALL)
    major_s, sep, minor_s = parts[1].partition(":")
    if not sep or not parts[2] or any(c not in _ACCESS for c in parts[2]):
        raise ValueError(f"bad device rule {text!r}")

    def number(s: str) -> int | None:
        return None if s == "*" else int(s)

    access = 0
    for c in parts[2]:
        access |= _ACCESS[c]
    return DeviceRule(_TYPES[parts[0]], number(major_s), number(minor_s), access)


def allows(rules: list[DeviceRule], dev_type: int, major: int, minor: int, access: int) -> bool:
    """The reference meaning of an allow-list (what the program must compute)."""
    return any((r.type is None or r.type == dev_type)
               and (r.major is None or r.major == major)
               and (r.minor is None or r.minor == minor)
               and access & ~r.access == 0 for r in rules)


def compile_rules(rules: list[DeviceRule]) -> list[Insn]:
    """An allow-list as a program: r2 = type, r3 = access, r4 = major, r5 = minor; each rule is a
    block of tests that jump to the next block on a mismatch and return 1 at its end; after the
    last block, return 0 (deny)."""
    prog = [Insn(_LDX_W, 2, 1, 0), Insn(_AND_K, 2, imm=0xFFFF),
            Insn(_LDX_W, 3, 1, 0), Insn(_RSH_K, 3, imm=16),
            Insn(_LDX_W, 4, 1, 4), Insn(_LDX_W, 5, 1, 8)]
    for rule in rules:
        # each test: (instructions before the jump, register, value); the jump skips the rest
        tests: list[tuple[list[Insn], int, int]] = []
        if rule.type is not None:
            tests.append(([], 2, rule.type))
        if rule.access != _ACCESS_ALL:
            # the access asked for must be a subset of the allowed one: (r3 & ~allowed) == 0
            tests.append(([Insn(_MOV_X, 1, 3), Insn(_AND_K, 1, imm=~rule.access & _ACCESS_ALL)],
                          1, 0))
        if rule.major is not None:
            tests.append(([], 4, rule.major))
        if rule.minor is not None:
            tests.append(([], 5, rule.minor))
        block: list[Insn] = []
        jumps: list[int] = []
        for before, reg, value in tests:
            block += before
            jumps.append(len(block))
            block.append(Insn(_JNE_K, reg, imm=value))
        block += [Insn(_MOV_K, 0, imm=1), Insn(_EXIT)]
        for at in jumps:   # to the first instruction after this block
            block[at] = Insn(_JNE_K, block[at].dst, off=len(block) - at - 1, imm=block[at].imm)
        prog += block
    return prog + [Insn(_MOV_K, 0, imm=0), Insn(_EXIT)]


def run(prog: list[Insn], dev_type: int, major: int, minor: int, access: int) -> int:
    """Interpret the subset of eBPF that compile_rules emits (for tests and for a self-check)."""
    ctx = struct.pack("<III", (access << 16) | dev_type, major, minor)
    regs = [0] * 11
    mask = (1 << 64) - 1
    pc = 0
    while True:
        i = prog[pc]
        pc += 1
        if i.code == _LDX_W:
            assert i.src == 1 and regs[1] == 0, "loads only from the context"
            regs[i.dst] = struct.unpack_from("<I", ctx, i.off)[0]
        elif i.code == _AND_K:
            regs[i.dst] &= i.imm & mask
        elif i.code == _RSH_K:
            regs[i.dst] >>= i.imm
        elif i.code == _MOV_X:
            regs[i.dst] = regs[i.src]
        elif i.code == _MOV_K:
            regs[i.dst] = i.imm & mask
        elif i.code == _JNE_K:
            if regs[i.dst] != i.imm & mask:
                pc += i.off
        elif i.code == _EXIT:
            return regs[0]
        else:
            raise ValueError(f"opcode {i.code:#x} is not ours")


def _bpf(cmd: int, attr: bytes) -> int:
    nr = _SYS_BPF.get(platform.machine())
    if nr is None:
        raise OSError(errno.ENOSYS, f"bpf: unknown syscall number on {platform.machine()}")
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    buf = ctypes.create_string_buffer(attr, len(attr))
    result = libc.syscall(ctypes.c_long(nr), ctypes.c_int(cmd), buf, ctypes.c_uint(len(attr)))
    if result < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return result


def load(prog: list[Insn]) -> int:
    """BPF_PROG_LOAD: the program's fd (close-on-exec, as every bpf fd). The verifier's log is
    asked for only after a refusal (a log too small for a good program is itself an error)."""
    code = ctypes.create_string_buffer(b"".join(i.encode() for i in prog))
    licence = ctypes.create_string_buffer(b"Apache-2.0")
    log = ctypes.create_string_buffer(1 << 16)

    def attempt(log_level: int) -> int:
        # union bpf_attr, BPF_PROG_LOAD part: prog_type, insn_cnt, insns, license, log_level,
        # log_size, log_buf, kern_version, prog_flags, prog_name[16]; the rest stays zero
        attr = struct.pack("<IIQQIIQII16s", _PROG_TYPE_CGROUP_DEVICE, len(prog),
                           ctypes.addressof(code), ctypes.addressof(licence), log_level,
                           len(log) if log_level else 0, ctypes.addressof(log) if log_level else 0,
                           0, 0, b"pycompose_dev")
        return _bpf(_BPF_PROG_LOAD, attr.ljust(128, b"\0"))

    try:
        return attempt(0)
    except OSError as e:
        if e.errno != errno.EACCES and e.errno != errno.EINVAL:
            raise
        try:
            os.close(attempt(1))
        except OSError:
            pass
        detail = log.value.decode(errors="replace").strip().splitlines()
        raise OSError(e.errno, f"{e.strerror}{': ' + detail[-1] if detail else ''}") from None


def attach(cgroup_dir: Path, rules: list[DeviceRule]) -> None:
    """Load the allow-list and attach it to a cgroup v2 directory; EngineError if impossible.

    The attachment holds the program: its fd is closed here, and the program goes with the cgroup.
    """
    try:
        prog_fd = load(compile_rules(rules))
    except OSError as e:
        raise EngineError(f"cannot load the device filter for cgroup v2 ({e.strerror}); "
                          "refusing to run a container whose devices nothing restricts") from None
    try:
        dir_fd = os.open(cgroup_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            _bpf(_BPF_PROG_ATTACH, struct.pack("<IIIII", dir_fd, prog_fd,
                                               _ATTACH_CGROUP_DEVICE, _F_ALLOW_MULTI, 0))
        finally:
            os.close(dir_fd)
    except OSError as e:
        raise EngineError(f"cannot attach the device filter to {cgroup_dir} ({e.strerror}); "
                          "refusing to run a container whose devices nothing restricts") from None
    finally:
        os.close(prog_fd)
