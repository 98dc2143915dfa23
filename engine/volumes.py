"""Named volumes: $ROOT/volumes/<name>/_data plus a small metadata file, in Docker's shapes.

Synchronous (file system only); the API calls it through `trio.to_thread`. Whether a volume is
in use is the container manager's knowledge, passed in as a callable.
"""
from __future__ import annotations

import datetime as _dt
import errno
import fcntl
import json
import os
import re
import secrets
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from engine.errors import BadParameter, Conflict, EngineError, NotFound

_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]+$")
META = "volume.json"


@dataclass(frozen=True)
class Volume:
    name: str
    mountpoint: Path
    created_at: str
    labels: dict[str, str] = field(default_factory=dict)
    options: dict[str, str] = field(default_factory=dict)
    anonymous: bool = False
    initialized: bool = False   # first-use copy done (or not wanted)

    def to_docker(self) -> dict:
        return {"Name": self.name, "Driver": "local", "Mountpoint": str(self.mountpoint),
                "CreatedAt": self.created_at, "Labels": self.labels or None,
                "Scope": "local", "Options": self.options or None}


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).astimezone().isoformat(timespec="seconds")


class VolumeStore:
    def __init__(self, root: Path) -> None:
        self.root = root            # $PYCOMPOSE_ROOT/volumes
        self.root.mkdir(parents=True, exist_ok=True)

    def _dir(self, name: str) -> Path:
        return self.root / name

    def _load(self, name: str) -> Volume:
        meta_path = self._dir(name) / META
        try:
            meta = json.loads(meta_path.read_text())
        except FileNotFoundError:
            raise NotFound(f"get {name}: no such volume") from None
        except ValueError:
            meta = {}
        return Volume(name, self._dir(name) / "_data", meta.get("CreatedAt", ""),
                      meta.get("Labels") or {}, meta.get("Options") or {},
                      bool(meta.get("Anonymous")), bool(meta.get("Initialized")))

    def _save(self, v: Volume) -> None:
        meta = {"CreatedAt": v.created_at, "Labels": v.labels, "Options": v.options,
                "Anonymous": v.anonymous, "Initialized": v.initialized}
        # a name of its own: two starts of containers sharing a new volume save it at once
        # (Compose v2 starts them in parallel), and one's rename must not find the other's
        # temporary file gone
        tmp = self._dir(v.name) / f"{META}.{secrets.token_hex(6)}.tmp"
        tmp.write_text(json.dumps(meta))
        os.replace(tmp, self._dir(v.name) / META)

    def create(self, name: str | None = None, labels: dict | None = None,
               options: dict | None = None, driver: str | None = None) -> Volume:
        """Idempotent for an existing name (Docker returns the existing volume)."""
        if driver not in (None, "", "local"):
            raise BadParameter(f"volume driver {driver!r} is not supported (only local)")
        if options:
            raise BadParameter("volume driver options are not supported")
        anonymous = not name
        name = name or secrets.token_hex(32)
        if not _NAME.match(name):
            raise BadParameter(f"create {name}: invalid volume name, only "
                               "[a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")
        try:
            return self._load(name)
        except NotFound:
            pass
        (self._dir(name) / "_data").mkdir(parents=True, exist_ok=True)
        vol = Volume(name, self._dir(name) / "_data", _now(),
                     {str(k): str(v) for k, v in (labels or {}).items()}, {}, anonymous)
        self._save(vol)
        return vol

    def get(self, name: str) -> Volume:
        if not _NAME.match(name):
            raise NotFound(f"get {name}: no such volume")
        return self._load(name)

    def list(self) -> list[Volume]:
        out = []
        for d in sorted(self.root.iterdir()) if self.root.exists() else []:
            if (d / META).exists():
                out.append(self._load(d.name))
        return out

    def remove(self, name: str, in_use: Callable[[str], list[str]], force: bool = False) -> None:
        vol = self.get(name)
        users = in_use(vol.name)
        if users:
            raise Conflict(f"remove {name}: volume is in use - [{', '.join(users)}]")
        shutil.rmtree(self._dir(vol.name), ignore_errors=True)

    def prune(self, in_use: Callable[[str], list[str]], all_volumes: bool = False,
              labels: list[str] = ()) -> tuple[list[str], int]:
        """Unused volumes; like Docker ≥ 23 only anonymous ones unless `all_volumes`."""
        deleted, reclaimed = [], 0
        for vol in self.list():
            if in_use(vol.name) or (not all_volumes and not vol.anonymous):
                continue
            if not all(_label_matches(vol.labels, f) for f in labels):
                continue
            reclaimed += _du(vol.mountpoint)
            shutil.rmtree(self._dir(vol.name), ignore_errors=True)
            deleted.append(vol.name)
        return deleted, reclaimed

    def populate(self, vol: Volume, source: Path) -> None:
        """First use: copy the image's content at the mount target into an empty volume.

        The volume may already be mounted in a running container (nocopy, or a start that
        found no source), which can swap any directory in it for a link to a host path while
        we write. So nothing is written into _data by path: `cp -a` fills a staging dir next
        to it (same file system, in no container), and each top-level entry is then renamed
        into _data by fd. rename(2) never follows a link at its destination, and a name the
        volume got meanwhile is left as the volume has it."""
        if vol.initialized:
            return
        try:
            _copy_in(source, vol.mountpoint, self._dir(vol.name))
        except subprocess.CalledProcessError as exc:
            why = (exc.stderr or b"").decode(errors="replace").strip().splitlines()
            raise EngineError(f"cannot copy the image's files into volume {vol.name}: "
                              f"{why[-1] if why else 'cp failed'}") from None
        except OSError as exc:
            raise EngineError(f"cannot copy the image's files into volume {vol.name}: "
                              f"{exc.strerror}") from None
        self._save(Volume(vol.name, vol.mountpoint, vol.created_at, vol.labels, vol.options,
                          vol.anonymous, True))


STAGE_PREFIX = ".populate-"


def _copy_in(source: Path, data: Path, vol_dir: Path) -> None:
    """Copy directory `source` (links in it kept as links) into `data` if that is empty."""
    try:
        src_fd = os.open(source, os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except (FileNotFoundError, NotADirectoryError):
        return
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return                              # a link: nothing of the image to copy
        raise
    fds = [src_fd]
    stage = vol_dir / f"{STAGE_PREFIX}{secrets.token_hex(8)}"
    try:
        for path in (vol_dir, data):
            fds.append(os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW
                               | os.O_CLOEXEC))
        lock_fd, data_fd = fds[1:]
        # two starts filling one volume at once: the second finds it filled; and a staging
        # dir found while holding the lock is a dead engine's
        fcntl.flock(lock_fd, fcntl.LOCK_EX)
        if os.listdir(data_fd):
            return
        _remove_stale_stages(vol_dir)
        os.mkdir(stage, 0o700)
        # the source by its fd, so what was checked is what is copied; cp -a keeps owners,
        # modes, links, hard links, xattrs and times exactly
        subprocess.run(["cp", "-a", "--", f"/proc/self/fd/{src_fd}/.", str(stage)],
                       check=True, capture_output=True, pass_fds=(src_fd,))
        stage_fd = os.open(stage, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            for name in sorted(os.listdir(stage_fd)):
                try:
                    os.stat(name, dir_fd=data_fd, follow_symlinks=False)
                    continue                    # the volume's own entry wins
                except FileNotFoundError:
                    pass
                try:
                    os.rename(name, name, src_dir_fd=stage_fd, dst_dir_fd=data_fd)
                except OSError as exc:
                    if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY, errno.ENOTDIR,
                                         errno.EISDIR):
                        raise
        finally:
            os.close(stage_fd)
        st = os.fstat(src_fd)
        os.fchown(data_fd, st.st_uid, st.st_gid)
        os.fchmod(data_fd, st.st_mode & 0o7777)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
        for fd in fds:
            os.close(fd)


def _remove_stale_stages(vol_dir: Path) -> None:
    """Staging dirs an engine that died mid-copy left (the caller holds the volume's lock)."""
    for name in os.listdir(vol_dir):
        if name.startswith(STAGE_PREFIX):
            shutil.rmtree(vol_dir / name, ignore_errors=True)


def _label_matches(labels: dict[str, str], flt: str) -> bool:
    key, eq, value = flt.partition("=")
    return key in labels and (not eq or labels[key] == value)


def _du(path: Path) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(dirpath, f)).st_size
            except OSError:
                pass
    return total
