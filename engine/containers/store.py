"""Container records on disk: $ROOT/containers/<id>/config.json + state.json (atomic writes),
an in-memory name index, and one trio lock per container so racing commands serialise."""
from __future__ import annotations

import json
import logging
import os
import random
import secrets
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trio

from engine.containers.model import ContainerConfig, ContainerState, parse_create
from engine.errors import Conflict, NotFound

log = logging.getLogger("engine.containers")
ZERO_TIME = "0001-01-01T00:00:00Z"

_ADJECTIVES = ("brave", "calm", "eager", "fancy", "gentle", "happy", "jolly", "keen", "lucid",
               "merry", "nimble", "proud", "quiet", "rapid", "serene", "tidy", "upbeat", "vivid",
               "witty", "zesty", "amber", "bold", "crisp", "dapper", "earnest", "frosty")
_NOUNS = ("otter", "falcon", "maple", "harbor", "comet", "lynx", "cedar", "pebble", "heron",
          "quartz", "willow", "badger", "orchid", "glacier", "meadow", "raven", "tundra",
          "walrus", "ember", "fjord", "gecko", "ibis", "juniper", "kestrel", "lagoon", "marten")


def generate_name(taken: set[str]) -> str:
    for _ in range(100):
        name = f"{random.choice(_ADJECTIVES)}_{random.choice(_NOUNS)}"
        if name not in taken:
            return name
    return f"{random.choice(_ADJECTIVES)}_{random.choice(_NOUNS)}{random.randint(0, 9999)}"


@dataclass
class StateRecord:
    status: ContainerState = ContainerState.CREATED
    pid: int = 0
    exit_code: int = 0
    error: str = ""
    started_at: str = ZERO_TIME
    finished_at: str = ZERO_TIME
    oom_killed: bool = False
    restart_count: int = 0
    stopped_by_user: bool = False
    health: dict[str, Any] | None = None

    def to_json(self) -> dict:
        return {"Status": self.status.value, "Pid": self.pid, "ExitCode": self.exit_code,
                "Error": self.error, "StartedAt": self.started_at, "FinishedAt": self.finished_at,
                "OOMKilled": self.oom_killed, "RestartCount": self.restart_count,
                "StoppedByUser": self.stopped_by_user, "Health": self.health}

    @classmethod
    def from_json(cls, d: dict) -> StateRecord:
        return cls(ContainerState(d.get("Status", "created")), d.get("Pid", 0),
                   d.get("ExitCode", 0), d.get("Error", ""), d.get("StartedAt", ZERO_TIME),
                   d.get("FinishedAt", ZERO_TIME), bool(d.get("OOMKilled")),
                   d.get("RestartCount", 0), bool(d.get("StoppedByUser")), d.get("Health"))


@dataclass
class ContainerRecord:
    id: str
    name: str
    created: str
    image_id: str
    config: ContainerConfig
    dir: Path
    state: StateRecord = field(default_factory=StateRecord)
    anonymous_volumes: list[str] = field(default_factory=list)

    @property
    def short_id(self) -> str:
        return self.id[:12]

    @property
    def log_path(self) -> Path:
        return self.dir / f"{self.id}-json.log"

    def config_json(self) -> dict:
        return {"Id": self.id, "Name": self.name, "Created": self.created, "Image": self.image_id,
                "AnonymousVolumes": self.anonymous_volumes, "Body": self.config.body}


def _atomic_write(path: Path, obj: dict, *, durable: bool = True) -> None:
    """Readers see the old or the new file, never a torn one. `durable` adds an fsync so the
    new content also survives a power loss (not just a daemon crash)."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w") as f:
        json.dump(obj, f)
        if durable:
            f.flush()
            os.fsync(f.fileno())
    os.replace(tmp, path)


def _load_state(path: Path) -> StateRecord:
    """The recorded state; one lost to a power loss (state.json is not fsync'd) reads as a
    container that was running when the engine died: recover() marks it exited (255)."""
    try:
        return StateRecord.from_json(json.loads(path.read_text()))
    except FileNotFoundError:
        return StateRecord()
    except (OSError, ValueError, TypeError, AttributeError) as exc:
        log.warning("unreadable container state %s (%s); treating it as crashed", path, exc)
        return StateRecord(status=ContainerState.RUNNING)


def new_id() -> str:
    return secrets.token_hex(32)


class ContainerStore:
    def __init__(self, root: Path) -> None:
        self.root = root   # $PYCOMPOSE_ROOT/containers
        self.root.mkdir(parents=True, exist_ok=True)
        self._records: dict[str, ContainerRecord] = {}
        self._names: dict[str, str] = {}
        self._locks: dict[str, trio.Lock] = {}

    def load_all(self) -> list[ContainerRecord]:
        for d in sorted(self.root.iterdir()):
            cfg_path = d / "config.json"
            if not cfg_path.exists():
                # a create that died before writing its record: nothing refers to it
                shutil.rmtree(d, ignore_errors=True)
                continue
            try:
                raw = json.loads(cfg_path.read_text())
                state = _load_state(d / "state.json")
                rec = ContainerRecord(raw["Id"], raw["Name"], raw["Created"], raw["Image"],
                                      parse_create(raw["Body"]), d, state,
                                      list(raw.get("AnonymousVolumes") or []))
            except Exception as exc:  # keep the daemon up; the record stays on disk for a human
                log.error("skipping unreadable container record %s: %s", d, exc)
                continue
            if rec.name in self._names:  # only a crash during two racing creates does this
                log.error("skipping container record %s: its name %s is taken by %s", d,
                          rec.name, self._names[rec.name])
                continue
            self._records[rec.id] = rec
            self._names[rec.name] = rec.id
        return list(self._records.values())

    def all(self) -> list[ContainerRecord]:
        return list(self._records.values())

    def names(self) -> set[str]:
        return set(self._names)

    def check_name(self, name: str) -> None:
        other = self._names.get(name)
        if other is not None:
            raise Conflict(f'Conflict. The container name "/{name}" is already in use by '
                           f'container "{other}". You have to remove (or rename) that container '
                           "to be able to reuse that name.")

    @staticmethod
    def write_new(rec: ContainerRecord) -> None:
        """Write a new record's files into rec.dir (made by the caller), config.json last: a
        directory without it is a create that died half-way, and load_all() deletes it.
        Touches no in-memory index, so it may run in a worker thread; add() comes after."""
        _atomic_write(rec.dir / "state.json", rec.state.to_json(), durable=False)
        _atomic_write(rec.dir / "config.json", rec.config_json())

    def add(self, rec: ContainerRecord) -> None:
        """Reserve the name and index the record (its files are written: write_new)."""
        self.check_name(rec.name)
        self._names[rec.name] = rec.id
        self._records[rec.id] = rec

    def rename(self, rec: ContainerRecord, new_name: str) -> None:
        other = self._names.get(new_name)
        if other is not None and other != rec.id:
            raise Conflict(f'Conflict. The container name "/{new_name}" is already in use by '
                           f'container "{other}". You have to remove (or rename) that container '
                           "to be able to reuse that name.")
        old = rec.name
        rec.name = new_name
        try:
            _atomic_write(rec.dir / "config.json", rec.config_json())
        except BaseException:
            rec.name = old
            raise
        self._names.pop(old, None)
        self._names[new_name] = rec.id

    def save_config(self, rec: ContainerRecord) -> None:
        if rec.id in self._records:
            _atomic_write(rec.dir / "config.json", rec.config_json())

    def save_state(self, rec: ContainerRecord) -> None:
        # Not fsync'd: a run writes its state 4-5 times (each fsync was 3-6 ms of a loaded
        # disk, on the event loop). After a daemon crash the atomic rename still leaves an
        # intact file; after a power loss the state may be older or unreadable, and
        # load_all() then treats the container as one that died with the engine, as it
        # would treat a current "running" state anyway.
        if rec.id in self._records:
            _atomic_write(rec.dir / "state.json", rec.state.to_json(), durable=False)

    def by_id(self, cid: str) -> ContainerRecord | None:
        """The record of a full id, or None once it is forgotten (no name or prefix lookup)."""
        return self._records.get(cid)

    def get(self, ref: str) -> ContainerRecord:
        ref = ref.lstrip("/") if ref.startswith("/") else ref
        if ref in self._records:
            return self._records[ref]
        if ref in self._names:
            return self._records[self._names[ref]]
        if ref:
            matches = [cid for cid in self._records if cid.startswith(ref)]
            if len(matches) == 1:
                return self._records[matches[0]]
            if len(matches) > 1:
                raise NotFound(f"No such container: {ref} (multiple IDs found with that prefix)")
        raise NotFound(f"No such container: {ref}")

    def forget(self, rec: ContainerRecord, *, delete: bool = True) -> None:
        """Drop the record, and its directory unless the caller deletes it (off the event loop);
        the caller made sure nothing is mounted there."""
        self._records.pop(rec.id, None)
        if self._names.get(rec.name) == rec.id:
            del self._names[rec.name]
        self._locks.pop(rec.id, None)
        from engine.containers import logcache

        logcache.forget(str(rec.log_path))  # its recent output held in memory goes now
        if delete:
            shutil.rmtree(rec.dir, ignore_errors=True)

    def lock(self, cid: str) -> trio.Lock:
        return self._locks.setdefault(cid, trio.Lock())
