"""A container's root filesystem: an overlay of image layers plus its own upper/work dirs.

Mounted in the host mount namespace (under the engine's state dir) so the daemon can read and
write the container's files while it is stopped (cp, diff, hosts files).

The overlay is made with the new mount API, one `fsconfig("lowerdir+")` per layer (kernel 6.8+):
mount(2) cuts its option string at one page and may then mount *fewer layers without an error*
(P6a). mount(2) is only the fallback for kernels without `lowerdir+`, and only when the option
string fits; otherwise a clear error.
"""
from __future__ import annotations

import errno
import logging
import os
import shutil
import threading
from pathlib import Path
from typing import Callable

from engine.errors import EngineError
from engine.runtime import syscalls as sc

_PAGE = 4096
log = logging.getLogger("engine.runtime")


def overlay_options(lowers: list[Path], upper: Path, work: Path) -> str:
    """mount(2) data: overlayfs wants the *highest* lower layer first."""
    lower = ":".join(str(p) for p in reversed(lowers))
    return f"lowerdir={lower},upperdir={upper},workdir={work}"


def _check_dirs(lowers: list[Path], upper: Path, work: Path, target: Path) -> None:
    if not lowers:
        raise EngineError("an overlay needs at least one lower layer")
    for p in (*lowers, upper, work, target):
        if not p.is_dir():
            raise EngineError(f"overlay: {p} is not a directory")
        if "," in str(p) or ":" in str(p):
            raise EngineError(f"overlay: path {p} contains ',' or ':'")
    if os.stat(upper).st_dev != os.stat(work).st_dev:
        raise EngineError("overlay: upper and work dirs must be on the same filesystem")  # P6d


def _mount_new_api(lowers: list[Path], upper: Path, work: Path, target: Path) -> None:
    fsfd = sc.fsopen("overlay")
    try:
        for layer in reversed(lowers):  # highest first, as with lowerdir=
            sc.fsconfig(fsfd, sc.FSCONFIG_SET_STRING, "lowerdir+", str(layer))
        sc.fsconfig(fsfd, sc.FSCONFIG_SET_STRING, "upperdir", str(upper))
        sc.fsconfig(fsfd, sc.FSCONFIG_SET_STRING, "workdir", str(work))
        sc.fsconfig(fsfd, sc.FSCONFIG_CMD_CREATE)
        mfd = sc.fsmount(fsfd)
    finally:
        os.close(fsfd)
    try:
        sc.move_mount(mfd, str(target))
    finally:
        os.close(mfd)  # an open fsmount fd pins the mount: umount would say EBUSY (P6b)


def distinct_lowers(lowers: list[Path]) -> list[Path]:
    """Each layer dir once, where it is highest. Two build steps that changed nothing have the
    same (empty) layer, so an image may list one dir twice, which overlayfs refuses (ELOOP,
    "overlapping layers"). Dropping the lower copy changes nothing: everything it holds,
    whiteouts included, the higher copy holds over the same and more layers."""
    seen: set[Path] = set()
    out: list[Path] = []
    for path in reversed(lowers):
        if path not in seen:
            seen.add(path)
            out.append(path)
    return out[::-1]


def mount_overlay(lowers: list[Path], upper: Path, work: Path, target: Path) -> None:
    """Mount lowers (lowest first) + upper at target; raises EngineError with the reason."""
    lowers = distinct_lowers([Path(p) for p in lowers])
    upper, work, target = Path(upper), Path(work), Path(target)
    # a previous overlay on these dirs may still be shutting down (detach()): two live
    # overlays on one upper/work pair are undefined behaviour (P6c)
    wait_released(target)
    _check_dirs(lowers, upper, work, target)
    try:
        _mount_new_api(lowers, upper, work, target)
        return
    except OSError as e:
        # ENOSYS: no fsopen; EINVAL on "lowerdir+": a kernel before 6.8
        if e.errno not in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
            raise EngineError(f"cannot mount overlay at {target}: {e.strerror} ({e.filename})"
                              ) from None
    data = overlay_options(lowers, upper, work)
    if len(data) >= _PAGE:
        raise EngineError(f"cannot mount overlay at {target}: {len(lowers)} layers need "
                          f"{len(data)} bytes of options, over mount(2)'s one-page limit, "
                          "and this kernel lacks fsconfig lowerdir+")
    try:
        sc.mount("overlay", str(target), "overlay", 0, data)
    except OSError as e:
        raise EngineError(f"cannot mount overlay at {target}: {e.strerror}") from None


def is_mounted(target: Path) -> bool:
    target_s = os.path.realpath(target)
    return any(mp == target_s for mp in _mountpoints())


def unmount(target: Path) -> None:
    """Unmount; tolerant of "not mounted" and of a missing dir; lazy if still busy."""
    try:
        sc.umount2(str(target), 0)
    except OSError as e:
        if e.errno in (errno.EINVAL, errno.ENOENT):
            return
        if e.errno != errno.EBUSY:
            raise EngineError(f"cannot unmount {target}: {e.strerror}") from None
        sc.umount2(str(target), sc.MNT_DETACH)


# Background jobs (an overlay's final release, then its container directory's removal), one
# thread each, chained per mount point (keyed by its real path).
_releasing: dict[str, threading.Event] = {}
_releasing_lock = threading.Lock()


def detach(target: Path) -> None:
    """Unmount now, pay for it later: the mount leaves the mount table at once, the rest of the
    work happens on a background thread.

    An overlay's last unmount syncs the *whole* upper file system (ovl_sync_fs → sync_filesystem
    on the host's root fs): 30-400 ms on a host with other I/O going on, all of it on the path
    of `rm -f` and `stop`. Here a path reference (O_PATH fd) keeps the mount alive while it is
    detached (umount2 MNT_DETACH, ~0.1 ms); closing that fd, on the releaser thread, is what
    finally shuts the overlay down. The detached overlay is unreachable: the dirs below it may
    be removed meanwhile. `mount_overlay` on the same target, `wait_released` and
    `wait_all_released` wait for the release. Tolerant of "not mounted" and a missing dir.
    """
    try:
        fd = os.open(target, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as e:
        if e.errno in (errno.ENOENT, errno.ENOTDIR):
            return
        raise EngineError(f"cannot unmount {target}: {e.strerror}") from None
    try:
        sc.umount2(str(target), sc.MNT_DETACH)
    except OSError as e:
        os.close(fd)
        if e.errno in (errno.EINVAL, errno.ENOENT):
            return
        raise EngineError(f"cannot unmount {target}: {e.strerror}") from None
    # the last reference: the overlay's shutdown (and the sync) runs in this close
    _later(target, lambda: os.close(fd))


def remove_later(directory: Path, mountpoint: Path) -> None:
    """rmtree `directory` on a background thread once `mountpoint` (below it) was released.

    For a removed container's directory: its deletion contends with the released overlay's
    sync for the journal (5-25 ms measured under load). The caller makes sure nothing refers
    to the directory any more (at the next start a leftover without a record is removed).
    """
    _later(mountpoint, lambda: shutil.rmtree(directory, ignore_errors=True))


def _later(target: Path, job: Callable[[], None]) -> None:
    """Run `job` on a thread of its own after earlier jobs for `target`; wait_released(target)
    and wait_all_released() wait for it."""
    key = os.path.realpath(target)
    done = threading.Event()
    with _releasing_lock:
        previous = _releasing.get(key)
        _releasing[key] = done

    def run() -> None:
        try:
            if previous is not None:
                previous.wait()
            job()
        except Exception as exc:   # a background thread has nobody to raise to
            log.error("background clean-up of %s failed: %s", target, exc)
        finally:
            with _releasing_lock:
                if _releasing.get(key) is done:
                    del _releasing[key]
            done.set()

    threading.Thread(target=run, name="pycompose-release", daemon=True).start()


def wait_released(target: Path, timeout: float | None = None) -> bool:
    """Wait until a detach() of `target` has finished; False on timeout."""
    with _releasing_lock:
        done = _releasing.get(os.path.realpath(target))
    return done is None or done.wait(timeout)


def wait_all_released(timeout: float | None = None) -> bool:
    """Wait for every pending detach() (a daemon's shutdown); False on timeout."""
    with _releasing_lock:
        pending = list(_releasing.values())
    return all(done.wait(timeout) for done in pending)


def _mountpoints() -> list[str]:
    with open("/proc/self/mountinfo") as f:
        return [_unescape(line.split()[4]) for line in f if len(line.split()) > 4]


def _unescape(path: str) -> str:
    return path.encode().decode("unicode_escape") if "\\" in path else path


def cleanup_stale_mounts(under: Path) -> list[str]:
    """Unmount (lazily) everything mounted at or below `under`, deepest first."""
    base = os.path.realpath(under)
    found = [mp for mp in _mountpoints() if mp == base or mp.startswith(base.rstrip("/") + "/")]
    done = []
    for mp in sorted(set(found), key=lambda p: p.count("/"), reverse=True):
        try:
            sc.umount2(mp, sc.MNT_DETACH)
            done.append(mp)
        except OSError as e:
            if e.errno not in (errno.EINVAL, errno.ENOENT):
                raise EngineError(f"cannot unmount {mp}: {e.strerror}") from None
    return done
