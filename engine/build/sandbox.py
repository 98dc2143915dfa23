"""One build step's filesystem and process: an overlay of the parent image plus a fresh upper dir,
and (for RUN) a container in it made directly with the runtime.

The builder does not go through the container manager: a build step needs no name, record, log
file, restart policy or API object, only "run this command in that filesystem and give me the
upper dir". Every kernel object made here (overlay mount, cgroup, process) is removed in
`finally` blocks, also when the step fails or the build is cancelled.

Networking (stepnet.py): RUN steps share the host's network namespace by default (the host's
/etc/resolv.conf and /etc/hosts bound read-only), which is what `docker build --network=host`
does; `none` gets an empty namespace; a user network gets a namespace of its own with an
endpoint on that network (released when the step ends) and the network's resolver. The
build's extra hosts are added to the step's /etc/hosts, never to the layer.
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

from engine.build import stepnet
from engine.build.stepnet import StepNetwork
from engine.errors import EngineError
from engine.images.archive import open_in_root
from engine.runtime import rootfs, rootpath
from engine.runtime.pipes import pump
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
        self._resolved: dict[str, str] = {}     # mount target -> where it is in the root

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
        """Where the runtime will make `targets` (links followed inside the root, as it
        does) and their ancestors, for those that do not exist yet; deepest first. Call
        before the step: the resolutions are kept for `remove_stubs`."""
        out: set[str] = set()
        root = os.path.realpath(self.merged)
        root_fd = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            for target in targets:
                parts = rootpath.resolve_parts(root, target)
                self._resolved[target] = "/" + "/".join(parts)
                for depth in range(1, len(parts) + 1):
                    if _lstat_in_root(root_fd, root, parts[:depth]) is None:
                        out.add("/" + "/".join(parts[:depth]))
        finally:
            os.close(root_fd)
        return sorted(out, key=lambda p: (-p.count("/"), p))

    def remove_stubs(self, stubs: list[str], targets: list[str] = ()) -> None:
        """After unmount: drop the empty mount points the step's mounts created (deepest
        first, as `missing` named them), then the directories overlay copied up only to hold
        a mount point (empty in the upper dir, same owner and mode as below), along each
        target's path as `missing` resolved it.

        The step owned the upper dir: any component may now be a link (to a host path, or
        elsewhere in the root). Only what is still at the literal path, reached through real
        directories of the upper dir, is touched; everything else is the step's own doing
        and stays in the layer."""
        upper = os.path.realpath(self.upper)
        root_fd = os.open(upper, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            for stub in stubs:
                _remove_stub(root_fd, upper, [p for p in stub.split("/") if p])
            parents: set[str] = set()
            for target in targets:
                parts = [p for p in self._resolved.get(target, target).split("/") if p]
                parents.update("/".join(parts[:i]) for i in range(1, len(parts)))
            for rel in sorted(parents, key=lambda p: -p.count("/")):
                self._drop_copied_up(root_fd, upper, rel.split("/"))
        finally:
            os.close(root_fd)

    def _drop_copied_up(self, root_fd: int, upper: str, parts: list[str]) -> None:
        parent = _open_literal_dir(root_fd, upper, parts[:-1])
        if parent is None:
            return
        try:
            st = _lstat_at(parent, parts[-1])
            if st is None or not stat.S_ISDIR(st.st_mode) or not _empty_not_opaque(parent,
                                                                                     parts[-1]):
                return
            for lower in reversed(self._lowers):
                decided, below = _lower_entry(lower, parts)
                if not decided:
                    continue
                # a dir that lower has, unchanged: copied up only to hold a mount point
                if below is not None and (below.st_mode, below.st_uid, below.st_gid) == \
                        (st.st_mode, st.st_uid, st.st_gid):
                    _rmdir_at(parent, parts[-1])
                return
        finally:
            os.close(parent)


# -- the upper and lower dirs, by fd ----------------------------------------------------------
# Paths below are lists of components relative to a root we hold an fd of; every lookup is
# openat2(RESOLVE_IN_ROOT) on that fd (rootpath.open_in_root), so no link, however crafted,
# leads outside. "Literal" lookups also refuse any link on the way (the fd's real location must
# be the path as written): a stub is only a stub where the runtime made it.

def _open_literal_dir(root_fd: int, root: str, parts: list[str]) -> int | None:
    """An O_PATH fd of directory `parts` below `root` reached through no symlink, or None."""
    if any(p in (".", "..") for p in parts):
        return None
    sub = "/" + "/".join(parts)
    try:
        fd = rootpath.open_in_root(root_fd, root, sub, os.O_PATH | os.O_DIRECTORY)
    except OSError:
        return None
    try:
        if rootpath.located(fd, root) == (sub if parts else "/"):
            return fd
    except OSError:
        pass
    os.close(fd)
    return None


def _lstat_at(dir_fd: int, name: str) -> os.stat_result | None:
    if name in (".", ".."):
        return None
    try:
        return os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except OSError:
        return None


def _lower_entry(lower: Path, parts: list[str]) -> tuple[bool, os.stat_result | None]:
    """What lower layer dir `lower` says about `parts`, walked one real directory at a time:
    (False, None) if it has nothing there (look further down), (True, stat) if it has the
    entry, (True, None) if it hides the path from the layers below (a link, file or whiteout
    on the way, or an opaque dir without the rest)."""
    try:
        fd = os.open(lower, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return False, None
    try:
        hidden = False
        for part in parts[:-1]:
            st = _lstat_at(fd, part)
            if st is None:
                return hidden, None
            if not stat.S_ISDIR(st.st_mode):
                return True, None
            new_fd = os.open(part, os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC,
                             dir_fd=fd)
            os.close(fd)
            fd = new_fd
            hidden = hidden or _is_opaque(fd)   # the layers below do not show through
        st = _lstat_at(fd, parts[-1])
        return (st is not None or hidden), st
    finally:
        os.close(fd)


def _is_opaque(fd: int) -> bool:
    try:
        return os.getxattr(rootpath.fd_path(fd), "trusted.overlay.opaque") == b"y"
    except OSError:
        return False


def _lstat_in_root(root_fd: int, root: str, parts: list[str]) -> os.stat_result | None:
    """lstat of container path `parts` (links on the way followed inside the root)."""
    try:
        parent = rootpath.open_in_root(root_fd, root, "/" + "/".join(parts[:-1]),
                                       os.O_PATH | os.O_DIRECTORY)
    except OSError:
        return None
    try:
        return _lstat_at(parent, parts[-1])
    finally:
        os.close(parent)


def _empty_not_opaque(parent: int, name: str) -> bool:
    """Directory `name` in `parent` is empty and not an overlay opaque dir."""
    try:
        fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC,
                     dir_fd=parent)
    except OSError:
        return False
    try:
        if os.listdir(fd):
            return False
        try:
            return os.getxattr(fd, "trusted.overlay.opaque") != b"y"
        except OSError:
            return True
    finally:
        os.close(fd)


def _rmdir_at(parent: int, name: str) -> None:
    try:
        os.rmdir(name, dir_fd=parent)
    except OSError:
        pass        # not empty after all (rmdir checks that itself), or gone


def _remove_stub(root_fd: int, upper: str, parts: list[str]) -> None:
    """An empty dir or empty file at exactly `parts` in the upper dir is removed."""
    if not parts:
        return
    parent = _open_literal_dir(root_fd, upper, parts[:-1])
    if parent is None:
        return
    try:
        st = _lstat_at(parent, parts[-1])
        if st is None:
            return
        if stat.S_ISDIR(st.st_mode):
            _rmdir_at(parent, parts[-1])
        elif stat.S_ISREG(st.st_mode) and st.st_size == 0:
            os.unlink(parts[-1], dir_fd=parent)
    finally:
        os.close(parent)


@dataclass(frozen=True)
class RunRequest:
    args: tuple[str, ...]
    env: tuple[str, ...]
    cwd: str
    user: User
    mounts: tuple[Mount, ...]
    network: StepNetwork = StepNetwork()
    extra_hosts: tuple[tuple[str, str], ...] = ()   # the build's extrahosts, in /etc/hosts


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


class _StepEtc:
    """The step's /etc/hosts and /etc/resolv.conf (files in the step dir, bound read-only),
    and its endpoint on a user network."""

    def __init__(self, sandbox: Sandbox, request: RunRequest, hostname: str, networks) -> None:
        self.box, self.net, self.extra = sandbox, request.network, request.extra_hosts
        self.hostname, self.networks = hostname, networks
        self.attached = ""          # the step id once it has an endpoint (released in finally)

    def mounts(self) -> list[Mount]:
        """Worker thread: write the files, say what to bind where."""
        if self.net.kind == stepnet.NONE:
            if not self.extra:
                return []           # the image's own files, as before extrahosts existed
            return [self._file("hosts", stepnet.hosts_content(None, self.extra))]
        if self.net.kind == stepnet.HOST:
            out = [Mount(target=p, source=p, readonly=True) for p in ("/etc/resolv.conf",)
                   if os.path.isfile(p)]
            if self.extra:
                out.append(self._file("hosts", stepnet.hosts_content(_read("/etc/hosts"),
                                                                     self.extra)))
            elif os.path.isfile("/etc/hosts"):
                out.append(Mount(target="/etc/hosts", source="/etc/hosts", readonly=True))
            return out
        if self.networks is None:
            raise EngineError("builds on a user network need the engine's networks")
        gateway = self.networks.get(self.net.network).gateway   # NotFound names the network
        return [self._file("hosts", stepnet.hosts_content(None, self.extra)),
                self._file("resolv.conf", stepnet.resolv_content(_read("/etc/resolv.conf"),
                                                                 gateway))]

    def _file(self, name: str, content: str) -> Mount:
        path = self.box.dir / name
        path.write_text(content)
        return Mount(target=f"/etc/{name}", source=str(path), readonly=True)

    def attach(self, cid: str, pid: int) -> None:
        """before_exec, worker thread: a veth into PID 1's netns; the step's own address goes
        into its /etc/hosts in place (the bind shows the file, not a copy)."""
        ep = self.networks.connect(self.net.network, cid, f"/proc/{pid}/ns/net",
                                   container_name=self.hostname, ifname="eth0")
        self.attached = cid
        with open(self.box.dir / "hosts", "r+") as f:
            f.seek(0, os.SEEK_END)
            f.write(f"{ep.ip}\t{self.hostname}\n")

    def detach(self) -> None:
        if self.attached:
            self.networks.release(self.attached)
            self.attached = ""


def _read(path: str) -> str:
    try:
        with open(path, errors="replace") as f:
            return f.read(1 << 20)
    except OSError:
        return ""


def _spec_network(net: StepNetwork) -> str:
    return {stepnet.HOST: "host", stepnet.NONE: "none"}.get(net.kind, "private")


async def run_process(runtime, cgroups, sandbox: Sandbox, request: RunRequest,
                      output: Callable[[bytes], None], *, scope: str = "0",
                      errors: Callable[[bytes], None] | None = None,
                      networks=None) -> ExitStatus:
    """Run one command in the sandbox to completion, streaming its stdout to `output` and its
    stderr to `errors` (to `output` too when not given, interleaved as written). `networks`
    (netbridge's manager) is needed for a step on a user network.

    Nothing (process, cgroup, endpoint) outlives this call, whether it returns or raises."""
    cid = secrets_mod.token_hex(32)
    etc = _StepEtc(sandbox, request, cid[:12], networks)
    # a user network's lookup may wait for netbridge's lock: off the event loop; the rest is a
    # stat or two and a small file (a thread hop would cost more, ~1 ms per step)
    extra = await trio.to_thread.run_sync(etc.mounts) if etc.net.kind == stepnet.NETWORK \
        else etc.mounts()
    mounts = [*request.mounts, *extra]
    spec = ContainerSpec(id=cid, rootfs=str(sandbox.merged), hostname=cid[:12],
                         process=ProcessSpec(args=request.args, env=request.env,
                                             cwd=request.cwd or "/", user=request.user),
                         mounts=tuple(mounts), network=_spec_network(request.network))

    async def wire(pid: int) -> None:
        await trio.to_thread.run_sync(etc.attach, cid, pid)

    cgroup = cgroups.create(cgroup_prefix(scope) + cid[:12], Resources())
    proc = None
    pipes = [os.pipe2(os.O_CLOEXEC) for _ in range(1 if errors is None else 2)]
    reads = [r for r, _ in pipes]
    writes = [w for _, w in pipes]
    null = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
    try:
        try:
            proc = await runtime.start(spec, cgroup, Stdio(stdin=null, stdout=writes[0],
                                                           stderr=writes[-1]),
                                       before_exec=wire if etc.net.kind == stepnet.NETWORK
                                       else None)
        finally:
            for w in writes:
                os.close(w)
            writes = []
        async with trio.open_nursery() as nursery:
            nursery.start_soon(pump, reads[0], output)
            if errors is not None:
                nursery.start_soon(pump, reads[1], errors)
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
            for fd in [*reads, *writes, null]:
                os.close(fd)
            try:
                etc.detach()
            finally:
                try:
                    cgroup.remove()
                except OSError as exc:
                    raise EngineError(f"cannot remove build cgroup {cgroup.name}: "
                                      f"{exc}") from None
