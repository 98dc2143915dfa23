"""Developer tool: regenerate syscalls.json from the Linux UAPI headers on this machine.

    python3 -m engine.runtime.seccomp.gen_syscalls > engine/runtime/seccomp/syscalls.json

Not imported at run time. The headers of Debian bookworm (linux-libc-dev 6.1) stop at 450; the
syscalls added since share one number on every architecture we table (the unified numbering that
started at 424), so they are listed here by hand.
"""
from __future__ import annotations

import json
import re
import subprocess
import sys

X32_SYSCALL_BIT = 0x40000000
INCLUDE = "/usr/include"

# Added after Linux 6.1 (numbers from the kernel's syscall tables, identical on x86_64, i386,
# x32 and arm64 unless the set says otherwise).
LATER = {
    451: ("cachestat", {"x86_64", "x86", "x32", "aarch64"}),
    452: ("fchmodat2", {"x86_64", "x86", "x32", "aarch64"}),
    453: ("map_shadow_stack", {"x86_64", "x86", "aarch64"}),  # not x32 (a "64" entry)
    454: ("futex_wake", {"x86_64", "x86", "x32", "aarch64"}),
    455: ("futex_wait", {"x86_64", "x86", "x32", "aarch64"}),
    456: ("futex_requeue", {"x86_64", "x86", "x32", "aarch64"}),
    457: ("statmount", {"x86_64", "x86", "x32", "aarch64"}),
    458: ("listmount", {"x86_64", "x86", "x32", "aarch64"}),
    459: ("lsm_get_self_attr", {"x86_64", "x86", "x32", "aarch64"}),
    460: ("lsm_set_self_attr", {"x86_64", "x86", "x32", "aarch64"}),
    461: ("lsm_list_modules", {"x86_64", "x86", "x32", "aarch64"}),
    462: ("mseal", {"x86_64", "x86", "x32", "aarch64"}),
    463: ("setxattrat", {"x86_64", "x86", "x32", "aarch64"}),
    464: ("getxattrat", {"x86_64", "x86", "x32", "aarch64"}),
    465: ("listxattrat", {"x86_64", "x86", "x32", "aarch64"}),
    466: ("removexattrat", {"x86_64", "x86", "x32", "aarch64"}),
    467: ("open_tree_attr", {"x86_64", "x86", "x32", "aarch64"}),
    468: ("file_getattr", {"x86_64", "x86", "x32", "aarch64"}),
    469: ("file_setattr", {"x86_64", "x86", "x32", "aarch64"}),
}
X86_64_ONLY = {"uretprobe": 335}  # added in 6.11, 64-bit x86 only

# arm64's <asm/unistd.h> selects these parts of the generic table.
ARM64_MACROS = ("__ARCH_WANT_RENAMEAT", "__ARCH_WANT_NEW_STAT",
                "__ARCH_WANT_SET_GET_RLIMIT", "__ARCH_WANT_TIME32_SYSCALLS",
                "__ARCH_WANT_SYS_CLONE3", "__ARCH_WANT_MEMFD_SECRET")


def _defines(header: str, macros: tuple[str, ...] = ()) -> dict[str, str]:
    # the x86_64 <asm/bitsperlong.h> gives __BITS_PER_LONG 64, as on arm64
    out = subprocess.run(["cpp", "-dM", "-nostdinc", "-I", INCLUDE,
                          "-I", f"{INCLUDE}/x86_64-linux-gnu", *(f"-D{m}" for m in macros), header],
                         capture_output=True, text=True, check=True).stdout
    found = {}
    for line in out.splitlines():
        m = re.match(r"#define (\w+) (.+)$", line)
        if m:
            found[m.group(1)] = m.group(2).strip()
    return found


def _evaluate(expr: str, defs: dict[str, str], depth: int = 0) -> int:
    if depth > 10:
        raise ValueError(expr)
    text = re.sub(r"\b(__\w+)\b", lambda m: f"({_evaluate(defs[m.group(1)], defs, depth + 1)})",
                  expr)
    return int(eval(text, {"__builtins__": {}}))  # only numbers, parentheses and + remain


def _table(header: str, macros: tuple[str, ...] = (), mask: int = 0) -> dict[str, int]:
    defs = {"__X32_SYSCALL_BIT": "0x40000000", **_defines(header, macros)}
    table = {}
    for name, expr in defs.items():
        if name.startswith("__NR_") and not name.startswith("__NR3264"):
            if name in ("__NR_syscalls", "__NR_arch_specific_syscall"):
                continue
            table[name[5:]] = _evaluate(expr, defs) & ~mask
    return table


def build() -> dict[str, dict[str, int]]:
    arch_dir = f"{INCLUDE}/x86_64-linux-gnu/asm"
    tables = {
        "x86_64": _table(f"{arch_dir}/unistd_64.h"),
        "x86": _table(f"{arch_dir}/unistd_32.h"),
        "x32": _table(f"{arch_dir}/unistd_x32.h", mask=X32_SYSCALL_BIT),
        "aarch64": _table(f"{INCLUDE}/asm-generic/unistd.h", ARM64_MACROS),
    }
    for nr, (name, arches) in LATER.items():
        for arch in arches:
            tables[arch].setdefault(name, nr)
    for name, nr in X86_64_ONLY.items():
        tables["x86_64"].setdefault(name, nr)
    return {arch: dict(sorted(t.items(), key=lambda kv: (kv[1], kv[0])))
            for arch, t in tables.items()}


if __name__ == "__main__":
    json.dump(build(), sys.stdout, indent=0, separators=(",", ":"))
    sys.stdout.write("\n")
