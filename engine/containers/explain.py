"""`explain`: one document of what makes a container a container, read from where the kernel
and the engine keep it: the image's layers and the writable layer, the processes (both PID
views), the namespaces, credentials and confinement of PID 1, the cgroup's limits next to its use,
the network endpoints and the rules behind published ports, and the mounts.

A namespace is "host" when it is the engine's own (the engine runs in the host's), "container:NAME"
when another running container's PID 1 has it (network_mode container:NAME and the like), else
"private".

Pure parts (parsing /proc text, decoding masks, building the PID tree) are plain functions over
text and values; `explain_container` does the reading and runs in a worker thread. A stopped
container has no processes, namespaces or cgroup: those sections say so instead of guessing.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.containers import changes as changes_mod
from engine.containers.commit import engine_made_paths
from engine.containers.model import ContainerState
from engine.errors import EngineError
from engine.runtime.capabilities import CAP_NAMES
from engine.runtime.mounts import MASKED_PATHS, READONLY_PATHS

if TYPE_CHECKING:
    from engine.containers.manager import ContainerManager
    from engine.containers.store import ContainerRecord

NAMESPACES = ("cgroup", "ipc", "mnt", "net", "pid", "time", "user", "uts")
SECCOMP_MODES = {0: "disabled", 1: "strict", 2: "filter"}
MAX_CHANGES = 50              # paths listed; the counts always cover all of them
_UNLIMITED = 1 << 62          # v1 writes "no limit" as 2^63 rounded down to a page


# -- pure: /proc text -----------------------------------------------------------------------

def parse_status(text: str) -> dict[str, str]:
    """/proc/<pid>/status as key -> raw value (tabs kept between fields)."""
    out = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            out[key] = value.strip()
    return out


def first_int(value: str) -> int | None:
    """The real id of a `Uid:`/`Gid:` line (real, effective, saved, fs)."""
    fields = value.split()
    return int(fields[0]) if fields and fields[0].isdigit() else None


def cap_names(mask: int) -> list[str]:
    """The names of the bits set in a capability mask; a bit newer than our table by number."""
    return [("CAP_" + CAP_NAMES[bit]) if bit < len(CAP_NAMES) else f"CAP_{bit}"
            for bit in range(mask.bit_length()) if mask >> bit & 1]


def ns_inode(link: str) -> int:
    """`net:[4026531840]` -> 4026531840."""
    return int(link.rsplit("[", 1)[1].rstrip("]"))


@dataclass(frozen=True)
class ProcInfo:
    host_pid: int
    host_ppid: int
    ns_pid: int           # the PID as the container sees it (last NSpid field)
    name: str
    command: str


def proc_info(pid: int, status: dict[str, str], cmdline: bytes) -> ProcInfo:
    nspid = status.get("NSpid", str(pid)).split()
    args = [a.decode(errors="replace") for a in cmdline.split(b"\0") if a]
    return ProcInfo(pid, int(status.get("PPid", "0")), int(nspid[-1]), status.get("Name", ""),
                    " ".join(args) or f"[{status.get('Name', '')}]")


def pid_tree(procs: list[ProcInfo]) -> list[dict]:
    """Processes as a forest by parent: roots are those whose parent is outside the container
    (PID 1, and exec'd processes whose parent is the engine), PID 1's tree first."""
    by_pid = {p.host_pid: p for p in procs}
    children: dict[int, list[ProcInfo]] = {}
    for p in procs:
        children.setdefault(p.host_ppid, []).append(p)

    def node(p: ProcInfo) -> dict:
        kids = sorted(children.get(p.host_pid, []), key=lambda c: c.ns_pid)
        return {"Pid": p.ns_pid, "HostPid": p.host_pid, "Name": p.name, "Command": p.command,
                "Children": [node(c) for c in kids]}

    roots = sorted((p for p in procs if p.host_ppid not in by_pid), key=lambda p: p.ns_pid)
    return [node(p) for p in roots]


def confined_paths(mountinfo: str, masked: tuple[str, ...], readonly: tuple[str, ...]
                   ) -> tuple[list[str], list[str]]:
    """Which of the paths to mask have a mount over them, and which of the read-only ones are
    mounted read-only, in a process's /proc/<pid>/mountinfo (mount points as it sees them). A
    path the kernel lacks (no /proc/acpi here) has nothing to mask and is left out."""
    options: dict[str, set[str]] = {}
    for line in mountinfo.splitlines():
        fields = line.split()
        if len(fields) > 5:
            # the last mount at a point is the one in effect
            options[fields[4].replace("\\040", " ")] = set(fields[5].split(","))
    return ([p for p in masked if p in options],
            [p for p in readonly if "ro" in options.get(p, ())])


def cpu_limit(quota_us: int | None, period_us: int | None) -> float | None:
    """CPUs a CFS quota allows (None: no quota)."""
    if quota_us is None or quota_us < 0 or not period_us:
        return None
    return round(quota_us / period_us, 3)


def limit_or_none(value: int | None) -> int | None:
    return None if value is None or value >= _UNLIMITED else value


def change_counts(found: list[changes_mod.Change]) -> dict[str, int]:
    counts = {"Added": 0, "Changed": 0, "Deleted": 0}
    names = {changes_mod.Kind.ADDED: "Added", changes_mod.Kind.MODIFIED: "Changed",
             changes_mod.Kind.DELETED: "Deleted"}
    for c in found:
        counts[names[c.kind]] += 1
    return counts


def layer_steps(history: list[dict], n_layers: int) -> list[str]:
    """The instruction that made each layer (lowest first): history steps that are not
    `empty_layer` take the layers in order; layers without a step get ""."""
    made = [h.get("created_by", "") for h in history if not h.get("empty_layer")]
    return (made + [""] * n_layers)[:n_layers]


# -- reading --------------------------------------------------------------------------------

def _read_text(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def _read_int(path: Path) -> int | None:
    text = (_read_text(str(path)) or "").strip()
    return int(text) if text.lstrip("-").isdigit() else None


def _namespaces(pid: int) -> dict[str, int]:
    out = {}
    for name in NAMESPACES:
        try:
            out[name] = ns_inode(os.readlink(f"/proc/{pid}/ns/{name}"))
        except (OSError, IndexError, ValueError):
            continue
    return out


def _processes(pids: list[int]) -> list[ProcInfo]:
    procs = []
    for pid in pids:
        status = _read_text(f"/proc/{pid}/status")
        if status is None:
            continue          # exited between the cgroup read and now
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmdline = f.read()
        except OSError:
            cmdline = b""
        procs.append(proc_info(pid, parse_status(status), cmdline))
    return procs


def _image_section(mgr: ContainerManager, rec: ContainerRecord) -> tuple[dict, list[Path]]:
    images = mgr.images
    try:
        image = images.get(rec.image_id)
        lowers = list(images.layer_paths(image))
        refs = images.layer_refs(image)
        history = json.loads(images.read_blob(image.id)).get("history") or []
    except (EngineError, OSError, ValueError) as e:
        return {"Id": rec.image_id, "Error": str(e), "Layers": []}, []
    steps = layer_steps(history, len(refs))
    layers = []
    for ref, path, step in zip(refs, lowers, steps):
        try:
            size = images.layer_record(ref.diff_id).size
        except EngineError:
            size = None
        layers.append({"DiffID": ref.diff_id, "Digest": ref.blob, "Size": size,
                       "CreatedBy": step, "Dir": str(path)})
    return {"Id": image.id, "Name": rec.config.image, "Tags": list(image.repo_tags),
            "Size": image.size, "Layers": layers}, lowers


def _writable_section(rec: ContainerRecord, lowers: list[Path]) -> dict:
    upper = rec.dir / "upper"
    out: dict[str, Any] = {"UpperDir": str(upper), "WorkDir": str(rec.dir / "work"),
                           "MergedDir": str(rec.dir / "merged")}
    try:
        found = changes_mod.container_changes(upper, lowers, engine_made_paths(rec))
        out["Size"] = changes_mod.upper_size(upper)
    except OSError as e:
        out["Error"] = f"cannot read the writable layer: {e.strerror}"
        return out
    out["Counts"] = change_counts(found)
    out["Changes"] = [c.to_docker() for c in found[:MAX_CHANGES]]
    out["Truncated"] = len(found) > MAX_CHANGES
    return out


def _process_section(rec: ContainerRecord, pids: list[int]) -> dict:
    cfg, st = rec.config, rec.state
    out: dict[str, Any] = {
        "State": st.status.value, "Init": cfg.init,
        "RestartPolicy": cfg.restart_policy.to_docker(), "RestartCount": st.restart_count,
        "AutoRemove": cfg.auto_remove, "StopSignal": cfg.stop_signal or "SIGTERM",
        "Tree": pid_tree(_processes(pids)) if pids else []}
    if st.pid:
        out["HostPid1"] = st.pid
    return out


def _joins_another(rec: ContainerRecord) -> bool:
    host = rec.config.body.get("HostConfig") or {}
    modes = (rec.config.network_mode, host.get("PidMode"), host.get("IpcMode"))
    return any(isinstance(m, str) and m.startswith("container:") for m in modes)


def _joined(mgr: ContainerManager, rec: ContainerRecord) -> dict[tuple[str, int], str]:
    """(namespace, inode) -> name of another running container whose PID 1 has it."""
    found: dict[tuple[str, int], str] = {}
    others = [o for o in mgr.store.all()
              if o.id != rec.id and o.state.pid and mgr.running(o.id) is not None]
    # when several share one namespace, name its owner: one that joins nothing itself
    for other in sorted(others, key=lambda o: (_joins_another(o), o.created)):
        for name, ino in _namespaces(other.state.pid).items():
            found.setdefault((name, ino), other.name)
    return found


def _isolation_section(mgr: ContainerManager, rec: ContainerRecord, pid: int) -> dict:
    cfg = rec.config
    out: dict[str, Any] = {
        "User": cfg.user, "Privileged": cfg.privileged,
        "ReadonlyRootfs": cfg.readonly_rootfs,
        "MaskedPaths": [] if cfg.privileged else list(MASKED_PATHS),
        "ReadonlyPaths": [] if cfg.privileged else list(READONLY_PATHS),
        "SeccompProfile": cfg.seccomp_profile or "builtin"}
    status_text = _read_text(f"/proc/{pid}/status") if pid else None
    if status_text is None:
        out["Namespaces"] = {}
        return out
    status = parse_status(status_text)
    host = _namespaces(os.getpid())
    joined = _joined(mgr, rec)
    spaces = {}
    for name, ino in _namespaces(pid).items():
        if host.get(name) == ino:
            shared = "host"
        elif (name, ino) in joined:
            shared = "container:" + joined[(name, ino)]
        else:
            shared = "private"
        spaces[name] = {"Inode": ino, "Shared": shared}
    cap_eff = int(status.get("CapEff", "0"), 16)
    mountinfo = _read_text(f"/proc/{pid}/mountinfo")
    if mountinfo is not None and not cfg.privileged:    # what is in effect, not the plan
        out["MaskedPaths"], out["ReadonlyPaths"] = confined_paths(mountinfo, MASKED_PATHS,
                                                                  READONLY_PATHS)
    out.update({
        "Namespaces": spaces,
        "Uid": first_int(status.get("Uid", "")), "Gid": first_int(status.get("Gid", "")),
        "CapEff": f"{cap_eff:016x}", "Capabilities": cap_names(cap_eff),
        "Seccomp": SECCOMP_MODES.get(int(status.get("Seccomp", "0")), status.get("Seccomp")),
        "SeccompFilters": int(status.get("Seccomp_filters", "0")),
        "NoNewPrivs": status.get("NoNewPrivs") == "1"})
    return out


def _cpu_quota(dirs: list[Path]) -> float | None:
    for d in dirs:
        text = _read_text(str(d / "cpu.max"))
        if text is not None:                       # v2: "max 100000" or "50000 100000"
            quota, _, period = text.strip().partition(" ")
            return cpu_limit(int(quota) if quota.isdigit() else None,
                             int(period) if period.isdigit() else None)
        quota = _read_int(d / "cpu.cfs_quota_us")
        if quota is not None:
            return cpu_limit(quota, _read_int(d / "cpu.cfs_period_us"))
    return None


def _resources_section(rec: ContainerRecord, run: Any) -> dict:
    cfg = rec.config
    configured = {"Memory": cfg.memory, "MemorySwap": cfg.memory_swap,
                  "Cpus": cfg.nano_cpus / 1e9 if cfg.nano_cpus else None,
                  "CpuShares": cfg.cpu_shares, "PidsLimit": cfg.pids_limit}
    out: dict[str, Any] = {"Configured": configured}
    if run is None:
        out["Cgroup"] = None
        return out
    dirs = list(run.cgroup.dirs)
    try:
        raw = run.cgroup.stats()
    except OSError:
        raw = {}
    mem, cpu, pids = raw.get("memory") or {}, raw.get("cpu") or {}, raw.get("pids") or {}
    out["Cgroup"] = {"Name": run.cgroup.name, "Paths": [str(d) for d in dirs]}
    out["Memory"] = {"Limit": limit_or_none(mem.get("limit")), "Usage": mem.get("usage"),
                     "MaxUsage": mem.get("max_usage")}
    out["Pids"] = {"Limit": limit_or_none(pids.get("limit")), "Current": pids.get("current")}
    out["Cpu"] = {"Limit": _cpu_quota(dirs), "UsageNs": cpu.get("usage_ns"),
                  "ThrottledPeriods": cpu.get("throttled_periods")}
    return out


def _network_section(mgr: ContainerManager, rec: ContainerRecord) -> dict:
    from engine.containers.networking import wanted_networks

    mode = rec.config.network_mode
    out: dict[str, Any] = {"Mode": mode, "Endpoints": [], "Ports": [], "Rules": []}
    nets = mgr.networks
    if nets is None or mode in ("host", "none") or mode.startswith("container:"):
        return out
    from netbridge import firewall

    known = {n.id: n for n in nets.list()}
    live = [ep for ep in nets.endpoints() if ep.container_id == rec.id]
    for ep in sorted(live, key=lambda e: e.ifname):
        net = known.get(ep.network_id)
        out["Endpoints"].append({
            "Network": net.name if net else ep.network_id[:12],
            "Bridge": net.bridge if net else "", "HostVeth": ep.host_veth,
            "ContainerIf": ep.ifname, "IPAddress": f"{ep.ip}/{ep.prefixlen}",
            "Gateway": ep.gateway, "MacAddress": ep.mac, "DnsNames": ep.dns_names(),
            "DnsServer": ep.dns_server})
    if not live:    # stopped: what it will join, nothing made yet
        out["Endpoints"] = [{"Network": name, "Connected": False}
                            for name, _ in wanted_networks(rec)]
    ports = nets.ports(rec.id)
    out["Ports"] = [{"ContainerPort": b.container_port, "Protocol": b.protocol,
                     "HostIp": b.host_ip or "0.0.0.0", "HostPort": b.host_port,
                     "ContainerIp": b.container_ip} for b in ports]
    if ports:
        out["Rules"] = [f"-t {r.table} {r.line()}"
                        for r in firewall.port_rules(nets.chains, rec.id, ports)]
    return out


def _mounts_section(mgr: ContainerManager, rec: ContainerRecord) -> list[dict]:
    out = []
    vol_root = Path(mgr.volumes.root)
    for m in rec.config.mounts:
        source = m.source
        if m.type == "volume":
            source = str(vol_root / m.source / "_data") if m.source else "(anonymous)"
        out.append({"Type": m.type, "Name": m.source if m.type == "volume" else "",
                    "Source": source, "Target": m.target, "ReadOnly": m.readonly})
    for name in rec.anonymous_volumes:
        out.append({"Type": "volume", "Name": name, "Source": str(vol_root / name / "_data"),
                    "Target": "", "ReadOnly": False})
    for name in ("hosts", "hostname", "resolv.conf"):
        if (rec.dir / name).exists():
            out.append({"Type": "bind", "Name": "", "Source": str(rec.dir / name),
                        "Target": f"/etc/{name}", "ReadOnly": False})
    return out


def explain_container(mgr: ContainerManager, ref: str) -> dict:
    """The explain document of container `ref` (worker thread: it reads /proc and the disk)."""
    rec = mgr.get(ref)
    run = mgr.running(rec.id)
    active = rec.state.status in (ContainerState.RUNNING, ContainerState.PAUSED)
    pid = rec.state.pid if active and run is not None else 0
    pids: list[int] = []
    if pid:
        try:
            pids = run.cgroup.pids()
        except OSError:
            pids = []
    image, lowers = _image_section(mgr, rec)
    return {
        "Id": rec.id, "Name": rec.name, "State": rec.state.status.value,
        "Image": image, "WritableLayer": _writable_section(rec, lowers),
        "Processes": _process_section(rec, pids),
        "Isolation": _isolation_section(mgr, rec, pid),
        "Resources": _resources_section(rec, run if pid else None),
        "Network": _network_section(mgr, rec),
        "Mounts": _mounts_section(mgr, rec),
    }
