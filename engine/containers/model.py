"""The container model (pure): Docker's ContainerCreate body → a validated, frozen ContainerConfig.

Validation errors are `BadParameter`s naming the offending field. `merge_image_config` applies
Docker's rules for combining an image's config with the request; the merged body is what the
store persists, so a restarted daemon re-parses exactly what it validated at create time.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from engine.containers.devicemap import DeviceMapping, parse_devices, parse_rules
from engine.containers.fields import NAME, obj, opt_int, parse_bytes, parse_signal, strings
from engine.containers.mountspec import MountSpec, allowed, check_target, parse_mounts
from engine.containers.restart import RestartPolicy
from engine.containers.sysctls import parse_sysctls
from engine.containers.unsupported import check_create
from engine.errors import BadParameter
from engine.runtime.capabilities import check_cap_names
from engine.runtime.seccomp.options import check_security_opts
from engine.runtime.spec import RLIMIT_NAMES, Rlimit

MIN_MEMORY = 6 * 1024 * 1024  # Docker's floor for HostConfig.Memory


class ContainerState(enum.Enum):
    CREATED = "created"
    RUNNING = "running"
    PAUSED = "paused"
    RESTARTING = "restarting"
    REMOVING = "removing"
    EXITED = "exited"
    DEAD = "dead"

    def is_active(self) -> bool:
        """A process exists (or is about to, for restarting): stop/kill make sense."""
        return self in (ContainerState.RUNNING, ContainerState.PAUSED, ContainerState.RESTARTING)

    def can_start(self) -> bool:
        return self in (ContainerState.CREATED, ContainerState.EXITED, ContainerState.DEAD)

    def can_exec(self) -> bool:
        return self is ContainerState.RUNNING

    def can_pause(self) -> bool:
        return self is ContainerState.RUNNING

    def can_unpause(self) -> bool:
        return self is ContainerState.PAUSED

    def can_remove(self, force: bool) -> bool:
        return force or not self.is_active()


@dataclass(frozen=True)
class PortBinding:
    container_port: int
    protocol: str
    host_ip: str = ""
    host_port: int = 0  # 0 = pick one


@dataclass(frozen=True)
class Healthcheck:
    test: tuple[str, ...]      # ("CMD", ...) or ("CMD-SHELL", "...")
    interval: float = 30.0     # seconds
    timeout: float = 30.0
    start_period: float = 0.0
    start_interval: float = 5.0
    retries: int = 3


@dataclass(frozen=True)
class LogConfig:
    type: str = "json-file"
    max_size: int | None = None   # bytes; None = never rotate
    max_file: int = 1


@dataclass(frozen=True)
class ContainerConfig:
    image: str
    cmd: tuple[str, ...] | None = None
    entrypoint: tuple[str, ...] | None = None
    env: tuple[str, ...] = ()
    working_dir: str = ""
    user: str = ""
    hostname: str = ""
    domainname: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    tty: bool = False
    open_stdin: bool = False
    stdin_once: bool = False
    exposed_ports: tuple[str, ...] = ()
    volumes: tuple[str, ...] = ()          # Config.Volumes: anonymous volume targets
    stop_signal: str = ""
    stop_timeout: int | None = None
    healthcheck: Healthcheck | None = None
    # HostConfig
    mounts: tuple[MountSpec, ...] = ()
    readonly_rootfs: bool = False
    memory: int | None = None
    memory_swap: int | None = None
    nano_cpus: int | None = None
    cpu_shares: int | None = None
    pids_limit: int | None = None
    cpu_period: int | None = None          # HostConfig.CpuPeriod (µs)
    cpu_quota: int | None = None           # HostConfig.CpuQuota (µs per period; -1 none)
    memory_reservation: int | None = None  # HostConfig.MemoryReservation (bytes)
    devices: tuple[DeviceMapping, ...] = ()     # HostConfig.Devices
    memory_swappiness: int | None = None        # HostConfig.MemorySwappiness (-1/None: unset)
    device_rules: tuple[str, ...] = ()          # HostConfig.DeviceCgroupRules (v1 syntax)
    restart_policy: RestartPolicy = RestartPolicy()
    auto_remove: bool = False
    network_mode: str = "default"
    init: bool = False
    port_bindings: tuple[PortBinding, ...] = ()
    publish_all: bool = False              # HostConfig.PublishAllPorts (`docker run -P`)
    cap_add: tuple[str, ...] = ()
    cap_drop: tuple[str, ...] = ()
    no_new_privileges: bool = False
    privileged: bool = False
    seccomp_profile: str = ""              # SecurityOpt seccomp=: "", "unconfined", "builtin", JSON
    log_config: LogConfig = LogConfig()
    extra_hosts: tuple[str, ...] = ()
    dns: tuple[str, ...] = ()
    dns_search: tuple[str, ...] = ()
    dns_options: tuple[str, ...] = ()
    group_add: tuple[str, ...] = ()
    ulimits: tuple[Rlimit, ...] = ()       # HostConfig.Ulimits, for PID 1 and every exec
    oom_score_adj: int | None = None       # HostConfig.OomScoreAdj, for PID 1 and every exec
    # HostConfig.VolumesFrom: (container name or id, "" | "ro" | "rw")
    volumes_from: tuple[tuple[str, str], ...] = ()
    sysctls: tuple[tuple[str, str], ...] = ()  # HostConfig.Sysctls, namespaced ones only
    shm_size: int | None = None            # HostConfig.ShmSize in bytes; None = Docker's 64 MiB
    console_size: tuple[int, int] | None = None  # HostConfig.ConsoleSize (rows, cols), with Tty
    endpoints: dict[str, Any] = field(default_factory=dict)  # NetworkingConfig.EndpointsConfig
    body: dict[str, Any] = field(default_factory=dict)       # the (merged) create body, for inspect

    @property
    def args(self) -> tuple[str, ...]:
        return (self.entrypoint or ()) + (self.cmd or ())

    def ports_to_publish(self) -> tuple[PortBinding, ...]:
        """PortBindings, and with PublishAllPorts every exposed port without a binding on a
        free host port (as Docker's -P); HostConfig.PortBindings itself stays as asked."""
        if not self.publish_all:
            return self.port_bindings
        bound = {f"{b.container_port}/{b.protocol}" for b in self.port_bindings}
        extra = []
        for key in self.exposed_ports:
            if key not in bound:
                port, _, proto = key.partition("/")
                extra.append(PortBinding(int(port), proto, "", 0))
        return self.port_bindings + tuple(extra)

    @property
    def stop_signal_number(self) -> int:
        return parse_signal(self.stop_signal or "SIGTERM", "Config.StopSignal")


def parse_port_bindings(raw: object) -> tuple[PortBinding, ...]:
    out: list[PortBinding] = []
    for key, bindings in obj(raw, "HostConfig.PortBindings").items():
        port, proto = parse_port_key(key, "HostConfig.PortBindings")
        for b in bindings or [{}]:
            b = obj(b, f"HostConfig.PortBindings[{key!r}]")
            host_port = str(b.get("HostPort") or "0")
            if not host_port.isdigit() or not 0 <= int(host_port) <= 65535:
                raise BadParameter(f"HostConfig.PortBindings[{key!r}]: invalid host port "
                                   f"{b.get('HostPort')!r}")
            out.append(PortBinding(port, proto, b.get("HostIp") or "", int(host_port)))
    return tuple(out)


def parse_port_key(key: str, where: str) -> tuple[int, str]:
    port, _, proto = str(key).partition("/")
    proto = proto or "tcp"
    if not port.isdigit() or not 0 < int(port) <= 65535 or proto not in ("tcp", "udp", "sctp"):
        raise BadParameter(f"{where}: invalid port specification {key!r}")
    return int(port), proto


def parse_healthcheck(raw: object) -> Healthcheck | None:
    h = obj(raw, "Config.Healthcheck")
    test = h.get("Test")
    if not test:
        return None
    if isinstance(test, str):
        test = ["CMD-SHELL", test]
    if not isinstance(test, list) or not all(isinstance(t, str) for t in test):
        raise BadParameter("Config.Healthcheck.Test: expected a list of strings")
    if test[0] == "NONE":
        return None
    if test[0] not in ("CMD", "CMD-SHELL") or len(test) < 2:
        raise BadParameter(f"Config.Healthcheck.Test: must start with CMD, CMD-SHELL or NONE: {test!r}")

    def seconds(key: str, default: float) -> float:
        ns = opt_int(h.get(key), f"Config.Healthcheck.{key}", minimum=0)
        return default if not ns else ns / 1e9

    retries = opt_int(h.get("Retries"), "Config.Healthcheck.Retries", minimum=0)
    return Healthcheck(tuple(test), seconds("Interval", 30.0), seconds("Timeout", 30.0),
                       seconds("StartPeriod", 0.0), seconds("StartInterval", 5.0), retries or 3)


def parse_log_config(raw: object) -> LogConfig:
    c = obj(raw, "HostConfig.LogConfig")
    kind = c.get("Type") or "json-file"
    if kind not in ("json-file", "none"):
        # Docker's wording (clients match it): "logger: no log driver named 'x' is registered"
        raise BadParameter(f"logger: no log driver named '{kind}' is registered")
    opts = obj(c.get("Config"), "HostConfig.LogConfig.Config")
    max_size = parse_bytes(opts["max-size"], "HostConfig.LogConfig.Config.max-size") \
        if opts.get("max-size") else None
    try:
        max_file = int(opts.get("max-file") or 1)
    except ValueError:
        raise BadParameter(f"HostConfig.LogConfig.Config.max-file: not a number: "
                           f"{opts.get('max-file')!r}") from None
    if max_file < 1:
        raise BadParameter("HostConfig.LogConfig.Config.max-file: must be >= 1")
    return LogConfig(kind, max_size, max_file)


def parse_volumes_from(raw: object) -> tuple[tuple[str, str], ...]:
    """HostConfig.VolumesFrom: `container[:ro|rw]` (no mode: each mount as the source has it)."""
    out = []
    for i, spec in enumerate(strings(raw, "HostConfig.VolumesFrom") or ()):
        ref, _, mode = spec.partition(":")
        if not ref or mode not in ("", "ro", "rw"):
            raise BadParameter(f"HostConfig.VolumesFrom[{i}]: invalid volumes-from {spec!r} "
                               "(want container[:ro|rw])")
        out.append((ref, mode))
    return tuple(out)


def parse_oom_score_adj(raw: object) -> int | None:
    """HostConfig.OomScoreAdj; 0 (Docker's default) leaves the engine's value alone."""
    value = opt_int(raw, "HostConfig.OomScoreAdj")
    if value is not None and not -1000 <= value <= 1000:
        raise BadParameter(f"HostConfig.OomScoreAdj: Invalid value {value}, range for oom score "
                           "adj is [-1000, 1000]")
    return value or None


def parse_ulimits(raw: object) -> tuple[Rlimit, ...]:
    """HostConfig.Ulimits: [{Name, Soft, Hard}], -1 for unlimited (as Docker's)."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise BadParameter("HostConfig.Ulimits: expected a list of {Name, Soft, Hard}")
    out = []
    for i, item in enumerate(raw):
        where = f"HostConfig.Ulimits[{i}]"
        if not isinstance(item, dict):
            raise BadParameter(f"{where}: expected {{Name, Soft, Hard}}")
        name = item.get("Name")
        if name not in RLIMIT_NAMES:
            raise BadParameter(f"{where}: invalid ulimit type: {name}")
        soft = opt_int(item.get("Soft"), f"{where}.Soft", minimum=-1) or 0
        hard = opt_int(item.get("Hard"), f"{where}.Hard", minimum=-1) or 0
        if hard != -1 and (soft == -1 or soft > hard):
            raise BadParameter(f"{where}: ulimit soft limit must be less than hard limit: "
                               f"{soft} > {hard}")
        out.append(Rlimit(name, soft, hard))
    return tuple(out)


def parse_console_size(value: object, field_name: str = "HostConfig.ConsoleSize"
                       ) -> tuple[int, int] | None:
    """HostConfig.ConsoleSize `[height, width]` (API 1.42; 1.41 clients leave it out). [0, 0],
    docker's default, means none."""
    if value is None:
        return None
    if not (isinstance(value, list) and len(value) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 0xFFFF
                    for v in value)):
        raise BadParameter(f"{field_name}: expected [height, width], got {value!r}")
    return (value[0], value[1]) if value[0] and value[1] else None


def parse_create(body: object) -> ContainerConfig:
    """Validate a ContainerCreate body (Config fields at top level, plus HostConfig and
    NetworkingConfig). Each group of fields has its parser; a refusal names the field."""
    b = obj(body, "body")
    check_create(b)
    image = b.get("Image")
    if not isinstance(image, str) or not image:
        raise BadParameter("Image: an image is required")
    host = obj(b.get("HostConfig"), "HostConfig")
    return ContainerConfig(image=image, **_resource_fields(host), **_storage_fields(b, host),
                           **_process_fields(b, host), **_network_fields(b, host),
                           **_security_fields(host), **_lifecycle_fields(b, host), body=b)


def _resource_fields(host: dict) -> dict[str, Any]:
    """Memory, swap, CPU and PID limits (HostConfig)."""
    memory = host.get("Memory")
    memory = parse_bytes(memory, "HostConfig.Memory") if memory else None
    if memory is not None and memory < MIN_MEMORY:
        raise BadParameter(f"HostConfig.Memory: minimum memory limit allowed is 6MB, got {memory}")
    swap = host.get("MemorySwap")
    swap = None if not swap else (-1 if swap == -1 else parse_bytes(swap, "HostConfig.MemorySwap"))
    if swap not in (None, -1) and memory is not None and swap < memory:
        raise BadParameter("HostConfig.MemorySwap: must be larger than HostConfig.Memory")
    return dict(
        memory=memory, memory_swap=swap, **_cfs_fields(host),
        memory_reservation=_reservation(host, memory),
        memory_swappiness=_swappiness(host),
        devices=parse_devices(host.get("Devices")),
        device_rules=parse_rules(host.get("DeviceCgroupRules")),
        nano_cpus=opt_int(host.get("NanoCpus"), "HostConfig.NanoCpus", minimum=0) or None,
        cpu_shares=opt_int(host.get("CpuShares"), "HostConfig.CpuShares", minimum=0) or None,
        pids_limit=(opt_int(host.get("PidsLimit"), "HostConfig.PidsLimit") or None))


def _cfs_fields(host: dict) -> dict[str, Any]:
    """CpuPeriod/CpuQuota, the CFS form of a CPU limit (NanoCpus is the other), in Docker's
    bounds and words."""
    period = opt_int(host.get("CpuPeriod"), "HostConfig.CpuPeriod", minimum=0) or None
    quota = opt_int(host.get("CpuQuota"), "HostConfig.CpuQuota") or None
    if host.get("NanoCpus") and (period or quota):
        raise BadParameter("HostConfig.NanoCpus: Conflicting options: Nano CPUs and CPU "
                           f"{'Period' if period else 'Quota'} cannot both be set")
    if period is not None and not 1000 <= period <= 1_000_000:
        raise BadParameter("HostConfig.CpuPeriod: CPU cfs period can not be less than 1ms "
                           "(i.e. 1000) or larger than 1s (i.e. 1000000)")
    if quota is not None and quota != -1 and quota < 1000:
        raise BadParameter("HostConfig.CpuQuota: CPU cfs quota can not be less than 1ms "
                           "(i.e. 1000)")
    return dict(cpu_period=period, cpu_quota=quota)


def _swappiness(host: dict) -> int | None:
    value = opt_int(host.get("MemorySwappiness"), "HostConfig.MemorySwappiness")
    if value is None or value == -1:
        return None
    if not 0 <= value <= 100:
        raise BadParameter(f"HostConfig.MemorySwappiness: Invalid value: {value}, valid memory "
                           "swappiness range is 0-100")
    return value


def _reservation(host: dict, memory: int | None) -> int | None:
    raw = host.get("MemoryReservation")
    value = parse_bytes(raw, "HostConfig.MemoryReservation") if raw else None
    if value is not None and value < MIN_MEMORY:
        raise BadParameter("HostConfig.MemoryReservation: Minimum memory reservation allowed "
                           "is 6MB")
    if value and memory and memory < value:
        raise BadParameter("HostConfig.MemoryReservation: Minimum memory limit can not be less "
                           "than memory reservation limit, see usage")
    return value


def _storage_fields(b: dict, host: dict) -> dict[str, Any]:
    """Mounts, anonymous volume targets and the root file system's mode."""
    mounts = parse_mounts(b, host)
    volumes = tuple(check_target(t, "Config.Volumes")
                    for t in obj(b.get("Volumes"), "Config.Volumes"))
    # an image's VOLUME arrives here too (merged into the body): VOLUME /proc fails the create,
    # as Docker's does (at start there). A target an explicit mount covers gets no volume.
    explicit = {m.target for m in mounts}
    for target in volumes:
        if target not in explicit:
            allowed(MountSpec("volume", target), "Config.Volumes")
    shm = opt_int(host.get("ShmSize"), "HostConfig.ShmSize")
    if shm is not None and shm < 0:
        raise BadParameter("HostConfig.ShmSize: SHM size can not be less than 0")
    return dict(mounts=mounts, volumes=volumes,
                readonly_rootfs=bool(host.get("ReadonlyRootfs")), shm_size=shm or None)


def _process_fields(b: dict, host: dict) -> dict[str, Any]:
    """What PID 1 runs and how: command, environment, user, terminal, stdin, identity."""
    env = strings(b.get("Env"), "Config.Env") or ()
    for i, item in enumerate(env):
        if not item or item.startswith("="):
            raise BadParameter(f"Config.Env[{i}]: invalid environment variable {item!r}")
    return dict(
        cmd=strings(b.get("Cmd"), "Config.Cmd"),
        entrypoint=strings(b.get("Entrypoint"), "Config.Entrypoint"),
        env=env,
        working_dir=b.get("WorkingDir") or "",
        user=b.get("User") or "",
        hostname=b.get("Hostname") or "",
        domainname=b.get("Domainname") or "",
        tty=bool(b.get("Tty")),
        open_stdin=bool(b.get("OpenStdin")),
        stdin_once=bool(b.get("StdinOnce")),
        init=bool(host.get("Init")),
        group_add=strings(host.get("GroupAdd"), "HostConfig.GroupAdd") or (),
        ulimits=parse_ulimits(host.get("Ulimits")),
        oom_score_adj=parse_oom_score_adj(host.get("OomScoreAdj")),
        volumes_from=parse_volumes_from(host.get("VolumesFrom")),
        console_size=parse_console_size(host.get("ConsoleSize")))


def _network_fields(b: dict, host: dict) -> dict[str, Any]:
    """Network mode, ports, DNS and hosts entries, endpoints."""
    network_mode = host.get("NetworkMode") or "default"
    if not isinstance(network_mode, str) or (network_mode.startswith("container:")
                                             and not network_mode[len("container:"):]):
        raise BadParameter(f"HostConfig.NetworkMode: invalid network mode {network_mode!r}")
    exposed = tuple(f"{p}/{proto}" for p, proto in
                    (parse_port_key(k, "Config.ExposedPorts")
                     for k in obj(b.get("ExposedPorts"), "Config.ExposedPorts")))
    return dict(
        network_mode=network_mode,
        exposed_ports=exposed,
        port_bindings=parse_port_bindings(host.get("PortBindings")),
        publish_all=bool(host.get("PublishAllPorts")),
        extra_hosts=strings(host.get("ExtraHosts"), "HostConfig.ExtraHosts") or (),
        dns=strings(host.get("Dns"), "HostConfig.Dns") or (),
        dns_search=strings(host.get("DnsSearch"), "HostConfig.DnsSearch") or (),
        dns_options=strings(host.get("DnsOptions"), "HostConfig.DnsOptions") or (),
        sysctls=parse_sysctls(host.get("Sysctls"), network_mode),
        endpoints=obj(obj(b.get("NetworkingConfig"), "NetworkingConfig").get("EndpointsConfig"),
                        "NetworkingConfig.EndpointsConfig"))


def _security_fields(host: dict) -> dict[str, Any]:
    """Capabilities, privileges and the seccomp profile."""
    security = check_security_opts(strings(host.get("SecurityOpt"), "HostConfig.SecurityOpt")
                                   or ())
    return dict(
        cap_add=check_cap_names(strings(host.get("CapAdd"), "HostConfig.CapAdd") or (), "CapAdd"),
        cap_drop=check_cap_names(strings(host.get("CapDrop"), "HostConfig.CapDrop") or (),
                                 "CapDrop"),
        no_new_privileges=security.no_new_privileges,
        privileged=bool(host.get("Privileged")),
        seccomp_profile=security.seccomp)


def _lifecycle_fields(b: dict, host: dict) -> dict[str, Any]:
    """How the container is stopped, restarted, removed, health-checked and logged."""
    stop_signal = b.get("StopSignal") or ""
    if stop_signal:
        parse_signal(stop_signal, "Config.StopSignal")
    restart_policy = RestartPolicy.parse(host.get("RestartPolicy"))
    if host.get("AutoRemove") and restart_policy.name != "no":
        raise BadParameter("HostConfig.AutoRemove: conflicting options: cannot combine a restart "
                           f"policy ({restart_policy.name}) with auto-remove")
    labels = obj(b.get("Labels"), "Config.Labels")
    return dict(
        labels={str(k): str(v) for k, v in labels.items()},
        stop_signal=stop_signal,
        stop_timeout=opt_int(b.get("StopTimeout"), "Config.StopTimeout", minimum=-1),
        healthcheck=parse_healthcheck(b.get("Healthcheck")),
        restart_policy=restart_policy,
        auto_remove=bool(host.get("AutoRemove")),
        log_config=parse_log_config(host.get("LogConfig")))


def _merge_env(image_env: list[str], env: list[str]) -> list[str]:
    merged: dict[str, str] = {}
    for item in list(image_env) + list(env):
        key = item.split("=", 1)[0]
        merged.pop(key, None)  # a later value replaces, and moves, the earlier one
        merged[key] = item
    return list(merged.values())


def merge_image_config(body: dict, image_config: dict) -> dict:
    """Docker's create-time merge of an image's config into the request body."""
    out = dict(body)
    img = image_config or {}
    out["Env"] = _merge_env(img.get("Env") or [], body.get("Env") or [])
    if body.get("Entrypoint") is not None:
        entry = body["Entrypoint"]
        # Entrypoint "" / [""] resets the image's entrypoint; an overridden entrypoint drops the
        # image's Cmd too.
        out["Entrypoint"] = None if entry in ("", [""], []) else entry
        out["Cmd"] = body.get("Cmd")
    else:
        out["Entrypoint"] = img.get("Entrypoint")
        out["Cmd"] = body.get("Cmd") if body.get("Cmd") else img.get("Cmd")
    for key in ("WorkingDir", "User", "StopSignal"):
        if not body.get(key) and img.get(key):
            out[key] = img[key]
    if not body.get("Healthcheck") and img.get("Healthcheck"):
        out["Healthcheck"] = img["Healthcheck"]
    out["Volumes"] = {**(img.get("Volumes") or {}), **(body.get("Volumes") or {})} or None
    published = {k: {} for k in ((body.get("HostConfig") or {}).get("PortBindings") or {})}
    # like Docker, a published port is an exposed port too
    out["ExposedPorts"] = {**(img.get("ExposedPorts") or {}), **(body.get("ExposedPorts") or {}),
                           **published} or None
    out["Labels"] = {**(img.get("Labels") or {}), **(body.get("Labels") or {})}
    return out


def valid_name(name: str) -> str:
    """Docker's container name rule; returns the name without a leading slash."""
    if not NAME.match(name):
        raise BadParameter(f"Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] "
                           "are allowed")
    return name.lstrip("/")


def anonymous_targets(cfg: ContainerConfig) -> list[str]:
    """Targets that get an anonymous volume, in the order their names are recorded: volume mounts
    without a source, then Config.Volumes (image or request) not covered by an explicit mount."""
    explicit = {m.target for m in cfg.mounts}
    out = [m.target for m in cfg.mounts if m.type == "volume" and not m.source]
    out += [t for t in cfg.volumes if t not in explicit]
    return out
