"""Linux capabilities: names, Docker's default set, and dropping to a set before exec.

Mask arithmetic is pure; `apply_capabilities` is the side effect, done in the container's process
as root before it changes uid: bounding set first (needs CAP_SETPCAP), then keep-caps across the
uid change, then capset. A non-root user ends with CapEff 0 after execve, like Docker.
"""
from __future__ import annotations

import os

from engine.errors import BadParameter
from engine.runtime import syscalls

# Index = capability number (linux/capability.h).
CAP_NAMES = (
    "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID",
    "SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW",
    "IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT",
    "SYS_ADMIN", "SYS_BOOT", "SYS_NICE", "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD",
    "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG",
    "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE",
)

DOCKER_DEFAULT_CAPS = (
    "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID", "SETPCAP",
    "NET_BIND_SERVICE", "NET_RAW", "SYS_CHROOT", "MKNOD", "AUDIT_WRITE", "SETFCAP",
)


def cap_number(name: str) -> int:
    key = name.upper()
    key = key[4:] if key.startswith("CAP_") else key
    try:
        return CAP_NAMES.index(key)
    except ValueError:
        raise BadParameter(f"unknown capability: {name!r}") from None


def check_cap_names(names: tuple[str, ...], field_name: str) -> tuple[str, ...]:
    """`names` unchanged if each is a capability (with or without CAP_) or ALL; else Docker's
    one-line 400."""
    for name in names:
        if name.upper() != "ALL":
            try:
                cap_number(name)
            except BadParameter:
                key = name.upper() if name.upper().startswith("CAP_") else f"CAP_{name.upper()}"
                raise BadParameter(f'invalid {field_name}: unknown capability: "{key}"') from None
    return names


def mask_of(names: tuple[str, ...] | list[str]) -> int:
    mask = 0
    for name in names:
        mask |= 1 << cap_number(name)
    return mask


ALL_CAPS = (1 << len(CAP_NAMES)) - 1
DOCKER_DEFAULT_MASK = mask_of(DOCKER_DEFAULT_CAPS)  # == 0xa80425fb


def effective_mask(cap_add: tuple[str, ...] = (), cap_drop: tuple[str, ...] = (),
                   last_cap: int | None = None) -> int:
    """Docker's rules: start from the default set, add, then drop; "ALL" means every cap."""
    full = ALL_CAPS if last_cap is None else (1 << (last_cap + 1)) - 1
    add_all = any(c.upper() == "ALL" for c in cap_add)
    adds = full if add_all else mask_of([c for c in cap_add])
    if any(c.upper() == "ALL" for c in cap_drop):
        mask = adds  # "--cap-drop ALL --cap-add X" keeps exactly X
    else:
        mask = (DOCKER_DEFAULT_MASK | adds) & ~mask_of([c for c in cap_drop])
    return mask & full


def last_cap() -> int:
    try:
        with open("/proc/sys/kernel/cap_last_cap") as f:
            return int(f.read())
    except OSError:
        return len(CAP_NAMES) - 1


def drop_bounding_set(keep: int, last: int) -> None:
    for cap in range(last + 1):
        if not keep & (1 << cap):
            try:
                syscalls.prctl(syscalls.PR_CAPBSET_DROP, cap)
            except OSError as e:  # a cap the kernel does not know, or already gone
                if e.errno != 22:
                    raise


def apply_credentials(uid: int, gid: int, groups: tuple[int, ...], caps: int, last: int,
                      hold: int = 0) -> None:
    """Bounding set, groups, gid, uid, then the remaining capability sets — in that order.

    `hold`: capabilities kept in the effective and permitted sets beyond `caps` (not in the
    bounding set, so no execve can get them back) until `release_held`; seccomp needs
    CAP_SYS_ADMIN to install a filter without no_new_privileges (seccomp/install.py).
    Capabilities the engine itself lacks (it may run with a reduced set) are left out rather
    than failing the start: "ALL" means all the engine has."""
    caps &= held_by_engine()
    drop_bounding_set(caps, last)
    syscalls.prctl(syscalls.PR_SET_KEEPCAPS, 1)
    os.setgroups(list(groups))
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)
    syscalls.prctl(syscalls.PR_SET_KEEPCAPS, 0)
    # Inheritable stays empty (Docker after CVE-2022-24769); execve recomputes the rest.
    syscalls.capset(caps | hold, caps | hold, 0)


def release_held(caps: int) -> None:
    """Drop what `apply_credentials(hold=...)` kept: exactly `caps` remain (a subset of what
    the process holds: one capset, nothing else, as it runs under the new filter)."""
    syscalls.capset(caps, caps, 0)


def held_by_engine() -> int:
    """The calling process's permitted set: the most a container can get from us."""
    return syscalls.capget()[1]


def privileged_mask(last: int | None = None) -> int:
    """Every capability the kernel knows (Docker's --privileged, before `held_by_engine`)."""
    return ALL_CAPS if last is None else (1 << (last + 1)) - 1
