"""Our own compiler from a rule selection (profile.py) to a classic-BPF seccomp program.

Why our own and not libseccomp through ctypes: bookworm's libseccomp 2.5.4 does not know the
syscalls added since Linux 6.1 (mseal, fchmodat2, listmount, ...), so Docker's profile compiled
with it would deny them with EPERM on this kernel, where glibc only falls back on ENOSYS; and it
has no "ENOSYS for syscalls newer than the profile" stub (runc adds one by patching libseccomp's
output). With our own syscall tables (syscalls.json) and ~300 lines we control both, and the
daemon needs no C library. Tests run every program through an interpreter (tests/runtime/
bpf_interp.py) and the kernel itself (integration tests).

Layout of a program (seccomp_data: nr @0, arch @4, args[i] @16+8i, little endian):

    load arch; per filter architecture: jeq AUDIT_ARCH -> ja its section; else bad-arch action
    section: load nr; [x86_64: nr >= X32 bit -> x32 section or bad-arch]
             nr > highest listed -> ENOSYS (newer syscalls fail like on an older kernel)
             chunks of ascending numbers: jgt chunk's highest -> skip the chunk;
             inside, per syscall: jeq nr -> its rules (argument checks, first match wins), and
             the chunk ends in the default action.

Conditional jumps only go forward up to 255 instructions, so the chunks stay short and long jumps
use `ja`. Semantics where Docker's format leaves room: for one syscall an unconditional rule wins
over conditional ones; conditional rules are tried in profile order; several checks in one rule
must all hold.
"""
from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from engine.errors import BadParameter
from engine.runtime.seccomp.profile import RET_ALLOW, RET_ERRNO, RET_KILL_PROCESS, ArgCheck, \
    Selection

TABLES_PATH = Path(__file__).with_name("syscalls.json")
AUDIT_ARCH = {"x86_64": 0xC000003E, "x86": 0x40000003, "aarch64": 0xC00000B7}
X32_SYSCALL_BIT = 0x40000000
ENOSYS = 38
BAD_ARCH_ACTION = RET_KILL_PROCESS  # the whole process, not one thread of it: nothing half-dead
MAX_INSNS = 4096                    # BPF_MAXINSNS
CHUNK_INSNS = 40                    # short enough that most lookups test few numbers

# classic BPF opcodes
LD_W_ABS = 0x20
ALU_AND_K = 0x54
JA = 0x05
JEQ_K = 0x15
JGT_K = 0x25
JGE_K = 0x35
RET_K = 0x06


@lru_cache(maxsize=1)
def syscall_tables() -> dict[str, dict[str, int]]:
    return json.loads(TABLES_PATH.read_text())


@dataclass(frozen=True)
class Insn:
    code: int
    k: int = 0
    jt: int | str = 0      # an offset, or a label resolved by `assemble`
    jf: int | str = 0


@dataclass(frozen=True)
class Label:
    name: str


Item = Insn | Label


def assemble(items: list[Item]) -> list[tuple[int, int, int, int]]:
    """Resolve labels to offsets; (code, jt, jf, k) per instruction."""
    where: dict[str, int] = {}
    count = 0
    for item in items:
        if isinstance(item, Label):
            where[item.name] = count
        else:
            count += 1
    if count > MAX_INSNS:
        raise BadParameter(f"seccomp profile too large: {count} BPF instructions "
                           f"(the kernel takes {MAX_INSNS})")
    out: list[tuple[int, int, int, int]] = []
    for item in items:
        if isinstance(item, Label):
            continue
        pos = len(out)
        if item.code == JA:  # the target is in jt; ja jumps by k (32 bits)
            out.append((JA, 0, 0, _offset(item.jt, pos, where, 2**32 - 1)))
        else:
            out.append((item.code, _offset(item.jt, pos, where, 255),
                        _offset(item.jf, pos, where, 255), item.k))
    return out


def _offset(target: int | str, pos: int, where: dict[str, int], limit: int) -> int:
    off = target if isinstance(target, int) else where[target] - pos - 1
    if not 0 <= off <= limit:
        raise AssertionError(f"BPF jump out of range: {off}")  # a bug of this compiler
    return off


def encode(program: list[tuple[int, int, int, int]]) -> bytes:
    """struct sock_filter[]: u16 code, u8 jt, u8 jf, u32 k (native endian)."""
    return b"".join(struct.pack("=HBBI", code, jt, jf, k) for code, jt, jf, k in program)


def _ld(offset: int) -> Insn:
    return Insn(LD_W_ABS, offset)


def _ret(action: int) -> Insn:
    return Insn(RET_K, action)


class _Labels:
    def __init__(self) -> None:
        self.n = 0

    def new(self, hint: str) -> str:
        self.n += 1
        return f"{hint}{self.n}"


def _arg_check(check: ArgCheck, fail: str, labels: _Labels) -> list[Item]:
    """Falls through when the 64-bit argument satisfies the check, jumps to `fail` otherwise."""
    lo_off, hi_off = 16 + 8 * check.index, 20 + 8 * check.index
    v_hi, v_lo = check.value >> 32, check.value & 0xFFFFFFFF
    ok = labels.new("ok")
    op = check.op
    if op == "SCMP_CMP_MASKED_EQ":
        d_hi, d_lo = check.value_two >> 32, check.value_two & 0xFFFFFFFF
        body: list[Item] = [_ld(hi_off), Insn(ALU_AND_K, v_hi), Insn(JEQ_K, d_hi, 0, fail),
                            _ld(lo_off), Insn(ALU_AND_K, v_lo), Insn(JEQ_K, d_lo, 0, fail)]
    elif op == "SCMP_CMP_EQ":
        body = [_ld(hi_off), Insn(JEQ_K, v_hi, 0, fail), _ld(lo_off), Insn(JEQ_K, v_lo, 0, fail)]
    elif op == "SCMP_CMP_NE":
        body = [_ld(hi_off), Insn(JEQ_K, v_hi, 0, ok), _ld(lo_off), Insn(JEQ_K, v_lo, fail, 0)]
    elif op in ("SCMP_CMP_GT", "SCMP_CMP_GE"):
        last = JGT_K if op == "SCMP_CMP_GT" else JGE_K
        body = [_ld(hi_off), Insn(JGT_K, v_hi, ok, 0), Insn(JEQ_K, v_hi, 0, fail),
                _ld(lo_off), Insn(last, v_lo, 0, fail)]
    else:  # LT, LE: the negation of GE, GT
        last = JGE_K if op == "SCMP_CMP_LT" else JGT_K
        body = [_ld(hi_off), Insn(JGT_K, v_hi, fail, 0), Insn(JEQ_K, v_hi, 0, ok),
                _ld(lo_off), Insn(last, v_lo, fail, 0)]
    return [*body, Label(ok)]


def _syscall_block(nr: int, rules: list[tuple[int, tuple[ArgCheck, ...]]], default: int,
                   labels: _Labels) -> list[Item]:
    """jeq nr -> the rules for it; no match falls to the next number's test."""
    unconditional = [action for action, args in rules if not args]
    if unconditional:
        return [Insn(JEQ_K, nr, 0, 1), _ret(unconditional[0])]
    body: list[Item] = []
    for action, args in rules:
        fail = labels.new("next")
        for check in args:
            body += _arg_check(check, fail, labels)
        body += [_ret(action), Label(fail)]
    body.append(_ret(default))
    skip = labels.new("skip")
    return [Insn(JEQ_K, nr, 0, skip), *body, Label(skip)]


def _count(items: list[Item]) -> int:
    return sum(1 for i in items if isinstance(i, Insn))


def _section(table: dict[str, int], sel: Selection, add: int, labels: _Labels) -> list[Item]:
    """The number tests for one syscall table (A holds nr on entry); `add` is x32's bit."""
    by_nr: dict[int, list[tuple[int, tuple[ArgCheck, ...]]]] = {}
    for rule in sel.rules:
        if rule.action == sel.default_action:
            continue  # nothing to say (libseccomp refuses such rules; runc skips them)
        for name in rule.names:
            if name in table:  # a name this architecture lacks is skipped, as runc does
                by_nr.setdefault(table[name] | add, []).append((rule.action, rule.args))
    out: list[Item] = []
    if by_nr and sel.default_action != RET_ALLOW:
        out += [Insn(JGT_K, max(by_nr), 0, 1), _ret(RET_ERRNO | ENOSYS)]
    chunk: list[Item] = []
    chunk_max = 0

    def flush() -> None:
        skip = labels.new("chunk")
        out.extend([Insn(JGT_K, chunk_max, skip, 0), *chunk, _ret(sel.default_action),
                    Label(skip)])
        chunk.clear()

    for nr in sorted(by_nr):
        block = _syscall_block(nr, by_nr[nr], sel.default_action, labels)
        if chunk and _count(chunk) + _count(block) > CHUNK_INSNS:
            flush()
        if _count(block) > 250:
            raise BadParameter(f"seccomp profile: too many argument rules for syscall {nr}")
        chunk += block
        chunk_max = nr
    if chunk:
        flush()
    out.append(_ret(sel.default_action))
    return out


def compile_selection(sel: Selection) -> bytes:
    """The BPF program (struct sock_filter[]) for `sel`; arches without a table are left to the
    bad-architecture action."""
    tables = syscall_tables()
    labels = _Labels()
    head: list[Item] = [_ld(4)]
    sections: list[Item] = []
    for arch in sel.arches:
        if arch not in AUDIT_ARCH or arch not in tables:
            continue
        name = labels.new(f"arch_{arch}_")
        head += [Insn(JEQ_K, AUDIT_ARCH[arch], 0, 1), Insn(JA, jt=name)]
        sections += [Label(name), _ld(0)]
        if arch == "x86_64":
            # x32 shares AUDIT_ARCH_X86_64; its numbers carry bit 30
            x32 = labels.new("x32_")
            has_x32 = "x32" in sel.arches
            sections += [Insn(JGE_K, X32_SYSCALL_BIT, 0, 1),
                         Insn(JA, jt=x32) if has_x32 else _ret(BAD_ARCH_ACTION)]
            sections += _section(tables[arch], sel, 0, labels)
            if has_x32:
                sections += [Label(x32), *_section(tables["x32"], sel, X32_SYSCALL_BIT, labels)]
        else:
            sections += _section(tables[arch], sel, 0, labels)
    head.append(_ret(BAD_ARCH_ACTION))
    return encode(assemble(head + sections))
