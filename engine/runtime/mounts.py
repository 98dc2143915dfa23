"""The container's mount table: a pure plan of operations, then the code that applies it.

`plan_mounts(spec)` decides everything (order, flags, option strings) from the spec alone, so
unit tests check the exact sequence without root. `apply_plan(root, plan)` runs inside the
container's fresh mount namespace, before pivot_root. No target is ever a joined string: each
is opened inside the root (rootpath: openat2 RESOLVE_IN_ROOT, so an image's or a volume's
symlink — `/etc/hosts -> /host/path`, `/proc/sys -> /`, `../../..` — resolves inside the root)
and mounted on through its fd. Targets are checked where they *resolved to*: /proc, /sys and
/dev must be real directories, a caller's mount may not land on / or in /proc (destinations).
`enter_root` then pivots into the root.

Order: proc (mounted by PID 1 itself: the process that unshares a PID namespace stays outside
it, so a proc it mounted would show the host's PIDs), read-only sysfs, /dev (devices.py), the
static init, the caller's mounts (parents before children, so a volume under a tmpfs lands on
the tmpfs), then Docker's masked and read-only paths — last, so nothing mounted later uncovers
them. A bind's propagation (shared, slave) is propagation.py's: a shared bind's source is
cloned before prepare_root (clone_shared_binds) and attached where the plan says.
"""
from __future__ import annotations

import enum
import errno
import os
import posixpath
import stat
from dataclasses import dataclass

from engine.runtime import destinations, propagation, rootpath
from engine.runtime import syscalls as sc
from engine.runtime.devices import dev_plan
# secure_join moved to rootpath; callers still import it from here
from engine.runtime.rootpath import secure_join  # noqa: F401
from engine.runtime.spec import ContainerSpec, Mount

INIT_TARGET = "/dev/init"
SHM_TARGET = "/dev/shm"

# Docker's defaults (moby oci/defaults.go lists the same paths).
MASKED_PATHS = (
    "/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
    "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
    "/sys/firmware", "/sys/devices/virtual/powercap",
)
READONLY_PATHS = ("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger")

_SAFE = sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC


class TargetRule(enum.Enum):
    """What is checked about where a mount target resolved to, before mounting on it."""

    ANY = "any"              # the engine's own mounts inside what it made itself (/dev/pts, ...)
    REAL_DIR = "real-dir"    # /proc, /sys, /dev: a directory of the image, never a symlink
    CALLER = "caller"        # a caller's mount: refused on / or on/under /proc (destinations)


@dataclass(frozen=True)
class MountOp:
    """mount(2) of `source` onto `target` (a path inside the container, resolved in its root)."""

    target: str
    source: str | None
    fstype: str | None
    flags: int = 0
    data: str | None = None
    create: str | None = "dir"      # "dir" | "file" | "auto" (like the bind source) | None
    rule: TargetRule = TargetRule.ANY
    clone: bool = False             # attach the source's clone made by clone_shared_binds


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
            continue  # a bind's propagation is its Mount's own field (propagation.py)
        elif opt:
            data.append(opt)
    return flags, ",".join(data)


def _user_mount(m: Mount, links_host: bool = False) -> list[Op]:
    """`links_host`: the namespace is a slave of the host's (propagation.py), so every bind
    says its propagation; otherwise all is private already and only that is asked for."""
    if m.type == "bind":
        rec = sc.MS_REC if propagation.recursive(m) else 0
        extra, _ = parse_options(m.options)
        ops: list[Op] = [MountOp(m.target, m.source, None, sc.MS_BIND | rec, None, "auto",
                                 TargetRule.CALLER, clone=propagation.is_shared(m))]
        if links_host:
            ops.append(MountOp(m.target, None, None, propagation.flags(m.propagation), None,
                               None, TargetRule.CALLER))
        if m.readonly or extra & sc.MS_RDONLY or extra & _SAFE:
            ops.append(MountOp(m.target, None, None,
                               sc.MS_BIND | sc.MS_REMOUNT | (extra & ~sc.MS_REC)
                               | (sc.MS_RDONLY if m.readonly else 0), None, None,
                               TargetRule.CALLER))
        return ops
    base = _SAFE if m.type == "tmpfs" else 0  # docker --tmpfs: noexec,nosuid,nodev by default
    flags, data = parse_options(m.options, base)
    if m.readonly:
        flags |= sc.MS_RDONLY
    return [MountOp(m.target, m.source or m.type, m.type, flags, data or None, "dir",
                    TargetRule.CALLER)]


def _shm_op(default: MountOp, ipc_mode: str) -> MountOp | None:
    """/dev/shm by the IPC mode (Docker's): a tmpfs of its own; the host's /dev/shm with the
    host's IPC namespace; the donor's (cloned by the child, child.join_ipc) when joining
    another container's; none at all with IpcMode none."""
    if ipc_mode == "host":
        return MountOp(SHM_TARGET, SHM_TARGET, None, sc.MS_BIND | sc.MS_REC)
    if ipc_mode == "join":
        return MountOp(SHM_TARGET, None, None, clone=True)
    if ipc_mode == "none":
        return None
    return default


def plan_mounts(spec: ContainerSpec) -> list[Op]:
    plan: list[Op] = [
        # an image's `/proc -> /` must not turn these into mounts over its whole root
        # (CVE-2019-19921 class): real directories only
        MountOp("/proc", "proc", "proc", _SAFE, rule=TargetRule.REAL_DIR),
        # privileged: a writable /sys and nothing masked below, as Docker's --privileged
        MountOp("/sys", "sysfs", "sysfs", _SAFE | (0 if spec.privileged else sc.MS_RDONLY),
                rule=TargetRule.REAL_DIR),
    ]
    # a mount of the container's own at /dev/shm or /dev/mqueue replaces the default one there
    # (as Docker's), rather than hiding it underneath
    own = {m.target.rstrip("/") for m in spec.mounts}
    plan += [_shm_op(op, spec.ipc_mode) if isinstance(op, MountOp) and op.target == SHM_TARGET
             else op for op in dev_plan()
             if not (isinstance(op, MountOp) and op.target != "/dev" and op.target in own)]
    plan = [op for op in plan if op is not None]
    plan += [MakeNode(d.path, d.major, d.minor, d.mode, d.type == "b") for d in spec.devices]
    if spec.init_path:
        plan.append(MountOp(INIT_TARGET, spec.init_path, None, sc.MS_BIND, None, "file"))
        plan.append(MountOp(INIT_TARGET, None, None,
                            sc.MS_BIND | sc.MS_REMOUNT | sc.MS_RDONLY | sc.MS_NOSUID, None, None))
    depth = sorted(spec.mounts, key=lambda m: len([p for p in m.target.split("/") if p]))
    links_host = propagation.links_host(spec.mounts)
    for m in depth:
        plan += _user_mount(m, links_host)
    if not spec.privileged:
        plan += [MaskPath(p) for p in MASKED_PATHS]
        plan += [ReadonlyPath(p) for p in READONLY_PATHS]
    return plan


def _auto_kind(kind: str | None, source: str | None) -> str | None:
    if kind == "auto":  # a bind's mount point takes the shape of its (host) source
        return "dir" if source is None or os.path.isdir(source) else "file"
    return kind


def _refuse(op: MountOp, where: str) -> None:
    """A caller's target that resolved (inside the root) onto / or into /proc, or that a link
    took into /sys or /dev: refused. The last line behind the daemon's create check, which
    sees the path only as written."""
    written = destinations.normalize(op.target)
    reason = destinations.refusal(where) or destinations.redirect_refusal(written, where)
    if reason:
        shown = "" if where == written else f" (it resolves to {where})"
        raise OSError(errno.EPERM, f"destination {op.target}{shown} refused: {reason}")


def _open_target(root: str, root_fd: int, op: MountOp) -> int:
    """An O_PATH fd of the op's target, made first if missing (and allowed)."""
    nofollow = os.O_NOFOLLOW if op.rule is TargetRule.REAL_DIR else 0
    if op.rule is TargetRule.CALLER:
        _refuse(op, destinations.normalize(op.target))   # the path as written
    try:
        return rootpath.open_in_root(root_fd, root, op.target, os.O_PATH | nofollow)
    except FileNotFoundError:
        if op.create is None:
            raise
    parts = rootpath.resolve_parts(root, op.target)
    if op.rule is TargetRule.CALLER:
        # before anything is created on the way: where it leads as things stand now
        _refuse(op, "/" + "/".join(parts))
    return rootpath.create(root_fd, root, parts, _auto_kind(op.create, op.source),
                           os.O_PATH | nofollow)


def _mount_op(root: str, root_fd: int, op: MountOp, clones: dict[str, int]) -> None:
    fd = _open_target(root, root_fd, op)
    try:
        if op.rule is TargetRule.REAL_DIR and not stat.S_ISDIR(os.fstat(fd).st_mode):
            raise OSError(errno.ENOTDIR, f"{op.target} in the image is not a real directory "
                                         "(a symlink or a file): refusing to mount on it")
        if op.rule is TargetRule.CALLER:
            _refuse(op, rootpath.located(fd, root, op.target))   # what the fd really is
        if op.clone:
            clone = clones.pop(op.target)
            try:
                # onto the fd itself: a /proc/self/fd path is a link move_mount would not
                # follow without MOVE_MOUNT_T_SYMLINKS
                sc.move_mount(clone, "", to_dirfd=fd,
                              flags=sc.MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH)
            finally:
                os.close(clone)
        else:
            sc.mount(op.source, rootpath.fd_path(fd), op.fstype, op.flags, op.data)
    finally:
        os.close(fd)


def _in_parent(root: str, root_fd: int, path: str, make) -> None:
    """Run make(name, parent_fd) in the (created) parent directory of container path `path`."""
    head, name = posixpath.split(path)
    try:
        if name in ("", ".", ".."):
            raise FileNotFoundError(path)   # not a plain name: take the walk below
        parent = rootpath.open_in_root(root_fd, root, head or "/", os.O_PATH | os.O_DIRECTORY)
    except FileNotFoundError:
        parts = rootpath.resolve_parts(root, path, follow_last=False)
        parent = rootpath.make_dirs(root_fd, root, parts[:-1])
        name = parts[-1]
    try:
        make(name, parent)
    finally:
        os.close(parent)


def _make_node(name: str, parent: int, op: MakeNode) -> None:
    kind = stat.S_IFBLK if op.block else stat.S_IFCHR
    old = os.umask(0)  # the node gets exactly op.mode; no chmod by name afterwards
    try:
        os.mknod(name, kind | op.mode, os.makedev(op.major, op.minor), dir_fd=parent)
    finally:
        os.umask(old)


def _null_fd(root: str, root_fd: int) -> int:
    """The container's /dev/null, checked to be the null device (a caller's mount may have
    put something else there): the source for masking files."""
    problem = OSError(errno.EINVAL, "/dev/null in the container is not the null device")
    try:
        fd = rootpath.open_in_root(root_fd, root, "/dev/null")
    except FileNotFoundError:
        raise problem from None
    st = os.fstat(fd)
    if not stat.S_ISCHR(st.st_mode) or st.st_rdev != os.makedev(1, 3):
        os.close(fd)
        raise problem
    return fd


def _mask(root: str, root_fd: int, op: MaskPath) -> None:
    try:
        fd = rootpath.open_in_root(root_fd, root, op.path)
    except FileNotFoundError:
        return
    try:
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            sc.mount("tmpfs", rootpath.fd_path(fd), "tmpfs", sc.MS_RDONLY | _SAFE,
                     "size=0,mode=755")
            return
        null = _null_fd(root, root_fd)
        try:
            sc.mount(rootpath.fd_path(null), rootpath.fd_path(fd), None, sc.MS_BIND)
        finally:
            os.close(null)
    finally:
        os.close(fd)


def _readonly(root: str, root_fd: int, op: ReadonlyPath) -> None:
    try:
        fd = rootpath.open_in_root(root_fd, root, op.path)
    except FileNotFoundError:
        return
    try:
        sc.mount(rootpath.fd_path(fd), rootpath.fd_path(fd), None, sc.MS_BIND | sc.MS_REC)
    finally:
        os.close(fd)
    # the fd above is the covered directory; the remount needs the new mount on top of it
    fd = rootpath.open_in_root(root_fd, root, op.path)
    try:
        sc.mount(None, rootpath.fd_path(fd), None,
                 sc.MS_BIND | sc.MS_REMOUNT | sc.MS_RDONLY | _SAFE)
    finally:
        os.close(fd)


def apply_op(root: str, op: Op, root_fd: int | None = None,
             clones: dict[str, int] | None = None) -> None:
    """Apply one op below `root` (a real path; `root_fd` an fd of it, opened if not given;
    `clones` the shared binds' sources by target, from clone_shared_binds)."""
    own = root_fd is None
    if root_fd is None:
        root_fd = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        if isinstance(op, MountOp):
            _mount_op(root, root_fd, op, clones if clones is not None else {})
        elif isinstance(op, MakeNode):
            _in_parent(root, root_fd, op.path, lambda name, parent: _make_node(name, parent, op))
        elif isinstance(op, MakeLink):
            _in_parent(root, root_fd, op.path,
                       lambda name, parent: os.symlink(op.target, name, dir_fd=parent))
        elif isinstance(op, MaskPath):
            _mask(root, root_fd, op)
        elif isinstance(op, ReadonlyPath):
            _readonly(root, root_fd, op)
    finally:
        if own:
            os.close(root_fd)


def describe(op: Op) -> str:
    """A short human name for an op, used in error messages."""
    if isinstance(op, MountOp):
        return f"mount {op.source or op.fstype} on {op.target}"
    return f"{type(op).__name__} {getattr(op, 'path', '')}"


AT_RECURSIVE = 0x8000       # open_tree: the mounts below the source too
MOVE_MOUNT_T_EMPTY_PATH = 0x40


def clone_shared_binds(mounts: tuple[Mount, ...]) -> dict[str, int]:
    """Detached clones of the shared binds' sources, by target: made first in the new mount
    namespace, while its copies of the host's mounts are still their peers (propagation.py).
    The caller closes what apply_plan did not use."""
    clones: dict[str, int] = {}
    try:
        for m in mounts:
            if propagation.is_shared(m):
                flags = sc.OPEN_TREE_CLONE | sc.OPEN_TREE_CLOEXEC
                if propagation.recursive(m):
                    flags |= AT_RECURSIVE
                clones[m.target] = sc.open_tree(m.source, flags)
    except BaseException:
        for fd in clones.values():
            os.close(fd)
        raise
    return clones


def prepare_root(root: str, root_flags: int = sc.MS_REC | sc.MS_PRIVATE) -> None:
    """First steps in a new mount namespace: stop propagation to the host (pivot_root fails
    with EINVAL while `/` is shared, systemd's default; all private, or a slave of the host's
    when a bind wants its events: propagation.root_flags) and make the root a mount (else
    EBUSY; a private one either way)."""
    sc.mount(None, "/", None, root_flags)
    sc.mount(root, root, None, sc.MS_BIND | sc.MS_REC)
    if root_flags & sc.MS_SLAVE:
        sc.mount(None, root, None, sc.MS_REC | sc.MS_PRIVATE)


def apply_plan(root: str, plan: list[Op], clones: dict[str, int] | None = None) -> None:
    """Apply `plan` below `root` (after prepare_root: the fd is of the root's own bind mount);
    `clones` from clone_shared_binds."""
    root_fd = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for op in plan:
            try:
                apply_op(root, op, root_fd, clones)
            except OSError as e:
                raise OSError(e.errno, f"{describe(op)}: {e.strerror}") from None
    finally:
        os.close(root_fd)


def enter_root(root: str) -> None:
    """pivot_root(".", ".") and detach the old root: no put_old directory needed (the old root
    is stacked under the new one and lazily unmounted)."""
    os.chdir(root)
    sc.pivot_root(".", ".")
    sc.umount2(".", sc.MNT_DETACH)
    os.chdir("/")


def make_root_readonly() -> None:
    sc.mount(None, "/", None, sc.MS_BIND | sc.MS_REMOUNT | sc.MS_RDONLY)
