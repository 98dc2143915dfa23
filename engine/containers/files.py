"""The file-system endpoints of a container (archive GET/HEAD/PUT, export), on the right view:
a running container through its PID 1's root, a stopped one through a detached overlay taken
under the container's lock (no start can mount the same upper dir meanwhile).

Tars are written to a temporary file in the engine's root before the answer starts, so that a
missing path is a 404 (not a cut stream) and the container's lock is never held while a slow
client reads.
"""
from __future__ import annotations

import os
import stat
import tempfile
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, AsyncIterator, BinaryIO, Callable

import trio

from engine.containers import archive, fsview
from engine.containers.fsview import MountPoint, View
from engine.containers.model import MountSpec, anonymous_targets
from engine.containers.store import ContainerRecord
from engine.errors import Conflict, EngineError
from engine.runtime import users

if TYPE_CHECKING:
    from engine.containers.manager import ContainerManager

SPOOL_CHUNK = 256 * 1024


def mount_table(rec: ContainerRecord, volumes: Any, *, create: bool = False
                ) -> list[MountPoint]:
    """A stopped container's binds and volumes, as its next start would mount them (tmpfs
    mounts are empty when stopped). A named volume not made yet has nothing to show; with
    `create` (a copy into the container) it is made now, as Docker makes it at create."""
    cfg = rec.config
    out: list[MountPoint] = []

    def volume(name: str, m: MountSpec) -> None:
        try:
            vol = volumes.create(name) if create else volumes.get(name)
        except EngineError:
            return
        out.append(MountPoint(m.target, str(vol.mountpoint), m.readonly))

    for m in cfg.mounts:
        if m.type == "bind":
            out.append(MountPoint(m.target, m.source, m.readonly))
        elif m.type == "volume" and m.source:
            volume(m.source, m)
    by_target = {m.target: m for m in cfg.mounts}
    for name, target in zip(rec.anonymous_volumes, anonymous_targets(cfg)):
        volume(name, by_target.get(target) or MountSpec("volume", target))
    for name in ("hosts", "hostname", "resolv.conf"):
        if f"/etc/{name}" not in by_target and (rec.dir / name).exists():
            out.append(MountPoint(f"/etc/{name}", str(rec.dir / name)))
    return out


def writable_in(view: View, readonly_root: bool) -> Callable[[str], bool]:
    """For a stopped view: may container path `p` be written? (a running container's kernel
    answers EROFS by itself)."""
    def check(p: str) -> bool:
        mp = view.mount_of(p)
        return not mp.readonly if mp is not None else not readonly_root
    return check


class FileAccess:
    def __init__(self, manager: ContainerManager) -> None:
        self.mgr = manager

    @asynccontextmanager
    async def view(self, rec: ContainerRecord, *, write: bool,
                   rootfs_only: bool = False) -> AsyncIterator[View]:
        """The container's file system; `rootfs_only`: its root file system without the
        mounts (what `export` and Docker's RW layer show)."""
        v = await trio.to_thread.run_sync(self._running_view, rec, rootfs_only)
        if v is None:
            async with self.mgr.store.lock(rec.id):
                if self.mgr.running(rec.id) is not None:
                    raise Conflict(f"container {rec.name.lstrip('/')} is starting or stopping; "
                                   "try the copy again")
                v = await trio.to_thread.run_sync(self._stopped_view, rec, write, rootfs_only)
                try:
                    yield v
                finally:
                    v.close()
            return
        try:
            yield v
        finally:
            v.close()

    def _running_view(self, rec: ContainerRecord, rootfs_only: bool) -> View | None:
        """Worker thread: the view of a running container, None when it is not running (or
        stopped a moment ago: its process or its overlay is gone)."""
        run = self.mgr.running(rec.id)
        if run is None:
            return None
        if rootfs_only:
            # the overlay the container runs on, as mounted in the engine's namespace; an
            # unmounted mount point (it stopped meanwhile) is the container dir's own fs
            fd = os.open(rec.dir / "merged", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
            if os.fstat(fd).st_dev == os.stat(rec.dir).st_dev:
                os.close(fd)
                return None
            return View(fd)
        try:
            return fsview.running_view(run.process.pid, getattr(run.process, "pidfd", None))
        except (ProcessLookupError, FileNotFoundError):
            return None

    def _stopped_view(self, rec: ContainerRecord, write: bool, rootfs_only: bool) -> View:
        image = self.mgr.images.get(rec.image_id)
        lowers = list(self.mgr.images.layer_paths(image))
        ro = not write or rec.config.readonly_rootfs
        return fsview.stopped_view(lowers, rec.dir / "upper", rec.dir / "work",
                                   rec.dir / "merged",
                                   [] if rootfs_only else mount_table(rec, self.mgr.volumes,
                                                                      create=write),
                                   readonly=ro)

    def _spool(self) -> BinaryIO:
        return tempfile.TemporaryFile(dir=self.mgr.root)

    async def stat(self, ref: str, path: str) -> dict:
        rec = self.mgr.get(ref)
        async with self.view(rec, write=False) as v:
            def work() -> dict:
                entry = archive.locate(v, path, ref)
                try:
                    return entry.stat_doc()
                finally:
                    entry.close()
            return await trio.to_thread.run_sync(_plain_errors, work, path)

    async def get_archive(self, ref: str, path: str) -> tuple[str, BinaryIO]:
        """(path stat header, a spooled tar positioned at its start)."""
        rec = self.mgr.get(ref)
        out = self._spool()
        try:
            async with self.view(rec, write=False) as v:
                def work() -> str:
                    entry = archive.locate(v, path, ref)
                    try:
                        archive.write_archive(v, entry, out)
                        return entry.stat_header()
                    finally:
                        entry.close()
                header = await trio.to_thread.run_sync(_plain_errors, work, path)
        except BaseException:
            out.close()
            raise
        out.seek(0)
        return header, out

    async def export(self, ref: str) -> BinaryIO:
        rec = self.mgr.get(ref)
        out = self._spool()
        try:
            async with self.view(rec, write=False, rootfs_only=True) as v:
                await trio.to_thread.run_sync(_plain_errors,
                                              lambda: archive.write_export(v, out), "/")
        except BaseException:
            out.close()
            raise
        out.seek(0)
        return out

    async def put_archive(self, ref: str, path: str, body: BinaryIO, *,
                          no_overwrite_dir_non_dir: bool, copy_uid_gid: bool) -> None:
        rec = self.mgr.get(ref)
        running = self.mgr.running(rec.id) is not None
        async with self.view(rec, write=True) as v:
            def work() -> None:
                owner = None
                # as Docker: with no user configured, the archive's own ids are kept
                if copy_uid_gid and rec.config.user.strip():
                    user = container_user(v, rec.config.user)
                    owner = (user.uid, user.gid)
                writable = (lambda p: True) if running else writable_in(
                    v, rec.config.readonly_rootfs)
                opts = archive.ExtractOptions(no_overwrite_dir_non_dir, owner, writable)
                body.seek(0)
                archive.extract_archive(v, path, ref, body, opts)
            await trio.to_thread.run_sync(work)


def _plain_errors(work: Callable[[], Any], path: str) -> Any:
    """Worker thread: run `work`; an OS error reading the container (a full disk for the
    spool, a file the kernel refuses) is a one-line engine error naming the path, not a
    traceback."""
    try:
        return work()
    except OSError as e:
        raise EngineError(f"cannot archive {path}: {e.strerror or e}") from None


def read_in_view(view: View, path: str, limit: int = 4 << 20) -> str:
    try:
        r = view.resolve(path)
    except OSError:
        return ""
    try:
        if not stat.S_ISREG(r.st.st_mode):
            return ""   # a fifo or device planted as /etc/passwd is not read (it could block)
        fd = fsview.reopen(r.fd, os.O_RDONLY)
    except OSError:
        return ""
    finally:
        r.close()
    with os.fdopen(fd, encoding="utf-8", errors="replace") as f:
        return f.read(limit)


def container_user(view: View, spec: str) -> Any:
    """The container's configured user (copyUIDGID), from its own passwd and group files."""
    passwd = users.parse_passwd(read_in_view(view, "/etc/passwd"))
    groups = users.parse_group(read_in_view(view, "/etc/group"))
    return users.resolve_user_from(spec.strip() or "0", passwd, groups)


async def spooled_chunks(f: BinaryIO) -> AsyncIterator[bytes]:
    """A spooled file's bytes for a StreamResponse; the file is closed at the end."""
    try:
        while True:
            data = await trio.to_thread.run_sync(f.read, SPOOL_CHUNK)
            if not data:
                return
            yield data
    finally:
        f.close()
