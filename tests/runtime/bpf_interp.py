"""A classic-BPF interpreter for seccomp programs, for tests only: what the kernel would return
for one (arch, nr, args). Covers the instructions a seccomp filter may use (loads from
seccomp_data, ALU, jumps, ret); anything else fails loudly rather than guessing."""
from __future__ import annotations

import struct

_MASK32 = 0xFFFFFFFF


def seccomp_data(nr: int, arch: int, args: tuple[int, ...] = (), ip: int = 0) -> bytes:
    full = tuple(args) + (0,) * (6 - len(args))
    return struct.pack("=iIQ6Q", nr, arch, ip, *full)


def run(program: bytes, data: bytes) -> int:
    insns = [struct.unpack_from("=HBBI", program, off) for off in range(0, len(program), 8)]
    a = x = 0
    mem = [0] * 16
    pc = 0
    steps = 0
    while True:
        code, jt, jf, k = insns[pc]
        steps += 1
        assert steps <= len(insns), "a BPF program cannot loop"
        pc += 1
        cls = code & 0x07
        if cls == 0x00:  # LD
            mode, size = code & 0xE0, code & 0x18
            if mode == 0x20 and size == 0x00:       # LD|W|ABS
                assert k % 4 == 0 and k + 4 <= len(data), f"bad load offset {k}"
                a = struct.unpack_from("=I", data, k)[0]
            elif mode == 0x00:                      # LD|IMM
                a = k
            elif mode == 0x60:                      # LD|MEM
                a = mem[k]
            elif mode == 0x80:                      # LD|W|LEN
                a = len(data)
            else:
                raise AssertionError(f"unsupported load {code:#x}")
        elif cls == 0x01:  # LDX
            x = mem[k] if code & 0xE0 == 0x60 else k
        elif cls == 0x02:  # ST
            mem[k] = a
        elif cls == 0x03:  # STX
            mem[k] = x
        elif cls == 0x04:  # ALU
            operand = x if code & 0x08 else k
            op = code & 0xF0
            a = {0x00: lambda: a + operand, 0x10: lambda: a - operand, 0x20: lambda: a * operand,
                 0x40: lambda: a | operand, 0x50: lambda: a & operand,
                 0x60: lambda: a << operand, 0x70: lambda: a >> operand, 0x80: lambda: -a,
                 0xA0: lambda: a ^ operand}[op]() & _MASK32
        elif cls == 0x05:  # JMP
            op = code & 0xF0
            operand = x if code & 0x08 else k
            if op == 0x00:
                pc += k
                continue
            taken = {0x10: a == operand, 0x20: a > operand, 0x30: a >= operand,
                     0x40: bool(a & operand)}[op]
            pc += jt if taken else jf
        elif cls == 0x06:  # RET
            return a if code & 0x18 == 0x10 else k
        elif cls == 0x07:  # MISC
            if code & 0xF8 == 0x00:
                x = a
            else:
                a = x
        assert pc < len(insns), "fell off the end of the program"
