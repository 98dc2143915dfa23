"""The runtime's single ctypes seam: every raw kernel call Python 3.11 lacks goes through here.

Each wrapper raises `OSError(errno, strerror, <what>)` on failure so callers never look at
`ctypes.get_errno()` themselves. Constants are x86_64 / asm-generic values (syscall numbers
and ioctls as in the kernel's uapi headers for x86_64).

`clone3` is called through `ctypes.PyDLL`: the GIL stays held across the call, so the child starts
holding it like after fork(). It is only safe in a single-threaded process (the zygote): a raw
clone3 skips glibc's fork handlers, so the child inherits other threads' lock state as it was.
"""
from __future__ import annotations

import ctypes
import os

_libc = ctypes.CDLL(None, use_errno=True)
_pylibc = ctypes.PyDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long
_pylibc.syscall.restype = ctypes.c_long

# syscall numbers (x86_64)
SYS_CAPGET = 125
SYS_CAPSET = 126
SYS_PIVOT_ROOT = 155
SYS_EXECVEAT = 322
SYS_PIDFD_SEND_SIGNAL = 424
SYS_OPEN_TREE = 428
SYS_MOVE_MOUNT = 429
SYS_FSOPEN = 430
SYS_FSCONFIG = 431
SYS_FSMOUNT = 432
SYS_CLONE3 = 435
SYS_CLOSE_RANGE = 436
SYS_OPENAT2 = 437
SYS_MOUNT_SETATTR = 442

# clone / namespace flags
CLONE_PIDFD = 0x1000
CLONE_PARENT = 0x8000
CLONE_NEWNS = 0x20000
CLONE_NEWCGROUP = 0x2000000
CLONE_NEWUTS = 0x4000000
CLONE_NEWIPC = 0x8000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
CLONE_INTO_CGROUP = 0x200000000

# mount(2) flags
MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_SYNCHRONOUS = 0x10
MS_REMOUNT = 0x20
MS_MANDLOCK = 0x40
MS_DIRSYNC = 0x80
MS_NOSYMFOLLOW = 0x100
MS_NOATIME = 0x400
MS_NODIRATIME = 0x800
MS_BIND = 0x1000
MS_MOVE = 0x2000
MS_REC = 0x4000
MS_SILENT = 0x8000
MS_PRIVATE = 0x40000
MS_SLAVE = 0x80000
MS_SHARED = 0x100000
MS_RELATIME = 0x200000
MS_STRICTATIME = 0x1000000
MNT_FORCE = 1
MNT_DETACH = 2

# new mount API
FSOPEN_CLOEXEC = 1
FSMOUNT_CLOEXEC = 1
FSCONFIG_SET_FLAG = 0
FSCONFIG_SET_STRING = 1
FSCONFIG_CMD_CREATE = 6
MOVE_MOUNT_F_EMPTY_PATH = 4
AT_FDCWD = -100
AT_EMPTY_PATH = 0x1000
OPEN_TREE_CLONE = 1
OPEN_TREE_CLOEXEC = os.O_CLOEXEC
MOUNT_ATTR_RDONLY = 0x1
MOUNT_ATTR_NOSUID = 0x2
MOUNT_ATTR_NODEV = 0x4

# prctl
PR_SET_PDEATHSIG = 1
PR_GET_DUMPABLE = 3
PR_SET_DUMPABLE = 4
PR_SET_KEEPCAPS = 8
PR_CAPBSET_READ = 23
PR_CAPBSET_DROP = 24
PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38

CLOSE_RANGE_CLOEXEC = 4
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_NO_SYMLINKS = 0x04
RESOLVE_IN_ROOT = 0x10

# pty ioctls missing from Python 3.11's termios module
TIOCSPTLCK = 0x40045431
TIOCGPTPEER = 0x5441
TIOCSCTTY = 0x540E

_LINUX_CAPABILITY_VERSION_3 = 0x20080522


def _check(result: int, what: str) -> int:
    if result == -1:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err), what)
    return result


def _bytes(value: str | bytes | None) -> bytes | None:
    if value is None:
        return None
    return os.fsencode(value)


def mount(source: str | None, target: str, fstype: str | None, flags: int = 0,
          data: str | None = None) -> None:
    _check(_libc.mount(_bytes(source), _bytes(target), _bytes(fstype), ctypes.c_ulong(flags),
                       _bytes(data)), target)


def umount2(target: str, flags: int = 0) -> None:
    _check(_libc.umount2(_bytes(target), ctypes.c_int(flags)), target)


def unshare(flags: int) -> None:
    _check(_libc.unshare(ctypes.c_int(flags)), "unshare")


def setns(fd: int, nstype: int) -> None:
    _check(_libc.setns(ctypes.c_int(fd), ctypes.c_int(nstype)), "setns")


def sethostname(name: str) -> None:
    raw = name.encode()
    _check(_libc.sethostname(raw, ctypes.c_size_t(len(raw))), "sethostname")


def setdomainname(name: str) -> None:
    raw = name.encode()
    _check(_libc.setdomainname(raw, ctypes.c_size_t(len(raw))), "setdomainname")


def prctl(option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> int:
    return _check(_libc.prctl(ctypes.c_int(option), ctypes.c_ulong(arg2), ctypes.c_ulong(arg3),
                              ctypes.c_ulong(arg4), ctypes.c_ulong(arg5)), f"prctl({option})")


def pivot_root(new_root: str, put_old: str) -> None:
    _check(_libc.syscall(ctypes.c_long(SYS_PIVOT_ROOT), _bytes(new_root), _bytes(put_old)),
           "pivot_root")


def close_range(first: int, last: int, flags: int = 0) -> None:
    _check(_libc.syscall(ctypes.c_long(SYS_CLOSE_RANGE), ctypes.c_uint(first),
                         ctypes.c_uint(last), ctypes.c_uint(flags)), "close_range")


def pidfd_send_signal(pidfd: int, sig: int) -> None:
    _check(_libc.syscall(ctypes.c_long(SYS_PIDFD_SEND_SIGNAL), ctypes.c_int(pidfd),
                         ctypes.c_int(sig), None, ctypes.c_uint(0)), "pidfd_send_signal")


class _CloneArgs(ctypes.Structure):
    _fields_ = [(name, ctypes.c_uint64) for name in (
        "flags", "pidfd", "child_tid", "parent_tid", "exit_signal", "stack", "stack_size",
        "tls", "set_tid", "set_tid_size", "cgroup")]


def clone3(flags: int, exit_signal: int, cgroup_fd: int | None = None) -> tuple[int, int]:
    """fork()-like clone3: returns (pid, pidfd) in the parent and (0, -1) in the child.

    `flags` must include CLONE_PIDFD. Single-threaded callers only (glibc's fork handlers do
    not run: another thread's locks would stay taken in the child)."""
    pidfd = ctypes.c_int(-1)
    args = _CloneArgs()
    args.flags = flags | (CLONE_INTO_CGROUP if cgroup_fd is not None else 0)
    args.pidfd = ctypes.addressof(pidfd)
    args.exit_signal = exit_signal
    if cgroup_fd is not None:
        args.cgroup = cgroup_fd
    pid = _check(_pylibc.syscall(ctypes.c_long(SYS_CLONE3), ctypes.byref(args),
                                 ctypes.c_size_t(ctypes.sizeof(args))), "clone3")
    return (pid, pidfd.value) if pid else (0, -1)


def fsopen(fstype: str, flags: int = FSOPEN_CLOEXEC) -> int:
    return _check(_libc.syscall(ctypes.c_long(SYS_FSOPEN), _bytes(fstype), ctypes.c_uint(flags)),
                  f"fsopen({fstype})")


def fsconfig(fd: int, cmd: int, key: str | None = None, value: str | None = None,
             aux: int = 0) -> None:
    _check(_libc.syscall(ctypes.c_long(SYS_FSCONFIG), ctypes.c_int(fd), ctypes.c_uint(cmd),
                         _bytes(key), _bytes(value), ctypes.c_int(aux)),
           f"fsconfig({key}={value})" if key else "fsconfig")


def fsmount(fsfd: int, flags: int = FSMOUNT_CLOEXEC, attr_flags: int = 0) -> int:
    return _check(_libc.syscall(ctypes.c_long(SYS_FSMOUNT), ctypes.c_int(fsfd),
                                ctypes.c_uint(flags), ctypes.c_uint(attr_flags)), "fsmount")


def move_mount(from_fd: int, to_path: str, *, from_path: str = "", to_dirfd: int = AT_FDCWD,
               flags: int = MOVE_MOUNT_F_EMPTY_PATH) -> None:
    _check(_libc.syscall(ctypes.c_long(SYS_MOVE_MOUNT), ctypes.c_int(from_fd), _bytes(from_path),
                         ctypes.c_int(to_dirfd), _bytes(to_path), ctypes.c_uint(flags)), to_path)


def open_tree(path: str, flags: int = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC,
              dirfd: int = AT_FDCWD) -> int:
    """A detached copy of the mount at `path` (a file works too): an O_PATH fd. With
    AT_EMPTY_PATH in `flags` and path "", the mount `dirfd` is on."""
    return _check(_libc.syscall(ctypes.c_long(SYS_OPEN_TREE), ctypes.c_int(dirfd),
                                _bytes(path), ctypes.c_uint(flags)), f"open_tree({path})")


class _MountAttr(ctypes.Structure):
    _fields_ = [(name, ctypes.c_uint64) for name in (
        "attr_set", "attr_clr", "propagation", "userns_fd")]


def mount_setattr(fd: int, attr_set: int, attr_clr: int = 0) -> None:
    """Change the attributes of the mount `fd` refers to (AT_EMPTY_PATH)."""
    attr = _MountAttr(attr_set=attr_set, attr_clr=attr_clr)
    _check(_libc.syscall(ctypes.c_long(SYS_MOUNT_SETATTR), ctypes.c_int(fd), b"",
                         ctypes.c_uint(AT_EMPTY_PATH), ctypes.byref(attr),
                         ctypes.c_size_t(ctypes.sizeof(attr))), "mount_setattr")


def execveat(fd: int, argv: list[str], env: dict[str, str]) -> None:
    """execve of the file `fd` refers to (AT_EMPTY_PATH); returns only by raising."""
    args = (ctypes.c_char_p * (len(argv) + 1))(*[os.fsencode(a) for a in argv], None)
    envp = (ctypes.c_char_p * (len(env) + 1))(
        *[os.fsencode(k) + b"=" + os.fsencode(v) for k, v in env.items()], None)
    _check(_libc.syscall(ctypes.c_long(SYS_EXECVEAT), ctypes.c_int(fd), b"", args, envp,
                         ctypes.c_int(AT_EMPTY_PATH)), "execveat")


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]


def openat2(dirfd: int, path: str, flags: int, resolve: int, mode: int = 0) -> int:
    """openat2(2) with `resolve` (RESOLVE_*) flags; ENOSYS on kernels before 5.6."""
    how = _OpenHow(flags=flags, mode=mode, resolve=resolve)
    return _check(_libc.syscall(ctypes.c_long(SYS_OPENAT2), ctypes.c_int(dirfd), _bytes(path),
                                ctypes.byref(how), ctypes.c_size_t(ctypes.sizeof(how))), path)


def open_in_root(root_fd: int, path: str, flags: int = os.O_RDONLY | os.O_CLOEXEC) -> int:
    """openat2(RESOLVE_IN_ROOT): symlinks and `..` in `path` cannot leave `root_fd`."""
    how = _OpenHow(flags=flags, mode=0, resolve=RESOLVE_IN_ROOT)
    return _check(_libc.syscall(ctypes.c_long(SYS_OPENAT2), ctypes.c_int(root_fd), _bytes(path),
                                ctypes.byref(how), ctypes.c_size_t(ctypes.sizeof(how))), path)


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]


def capset(effective: int, permitted: int, inheritable: int) -> None:
    header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    for i in range(2):
        shift = 32 * i
        data[i].effective = (effective >> shift) & 0xFFFFFFFF
        data[i].permitted = (permitted >> shift) & 0xFFFFFFFF
        data[i].inheritable = (inheritable >> shift) & 0xFFFFFFFF
    _check(_libc.syscall(ctypes.c_long(SYS_CAPSET), ctypes.byref(header), data), "capset")


def capget() -> tuple[int, int, int]:
    """(effective, permitted, inheritable) of the calling thread."""
    header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    _check(_libc.syscall(ctypes.c_long(SYS_CAPGET), ctypes.byref(header), data), "capget")
    eff = data[0].effective | (data[1].effective << 32)
    prm = data[0].permitted | (data[1].permitted << 32)
    inh = data[0].inheritable | (data[1].inheritable << 32)
    return eff, prm, inh
