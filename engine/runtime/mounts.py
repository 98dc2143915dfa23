"""The container's mount table: a pure plan of operations, then the code that applies it.

`plan_mounts(spec)` decides everything (order, flags, option strings) from the spec alone, so
unit tests check the exact sequence without root. `apply_plan(root, plan)` runs inside the
container's fresh mount namespace, before pivot_root; every target is joined to the root with
symlinks resolved *inside* the root (an image's `/etc/hosts -> /host/path` cannot redirect a
mount onto the host). `enter_root` then pivots into the root.

Order: proc (mounted by PID 1 itself, P3), read-only sysfs, /dev (devices.py), the static init,
the caller's mounts (parents before children, so a volume under a tmpfs lands on the tmpfs),
then Docker's masked and read-only paths — last, so nothing mounted later uncovers them.
"""
from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass

from engine.runtime import syscalls as sc
from engine.runtime.devices import dev_plan
from engine.runtime.spec import ContainerSpec, Mount

INIT_TARGET = "/dev/init"

# Docker's defaults (moby oci/defaults.go lists the same paths).
MASKED_PATHS = (
    "/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
    "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
    "/sys/firmware", "/sys/devices/virtual/powercap",
)
READONLY_PATHS = ("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger")

_SAFE = sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC


@dataclass(frozen=True)
class MountOp:
    """mount(2) of `source` onto `target` (a path inside the container)."""

    target: str
    source: str | None
    fstype: str | None
    flags: int = 0
    data: str | None = None
    create: str | None = "dir"      # "dir" | "file" | "auto" (like the bind source) | None


@dataclass(frozen=True)
class MakeNode:
    path: str
    major: int
    minor: int
    mode: int = 0o666
    block: bool = False             # a block device (privileged containers' host devices)


@dataclass(frozen=True)
class MakeLink:
    path: str
    target: str


@dataclass(frozen=True)
class MaskPath:
    """Hide a path: tmpfs (read-only) over a directory, /dev/null over a file; skip if absent."""

    path: str


@dataclass(frozen=True)
class ReadonlyPath:
    """Bind a path onto itself and remount it read-only; skip if absent."""

    path: str


Op = MountOp | MakeNode | MakeLink | MaskPath | ReadonlyPath

# option -> (flag, set?) ; everything else is filesystem data
_FLAG_OPTIONS = {
    "ro": (sc.MS_RDONLY, True), "rw": (sc.MS_RDONLY, False),
    "nosuid": (sc.MS_NOSUID, True), "suid": (sc.MS_NOSUID, False),
    "nodev": (sc.MS_NODEV, True), "dev": (sc.MS_NODEV, False),
    "noexec": (sc.MS_NOEXEC, True), "exec": (sc.MS_NOEXEC, False),
    "sync": (sc.MS_SYNCHRONOUS, True), "async": (sc.MS_SYNCHRONOUS, False),
    "dirsync": (sc.MS_DIRSYNC, True),
    "noatime": (sc.MS_NOATIME, True), "atime": (sc.MS_NOATIME, False),
    "nodiratime": (sc.MS_NODIRATIME, True), "diratime": (sc.MS_NODIRATIME, False),
    "relatime": (sc.MS_RELATIME, True), "norelatime": (sc.MS_RELATIME, False),
    "strictatime": (sc.MS_STRICTATIME, True),
}
_PROPAGATION = {"private", "rprivate", "shared", "rshared", "slave", "rslave", "z", "Z",
                "bind", "rbind", "nocopy"}


def parse_options(options: tuple[str, ...], flags: int = 0) -> tuple[int, str]:
    """Split mount options into (MS_* flags, data string), starting from `flags`."""
    data = []
    for opt in options:
        if opt in _FLAG_OPTIONS:
            bit, on = _FLAG_OPTIONS[opt]
            flags = flags | bit if on else flags & ~bit
        elif opt in _PROPAGATION:
            continue  # the container's mounts are always private
        elif opt:
            data.append(opt)
    return flags, ",".join(data)


def _user_mount(m: Mount) -> list[Op]:
    if m.type == "bind":
        rec = 0 if "bind" in m.options else sc.MS_REC
        extra, _ = parse_options(m.options)
        ops: list[Op] = [MountOp(m.target, m.source, None, sc.MS_BIND | rec, None, "auto")]
        if m.readonly or extra & sc.MS_RDONLY or extra & _SAFE:
            ops.append(MountOp(m.target, None, None,
                               sc.MS_BIND | sc.MS_REMOUNT | (extra & ~sc.MS_REC)
                               | (sc.MS_RDONLY if m.readonly else 0), None, None))
        return ops
    base = _SAFE if m.type == "tmpfs" else 0  # docker --tmpfs: noexec,nosuid,nodev by default
    flags, data = parse_options(m.options, base)
    if m.readonly:
        flags |= sc.MS_RDONLY
    return [MountOp(m.target, m.source or m.type, m.type, flags, data or None, "dir")]


def plan_mounts(spec: ContainerSpec) -> list[Op]:
    plan: list[Op] = [
        MountOp("/proc", "proc", "proc", _SAFE),
        # privileged: a writable /sys and nothing masked below, as Docker's --privileged
        MountOp("/sys", "sysfs", "sysfs", _SAFE | (0 if spec.privileged else sc.MS_RDONLY)),
    ]
    plan += dev_plan()
    plan += [MakeNode(d.path, d.major, d.minor, d.mode, d.type == "b") for d in spec.devices]
    if spec.init_path:
        plan.append(MountOp(INIT_TARGET, spec.init_path, None, sc.MS_BIND, None, "file"))
        plan.append(MountOp(INIT_TARGET, None, None,
                            sc.MS_BIND | sc.MS_REMOUNT | sc.MS_RDONLY | sc.MS_NOSUID, None, None))
    depth = sorted(spec.mounts, key=lambda m: len([p for p in m.target.split("/") if p]))
    for m in depth:
        plan += _user_mount(m)
    if not spec.privileged:
        plan += [MaskPath(p) for p in MASKED_PATHS]
        plan += [ReadonlyPath(p) for p in READONLY_PATHS]
    return plan


def secure_join(root: str, path: str) -> str:
    """`root` + `path`, resolving symlinks as if `root` were `/` (missing tails are kept)."""
    todo = [p for p in path.split("/") if p]
    done: list[str] = []
    hops = 0
    while todo:
        part = todo.pop(0)
        if part == ".":
            continue
        if part == "..":
            if done:
                done.pop()
            continue
        candidate = os.path.join(root, *done, part)
        try:
            st = os.lstat(candidate)
        except FileNotFoundError:
            done.append(part)
            continue
        if stat.S_ISLNK(st.st_mode):
            hops += 1
            if hops > 40:
                raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), path)
            link = os.readlink(candidate)
            if link.startswith("/"):
                done = []
            todo = [p for p in link.split("/") if p] + todo
        else:
            done.append(part)
    return os.path.join(root, *done)


def _create(path: str, kind: str | None, source: str | None) -> None:
    if kind is None or os.path.lexists(path):
        return
    if kind == "auto":
        kind = "dir" if source is None or os.path.isdir(source) else "file"
    if kind == "dir":
        os.makedirs(path, 0o755, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(path), 0o755, exist_ok=True)
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o644))


def apply_op(root: str, op: Op) -> None:
    if isinstance(op, MountOp):
        target = secure_join(root, op.target)
        _create(target, op.create, op.source)
        sc.mount(op.source, target, op.fstype, op.flags, op.data)
    elif isinstance(op, MakeNode):
        path = os.path.join(root, op.path.lstrip("/"))
        if op.path.count("/") > 2:  # /dev/input/event0: its directory first
            os.makedirs(os.path.dirname(path), 0o755, exist_ok=True)
        kind = stat.S_IFBLK if op.block else stat.S_IFCHR
        os.mknod(path, kind | op.mode, os.makedev(op.major, op.minor))
        os.chmod(path, op.mode)  # mknod's mode is filtered by the umask
    elif isinstance(op, MakeLink):
        os.symlink(op.target, os.path.join(root, op.path.lstrip("/")))
    elif isinstance(op, MaskPath):
        path = os.path.join(root, op.path.lstrip("/"))
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return
        if stat.S_ISDIR(st.st_mode):
            sc.mount("tmpfs", path, "tmpfs", sc.MS_RDONLY | _SAFE, "size=0,mode=755")
        else:
            sc.mount(os.path.join(root, "dev/null"), path, None, sc.MS_BIND)
    elif isinstance(op, ReadonlyPath):
        path = os.path.join(root, op.path.lstrip("/"))
        if not os.path.lexists(path):
            return
        sc.mount(path, path, None, sc.MS_BIND | sc.MS_REC)
        sc.mount(None, path, None, sc.MS_BIND | sc.MS_REMOUNT | sc.MS_RDONLY | _SAFE)


def describe(op: Op) -> str:
    """A short human name for an op, used in error messages."""
    if isinstance(op, MountOp):
        return f"mount {op.source or op.fstype} on {op.target}"
    return f"{type(op).__name__} {getattr(op, 'path', '')}"


def prepare_root(root: str) -> None:
    """First steps in a new mount namespace: stop propagation (P4), make the root a mount."""
    sc.mount(None, "/", None, sc.MS_REC | sc.MS_PRIVATE)
    sc.mount(root, root, None, sc.MS_BIND | sc.MS_REC)


def apply_plan(root: str, plan: list[Op]) -> None:
    for op in plan:
        try:
            apply_op(root, op)
        except OSError as e:
            raise OSError(e.errno, f"{describe(op)}: {e.strerror}") from None


def enter_root(root: str) -> None:
    """pivot_root(".", ".") and detach the old root: no put_old directory needed (P4)."""
    os.chdir(root)
    sc.pivot_root(".", ".")
    sc.umount2(".", sc.MNT_DETACH)
    os.chdir("/")


def make_root_readonly() -> None:
    sc.mount(None, "/", None, sc.MS_BIND | sc.MS_REMOUNT | sc.MS_RDONLY)
