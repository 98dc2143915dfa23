"""The container process's side: install the ready program just before execve.

Runs in the zygote's child (no trio, few allocations). Order, as runc does it in spirit but
later: with no_new_privileges the filter goes in after the credentials are final, so only execve
runs under it. Without no_new_privileges the kernel wants CAP_SYS_ADMIN to install a filter, so
the child keeps CAP_SYS_ADMIN in its effective set through the credential change (`held_caps`),
installs, then drops to the container's set with one capset: only capset and execve run under the
filter (Docker's profile allows both; a custom profile must too, as with runc).
"""
from __future__ import annotations

import base64
import ctypes

from engine.runtime import capabilities
from engine.runtime import syscalls as sc
from engine.runtime.spec import ProcessSpec

PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
CAP_SYS_ADMIN = 21


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def held_caps(process: ProcessSpec) -> int:
    """Capabilities to keep until `install` (beyond the container's own set)."""
    if process.seccomp_filter and not process.no_new_privileges:
        return 1 << CAP_SYS_ADMIN
    return 0


def install(process: ProcessSpec, caps: int) -> None:
    """Load the process's filter (if any) and drop what `held_caps` kept. Raises OSError."""
    if not process.seccomp_filter:
        return
    program = base64.b64decode(process.seccomp_filter)
    buf = ctypes.create_string_buffer(program, len(program))
    prog = _SockFprog(len(program) // 8, ctypes.addressof(buf))
    held = held_caps(process)
    keep = caps & capabilities.held_by_engine()  # what apply_credentials left, minus `held`
    sc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.addressof(prog))
    if held:
        capabilities.release_held(keep)
