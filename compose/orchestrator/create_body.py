"""A service, in Compose's canonical form, as the body of Docker's POST /containers/create. Pure.

The input is the canonical service mapping (what `pycompose config` prints: long-form ports and
volumes, lists for command/entrypoint, durations as strings); everything project-specific that the
mapping cannot know (names of networks/volumes, labels, one-off rules, `service:` references
resolved to container ids) comes in a `CreateContext`.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from compose.orchestrator.errors import OrchestratorError
from compose.orchestrator.units import byte_size, duration_ns, duration_seconds


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
    secrets: Mapping[str, Mapping] = field(default_factory=dict)  # key -> top-level definition
    configs: Mapping[str, Mapping] = field(default_factory=dict)
    materialize: Any = None   # (kind, key, content) -> host path, for `content:` definitions


def _as_list(value: Any) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        import shlex

        return shlex.split(value)
    return [str(v) for v in value]


def _environment(env: Any, extra: Mapping[str, str]) -> list[str]:
    if isinstance(env, list):
        pairs = dict(item.split("=", 1) if "=" in item else (item, None) for item in env)
    else:
        pairs = dict(env or {})
    pairs.update(extra)
    # A bare key the project environment did not resolve is dropped, as Compose does.
    return [f"{k}={'' if v is None else v}" for k, v in pairs.items() if v is not None]


def _labels(value: Any) -> dict[str, str]:
    if isinstance(value, list):
        return dict(item.split("=", 1) if "=" in item else (item, "") for item in value)
    return {k: "" if v is None else str(v) for k, v in (value or {}).items()}


def _healthcheck(hc: Mapping | None) -> dict | None:
    if not hc:
        return None
    if hc.get("disable"):
        return {"Test": ["NONE"]}
    out: dict[str, Any] = {}
    test = hc.get("test")
    if isinstance(test, str):
        test = ["CMD-SHELL", test]
    if test:
        out["Test"] = list(test)
    for key, api in (("interval", "Interval"), ("timeout", "Timeout"),
                     ("start_period", "StartPeriod"), ("start_interval", "StartInterval")):
        ns = duration_ns(hc.get(key))
        if ns is not None:
            out[api] = ns
    if hc.get("retries") is not None:
        out["Retries"] = int(hc["retries"])
    return out


def _restart_policy(service: Mapping) -> dict | None:
    value = service.get("restart")
    if not value:
        policy = ((service.get("deploy") or {}).get("restart_policy") or {})
        cond = policy.get("condition")
        if not cond:
            return None
        name = {"any": "always", "on-failure": "on-failure", "none": "no"}.get(cond, cond)
        return {"Name": name, "MaximumRetryCount": int(policy.get("max_attempts") or 0)}
    name, _, count = str(value).partition(":")
    if name not in ("no", "always", "on-failure", "unless-stopped"):
        raise OrchestratorError(f"service {service.get('name', '')!r}: invalid restart "
                                f"policy {value!r}")
    return {"Name": name, "MaximumRetryCount": int(count or 0)}


def port_bindings(ports: list, extra: tuple[str, ...] = ()) -> tuple[dict, dict]:
    """(ExposedPorts, PortBindings) from long-form ports (+ `run -p` short specs)."""
    exposed: dict[str, dict] = {}
    bindings: dict[str, list[dict]] = {}
    entries = list(ports) + [_parse_short_port(p) for p in extra]
    for port in entries:
        if isinstance(port, (str, int)):
            port = _parse_short_port(str(port))
        key = f"{port['target']}/{port.get('protocol') or 'tcp'}"
        exposed[key] = {}
        published = port.get("published")
        bindings.setdefault(key, []).append({
            "HostIp": port.get("host_ip") or "",
            "HostPort": "" if published in (None, "") else str(published),
        })
    return exposed, bindings


def _parse_short_port(spec: str) -> dict:
    """`[ip:][host:]container[/proto]` (single ports; ranges are expanded by the loader)."""
    spec, _, proto = spec.partition("/")
    parts = spec.rsplit(":", 2)
    try:
        if len(parts) == 1:
            return {"target": int(parts[0]), "protocol": proto or "tcp"}
        if len(parts) == 2:
            return {"target": int(parts[1]), "published": parts[0], "protocol": proto or "tcp"}
        return {"target": int(parts[2]), "published": parts[1], "host_ip": parts[0],
                "protocol": proto or "tcp"}
    except ValueError:
        raise OrchestratorError(f"invalid port specification {spec!r}") from None


def _volumes(service: Mapping, ctx: CreateContext) -> tuple[list[str], dict, dict]:
    """(Binds, anonymous Volumes, Tmpfs)."""
    binds: list[str] = []
    anonymous: dict[str, dict] = {}
    tmpfs: dict[str, str] = {}
    for vol in list(service.get("volumes") or []) + list(ctx.extra_volumes):
        if isinstance(vol, str):
            binds.append(vol)
            continue
        kind = vol.get("type", "volume")
        target = vol["target"]
        ro = ":ro" if vol.get("read_only") else ""
        if kind == "bind":
            binds.append(f"{vol['source']}:{target}{ro}")
        elif kind == "volume" and vol.get("source"):
            name = ctx.volumes.get(vol["source"], vol["source"])
            binds.append(f"{name}:{target}{ro}")
        elif kind == "volume":
            anonymous[target] = {}
        elif kind == "tmpfs":
            opts = []
            size = (vol.get("tmpfs") or {}).get("size")
            if size is not None:
                opts.append(f"size={byte_size(size)}")
            mode = (vol.get("tmpfs") or {}).get("mode")
            if mode is not None:
                opts.append(f"mode={mode:o}" if isinstance(mode, int) else f"mode={mode}")
            tmpfs[target] = ",".join(opts)
        else:
            raise OrchestratorError(f"service {ctx.service!r}: volume type {kind!r} is not "
                                    "supported")
    for item in _as_list(service.get("tmpfs")) or []:
        path, _, opts = item.partition(":")
        tmpfs[path] = opts
    return binds, anonymous, tmpfs


def file_object_target(kind: str, source: str, target: str | None) -> str:
    """Where a secret or config appears in the container, as Compose places it: secrets under
    /run/secrets/ (a relative target too), configs at /<source> or their target."""
    if kind == "secrets":
        if not target:
            return f"/run/secrets/{source}"
        return target if target.startswith("/") else f"/run/secrets/{target}"
    if not target:
        return f"/{source}"
    return target if target.startswith("/") else f"/{target}"


def _file_objects(service: Mapping, ctx: CreateContext) -> list[str]:
    """Read-only binds for the service's `secrets:` and `configs:` (file or content based)."""
    binds: list[str] = []
    for kind, defined in (("secrets", ctx.secrets), ("configs", ctx.configs)):
        for ref in service.get(kind) or []:
            source = ref["source"] if isinstance(ref, Mapping) else str(ref)
            target = ref.get("target") if isinstance(ref, Mapping) else None
            top = defined.get(source)
            what = kind[:-1]
            if top is None:
                raise OrchestratorError(f"service {ctx.service!r} refers to undefined {what} "
                                        f"{source!r}")
            if top.get("file"):
                host = top["file"]
            elif top.get("content") is not None and ctx.materialize is not None:
                host = ctx.materialize(kind, source, str(top["content"]))
            else:
                how = "external" if top.get("external") else "environment"
                raise OrchestratorError(f"service {ctx.service!r}: {how} {what} {source!r} is "
                                        "not supported yet (use file: or content:)")
            binds.append(f"{host}:{file_object_target(kind, source, target)}:ro")
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


def _extra_hosts(value: Any) -> list[str]:
    if isinstance(value, Mapping):
        items = [f"{k}:{v}" for k, vs in value.items()
                 for v in (vs if isinstance(vs, list) else [vs])]
        return items
    out = []
    for item in value or []:
        host, sep, ip = item.partition("=")
        out.append(f"{host}:{ip}" if sep else item)
    return out


def _resources(service: Mapping) -> dict[str, int]:
    limits = (((service.get("deploy") or {}).get("resources") or {}).get("limits") or {})
    out: dict[str, int] = {}
    memory = byte_size(service.get("mem_limit") or limits.get("memory"))
    if memory:
        out["Memory"] = memory
    swap = service.get("memswap_limit")
    if swap not in (None, ""):
        out["MemorySwap"] = -1 if str(swap) == "-1" else byte_size(swap) or 0
    cpus = service.get("cpus") or limits.get("cpus")
    if cpus not in (None, "", 0):
        out["NanoCpus"] = int(float(cpus) * 1_000_000_000)
    pids = service.get("pids_limit") or limits.get("pids")
    if pids not in (None, ""):
        out["PidsLimit"] = int(pids)
    if service.get("cpu_shares"):
        out["CpuShares"] = int(service["cpu_shares"])
    shm = byte_size(service.get("shm_size"))
    if shm:
        out["ShmSize"] = shm
    return out


def network_mode_of(service: Mapping, ctx: CreateContext) -> tuple[str, dict]:
    """(HostConfig.NetworkMode, NetworkingConfig.EndpointsConfig)."""
    mode = service.get("network_mode")
    if mode:
        return _resolve_service_ref(mode, ctx, "network_mode"), {}
    nets = service.get("networks")
    if nets is None:
        nets = {"default": None}
    if isinstance(nets, list):
        nets = {n: None for n in nets}
    endpoints: dict[str, dict] = {}
    # Higher priority first: that network is the one the engine wires first (eth0).
    ordered = sorted(nets.items(), key=lambda kv: -int((kv[1] or {}).get("priority") or 0))
    for key, cfg in ordered:
        cfg = cfg or {}
        aliases = ([ctx.service] if ctx.use_aliases else []) + list(cfg.get("aliases") or [])
        endpoint: dict[str, Any] = {"Aliases": aliases}
        ipam = {}
        if cfg.get("ipv4_address"):
            ipam["IPv4Address"] = cfg["ipv4_address"]
        if cfg.get("ipv6_address"):
            ipam["IPv6Address"] = cfg["ipv6_address"]
        if ipam:
            endpoint["IPAMConfig"] = ipam
        endpoints[ctx.networks.get(key, f"{ctx.project}_{key}")] = endpoint
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


def create_body(service: Mapping, ctx: CreateContext) -> dict:
    """The ContainerCreate JSON for one container of `service`."""
    image = service.get("image")
    if not image:
        raise OrchestratorError(f"service {ctx.service!r} has neither an image nor a build "
                                "context specified")
    env = _environment(service.get("environment"), ctx.environment)
    labels = _labels(service.get("labels"))
    labels.update(ctx.labels)
    command = list(ctx.command) if ctx.command is not None else _as_list(service.get("command"))
    entrypoint = (list(ctx.entrypoint) if ctx.entrypoint is not None
                  else _as_list(service.get("entrypoint")))
    binds, anonymous, tmpfs = _volumes(service, ctx)
    binds += _file_objects(service, ctx)
    network_mode, endpoints = network_mode_of(service, ctx)
    ports = list(service.get("ports") or []) if ctx.publish_ports else []
    exposed, bindings = port_bindings(ports, ctx.extra_ports)
    for item in service.get("expose") or []:
        port = str(item)
        exposed.setdefault(port if "/" in port else f"{port}/tcp", {})

    host: dict[str, Any] = {
        "NetworkMode": network_mode,
        "Binds": binds,
        "PortBindings": bindings,
        "RestartPolicy": ({"Name": "no", "MaximumRetryCount": 0} if ctx.oneoff
                          else _restart_policy(service) or {"Name": "no",
                                                            "MaximumRetryCount": 0}),
        "ReadonlyRootfs": bool(service.get("read_only")),
        "Init": service.get("init"),
        "Privileged": bool(service.get("privileged")),
        "CapAdd": list(service.get("cap_add") or []),
        "CapDrop": list(service.get("cap_drop") or []),
        "SecurityOpt": security_opts(service.get("security_opt") or [], ctx),
        "Dns": _as_list(service.get("dns")) or [],
        "DnsSearch": _as_list(service.get("dns_search")) or [],
        "DnsOptions": list(service.get("dns_opt") or []),
        "ExtraHosts": _extra_hosts(service.get("extra_hosts")),
        "GroupAdd": [str(g) for g in service.get("group_add") or []],
        "Sysctls": {k: str(v) for k, v in _labels(service.get("sysctls")).items()},
    }
    if tmpfs:
        host["Tmpfs"] = tmpfs
    host.update(_resources(service))
    for key, api in (("ipc", "IpcMode"), ("pid", "PidMode")):
        if service.get(key):
            host[api] = _resolve_service_ref(service[key], ctx, key)
    if service.get("volumes_from"):
        host["VolumesFrom"] = _volumes_from(service["volumes_from"], ctx)

    body: dict[str, Any] = {
        "Image": image,
        "Env": env,
        "Labels": labels,
        "Tty": bool(service.get("tty")) if ctx.tty is None else ctx.tty,
        "OpenStdin": bool(service.get("stdin_open")) if ctx.stdin_open is None
        else ctx.stdin_open,
        "AttachStdin": False,
        "AttachStdout": True,
        "AttachStderr": True,
        "ExposedPorts": exposed,
        "HostConfig": host,
        "NetworkingConfig": {"EndpointsConfig": endpoints},
    }
    if command is not None:
        body["Cmd"] = command
    if entrypoint is not None:
        body["Entrypoint"] = entrypoint
    for key, api in (("hostname", "Hostname"), ("domainname", "Domainname"),
                     ("stop_signal", "StopSignal"), ("mac_address", "MacAddress")):
        if service.get(key):
            body[api] = service[key]
    if ctx.workdir or service.get("working_dir"):
        body["WorkingDir"] = ctx.workdir or service["working_dir"]
    if ctx.user or service.get("user") not in (None, ""):
        body["User"] = str(ctx.user or service["user"])
    grace = duration_seconds(service.get("stop_grace_period"))
    if grace is not None:
        body["StopTimeout"] = grace
    health = _healthcheck(service.get("healthcheck"))
    if health:
        body["Healthcheck"] = health
    if anonymous:
        body["Volumes"] = anonymous
    return body
