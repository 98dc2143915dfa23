"""The daemon's side: one compiled filter per (profile, capabilities, host), compiled once.

A container's filter depends on its capability set (Docker's `includes.caps`), so containers
with the same caps share one program; the child only receives the bytes (base64 in its
ProcessSpec) and installs them, it never compiles.
"""
from __future__ import annotations

import base64
import os
from functools import lru_cache

from engine.runtime.seccomp import bpf, profile

UNCONFINED = "unconfined"
BUILTIN = "builtin"


@lru_cache(maxsize=64)
def _compiled(text: str, caps: int, machine: str, release: str) -> str:
    parsed = profile.parse_profile(text)
    selection = profile.select_rules(parsed, caps, profile.host_arch(machine),
                                     profile.kernel_version(release))
    return base64.b64encode(bpf.compile_selection(selection)).decode()


def filter_for(seccomp: str, caps: int, privileged: bool = False) -> str:
    """The base64 BPF program for a process, or "" for none.

    `seccomp` is the `seccomp=` value: "" or "builtin" (Docker's default profile),
    "unconfined", or a profile's JSON text. Privileged containers run unconfined unless they name
    a profile of their own, as in Docker."""
    if seccomp == UNCONFINED or (privileged and seccomp in ("", BUILTIN)):
        return ""
    text = profile.default_profile_text() if seccomp in ("", BUILTIN) else seccomp
    uname = os.uname()
    return _compiled(text, caps, uname.machine, uname.release)


def check_profile(seccomp: str) -> None:
    """BadParameter now (at create) for a profile that could not be compiled at start."""
    if seccomp not in ("", BUILTIN, UNCONFINED):
        filter_for(seccomp, 0)
