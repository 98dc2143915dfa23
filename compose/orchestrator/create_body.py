"""A service of the typed model (compose/model.py) as the body of Docker's POST
/containers/create. Pure.

Everything project-specific that the service cannot know (names of networks/volumes, labels,
one-off rules, `service:` references resolved to container ids, the top-level secrets and
configs) comes in a `CreateContext`. Nothing is parsed here: the model holds durations in ns,
sizes in bytes, long-form ports and the engine's restart policy.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from compose.canonical import parse_ports
from compose.model import (FileObject, Healthcheck, MountType, Port, ResourceSpec, Service,
                           ServiceNetwork)
from compose.orchestrator.errors import OrchestratorError


@dataclass(frozen=True)
class CreateContext:
    project: str
    service: str
    name: str                                        # the container's name
    labels: Mapping[str, str]
    networks: Mapping[str, str] = field(default_factory=dict)   # key -> engine name
    volumes: Mapping[str, str] = field(default_factory=dict)    # key -> engine name
    containers: Mapping[str, str] = field(default_factory=dict) # service -> a container id
    oneoff: bool = False
    publish_ports: bool = True        # one-offs: only with -P / --service-ports
    extra_ports: tuple[str, ...] = () # `run -p`
    use_aliases: bool = True          # one-offs: only with --use-aliases
    command: tuple[str, ...] | None = None      # `run SVC CMD...`
    entrypoint: tuple[str, ...] | None = None   # `run --entrypoint`
    environment: Mapping[str, str] = field(default_factory=dict)   # `run -e`
    user: str | None = None
    workdir: str | None = None
    tty: bool | None = None
    stdin_open: bool | None = None
    extra_volumes: tuple[str, ...] = ()          # `run -v`
    secrets: Mapping[str, FileObject] = field(default_factory=dict)  # key -> top-level one
    configs: Mapping[str, FileObject] = field(default_factory=dict)
    materialize: Any = None   # (kind, key, content) -> host path, for `content:` definitions


def _environment(env: Mapping[str, str | None], extra: Mapping[str, str]) -> list[str]:
    pairs = {**env, **extra}
    # A bare key the project environment did not resolve is dropped, as Compose does.
    return [f"{k}={v}" for k, v in pairs.items() if v is not None]


def _healthcheck(hc: Healthcheck | None) -> dict | None:
    if hc is None:
        return None
    if hc.disable:
        return {"Test": ["NONE"]}
    out: dict[str, Any] = {}
    if hc.test:
        out["Test"] = list(hc.test)
    for ns, api in ((hc.interval_ns, "Interval"), (hc.timeout_ns, "Timeout"),
                    (hc.start_period_ns, "StartPeriod"), (hc.start_interval_ns, "StartInterval")):
        if ns is not None:
            out[api] = ns
    if hc.retries is not None:
        out["Retries"] = hc.retries
    return out


def _restart_policy(service: Service, ctx: CreateContext) -> dict:
    policy = None if ctx.oneoff else service.restart_policy
    if policy is None:
        return {"Name": "no", "MaximumRetryCount": 0}
    return {"Name": policy.policy.value, "MaximumRetryCount": policy.max_retries}


def port_bindings(ports: Iterable[Port]) -> tuple[dict, dict]:
    """(ExposedPorts, PortBindings) of the ports."""
    exposed: dict[str, dict] = {}
    bindings: dict[str, list[dict]] = {}
    for port in ports:
        key = f"{port.target}/{port.protocol}"
        exposed[key] = {}
        bindings.setdefault(key, []).append({"HostIp": port.host_ip or "",
                                             "HostPort": port.published or ""})
    return exposed, bindings


def _ports(service: Service, ctx: CreateContext) -> tuple[dict, dict]:
    ports = list(service.ports) if ctx.publish_ports else []
    for spec in ctx.extra_ports:     # `run -p`, in the loader's one short port syntax
        ports += parse_ports(spec, "--publish")
    exposed, bindings = port_bindings(ports)
    for item in service.expose:
        exposed.setdefault(item if "/" in item else f"{item}/tcp", {})
    return exposed, bindings


def _volumes(service: Service, ctx: CreateContext) -> tuple[list[str], dict, dict]:
    """(Binds, anonymous Volumes, Tmpfs)."""
    binds: list[str] = []
    anonymous: dict[str, dict] = {}
    tmpfs: dict[str, str] = {}
    for vol in service.volumes:
        ro = ":ro" if vol.read_only else ""
        if vol.type is MountType.BIND:
            binds.append(f"{vol.source}:{vol.target}{ro}")
        elif vol.type is MountType.VOLUME and vol.source:
            binds.append(f"{ctx.volumes.get(vol.source, vol.source)}:{vol.target}{ro}")
        elif vol.type is MountType.VOLUME:
            anonymous[vol.target] = {}
        elif vol.type is MountType.TMPFS:
            opts = [] if vol.tmpfs_size is None else [f"size={vol.tmpfs_size}"]
            if vol.tmpfs_mode is not None:
                opts.append(f"mode={vol.tmpfs_mode:o}")
            tmpfs[vol.target] = ",".join(opts)
        else:
            raise OrchestratorError(f"service {ctx.service!r}: volume type "
                                    f"{vol.type.value!r} is not supported")
    binds += ctx.extra_volumes   # `run -v`, as the engine reads them
    for item in service.tmpfs:
        path, _, opts = item.partition(":")
        tmpfs[path] = opts
    return binds, anonymous, tmpfs


def _file_objects(service: Service, ctx: CreateContext) -> list[str]:
    """Read-only binds for the service's `secrets:` and `configs:` (file or content based)."""
    binds: list[str] = []
    for kind, refs, defined in (("secrets", service.secrets, ctx.secrets),
                                ("configs", service.configs, ctx.configs)):
        for ref in refs:
            top = defined.get(ref.source)
            what = kind[:-1]
            if top is None:
                raise OrchestratorError(f"service {ctx.service!r} refers to undefined {what} "
                                        f"{ref.source!r}")
            if top.file:
                host = top.file
            elif top.content is not None and ctx.materialize is not None:
                host = ctx.materialize(kind, ref.source, str(top.content))
            else:
                how = "external" if top.external else "environment"
                raise OrchestratorError(f"service {ctx.service!r}: {how} {what} {ref.source!r} "
                                        "is not supported yet (use file: or content:)")
            binds.append(f"{host}:{ref.target}:ro")
    return binds


def _resolve_service_ref(value: str, ctx: CreateContext, what: str) -> str:
    """`service:X` -> `container:<id of X's first replica>`."""
    if not value.startswith("service:"):
        return value
    target = value.split(":", 1)[1]
    cid = ctx.containers.get(target)
    if not cid:
        raise OrchestratorError(f"service {ctx.service!r}: {what} refers to service {target!r}, "
                                "which has no container")
    return f"container:{cid}"


def _volumes_from(items: list[str], ctx: CreateContext) -> list[str]:
    """`svc[:ro]` -> `<id>[:ro]`; `container:name[:ro]` -> `name[:ro]`."""
    out = []
    for item in items:
        if item.startswith("container:"):
            out.append(item.split(":", 1)[1])
            continue
        name, _, mode = item.partition(":")
        cid = _resolve_service_ref(f"service:{name}", ctx, "volumes_from")[len("container:"):]
        out.append(f"{cid}:{mode}" if mode else cid)
    return out


def _extra_hosts(entries: Iterable[str]) -> list[str]:
    """`host=ip` (the model's spelling) -> `host:ip` (the engine's)."""
    out = []
    for item in entries:
        host, sep, ip = item.partition("=")
        out.append(f"{host}:{ip}" if sep else item)
    return out


def _resources(service: Service) -> dict[str, int]:
    limits = service.deploy.limits if service.deploy is not None else ResourceSpec()
    out: dict[str, int] = {}
    memory = service.mem_limit or limits.memory
    if memory:
        out["Memory"] = memory
    if service.memswap_limit is not None:
        out["MemorySwap"] = service.memswap_limit
    cpus = service.cpus or limits.cpus
    if cpus:
        out["NanoCpus"] = int(cpus * 1_000_000_000)
    pids = service.pids_limit or limits.pids
    if pids is not None:
        out["PidsLimit"] = pids
    if service.cpu_shares:
        out["CpuShares"] = service.cpu_shares
    if service.shm_size:
        out["ShmSize"] = service.shm_size
    return out


def network_mode_of(service: Service, ctx: CreateContext) -> tuple[str, dict]:
    """(HostConfig.NetworkMode, NetworkingConfig.EndpointsConfig)."""
    if service.network_mode:
        return _resolve_service_ref(service.network_mode, ctx, "network_mode"), {}
    nets = service.networks or (ServiceNetwork("default"),)
    endpoints: dict[str, dict] = {}
    # Higher priority first: that network is the one the engine wires first (eth0).
    for net in sorted(nets, key=lambda n: -n.priority):
        aliases = ([ctx.service] if ctx.use_aliases else []) + list(net.aliases)
        endpoint: dict[str, Any] = {"Aliases": aliases}
        ipam = {}
        if net.ipv4_address:
            ipam["IPv4Address"] = net.ipv4_address
        if net.ipv6_address:
            ipam["IPv6Address"] = net.ipv6_address
        if ipam:
            endpoint["IPAMConfig"] = ipam
        if net.mac_address:   # this endpoint's own MAC (the service's goes in Config)
            endpoint["MacAddress"] = net.mac_address
        endpoints[ctx.networks.get(net.network, f"{ctx.project}_{net.network}")] = endpoint
    first = next(iter(endpoints), "bridge")
    return first, endpoints


def security_opts(values: list, ctx: CreateContext) -> list[str]:
    """As Compose: `seccomp=FILE` (or `seccomp:FILE`) is sent as the file's compacted JSON, the
    path taken from the project directory. The one read of a file here: the engine wants the
    profile's content, and the project directory is only known on this side."""
    import json
    import os

    from compose.orchestrator.labels import WORKING_DIR

    out = []
    for opt in (str(v) for v in values):
        key, sep, value = opt.partition("=" if "=" in opt else ":")
        if key != "seccomp" or not sep or value in ("unconfined", "builtin"):
            out.append(opt)
            continue
        path = os.path.join(ctx.labels.get(WORKING_DIR) or ".", os.path.expanduser(value))
        try:
            with open(path) as f:
                profile = json.load(f)
        except OSError as e:
            raise OrchestratorError(f"service {ctx.service!r}: security_opt {opt!r}: cannot "
                                    f"read the seccomp profile: {e.strerror}") from None
        except ValueError as e:
            raise OrchestratorError(f"service {ctx.service!r}: security_opt {opt!r}: the "
                                    f"seccomp profile is not JSON: {e}") from None
        out.append("seccomp=" + json.dumps(profile, separators=(",", ":")))
    return out


def _host_config(service: Service, ctx: CreateContext, *, network_mode: str, binds: list[str],
                 tmpfs: dict[str, str], port_bindings: dict) -> dict[str, Any]:
    host: dict[str, Any] = {
        "NetworkMode": network_mode,
        "Binds": binds + _file_objects(service, ctx),
        "PortBindings": port_bindings,
        "RestartPolicy": _restart_policy(service, ctx),
        "ReadonlyRootfs": service.read_only,
        "Init": service.init or None,   # unset: the engine's default
        "Privileged": service.privileged,
        "CapAdd": list(service.cap_add),
        "CapDrop": list(service.cap_drop),
        "SecurityOpt": security_opts(service.security_opt, ctx),
        "Dns": list(service.dns),
        "DnsSearch": list(service.dns_search),
        "DnsOptions": list(service.dns_opt),
        "ExtraHosts": _extra_hosts(service.extra_hosts),
        "GroupAdd": list(service.group_add),
        "Sysctls": dict(service.sysctls),
    }
    if tmpfs:
        host["Tmpfs"] = tmpfs
    host.update(_resources(service))
    for key, api in (("ipc", "IpcMode"), ("pid", "PidMode"), ("uts", "UTSMode")):
        value = getattr(service, key)
        if value:
            host[api] = _resolve_service_ref(value, ctx, key)
    if service.cpuset:
        host["CpusetCpus"] = service.cpuset
    if service.ulimits:
        host["Ulimits"] = [{"Name": u.name, "Soft": u.soft, "Hard": u.hard}
                           for u in service.ulimits]
    if service.volumes_from:
        host["VolumesFrom"] = _volumes_from(list(service.volumes_from), ctx)
    return host


def create_body(service: Service, ctx: CreateContext) -> dict:
    """The ContainerCreate JSON for one container of `service`."""
    if not service.image:
        raise OrchestratorError(f"service {ctx.service!r} has neither an image nor a build "
                                "context specified")
    labels = {**service.labels, **ctx.labels}
    command = ctx.command if ctx.command is not None else service.command
    entrypoint = ctx.entrypoint if ctx.entrypoint is not None else service.entrypoint
    binds, anonymous, tmpfs = _volumes(service, ctx)
    exposed, bindings = _ports(service, ctx)
    network_mode, endpoints = network_mode_of(service, ctx)
    body: dict[str, Any] = {
        "Image": service.image,
        "Env": _environment(service.environment, ctx.environment),
        "Labels": labels,
        "Tty": service.tty if ctx.tty is None else ctx.tty,
        "OpenStdin": service.stdin_open if ctx.stdin_open is None else ctx.stdin_open,
        "AttachStdin": False,
        "AttachStdout": True,
        "AttachStderr": True,
        "ExposedPorts": exposed,
        "HostConfig": _host_config(service, ctx, network_mode=network_mode, binds=binds,
                                   tmpfs=tmpfs, port_bindings=bindings),
        "NetworkingConfig": {"EndpointsConfig": endpoints},
    }
    if command is not None:
        body["Cmd"] = list(command)
    if entrypoint is not None:
        body["Entrypoint"] = list(entrypoint)
    for key, api in (("hostname", "Hostname"), ("domainname", "Domainname"),
                     ("stop_signal", "StopSignal"), ("mac_address", "MacAddress")):
        if getattr(service, key):
            body[api] = getattr(service, key)
    if ctx.workdir or service.working_dir:
        body["WorkingDir"] = ctx.workdir or service.working_dir
    if ctx.user or service.user not in (None, ""):
        body["User"] = str(ctx.user or service.user)
    if service.stop_grace_period_ns is not None:
        body["StopTimeout"] = service.stop_grace_period_ns // 1_000_000_000
    health = _healthcheck(service.healthcheck)
    if health:
        body["Healthcheck"] = health
    if anonymous:
        body["Volumes"] = anonymous
    return body
