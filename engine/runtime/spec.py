"""What a container (or an exec'd process) should look like: pure, frozen data.

The daemon builds a `ContainerSpec`; the runtime validates it (`validate_spec`) and ships it to
the zygote as JSON (`spec_to_dict` / `spec_from_dict`), so every field is plain data.
"""
from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass, field
from typing import Any

from engine.errors import BadParameter

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
MIN_MEMORY = 6 * 1024 * 1024  # docker refuses less than 6 MiB as well


@dataclass(frozen=True)
class Mount:
    """Applied inside the container's mount namespace, before pivot_root."""

    target: str                       # absolute path inside the container
    source: str = ""                  # host path (bind) or "" (tmpfs, ...)
    type: str = "bind"                # "bind" | "tmpfs" | any filesystem type
    options: tuple[str, ...] = ()     # e.g. ("size=64m", "mode=1777", "noexec")
    readonly: bool = False
    propagation: str = ""             # a bind's: "" (rprivate), [r]private, [r]shared, [r]slave


@dataclass(frozen=True)
class User:
    uid: int = 0
    gid: int = 0
    additional_gids: tuple[int, ...] = ()


@dataclass(frozen=True)
class Device:
    """A device node made in the container's /dev (a privileged container gets the host's)."""

    path: str                         # absolute, under /dev
    type: str                         # "c" | "b"
    major: int
    minor: int
    mode: int = 0o600                 # permission bits, as on the host


@dataclass(frozen=True)
class Rlimit:
    """docker's --ulimit: `name` as in `ulimit` (nofile, nproc, core, ...). Capped to the
    engine's own hard limit when applied (raising a hard limit needs CAP_SYS_RESOURCE, which
    the engine may lack: runc then fails the start with EPERM)."""

    name: str
    soft: int
    hard: int


@dataclass(frozen=True)
class ProcessSpec:
    args: tuple[str, ...]             # argv[0] resolved against PATH from env inside the container
    env: tuple[str, ...] = ()         # exactly this environment ("K=V"), nothing of the engine's
    cwd: str = "/"                    # created if missing (docker's -w), owned by the user
    user: User = User()
    tty: bool = False
    no_new_privileges: bool = False
    cap_add: tuple[str, ...] = ()     # on top of Docker's default set ("ALL" allowed)
    cap_drop: tuple[str, ...] = ()
    rlimits: tuple[Rlimit, ...] = ()
    oom_score_adj: int | None = None  # written to /proc/self/oom_score_adj before exec
    console_size: tuple[int, int] | None = None  # (rows, cols) of the pty before exec (with tty)
    seccomp_filter: str = ""          # base64 BPF program compiled by the daemon; "" = none


@dataclass(frozen=True)
class Resources:
    memory: int | None = None         # bytes
    memory_swap: int | None = None    # bytes, memory+swap like docker; -1 = unlimited
    nano_cpus: int | None = None      # --cpus 0.5 -> 500_000_000
    cpu_shares: int | None = None
    pids_limit: int | None = None
    all_devices: bool = False         # privileged: the devices cgroup allows every device
    cpu_period: int | None = None     # µs (Docker's CpuPeriod); with cpu_quota, not nano_cpus
    cpu_quota: int | None = None      # µs per period; -1 = no limit
    memory_reservation: int | None = None  # bytes: the soft limit (v1) / memory.low (v2)
    device_rules: tuple[str, ...] = ()  # allowed beyond the defaults, v1 syntax ("c 10:200 rwm")
    memory_swappiness: int | None = None  # 0-100; v1 only (v2 has no such knob)
    cpuset_cpus: str = ""             # Docker's CpusetCpus ("0-2,5"); "" = the parent's
    cpuset_mems: str = ""             # Docker's CpusetMems (memory nodes); "" = the parent's


@dataclass(frozen=True)
class ContainerSpec:
    id: str
    rootfs: str                       # host path of the container's mounted root (overlay "merged")
    hostname: str
    process: ProcessSpec
    mounts: tuple[Mount, ...] = ()    # volumes, binds, tmpfs, /etc/hosts, /etc/hostname, ...
    readonly_rootfs: bool = False
    network: str = "private"          # "private" | "none" | "host" | "ns:/proc/<pid>/ns/net"
    init_path: str | None = None      # host path of a static init (catatonit) to run as PID 1
    resources: Resources = field(default_factory=Resources)
    privileged: bool = False          # Docker's --privileged: /sys writable, nothing masked
    devices: tuple[Device, ...] = ()  # nodes beyond the default six (caps, seccomp: in process)
    domainname: str = ""              # the UTS domain name (Docker's Config.Domainname)
    # (key, value) written below /proc/sys in the container's own IPC and network namespaces
    sysctls: tuple[tuple[str, str], ...] = ()
    # Namespace sharing (Docker's PidMode, IpcMode, UTSMode), explicit opt-ins: "private" is a
    # namespace of its own; "host" the engine's; "join" another container's, whose PID 1 the
    # caller hands over as a pidfd (Runtime.start's `joins`), never by a /proc/<pid> path;
    # ipc "none" is a private namespace without /dev/shm
    pid_mode: str = "private"         # "private" | "host" | "join"
    ipc_mode: str = "private"         # "private" | "host" | "join" | "none"
    uts_mode: str = "private"         # "private" | "host"


RLIMIT_NAMES = ("core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice", "nofile",
                "nproc", "rss", "rtprio", "rttime", "sigpending", "stack", "as")
_SYSCTL = re.compile(r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_:@+-]+)+$")
_HOSTNAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]{0,62})$")


def validate_process(process: ProcessSpec) -> None:
    if not process.args or not process.args[0]:
        raise BadParameter("no command specified")
    for entry in process.env:
        if "=" not in entry or entry.startswith("="):
            raise BadParameter(f"invalid environment variable: {entry!r} (want KEY=VALUE)")
        if "\0" in entry:
            raise BadParameter("environment variables may not contain NUL bytes")
    if any("\0" in a for a in process.args):
        raise BadParameter("command arguments may not contain NUL bytes")
    if not process.cwd.startswith("/"):
        raise BadParameter(f"the working directory '{process.cwd}' is invalid, it needs to be an "
                           "absolute path")
    user = process.user
    for ident in (user.uid, user.gid, *user.additional_gids):
        if not 0 <= ident < 2**32 - 1:
            raise BadParameter(f"invalid user or group id {ident}")
    if process.oom_score_adj is not None and not -1000 <= process.oom_score_adj <= 1000:
        raise BadParameter(f"Invalid value {process.oom_score_adj}, range for oom score adj is "
                           "[-1000, 1000]")
    for limit in process.rlimits:
        if limit.name not in RLIMIT_NAMES:
            raise BadParameter(f"invalid ulimit type: {limit.name}")
        if limit.soft > limit.hard:
            raise BadParameter(f"ulimit soft limit must be less than hard limit: "
                               f"{limit.soft} > {limit.hard}")


_PROPAGATIONS = ("private", "rprivate", "shared", "rshared", "slave", "rslave")


def validate_spec(spec: ContainerSpec) -> None:
    """Raise BadParameter (one line) for anything the kernel would reject less clearly."""
    if not re.fullmatch(r"[0-9a-f]{12,64}", spec.id):
        raise BadParameter(f"invalid container id {spec.id!r}")
    if not os.path.isabs(spec.rootfs):
        raise BadParameter(f"rootfs must be an absolute path, got {spec.rootfs!r}")
    if not _HOSTNAME.match(spec.hostname):
        raise BadParameter(f"invalid hostname {spec.hostname!r}")
    validate_process(spec.process)
    if len(spec.domainname.encode()) > 64 or "\0" in spec.domainname:
        raise BadParameter(f"invalid domain name {spec.domainname!r}")
    for key, value in spec.sysctls:
        # the child writes /proc/sys/<key with dots as slashes>: no way out of /proc/sys
        if not _SYSCTL.match(key) or "\0" in value or "\n" in value:
            raise BadParameter(f"invalid sysctl {key!r}")
    if any(key.startswith("net.") for key, _ in spec.sysctls) and _hosts_network(spec.network):
        raise BadParameter("sysctl net.*: not allowed in the host's network namespace")
    for m in spec.mounts:
        if not m.target.startswith("/"):
            raise BadParameter(f"invalid mount target {m.target!r}: must be an absolute path")
        if m.type == "bind" and not os.path.isabs(m.source):
            raise BadParameter(f"invalid bind mount source {m.source!r}: must be an absolute path")
        if m.propagation and (m.type != "bind" or m.propagation not in _PROPAGATIONS):
            raise BadParameter(f"invalid propagation {m.propagation!r} for the {m.type} mount "
                               f"at {m.target}")
    if not (spec.network in ("private", "none", "host") or spec.network.startswith("ns:/")):
        raise BadParameter(f"invalid network mode {spec.network!r}")
    for dev in spec.devices:
        if not dev.path.startswith("/dev/") or ".." in dev.path.split("/") \
                or dev.type not in ("c", "b"):
            raise BadParameter(f"invalid device {dev.path!r}")
    if spec.init_path is not None and not os.path.isabs(spec.init_path):
        raise BadParameter(f"init path must be absolute, got {spec.init_path!r}")
    validate_resources(spec.resources)
    validate_sharing(spec)
    from engine.runtime import propagation   # it imports Mount from here
    propagation.check_sources(spec.mounts)


_PID_MODES, _IPC_MODES, _UTS_MODES = ("private", "host", "join"), \
    ("private", "host", "join", "none"), ("private", "host")
# keys of the IPC namespace (runc's list): written in the host's when the container shares it
_IPC_SYSCTLS = ("kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall",
                "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced")


def validate_sharing(spec: ContainerSpec) -> None:
    """The namespace modes, and what a shared namespace cannot take: a sysctl would change the
    host's (runc refuses the same)."""
    for what, value, allowed in (("pid", spec.pid_mode, _PID_MODES),
                                 ("ipc", spec.ipc_mode, _IPC_MODES),
                                 ("uts", spec.uts_mode, _UTS_MODES)):
        if value not in allowed:
            raise BadParameter(f"invalid {what} namespace mode {value!r}")
    for key, _ in spec.sysctls:
        ipc_key = key in _IPC_SYSCTLS or key.startswith("fs.mqueue.")
        if ipc_key and spec.ipc_mode == "host":
            raise BadParameter(f"sysctl {key!r} is not allowed in the host's IPC namespace")
        if key in ("kernel.hostname", "kernel.domainname") and spec.uts_mode == "host":
            raise BadParameter(f"sysctl {key!r} is not allowed in the host's UTS namespace")
    if spec.uts_mode == "host" and spec.domainname:
        raise BadParameter("a domain name cannot be set in the host's UTS namespace")


def _hosts_network(network: str) -> bool:
    """Whether the container would run in the engine's (the host's) network namespace; also
    through another container's (`ns:` path) that is on the host network."""
    if network == "host":
        return True
    if not network.startswith("ns:"):
        return False
    try:
        theirs, ours = os.stat(network[3:]), os.stat("/proc/self/ns/net")
    except OSError:
        return False        # that container is gone: its start fails on its own
    return (theirs.st_dev, theirs.st_ino) == (ours.st_dev, ours.st_ino)


def validate_resources(res: Resources, ncpu: int | None = None) -> None:
    if res.memory is not None and res.memory < MIN_MEMORY:
        raise BadParameter("Minimum memory limit allowed is 6MB")
    if res.memory_swap is not None and res.memory_swap != -1:
        if res.memory is None:
            raise BadParameter("You should always set the Memory limit when using Memoryswap limit")
        if res.memory_swap < res.memory:
            raise BadParameter("Minimum memoryswap limit should be larger than memory limit, "
                               "see usage")
    if res.nano_cpus is not None:
        ncpu = ncpu or os.cpu_count() or 1
        if not 10_000_000 <= res.nano_cpus <= ncpu * 1_000_000_000:
            raise BadParameter(f"Range of CPUs is from 0.01 to {ncpu}.00, as there are only "
                               f"{ncpu} CPUs available")
    if res.cpu_shares is not None and res.cpu_shares < 0:
        raise BadParameter("invalid CPU shares: must be positive")
    if res.pids_limit is not None and res.pids_limit == 0:
        raise BadParameter("invalid pids limit 0")


# --- JSON round trip (for the zygote protocol) --------------------------------------------

def spec_to_dict(obj: Any) -> dict:
    return dataclasses.asdict(obj)


def _tuple(items: Any) -> tuple:
    return tuple(items or ())


def process_from_dict(d: dict) -> ProcessSpec:
    u = d.get("user") or {}
    return ProcessSpec(
        args=_tuple(d["args"]), env=_tuple(d.get("env")), cwd=d.get("cwd", "/"),
        user=User(u.get("uid", 0), u.get("gid", 0), _tuple(u.get("additional_gids"))),
        tty=bool(d.get("tty")), no_new_privileges=bool(d.get("no_new_privileges")),
        cap_add=_tuple(d.get("cap_add")), cap_drop=_tuple(d.get("cap_drop")),
        rlimits=tuple(Rlimit(**r) for r in d.get("rlimits") or ()),
        oom_score_adj=d.get("oom_score_adj"),
        console_size=tuple(d["console_size"]) if d.get("console_size") else None,
        seccomp_filter=d.get("seccomp_filter") or "")


def spec_from_dict(d: dict) -> ContainerSpec:
    return ContainerSpec(
        id=d["id"], rootfs=d["rootfs"], hostname=d["hostname"],
        process=process_from_dict(d["process"]),
        mounts=tuple(Mount(m["target"], m.get("source", ""), m.get("type", "bind"),
                           _tuple(m.get("options")), bool(m.get("readonly")),
                           m.get("propagation") or "")
                     for m in d.get("mounts") or ()),
        readonly_rootfs=bool(d.get("readonly_rootfs")), network=d.get("network", "private"),
        init_path=d.get("init_path"), resources=Resources(**(d.get("resources") or {})),
        privileged=bool(d.get("privileged")),
        devices=tuple(Device(**x) for x in d.get("devices") or ()),
        domainname=d.get("domainname") or "",
        sysctls=tuple((str(k), str(v)) for k, v in d.get("sysctls") or ()),
        pid_mode=d.get("pid_mode") or "private", ipc_mode=d.get("ipc_mode") or "private",
        uts_mode=d.get("uts_mode") or "private")
