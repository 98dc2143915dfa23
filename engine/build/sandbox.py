"""One build step's filesystem and process: an overlay of the parent image plus a fresh upper dir,
and (for RUN) a container in it made directly with the runtime.

The builder does not go through the container manager: a build step needs no name, record, log
file, restart policy or API object, only "run this command in that filesystem and give me the
upper dir". Every kernel object made here (overlay mount, cgroup, process) is removed in
`finally` blocks, also when the step fails or the build is cancelled.

Networking: RUN steps share the host's network namespace (`network="host"`, with the host's
/etc/resolv.conf and /etc/hosts bind-mounted read-only), which is what `docker build
--network=host` does. `RUN --network=none` gets an empty namespace.
"""
from __future__ import annotations

import os
import secrets as secrets_mod
import shutil
import signal
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import trio

from engine.errors import EngineError
from engine.images.archive import open_in_root
from engine.runtime import rootfs
from engine.runtime.runtime import ExitStatus, Stdio
from engine.runtime.spec import ContainerSpec, Mount, ProcessSpec, Resources, User

# Mount points the runtime creates in the container's root when they are missing; when the
# step did not have them, they are taken out of the upper dir again (not part of the layer).
RUNTIME_TARGETS = ("/proc", "/sys", "/dev")


class Sandbox:
    """An overlay of `lowers` (lowest first) + a fresh upper dir below `work_root`."""

    def __init__(self, lowers: list[Path], work_root: Path) -> None:
        self.dir = Path(work_root) / secrets_mod.token_hex(8)
        self.upper = self.dir / "upper"
        self.merged = self.dir / "merged"
        self._lowers = list(lowers)
        self._mounted = False

    def __enter__(self) -> Sandbox:
        for name in ("upper", "work", "merged", "empty"):
            (self.dir / name).mkdir(parents=True)
        try:
            rootfs.mount_overlay(self._lowers or [self.dir / "empty"], self.upper,
                                 self.dir / "work", self.merged)
            self._mounted = True
        except BaseException:
            shutil.rmtree(self.dir, ignore_errors=True)
            raise
        return self

    def unmount(self) -> None:
        if self._mounted:
            rootfs.unmount(self.merged)
            self._mounted = False

    def __exit__(self, *exc: object) -> None:
        try:
            self.unmount()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)

    # -- inspecting the image's files ------------------------------------------------------

    def kind(self, path: str) -> str | None:
        """"dir", "file" or None for an absolute path in the mounted root (symlinks resolved
        inside the root)."""
        parts = tuple(p for p in path.split("/") if p)
        root_fd = os.open(self.merged, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            fd = open_in_root(root_fd, parts, os.O_RDONLY | os.O_PATH)
        except OSError:
            return None
        finally:
            os.close(root_fd)
        try:
            return "dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file"
        finally:
            os.close(fd)

    def home(self, uid: int) -> str:
        """The home directory /etc/passwd gives `uid` (read inside the root); Docker's
        defaults otherwise."""
        from engine.runtime.users import parse_passwd
        root_fd = os.open(self.merged, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            fd = open_in_root(root_fd, ("etc", "passwd"), os.O_RDONLY)
            with os.fdopen(fd, errors="replace") as f:
                entries = parse_passwd(f.read(1 << 20))
        except OSError:
            entries = []
        finally:
            os.close(root_fd)
        for entry in entries:
            if entry.uid == uid and entry.home:
                return entry.home
        return "/root" if uid == 0 else "/"

    def missing(self, targets: list[str]) -> list[str]:
        """Those of `targets` (and their ancestors) that do not exist yet, deepest first."""
        out: set[str] = set()
        for target in targets:
            parts = [p for p in target.split("/") if p]
            for depth in range(1, len(parts) + 1):
                sub = "/" + "/".join(parts[:depth])
                if self.kind(sub) is None and not os.path.lexists(self.merged / sub.lstrip("/")):
                    out.add(sub)
        return sorted(out, key=lambda p: (-p.count("/"), p))

    def remove_stubs(self, stubs: list[str], targets: list[str] = ()) -> None:
        """After unmount: drop the empty mount points the step's mounts created (deepest
        first), then the directories overlay copied up only to hold a mount point (empty in
        the upper dir, same owner and mode as below)."""
        for stub in stubs:
            path = self.upper / stub.lstrip("/")
            try:
                st = path.lstat()
            except FileNotFoundError:
                continue
            if stat.S_ISDIR(st.st_mode) and not any(path.iterdir()):
                path.rmdir()
            elif stat.S_ISREG(st.st_mode) and st.st_size == 0:
                path.unlink()
        parents: set[str] = set()
        for target in targets:
            parts = [p for p in target.split("/") if p]
            parents.update("/".join(parts[:i]) for i in range(1, len(parts)))
        for rel in sorted(parents, key=lambda p: -p.count("/")):
            self._drop_copied_up(rel)

    def _drop_copied_up(self, rel: str) -> None:
        path = self.upper / rel
        try:
            st = path.lstat()
        except FileNotFoundError:
            return
        if not stat.S_ISDIR(st.st_mode) or any(path.iterdir()):
            return
        try:
            if os.getxattr(path, "trusted.overlay.opaque", follow_symlinks=False) == b"y":
                return
        except OSError:
            pass
        for lower in reversed(self._lowers):
            try:
                below = (lower / rel).lstat()
            except FileNotFoundError:
                continue
            if stat.S_ISDIR(below.st_mode) and (below.st_mode, below.st_uid, below.st_gid) == \
                    (st.st_mode, st.st_uid, st.st_gid):
                path.rmdir()
            return


@dataclass(frozen=True)
class RunRequest:
    args: tuple[str, ...]
    env: tuple[str, ...]
    cwd: str
    user: User
    mounts: tuple[Mount, ...]
    network: str = "host"


def cgroup_prefix(scope: str) -> str:
    """Build step cgroups are `pycompose-build-<scope>-<id12>`: `scope` (from the state root)
    lets one engine clean up its own leftovers without touching another engine's builds. The
    daemon's container cleanup never matches them (their "id" part is `build`)."""
    return f"pycompose-build-{scope}-"


def remove_stale_cgroups(cgroups, scope: str) -> list[str]:
    """Kill and remove the build cgroups of `scope` (after a crash: none is in use then)."""
    from engine.runtime.cgroups import Cgroup
    removed = []
    for parent in cgroups.parents():
        try:
            names = os.listdir(parent)
        except OSError:
            continue
        for name in names:
            if name.startswith(cgroup_prefix(scope)) and (parent / name).is_dir():
                Cgroup(name, [parent / name]).remove()
                removed.append(str(parent / name))
    return removed


async def run_process(runtime, cgroups, sandbox: Sandbox, request: RunRequest,
                      output: Callable[[bytes], None], *, scope: str = "0") -> ExitStatus:
    """Run one command in the sandbox to completion, streaming its stdout+stderr to `output`.

    Nothing (process, cgroup) outlives this call, whether it returns or raises."""
    cid = secrets_mod.token_hex(32)
    mounts = list(request.mounts)
    if request.network == "host":
        for path in ("/etc/resolv.conf", "/etc/hosts"):
            if os.path.isfile(path):
                mounts.append(Mount(target=path, source=path, readonly=True))
    spec = ContainerSpec(id=cid, rootfs=str(sandbox.merged), hostname=cid[:12],
                         process=ProcessSpec(args=request.args, env=request.env,
                                             cwd=request.cwd or "/", user=request.user),
                         mounts=tuple(mounts), network=request.network)
    cgroup = cgroups.create(cgroup_prefix(scope) + cid[:12], Resources())
    proc = None
    r, w = os.pipe2(os.O_CLOEXEC)
    null = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
    try:
        try:
            proc = await runtime.start(spec, cgroup, Stdio(stdin=null, stdout=w, stderr=w))
        finally:
            os.close(w)
            w = -1
        os.set_blocking(r, False)
        while True:
            try:
                data = os.read(r, 65536)
            except BlockingIOError:
                await trio.lowlevel.wait_readable(r)
                continue
            if not data:
                break
            output(data)
        status = await runtime.wait(proc)
        runtime.release(proc)
        proc = None
        return status
    finally:
        with trio.CancelScope(shield=True):
            if proc is not None:      # cancelled or failed while running: kill and reap
                runtime.signal(proc, signal.SIGKILL)
                cgroup.kill_all()
                with trio.move_on_after(10):
                    await runtime.wait(proc)
                runtime.release(proc)
            os.close(r)
            if w >= 0:
                os.close(w)
            os.close(null)
            try:
                cgroup.remove()
            except OSError as exc:
                raise EngineError(f"cannot remove build cgroup {cgroup.name}: {exc}") from None
