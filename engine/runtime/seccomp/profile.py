"""Docker's seccomp profile format: parse it, then decide which rules apply to one container.

Pure: `parse_profile` turns the JSON text (the built-in default.json, or what a client sent as
`seccomp=<json>`) into frozen data; `select_rules` keeps the rules whose `includes`/`excludes`
(capabilities, the host's architecture, minimum kernel) hold, the way Docker's daemon filters the
profile before it hands it to the runtime. Syscall names become numbers later, per filter
architecture (bpf.py), so one selection serves x86_64, its i386 and x32 compat tables alike.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from engine.errors import BadParameter
from engine.runtime.capabilities import CAP_NAMES

DEFAULT_PROFILE_PATH = Path(__file__).with_name("default.json")
EPERM = 1

# SECCOMP_RET_* (linux/seccomp.h); ERRNO and TRACE carry 16 bits of data.
RET_KILL_PROCESS = 0x80000000
RET_KILL_THREAD = 0x00000000
RET_TRAP = 0x00030000
RET_ERRNO = 0x00050000
RET_TRACE = 0x7FF00000
RET_LOG = 0x7FFC0000
RET_ALLOW = 0x7FFF0000
_ACTIONS = {
    "SCMP_ACT_KILL": RET_KILL_THREAD, "SCMP_ACT_KILL_THREAD": RET_KILL_THREAD,
    "SCMP_ACT_KILL_PROCESS": RET_KILL_PROCESS, "SCMP_ACT_TRAP": RET_TRAP,
    "SCMP_ACT_ERRNO": RET_ERRNO, "SCMP_ACT_TRACE": RET_TRACE, "SCMP_ACT_LOG": RET_LOG,
    "SCMP_ACT_ALLOW": RET_ALLOW,
}
OPS = ("SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT",
       "SCMP_CMP_MASKED_EQ")

# profile architecture token -> our name (a syscalls.json table for the first four; the others
# are accepted so profiles written for many machines load, and matter only on those machines)
ARCH_TOKENS = {
    "SCMP_ARCH_X86_64": "x86_64", "SCMP_ARCH_X86": "x86", "SCMP_ARCH_X32": "x32",
    "SCMP_ARCH_AARCH64": "aarch64", "SCMP_ARCH_ARM": "arm",
    **{f"SCMP_ARCH_{name.upper()}": name for name in (
        "mips", "mips64", "mips64n32", "mipsel", "mipsel64", "mipsel64n32", "ppc", "ppc64",
        "ppc64le", "s390", "s390x", "parisc", "parisc64", "riscv64", "loongarch64", "m68k", "sh",
        "sheb")},
}
# our table name -> the name `includes.arches` uses (Go's libseccomp spelling)
NATIVE_NAMES = {"x86_64": "amd64", "aarch64": "arm64"}
MACHINE_ARCH = {"x86_64": "x86_64", "aarch64": "aarch64", "arm64": "aarch64", "i686": "x86"}


@dataclass(frozen=True)
class ArgCheck:
    index: int          # 0..5
    op: str             # one of OPS
    value: int          # the operand; for MASKED_EQ the mask
    value_two: int = 0  # for MASKED_EQ the value the masked argument must equal


@dataclass(frozen=True)
class Rule:
    names: tuple[str, ...]
    action: int                        # SECCOMP_RET_* with its data (errno) already or'ed in
    args: tuple[ArgCheck, ...] = ()    # all must hold (AND)
    includes: Condition | None = None
    excludes: Condition | None = None


@dataclass(frozen=True)
class Condition:
    caps: tuple[str, ...] = ()     # "CAP_SYS_ADMIN"
    arches: tuple[str, ...] = ()   # native names: "amd64", "arm64", "x32", ...
    min_kernel: tuple[int, int] | None = None


@dataclass(frozen=True)
class Profile:
    default_action: int
    arch_map: dict[str, tuple[str, ...]]   # native arch -> the arches its filter covers
    architectures: tuple[str, ...]         # a flat list instead of archMap (OCI style)
    rules: tuple[Rule, ...]


@dataclass(frozen=True)
class Selection:
    """The rules for one container on one host: what bpf.py compiles."""

    default_action: int
    arches: tuple[str, ...]    # table names, the native one first
    rules: tuple[Rule, ...]    # includes/excludes already applied


def _fail(what: str) -> BadParameter:
    return BadParameter(f"invalid seccomp profile: {what}")


def _int(value: object, what: str, lo: int = 0, hi: int = 2**64 - 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise _fail(f"{what} must be an integer in {lo}..{hi}, got {value!r}")
    return value


def _action(name: object, errno_ret: object, default_errno: int, what: str) -> int:
    if name not in _ACTIONS:
        raise _fail(f"{what}: unknown action {name!r}")
    base = _ACTIONS[name]
    if base in (RET_ERRNO, RET_TRACE):
        data = default_errno if errno_ret is None else _int(errno_ret, f"{what} errnoRet", 0, 4095)
        return base | data
    return base


def _kernel(text: object, what: str) -> tuple[int, int]:
    parts = str(text).split(".")
    if len(parts) < 2 or not all(p.isdigit() for p in parts[:2]):
        raise _fail(f"{what}: minKernel must look like 4.8, got {text!r}")
    return int(parts[0]), int(parts[1])


def _condition(raw: object, what: str) -> Condition | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise _fail(f"{what} must be an object")
    caps = tuple(raw.get("caps") or ())
    for cap in caps:
        if not isinstance(cap, str) or cap.upper().removeprefix("CAP_") not in CAP_NAMES:
            raise _fail(f"{what}: unknown capability {cap!r}")
    min_kernel = raw.get("minKernel")
    return Condition(caps=tuple(c.upper() for c in caps),
                     arches=tuple(str(a) for a in raw.get("arches") or ()),
                     min_kernel=_kernel(min_kernel, what) if min_kernel else None)


def _arg(raw: object, what: str) -> ArgCheck:
    if not isinstance(raw, dict):
        raise _fail(f"{what} must be an object")
    op = raw.get("op")
    if op not in OPS:
        raise _fail(f"{what}: unknown operator {op!r}")
    return ArgCheck(index=_int(raw.get("index"), f"{what} index", 0, 5), op=op,
                    value=_int(raw.get("value", 0), f"{what} value"),
                    value_two=_int(raw.get("valueTwo", 0), f"{what} valueTwo"))


def _rules(raw: object, default_errno: int) -> tuple[Rule, ...]:
    if not isinstance(raw, dict):
        raise _fail("each entry of syscalls must be an object")
    names = raw.get("names")
    if raw.get("name"):
        if names:
            raise _fail("both 'name' and 'names' in one syscalls entry")
        names = [raw["name"]]
    if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
        raise _fail(f"syscalls entry needs a list of names, got {names!r}")
    what = f"syscalls entry {names[0]!r}"
    action = _action(raw.get("action"), raw.get("errnoRet"), default_errno, what)
    args = tuple(_arg(a, f"{what} argument") for a in raw.get("args") or ())
    inc = _condition(raw.get("includes"), f"{what} includes")
    exc = _condition(raw.get("excludes"), f"{what} excludes")
    indexes = [a.index for a in args]
    if len(set(indexes)) != len(indexes):
        # The same argument twice in one entry means "any of these" (runc splits such an entry
        # into one rule per check; libseccomp cannot AND two checks of one argument).
        return tuple(Rule(tuple(names), action, (a,), inc, exc) for a in args)
    return (Rule(tuple(names), action, args, inc, exc),)


def parse_profile(text: str) -> Profile:
    """Docker's JSON profile (the `seccomp=<json>` content) -> Profile; BadParameter if bad."""
    try:
        raw = json.loads(text)
    except ValueError as e:
        raise _fail(f"not JSON ({e})") from None
    if not isinstance(raw, dict):
        raise _fail("the profile must be a JSON object")
    if raw.get("listenerPath") or raw.get("defaultAction") == "SCMP_ACT_NOTIFY":
        raise _fail("SCMP_ACT_NOTIFY (a seccomp agent) is not supported")
    default_errno = _int(raw.get("defaultErrnoRet", EPERM), "defaultErrnoRet", 0, 4095)
    default = _action(raw.get("defaultAction"), None, default_errno, "defaultAction")
    arch_map: dict[str, tuple[str, ...]] = {}
    for entry in raw.get("archMap") or ():
        if not isinstance(entry, dict) or not isinstance(entry.get("architecture"), str):
            raise _fail("each archMap entry needs an architecture")
        native = _arch_table(entry["architecture"])
        arch_map[native] = (native, *(_arch_table(a) for a in entry.get("subArchitectures") or ()))
    architectures = tuple(_arch_table(a) for a in raw.get("architectures") or ())
    if arch_map and architectures:
        raise _fail("both 'architectures' and 'archMap' are given; use one")
    syscalls = raw.get("syscalls") or []
    if not isinstance(syscalls, list):
        raise _fail("syscalls must be a list")
    if any(isinstance(s, dict) and s.get("action") == "SCMP_ACT_NOTIFY" for s in syscalls):
        raise _fail("SCMP_ACT_NOTIFY (a seccomp agent) is not supported")
    rules = tuple(r for s in syscalls for r in _rules(s, EPERM))
    return Profile(default, arch_map, architectures, rules)


def _arch_table(token: object) -> str:
    if token not in ARCH_TOKENS:
        raise _fail(f"unknown architecture {token!r}")
    return ARCH_TOKENS[token]


def _wanted(rule: Rule, caps: frozenset[str], native: str, kernel: tuple[int, int]) -> bool:
    """Docker's test: an exclude drops the rule if any of its parts holds; an include keeps it
    only if all of its parts hold (every listed cap, the host's arch listed, kernel new enough)."""
    arch = NATIVE_NAMES.get(native, native)
    e = rule.excludes
    if e is not None and ((e.arches and arch in e.arches) or any(c in caps for c in e.caps)
                          or (e.min_kernel is not None and kernel >= e.min_kernel)):
        return False
    i = rule.includes
    if i is not None and ((i.arches and arch not in i.arches)
                          or not all(c in caps for c in i.caps)
                          or (i.min_kernel is not None and kernel < i.min_kernel)):
        return False
    return True


def cap_names(mask: int) -> frozenset[str]:
    return frozenset(f"CAP_{name}" for bit, name in enumerate(CAP_NAMES) if mask & (1 << bit))


def select_rules(profile: Profile, caps: int, native: str,
                 kernel: tuple[int, int]) -> Selection:
    """The rules that apply to a process with capability mask `caps` on a `native` host."""
    held = cap_names(caps)
    if profile.arch_map:
        arches = profile.arch_map.get(native, ())
    else:
        arches = profile.architectures
    if native not in arches:
        # a profile without our architecture still filters native syscalls (as libseccomp does)
        arches = (native, *arches)
    rules = tuple(r for r in profile.rules if _wanted(r, held, native, kernel))
    return Selection(profile.default_action, arches, rules)


@lru_cache(maxsize=1)
def default_profile_text() -> str:
    return DEFAULT_PROFILE_PATH.read_text()


def host_arch(machine: str) -> str:
    """`uname -m` -> our table name; BadParameter for a machine we have no table for."""
    if machine not in MACHINE_ARCH:
        raise BadParameter(f"seccomp: no syscall table for this machine ({machine})")
    return MACHINE_ARCH[machine]


def kernel_version(release: str) -> tuple[int, int]:
    parts = release.split(".")
    try:
        return int(parts[0]), int("".join(ch for ch in parts[1] if ch.isdigit()) or 0)
    except (IndexError, ValueError):
        return (0, 0)
