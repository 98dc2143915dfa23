"""Named volumes: $ROOT/volumes/<name>/_data plus a small metadata file, in Docker's shapes.

Synchronous (file system only); the API calls it through `trio.to_thread`. Whether a volume is
in use is the container manager's knowledge, passed in as a callable.
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import re
import secrets
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from engine.errors import BadParameter, Conflict, NotFound

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
        tmp = self._dir(v.name) / (META + ".tmp")
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
        """First use: copy the image's content at the mount target into an empty volume."""
        if vol.initialized:
            return
        if source.is_dir() and not any(vol.mountpoint.iterdir()):
            # cp -a keeps owners, modes, links and times exactly; stat() the source dir itself too.
            subprocess.run(["cp", "-a", "--", f"{source}/.", str(vol.mountpoint)], check=True,
                           capture_output=True)
            st = source.stat()
            os.chown(vol.mountpoint, st.st_uid, st.st_gid)
            os.chmod(vol.mountpoint, st.st_mode & 0o7777)
        self._save(Volume(vol.name, vol.mountpoint, vol.created_at, vol.labels, vol.options,
                          vol.anonymous, True))


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
