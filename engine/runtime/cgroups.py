"""Container cgroups: detect v1 / hybrid / v2, then create one fresh cgroup per start.

Detection is pure (`detect_layout` over the text of /proc/self/cgroup and /proc/self/mountinfo).
Cgroups are always created *below the daemon's own cgroup* in each hierarchy (delegation-friendly;
never at a hierarchy root). Names: `pycompose-<id12>-<n>` (a fresh one per start: once
`cgroup.kill` was written to a cgroup, kernel 6.18 SIGKILLs every later clone3(CLONE_INTO_CGROUP)
into it at birth).

- v1 and hybrid (handled alike, like runc: `unified` is ignored for limits): controllers
  memory, cpu, cpuacct, pids, freezer, devices, each wherever it is mounted (cpu and cpuacct may be
  separate hierarchies). OOM via memory.oom_control `oom_kill` (v1's memory.failcnt stays 0 when
the OOM killer struck). The devices
  controller gets Docker's allow-list so CAP_MKNOD cannot reach host disks.
- v2: one hierarchy. "No internal processes": if the daemon's cgroup holds processes, the daemon's
  processes move to a leaf `pycompose-engine` so controllers can be enabled in subtree_control.
"""
from __future__ import annotations

import enum
import errno
import os
import re
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

from engine.errors import EngineError
from engine.runtime import devfilter
from engine.runtime.spec import Resources

# cpuset is used only by a container that asks for it (Docker's CpusetCpus/Mems): on v1 a new
# cpuset cgroup starts empty and must be filled before a process may join, two writes a plain
# start does not pay
V1_CONTROLLERS = ("memory", "cpu", "cpuacct", "pids", "freezer", "devices", "cpuset")
V2_CONTROLLERS = ("memory", "pids", "cpu")
PREFIX = "pycompose-"
ENGINE_LEAF = "pycompose-engine"
CPU_PERIOD = 100_000
# Docker's default device allow-list (null zero full random urandom tty console ptmx pts/*),
# plus mknod of anything (it is access, not creation, that the cgroup stops).
DEVICE_RULES = ("c *:* m", "b *:* m", "c 1:3 rwm", "c 1:5 rwm", "c 1:7 rwm", "c 1:8 rwm",
                "c 1:9 rwm", "c 5:0 rwm", "c 5:1 rwm", "c 5:2 rwm", "c 136:* rwm", "c 10:200 rwm")
V2_DEVICE_RULES = [devfilter.parse_rule(r) for r in DEVICE_RULES]
ALL_DEVICE_RULES = ("a",)  # privileged


class CgroupMode(enum.Enum):
    V1 = "v1"
    HYBRID = "hybrid"
    V2 = "v2"


@dataclass(frozen=True)
class MountEntry:
    mountpoint: str
    root: str
    fstype: str
    super_options: tuple[str, ...]


@dataclass(frozen=True)
class CgroupLayout:
    mode: CgroupMode
    v1: dict[str, Path] = field(default_factory=dict)   # controller -> the caller's own dir
    v2: Path | None = None                              # the caller's own dir in cgroup2


def _unescape(path: str) -> str:
    return path.encode().decode("unicode_escape") if "\\" in path else path


def parse_mountinfo(text: str) -> list[MountEntry]:
    entries = []
    for line in text.splitlines():
        left, sep, right = line.partition(" - ")
        if not sep:
            continue
        fields_ = left.split()
        rest = right.split()
        if len(fields_) < 5 or len(rest) < 3:
            continue
        entries.append(MountEntry(_unescape(fields_[4]), _unescape(fields_[3]), rest[0],
                                  tuple(rest[2].split(","))))
    return entries


def parse_proc_cgroup(text: str) -> dict[str, str]:
    """controller -> path; the v2 entry ("0::/path") has the key ""."""
    paths = {}
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        if parts[1] == "":
            paths[""] = parts[2]
        for ctrl in parts[1].split(","):
            if ctrl:
                paths[ctrl] = parts[2]
    return paths


def _own_dir(mount: MountEntry, own: str) -> Path:
    root = mount.root.rstrip("/")
    if own == root or own.startswith(root + "/"):
        return Path(mount.mountpoint) / own[len(root):].lstrip("/")
    return Path(mount.mountpoint)  # our path lies outside this mount's view (nested container)


def detect_layout(proc_cgroup: str, mountinfo: str) -> CgroupLayout:
    own = parse_proc_cgroup(proc_cgroup)
    mounts = parse_mountinfo(mountinfo)
    v1: dict[str, Path] = {}
    v2: Path | None = None
    for m in mounts:
        if m.fstype == "cgroup":
            for ctrl in V1_CONTROLLERS:
                if ctrl in m.super_options and ctrl not in v1 and ctrl in own:
                    v1[ctrl] = _own_dir(m, own[ctrl])
        elif m.fstype == "cgroup2" and v2 is None and "" in own:
            v2 = _own_dir(m, own[""])
    if v1:
        mode = CgroupMode.HYBRID if v2 is not None else CgroupMode.V1
        return CgroupLayout(mode, v1, v2)
    if v2 is not None:
        return CgroupLayout(CgroupMode.V2, {}, v2)
    raise EngineError("no cgroup filesystem is mounted (looked for cgroup and cgroup2 in "
                      "/proc/self/mountinfo)")


def _write(path: Path, value: str | int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, str(value).encode())
    finally:
        os.close(fd)


def _read(path: Path, default: str = "") -> str:
    try:
        return path.read_text()
    except OSError:
        return default


def _keyed(text: str) -> dict[str, int]:
    out = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].lstrip("-").isdigit():
            out[parts[0]] = int(parts[1])
    return out


def _int(path: Path) -> int | None:
    text = _read(path).strip()
    if text == "max":
        return None
    return int(text) if text.lstrip("-").isdigit() else None


def _wait_for(condition, timeout: float = 1.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.001)


def cpu_weight(shares: int) -> int:
    """cpu.shares (2..262144) -> cpu.weight (1..10000), the mapping runc uses."""
    shares = min(max(shares, 2), 262144)
    return 1 + ((shares - 2) * 9999) // 262142


def cpu_quota(nano_cpus: int) -> int:
    return max(1000, nano_cpus * CPU_PERIOD // 1_000_000_000)


class Cgroup:
    """One container's cgroup in every hierarchy the driver uses."""

    def __init__(self, name: str, dirs: list[Path]) -> None:
        self.name = name
        self.dirs = dirs

    def procs_files(self) -> list[str]:
        """Where a process writes "0" to join (every hierarchy)."""
        return [str(d / "cgroup.procs") for d in self.dirs]

    def pids(self) -> list[int]:
        found: set[int] = set()
        for d in self.dirs:
            found.update(int(x) for x in _read(d / "cgroup.procs").split())
        return sorted(found)

    # The base class works on any set of dirs by probing which files exist, so a cgroup
    # rebuilt from names alone (a crashed daemon's leftovers) can still be thawed and killed.
    def oom_killed(self) -> bool:
        for d in self.dirs:
            if _keyed(_read(d / "memory.oom_control")).get("oom_kill", 0) > 0:
                return True
            if _keyed(_read(d / "memory.events")).get("oom_kill", 0) > 0:
                return True
        return False

    def stats(self) -> dict:
        return {"pids": {"current": len(self.pids()), "limit": None}}

    def freeze(self) -> None:
        done = False
        for d in self.dirs:
            if (d / "freezer.state").exists():
                _write(d / "freezer.state", "FROZEN")
                _wait_for(lambda d=d: _read(d / "freezer.state").strip() == "FROZEN")
                done = True
            elif (d / "cgroup.freeze").exists():
                _write(d / "cgroup.freeze", "1")
                _wait_for(lambda d=d: _keyed(_read(d / "cgroup.events")).get("frozen") == 1)
                done = True
        if not done:
            raise NotImplementedError("no freezer for this cgroup")

    def thaw(self) -> None:
        for d in self.dirs:
            if (d / "freezer.state").exists():
                _write(d / "freezer.state", "THAWED")
            elif (d / "cgroup.freeze").exists():
                _write(d / "cgroup.freeze", "0")

    def kill_all(self) -> None:
        """SIGKILL every process, with forks held off by the freezer where there is one."""
        for _ in range(50):
            pids = self.pids()
            if not pids:
                return
            frozen = self._try_freeze()
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            if frozen:
                self.thaw()
            time.sleep(0.002)

    def _try_freeze(self) -> bool:
        try:
            self.freeze()
            return True
        except (OSError, NotImplementedError):
            return False

    def remove(self) -> None:
        """Kill what is left, then rmdir in every hierarchy (tolerates already-removed)."""
        self.kill_all()
        for d in self.dirs:
            for attempt in range(200):
                try:
                    os.rmdir(d)
                    break
                except FileNotFoundError:
                    break
                except OSError as e:
                    if e.errno != errno.EBUSY or attempt == 199:
                        raise EngineError(f"cannot remove cgroup {d}: {e.strerror}") from None
                    self.kill_all()
                    time.sleep(0.005)


class V1Cgroup(Cgroup):
    def __init__(self, name: str, by_ctrl: dict[str, Path]) -> None:
        super().__init__(name, sorted(set(by_ctrl.values())))
        self.by_ctrl = by_ctrl

    def stats(self) -> dict:
        mem, cpu, cpuacct, pids = (self.by_ctrl.get(c) for c in ("memory", "cpu", "cpuacct",
                                                                  "pids"))
        out: dict = {}
        if mem:
            out["memory"] = {"usage": _int(mem / "memory.usage_in_bytes"),
                             "max_usage": _int(mem / "memory.max_usage_in_bytes"),
                             "limit": _int(mem / "memory.limit_in_bytes")}
        cpu_stat = _keyed(_read(cpu / "cpu.stat")) if cpu else {}
        out["cpu"] = {"usage_ns": _int(cpuacct / "cpuacct.usage") if cpuacct else None,
                      "periods": cpu_stat.get("nr_periods"),
                      "throttled_periods": cpu_stat.get("nr_throttled"),
                      "throttled_ns": cpu_stat.get("throttled_time")}
        if pids:
            out["pids"] = {"current": _int(pids / "pids.current"),
                           "limit": _int(pids / "pids.max")}
        return out


class V2Cgroup(Cgroup):
    def __init__(self, name: str, path: Path) -> None:
        super().__init__(name, [path])
        self.path = path

    def kill_all(self) -> None:
        if (self.path / "cgroup.kill").exists():
            # never clone into it again: kernel 6.18 kills every clone3 into it at birth
            _write(self.path / "cgroup.kill", "1")
        super().kill_all()

    def stats(self) -> dict:
        cpu = _keyed(_read(self.path / "cpu.stat"))
        usage = cpu.get("usage_usec")
        return {
            "memory": {"usage": _int(self.path / "memory.current"),
                       "max_usage": _int(self.path / "memory.peak"),
                       "limit": _int(self.path / "memory.max")},
            "cpu": {"usage_ns": usage * 1000 if usage is not None else None,
                    "periods": cpu.get("nr_periods"),
                    "throttled_periods": cpu.get("nr_throttled"),
                    "throttled_ns": (cpu["throttled_usec"] * 1000
                                     if "throttled_usec" in cpu else None)},
            "pids": {"current": _int(self.path / "pids.current"),
                     "limit": _int(self.path / "pids.max")},
        }


_CONTAINER_CGROUP = re.compile(r"pycompose-([0-9a-f]{12})(-\d+)?")


def _is_stale(name: str, keep: set[str], owned: set[str] | None = None) -> bool:
    """Only container cgroups (`pycompose-<id12>[-<n>]`) are ever candidates."""
    match = _CONTAINER_CGROUP.fullmatch(name)
    if match is None:
        return False
    short = match.group(1)
    if owned is not None and not any(o[:12] == short for o in owned):
        return False  # another daemon's container (several state roots share one machine)
    return not any(k[:12] == short for k in keep)


class CgroupDriver:
    mode: CgroupMode

    def create(self, name: str, resources: Resources) -> Cgroup:
        raise NotImplementedError

    def parents(self) -> list[Path]:
        """Every hierarchy a container's cgroup may be made in (and stale ones are looked for)."""
        raise NotImplementedError

    def parents_for(self, resources: Resources) -> list[Path]:
        """The hierarchies a cgroup with these resources is made in."""
        return self.parents()

    def _fresh_dirs(self, name: str, parents: list[Path]) -> list[Path]:
        if not name.startswith(PREFIX) or "/" in name or name == ENGINE_LEAF:
            raise EngineError(f"invalid cgroup name {name!r}")
        made = []
        try:
            for parent in parents:
                d = parent / name
                # a leftover of a crash: never reuse it (it may have had cgroup.kill written)
                if d.exists():
                    self._wrap(name, [d]).remove()
                os.mkdir(d)
                made.append(d)
        except OSError as e:
            self._wrap(name, made).remove()
            raise EngineError(f"cannot create cgroup {name}: {e.strerror}") from None
        return made

    def _wrap(self, name: str, dirs: list[Path]) -> Cgroup:
        return Cgroup(name, dirs)

    def cleanup_stale(self, keep: set[str], owned: set[str] | None = None) -> list[str]:
        """Kill and remove `pycompose-*` cgroups whose container id is not in `keep`.

        `owned`: ids of every container in this daemon's state root; when given, only their
        cgroups are candidates, so one daemon never touches another daemon's containers.
        Ids may be full or short (12)."""
        removed = []
        for parent in self.parents():
            try:
                names = os.listdir(parent)
            except OSError:
                continue
            for name in names:
                if _is_stale(name, keep, owned) and (parent / name).is_dir():
                    self._wrap(name, [parent / name]).remove()
                    removed.append(str(parent / name))
        return removed


class V1Driver(CgroupDriver):
    def __init__(self, layout: CgroupLayout) -> None:
        self.mode = layout.mode
        self.own = dict(layout.v1)

    def parents(self) -> list[Path]:
        return sorted(set(self.own.values()))

    def _used(self, r: Resources) -> dict[str, Path]:
        """The hierarchies a container's cgroup is made in: cpuset only when it asks for CPUs
        or memory nodes (or shares its hierarchy with a controller we use anyway)."""
        others = {p for c, p in self.own.items() if c != "cpuset"}
        return {c: p for c, p in self.own.items()
                if c != "cpuset" or r.cpuset_cpus or r.cpuset_mems or p in others}

    def parents_for(self, resources: Resources) -> list[Path]:
        return sorted(set(self._used(resources).values()))

    def create(self, name: str, resources: Resources) -> Cgroup:
        used = self._used(resources)
        parents = self.parents_for(resources)
        dirs = dict(zip(parents, self._fresh_dirs(name, parents)))
        cg = V1Cgroup(name, {ctrl: dirs[p] for ctrl, p in used.items()})
        try:
            self._limit(cg.by_ctrl, resources)
        except OSError as e:
            cg.remove()
            raise EngineError(f"cannot set cgroup limits for {name}: {e}") from None
        return cg

    def _limit(self, d: dict[str, Path], r: Resources) -> None:
        mem = d.get("memory")
        if mem and r.memory:
            _write(mem / "memory.limit_in_bytes", r.memory)
            if (mem / "memory.memsw.limit_in_bytes").exists():
                swap = r.memory_swap if r.memory_swap is not None else 2 * r.memory
                _write(mem / "memory.memsw.limit_in_bytes", swap)
        cpu = d.get("cpu")
        if cpu and r.nano_cpus:
            _write(cpu / "cpu.cfs_period_us", CPU_PERIOD)
            _write(cpu / "cpu.cfs_quota_us", cpu_quota(r.nano_cpus))
        if cpu and (r.cpu_quota or r.cpu_period):
            _write(cpu / "cpu.cfs_period_us", r.cpu_period or CPU_PERIOD)
            if r.cpu_quota:
                _write(cpu / "cpu.cfs_quota_us", r.cpu_quota)
        if mem and r.memory_reservation:
            _write(mem / "memory.soft_limit_in_bytes", r.memory_reservation)
        if mem and r.memory_swappiness is not None:
            _write(mem / "memory.swappiness", r.memory_swappiness)
        if cpu and r.cpu_shares:
            _write(cpu / "cpu.shares", max(2, r.cpu_shares))
        pids = d.get("pids")
        if pids and r.pids_limit is not None:
            _write(pids / "pids.max", r.pids_limit if r.pids_limit > 0 else "max")
        cpuset = d.get("cpuset")
        if cpuset:
            # a new v1 cpuset has no CPUs and no memory nodes, and takes no process until it
            # has both: what was asked, else the parent's
            for key, asked in (("cpus", r.cpuset_cpus), ("mems", r.cpuset_mems)):
                value = asked or _read(cpuset.parent / f"cpuset.{key}").strip()
                _write(cpuset / f"cpuset.{key}", value)
        dev = d.get("devices")
        if dev:
            _write(dev / "devices.deny", "a")
            for rule in ALL_DEVICE_RULES if r.all_devices else DEVICE_RULES + r.device_rules:
                _write(dev / "devices.allow", rule)

    def _wrap(self, name: str, dirs: list[Path]) -> Cgroup:
        by_ctrl = {c: d for c, p in self.own.items() for d in dirs if d.parent == p}
        return V1Cgroup(name, by_ctrl)


class V2Driver(CgroupDriver):
    def __init__(self, layout: CgroupLayout) -> None:
        assert layout.v2 is not None
        self.mode = layout.mode
        self.own = layout.v2
        self.enabled = self._enable_controllers()

    def parents(self) -> list[Path]:
        return [self.own]

    def _enable_controllers(self) -> set[str]:
        available = set(_read(self.own / "cgroup.controllers").split())
        wanted = [c for c in V2_CONTROLLERS if c in available]
        if not wanted:
            return set()
        line = " ".join(f"+{c}" for c in wanted)
        try:
            _write(self.own / "cgroup.subtree_control", line)
        except OSError as e:
            if e.errno != errno.EBUSY:
                raise EngineError(f"cannot enable cgroup controllers in {self.own}: "
                                  f"{e.strerror}") from None
            self._move_into_leaf()
            _write(self.own / "cgroup.subtree_control", line)
        return set(wanted)

    def _move_into_leaf(self) -> None:
        """Our cgroup holds processes, so it cannot delegate controllers: move them to a leaf."""
        leaf = self.own / ENGINE_LEAF
        leaf.mkdir(exist_ok=True)
        for pid in _read(self.own / "cgroup.procs").split():
            try:
                _write(leaf / "cgroup.procs", pid)
            except OSError as e:
                if e.errno != errno.ESRCH:
                    raise EngineError(f"cannot move process {pid} into {leaf}: {e.strerror} "
                                      "(is the cgroup delegated to us?)") from None

    def create(self, name: str, resources: Resources) -> Cgroup:
        (path,) = self._fresh_dirs(name, [self.own])
        cg = V2Cgroup(name, path)
        try:
            self._limit(path, resources)
            # v2 has no devices controller: the allow-list is a BPF program on the cgroup
            if not resources.all_devices:
                devfilter.attach(path, V2_DEVICE_RULES + [devfilter.parse_rule(rule)
                                                          for rule in resources.device_rules])
        except OSError as e:
            cg.remove()
            raise EngineError(f"cannot set cgroup limits for {name}: {e}") from None
        except EngineError:
            cg.remove()
            raise
        return cg

    def _limit(self, d: Path, r: Resources) -> None:
        if r.memory and "memory" in self.enabled:
            _write(d / "memory.max", r.memory)
            if (d / "memory.swap.max").exists():
                if r.memory_swap == -1:
                    swap: int | str = "max"
                elif r.memory_swap is not None:
                    swap = r.memory_swap - r.memory
                else:
                    swap = r.memory  # docker: as much swap as memory by default
                _write(d / "memory.swap.max", swap)
        if "cpu" in self.enabled:
            if r.nano_cpus:
                _write(d / "cpu.max", f"{cpu_quota(r.nano_cpus)} {CPU_PERIOD}")
            if r.cpu_quota or r.cpu_period:
                quota = r.cpu_quota if r.cpu_quota and r.cpu_quota > 0 else "max"
                _write(d / "cpu.max", f"{quota} {r.cpu_period or CPU_PERIOD}")
            if r.cpu_shares:
                _write(d / "cpu.weight", cpu_weight(r.cpu_shares))
        if r.memory_reservation and "memory" in self.enabled:
            _write(d / "memory.low", r.memory_reservation)
        if r.pids_limit is not None and "pids" in self.enabled:
            _write(d / "pids.max", r.pids_limit if r.pids_limit > 0 else "max")
        if r.cpuset_cpus or r.cpuset_mems:
            self._enable_cpuset()
            # v2 fills an empty cpuset from the parent's (effective) on its own
            if r.cpuset_cpus:
                _write(d / "cpuset.cpus", r.cpuset_cpus)
            if r.cpuset_mems:
                _write(d / "cpuset.mems", r.cpuset_mems)

    def _enable_cpuset(self) -> None:
        """Delegate cpuset to our children the first time a container asks for it."""
        if "cpuset" in self.enabled:
            return
        if "cpuset" not in _read(self.own / "cgroup.controllers").split():
            raise EngineError(f"the cpuset controller is not available in {self.own} "
                              "(CpusetCpus/CpusetMems need it)")
        _write(self.own / "cgroup.subtree_control", "+cpuset")
        self.enabled.add("cpuset")

    def _wrap(self, name: str, dirs: list[Path]) -> Cgroup:
        return V2Cgroup(name, dirs[0]) if dirs else Cgroup(name, [])


def detect(proc: Path = Path("/proc/self")) -> CgroupDriver:
    """The driver for this machine, below the calling process's own cgroups."""
    layout = detect_layout(_read(proc / "cgroup"), _read(proc / "mountinfo"))
    if layout.mode is CgroupMode.V2:
        return V2Driver(layout)
    return V1Driver(layout)
