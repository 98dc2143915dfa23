"""What a start needs on the host side: the container's own /etc files, the mount list (binds,
named/anonymous volumes with first-use copy, tmpfs) and the process spec. Side effects are
file-system only; callers run these in a worker thread."""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Callable

from engine.containers import devicemap
from engine.containers.model import ContainerConfig, MountSpec, anonymous_targets
from engine.containers.store import ContainerRecord
from engine.errors import BadParameter
from engine.runtime import capabilities, devices
from engine.runtime.seccomp import cache as seccomp_cache
from engine.runtime.spec import DEFAULT_PATH, Device, Mount, ProcessSpec, Resources, User
from engine.volumes import VolumeStore

CATATONIT = "/usr/bin/catatonit"


def hosts_content(hostname: str, extra_hosts: tuple[str, ...], own_ips: list[str]) -> str:
    lines = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback",
             "fe00::0\tip6-localnet", "ff00::0\tip6-mcastprefix", "ff02::1\tip6-allnodes",
             "ff02::2\tip6-allrouters"]
    for entry in extra_hosts:
        name, sep, ip = entry.partition(":")
        if not sep or not name or not ip:
            raise BadParameter(f"HostConfig.ExtraHosts: invalid entry {entry!r} (want host:ip)")
        lines.append(f"{ip}\t{name}")
    for ip in own_ips:
        lines.append(f"{ip}\t{hostname}")
    return "\n".join(lines) + "\n"


def resolv_content(host_resolv: str, cfg: ContainerConfig, nameservers: list[str] | None = None) -> str:
    """The host's resolv.conf minus loopback servers (unreachable from a netns), with the
    container's --dns/--dns-search/--dns-option applied; `nameservers` (the network's embedded
    DNS) wins over the host's."""
    servers, search, options = [], [], []
    for line in host_resolv.splitlines():
        parts = line.split()
        if not parts or parts[0].startswith(("#", ";")):
            continue
        if parts[0] == "nameserver" and len(parts) > 1:
            if not (parts[1].startswith("127.") or parts[1] == "::1") \
                    or cfg.network_mode == "host":
                servers.append(parts[1])
        elif parts[0] == "search":
            search = parts[1:]
        elif parts[0] == "options":
            options += parts[1:]
    if nameservers:
        servers = list(nameservers)
    if cfg.dns:
        servers = list(cfg.dns)
    if cfg.dns_search:
        search = list(cfg.dns_search)
    if cfg.dns_options:
        options = list(cfg.dns_options)
    out = [f"nameserver {s}" for s in servers]
    if search:
        out.append("search " + " ".join(search))
    if options:
        out.append("options " + " ".join(options))
    return "\n".join(out) + "\n"


def write_etc_files(rec: ContainerRecord, own_ips: list[str] | None = None,
                    nameservers: list[str] | None = None) -> None:
    cfg = rec.config
    hostname = hostname_of(rec)
    if cfg.network_mode == "host" or _host_text(cfg, "UTSMode") == "host":
        hostname = os.uname().nodename   # the name the container's (the host's) kernel has
    _write(rec.dir / "hostname", hostname + "\n")
    if cfg.network_mode == "host":
        _write(rec.dir / "hosts", Path("/etc/hosts").read_text())
    else:
        _write(rec.dir / "hosts", hosts_content(hostname, cfg.extra_hosts, own_ips or []))
    try:
        host_resolv = Path("/etc/resolv.conf").read_text()
    except OSError:
        host_resolv = ""
    _write(rec.dir / "resolv.conf", resolv_content(host_resolv, cfg, nameservers))


def hostname_of(rec: ContainerRecord) -> str:
    return rec.config.hostname or rec.short_id


def network_owner(rec: ContainerRecord,
                  lookup: Callable[[str], ContainerRecord] | None) -> ContainerRecord:
    """The container whose network this one is on: itself, or X with NetworkMode container:X.
    As Docker, a container on X's network has X's host name and X's /etc/hosts, hostname and
    resolv.conf (the name and addresses it answers to are X's)."""
    mode = rec.config.network_mode
    if lookup is not None and mode.startswith("container:"):
        return lookup(mode[len("container:"):])
    return rec


def _write(path: Path, text: str) -> None:
    # In place, never by rename: a running container's bind mount holds on to the inode, and
    # the network hook fills these files in after the mounts were made.
    with open(path, "w") as f:
        f.write(text)


def check_bind_sources(cfg: ContainerConfig) -> None:
    for m in cfg.mounts:
        if m.type == "bind" and not os.path.exists(m.source):
            raise BadParameter(f'invalid mount config for type "bind": bind source path does not '
                               f"exist: {m.source}")


def _inside(root: Path, target: str) -> Path | None:
    """`target` under `root` if no component on the way is a symlink (which could point out of
    the container's root when resolved on the host)."""
    path = root
    for part in Path(target).parts[1:]:
        path = path / part
        if path.is_symlink():
            return None
    return path


def build_mounts(rec: ContainerRecord, volumes: VolumeStore, rootfs: Path,
                 lookup: Callable[[str], ContainerRecord] | None = None) -> list[Mount]:
    """Runtime mounts for a start; named volumes are created on demand and filled from the
    image on first use (unless nocopy). `lookup` finds the containers named in
    HostConfig.VolumesFrom (a missing one fails the start with NotFound)."""
    cfg = rec.config
    check_bind_sources(cfg)
    out: list[Mount] = []

    def volume(name: str, m: MountSpec) -> Mount:
        vol = volumes.create(name)
        if not m.no_copy and not vol.initialized:
            source = _inside(rootfs, m.target)
            if source is not None:
                volumes.populate(vol, source)
        return Mount(m.target, str(vol.mountpoint), "bind", readonly=m.readonly)

    for m in cfg.mounts:
        if m.type == "bind":
            out.append(Mount(m.target, m.source, "bind", readonly=m.readonly,
                             propagation=m.propagation))
        elif m.type == "volume" and m.source:
            out.append(volume(m.source, m))
        elif m.type == "tmpfs":
            opts = []
            if m.tmpfs_size:
                opts.append(f"size={m.tmpfs_size}")
            opts.append(f"mode={m.tmpfs_mode:o}" if m.tmpfs_mode is not None else "mode=1777")
            out.append(Mount(m.target, "", "tmpfs", tuple(opts), m.readonly))
    own_shm = _host_text(cfg, "IpcMode") in ("", "private", "shareable")
    if cfg.shm_size and own_shm and "/dev/shm" not in {m.target for m in cfg.mounts}:
        # HostConfig.ShmSize: a /dev/shm of that size in place of the default 64 MiB one
        # (noexec, nosuid, nodev as every tmpfs mount; plan_mounts drops the default); as
        # Docker, not for a /dev/shm the container shares (IpcMode host, container:x) or lacks
        out.append(Mount("/dev/shm", "", "tmpfs", ("mode=1777", f"size={cfg.shm_size}")))
    ro = {m.target: m for m in cfg.mounts}
    for name, target in zip(rec.anonymous_volumes, anonymous_targets(cfg)):
        spec = ro.get(target) or MountSpec("volume", target)
        out.append(volume(name, spec))
    if cfg.volumes_from and lookup is not None:
        own = {m.target for m in out}
        out += [m for m in volumes_from_mounts(cfg, lookup, volumes) if m.target not in own]
    owner = network_owner(rec, lookup)
    for name in ("hosts", "hostname", "resolv.conf"):
        if f"/etc/{name}" not in {m.target for m in cfg.mounts}:
            out.append(Mount(f"/etc/{name}", str(owner.dir / name), "bind"))
    return out


def volumes_from_mounts(cfg: ContainerConfig, lookup: Callable[[str], ContainerRecord],
                        volumes: VolumeStore, seen: frozenset[str] = frozenset()) -> list[Mount]:
    """HostConfig.VolumesFrom: the binds and volumes (named and anonymous) of each container
    named, and those it has from others in turn, as Docker's; tmpfs mounts are its own. A
    mode (`ro`/`rw`) applies to all of them, else each keeps the source's. The first source
    to give a target wins."""
    out: list[Mount] = []
    for ref, mode in cfg.volumes_from:
        src = lookup(ref)
        if src.id in seen:
            continue                            # a cycle of volumes-from
        scfg = src.config

        def ro(readonly: bool) -> bool:
            return readonly if not mode else mode == "ro"
        for m in scfg.mounts:
            if m.type == "bind":
                out.append(Mount(m.target, m.source, "bind", readonly=ro(m.readonly)))
            elif m.type == "volume" and m.source:
                out.append(Mount(m.target, str(volumes.create(m.source).mountpoint), "bind",
                                 readonly=ro(m.readonly)))
        explicit = {m.target: m for m in scfg.mounts}
        for name, target in zip(src.anonymous_volumes, anonymous_targets(scfg)):
            readonly = explicit[target].readonly if target in explicit else False
            out.append(Mount(target, str(volumes.create(name).mountpoint), "bind",
                             readonly=ro(readonly)))
        out += [dataclasses.replace(m, readonly=ro(m.readonly))
                for m in volumes_from_mounts(scfg, lookup, volumes, seen | {src.id})]
    first: dict[str, Mount] = {}
    for m in out:
        first.setdefault(m.target, m)
    return list(first.values())


def container_user(rootfs: Path, cfg: ContainerConfig, spec: str) -> User:
    """`spec` (Config.User or an exec's User) resolved in the container's root, plus
    HostConfig.GroupAdd (group names from the container's /etc/group, or numbers) as
    supplementary groups, for PID 1 and execs alike, as Docker."""
    from engine.runtime import users

    user = users.resolve_user(rootfs, spec)
    extra = [g for g in (users.resolve_user(rootfs, f"0:{name}").gid for name in cfg.group_add)
             if g not in user.additional_gids]
    if not extra:
        return user
    return User(user.uid, user.gid, user.additional_gids + tuple(dict.fromkeys(extra)))


def container_env(cfg: ContainerConfig, hostname: str) -> tuple[str, ...]:
    # A bare `NAME` (`docker run -e NAME` with NAME unset in the client) unsets NAME, as
    # Docker's start does: it is kept in the config (inspect shows it), never in the process.
    env = [e for e in cfg.env if "=" in e]
    keys = {e.split("=", 1)[0] for e in cfg.env}
    if "PATH" not in keys:
        env.insert(0, f"PATH={DEFAULT_PATH}")
    if "HOSTNAME" not in keys:
        env.insert(1, f"HOSTNAME={hostname}")
    if cfg.tty and "TERM" not in keys:
        env.append("TERM=xterm")
    return tuple(env)


def process_spec(cfg: ContainerConfig, user: User, hostname: str,
                 link_env: tuple[str, ...] = ()) -> ProcessSpec:
    """`link_env`: legacy links' variables (engine.containers.legacylinks); the container's
    own variables of the same name win, as Docker's."""
    args = cfg.args
    if not args:
        raise BadParameter("no command specified")
    own = {e.split("=", 1)[0] for e in cfg.env}
    env = container_env(cfg, hostname) + tuple(e for e in link_env
                                                if e.split("=", 1)[0] not in own)
    return ProcessSpec(args=args, env=env,
                       cwd=cfg.working_dir or "/", user=user, tty=cfg.tty, rlimits=cfg.ulimits,
                       oom_score_adj=cfg.oom_score_adj,
                       console_size=cfg.console_size if cfg.tty else None, **confinement(cfg))


def confinement(cfg: ContainerConfig, privileged_exec: bool = False) -> dict:
    """ProcessSpec's capability, no_new_privileges and seccomp fields. Privileged: every
    capability and no filter (unless a profile was named), as Docker. An exec runs under its
    container's filter (compiled for the container's capabilities); `exec --privileged` only
    widens its capabilities."""
    cap_add, cap_drop = (("ALL",), ()) if cfg.privileged else (cfg.cap_add, cfg.cap_drop)
    caps = capabilities.effective_mask(cap_add, cap_drop) & capabilities.held_by_engine()
    seccomp = seccomp_cache.filter_for(cfg.seccomp_profile, caps, cfg.privileged)
    if privileged_exec:
        cap_add, cap_drop = ("ALL",), ()
    return {"cap_add": cap_add, "cap_drop": cap_drop, "seccomp_filter": seccomp,
            "no_new_privileges": cfg.no_new_privileges}


def resources(cfg: ContainerConfig) -> Resources:
    """The cgroup's limits; HostConfig.Devices' nodes are read from the host here."""
    _, device_rules = devicemap.resolve(cfg.devices)
    return Resources(memory=cfg.memory, memory_swap=cfg.memory_swap, nano_cpus=cfg.nano_cpus,
                     cpu_shares=cfg.cpu_shares, pids_limit=cfg.pids_limit,
                     all_devices=cfg.privileged, cpu_period=cfg.cpu_period,
                     cpu_quota=cfg.cpu_quota, memory_reservation=cfg.memory_reservation,
                     device_rules=device_rules + cfg.device_rules,
                     memory_swappiness=cfg.memory_swappiness,
                     cpuset_cpus=_host_text(cfg, "CpusetCpus"),
                     cpuset_mems=_host_text(cfg, "CpusetMems"))


def _host_text(cfg: ContainerConfig, key: str) -> str:
    """A HostConfig string the create checked (unsupported.py) and ContainerConfig does not
    carry as a field of its own."""
    host = cfg.body.get("HostConfig")
    value = host.get(key) if isinstance(host, dict) else None
    return value if isinstance(value, str) else ""


def host_devices(cfg: ContainerConfig) -> tuple[Device, ...]:
    """Privileged: every device of the host, read at each start (devices come and go); and
    those HostConfig.Devices names, at the path asked (Docker's --device)."""
    asked, _ = devicemap.resolve(cfg.devices)
    privileged = devices.host_devices() if cfg.privileged else ()
    return tuple(d for d in privileged if d.path not in {a.path for a in asked}) + asked


def init_path(cfg: ContainerConfig) -> str | None:
    if not cfg.init:
        return None
    if not os.path.exists(CATATONIT):
        raise BadParameter(f"HostConfig.Init: {CATATONIT} is not installed on the host")
    return CATATONIT
