"""HostConfig.Sysctls (Compose's `sysctls:`, `docker run --sysctl`): which kernel settings a
container may set, decided before anything runs. Pure.

Only settings that belong to one of the container's own namespaces can be set, so that a
container never changes the host: those of its IPC namespace (System V IPC limits, POSIX
message queues) and of its network namespace (`net.*`, not with the host's network) — the
kernel keeps one value per namespace of each. These are the ones Docker allows. A setting
outside them is refused at create, naming it, rather than failing at start. (The host and
domain name have fields of their own: Config.Hostname, Config.Domainname.)
"""
from __future__ import annotations

import re

from engine.errors import BadParameter

# System V IPC limits kept per IPC namespace (ipc/ipc_sysctl.c)
IPC_KEYS = frozenset({"kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem",
                      "kernel.shmall", "kernel.shmmax", "kernel.shmmni",
                      "kernel.shm_rmid_forced"})
# a key's path below /proc/sys: no way out of it, no empty component
_KEY = re.compile(r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_:@+-]+)+$")


def namespace_of(key: str) -> str | None:
    """The namespace a setting belongs to ("ipc", "net"), or None."""
    if key in IPC_KEYS or key.startswith("fs.mqueue."):
        return "ipc"
    if key.startswith("net."):
        return "net"
    return None


def parse_sysctls(raw: object, network_mode: str) -> tuple[tuple[str, str], ...]:
    """HostConfig.Sysctls as (key, value) pairs in the request's order."""
    if raw is None:
        return ()
    if not isinstance(raw, dict):
        raise BadParameter("HostConfig.Sysctls: expected a map of setting to value")
    out = []
    for key, value in raw.items():
        where = f"HostConfig.Sysctls[{key!r}]"
        if not isinstance(key, str) or not _KEY.match(key):
            raise BadParameter(f"{where}: invalid sysctl name")
        if not isinstance(value, str) or "\n" in value or "\0" in value:
            raise BadParameter(f"{where}: the value must be a string on one line")
        space = namespace_of(key)
        if space is None:
            raise BadParameter(f"{where}: sysctl {key!r} is not in a separate kernel namespace "
                               "(only net.*, fs.mqueue.* and the kernel's IPC limits are "
                               "per container)")
        if space == "net" and network_mode == "host":
            raise BadParameter(f"{where}: sysctl {key!r} is not allowed with the host's "
                               "network namespace")
        out.append((key, value))
    return tuple(out)
