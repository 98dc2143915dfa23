"""The canonical document (compose/normalize.py's output, what `config` prints) read into the
frozen model of compose/model.py. Each notation has its one reader here or in the module named:
durations and byte sizes (compose/values.py), short port syntax (compose/shortsyntax.py), the
restart policy (`parse_restart`), where a secret or config lands (`file_object_target`).
Hand-made mappings (tests, `kube play`) may use the short forms; they are read the same way."""
from __future__ import annotations

import json
import shlex
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from compose.errors import ComposeError
from compose.model import (Build, Condition, Deploy, DependsOn, FileObject, FileReference,
                           Healthcheck, IpamPool, MountType, Network, Port, PullPolicy,
                           ResourceSpec, Restart, RestartPolicy, Service, ServiceNetwork,
                           ServiceVolume, Ulimit, Volume)
from compose.values import parse_bytes, parse_duration


def _frozen_map(value: Mapping | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(value or {}))


# --- builders (canonical dict -> dataclasses) -------------------------------------------------

def _tuple(value: Any) -> tuple:
    if value is None:
        return ()
    return tuple(value) if isinstance(value, list) else (value,)


def _opt_int(value: Any) -> int | None:
    return None if value is None else int(value)


def parse_restart(text: str | None) -> Restart:
    """`restart:` (`no`, `always`, `on-failure[:N]`, `unless-stopped`): the one reader of it."""
    if not text:
        return Restart()
    policy, _, count = str(text).partition(":")
    try:
        return Restart(RestartPolicy(policy), int(count) if count else 0)
    except ValueError:
        raise ComposeError(f"invalid restart policy {text!r}: expected no, always, "
                           "on-failure[:N] or unless-stopped") from None


# deploy.restart_policy.condition -> the engine's policy, as Compose maps it for a container
_DEPLOY_CONDITIONS = {"none": RestartPolicy.NO, "no": RestartPolicy.NO,
                      "on-failure": RestartPolicy.ON_FAILURE,
                      "unless-stopped": RestartPolicy.UNLESS_STOPPED,
                      "any": RestartPolicy.ALWAYS, "always": RestartPolicy.ALWAYS}


def _engine_restart(s: dict) -> Restart | None:
    """The RestartPolicy a container gets: `restart:` wins; else a deploy.restart_policy with
    a condition (one without a condition leaves the engine's default, as in Compose)."""
    if s.get("restart"):
        return parse_restart(s["restart"])
    policy = (s.get("deploy") or {}).get("restart_policy") or {}
    condition = policy.get("condition")
    if not condition:
        return None
    return Restart(_deploy_condition(condition), int(policy.get("max_attempts") or 0))


def _deploy_condition(condition: str) -> RestartPolicy:
    try:
        return _DEPLOY_CONDITIONS[condition]
    except KeyError:
        raise ComposeError(f"invalid deploy.restart_policy.condition {condition!r}") from None


def _opt_bytes(value: Any) -> int | None:
    """A byte size (canonical: a number as text; `512m` from a hand-made mapping); -1 stays."""
    if value is None or value == "":
        return None
    if str(value).strip() == "-1":
        return -1
    try:
        return parse_bytes(value)
    except ValueError as e:
        raise ComposeError(str(e)) from None


def _opt_ns(value: Any) -> int | None:
    if value is None or value == "":
        return None
    try:
        return parse_duration(value)
    except ValueError as e:
        raise ComposeError(str(e)) from None


def _argv(value: Any) -> tuple[str, ...] | None:
    """command/entrypoint: a list as it is, a string split as a shell would (as compose-go)."""
    if value is None:
        return None
    if isinstance(value, str):
        return tuple(shlex.split(value))
    return tuple(str(v) for v in value)


def _pull_policy(text: str | None) -> PullPolicy:
    if not text:
        return PullPolicy.MISSING
    if text.startswith("every_"):
        return PullPolicy.EVERY
    return PullPolicy(text)


def _volume_mount(v: dict) -> ServiceVolume:
    bind, vol, tmp = v.get("bind") or {}, v.get("volume") or {}, v.get("tmpfs") or {}
    return ServiceVolume(
        type=MountType(v["type"]), target=v.get("target", ""), source=v.get("source"),
        read_only=bool(v.get("read_only", False)), create_host_path=bool(bind.get("create_host_path", False)),
        propagation=bind.get("propagation"), selinux=bind.get("selinux"), nocopy=bool(vol.get("nocopy", False)),
        subpath=vol.get("subpath"),
        tmpfs_size=_opt_bytes(tmp.get("size")),
        tmpfs_mode=int(str(tmp["mode"]), 8) if isinstance(tmp.get("mode"), str) else tmp.get("mode"))


def _healthcheck(h: dict) -> Healthcheck:
    def ns(key: str) -> int | None:
        return _opt_ns(h.get(key))
    test = h.get("test")
    test = ("CMD-SHELL", test) if isinstance(test, str) else _tuple(test) or None
    return Healthcheck(test=test, interval_ns=ns("interval"), timeout_ns=ns("timeout"),
                       retries=_opt_int(h.get("retries")), start_period_ns=ns("start_period"),
                       start_interval_ns=ns("start_interval"), disable=bool(h.get("disable", False)))


def _resources(r: dict | None) -> ResourceSpec:
    r = r or {}
    return ResourceSpec(cpus=float(r["cpus"]) if r.get("cpus") is not None else None,
                        memory=_opt_bytes(r.get("memory")),
                        pids=_opt_int(r.get("pids")))


def _deploy(d: dict | None) -> Deploy | None:
    if not d:
        return None
    res = d.get("resources") or {}
    rp = d.get("restart_policy")
    restart = None
    if rp:
        # the policy as written (swarm's default condition is `any`); what a container gets
        # is Service.restart_policy
        restart = Restart(_deploy_condition(rp.get("condition", "any")),
                          int(rp.get("max_attempts") or 0))
    labels = d.get("labels") or {}
    if isinstance(labels, list):
        labels = dict(str(x).partition("=")[::2] for x in labels)
    return Deploy(replicas=_opt_int(d.get("replicas")), limits=_resources(res.get("limits")),
                  reservations=_resources(res.get("reservations")), restart_policy=restart,
                  labels=_frozen_map(labels))


def file_object_target(kind: str, source: str, target: str | None) -> str:
    """Where a secret or config appears in the container, as Compose places it: secrets under
    /run/secrets/ (a relative target too), configs at /<source> or their target (below /)."""
    if kind == "secrets":
        if not target:
            return f"/run/secrets/{source}"
        return target if target.startswith("/") else f"/run/secrets/{target}"
    if not target:
        return f"/{source}"
    return target if target.startswith("/") else f"/{target}"


def _file_ref(ref: dict | str, kind: str) -> FileReference:
    if not isinstance(ref, dict):
        ref = {"source": str(ref)}
    src = ref["source"]
    target = file_object_target(kind, src, ref.get("target"))
    mode = ref.get("mode")
    return FileReference(source=src, target=target, uid=ref.get("uid"), gid=ref.get("gid"),
                         mode=int(mode, 8) if isinstance(mode, str) else mode)


def _ulimits(u: dict | None) -> tuple[Ulimit, ...]:
    out = []
    for name, v in (u or {}).items():
        if isinstance(v, dict):
            out.append(Ulimit(name, int(v.get("soft", v.get("hard"))), int(v.get("hard", v.get("soft")))))
        else:
            out.append(Ulimit(name, int(v), int(v)))
    return tuple(out)


def _build(b: dict) -> Build:
    return Build(context=b["context"], dockerfile=b.get("dockerfile"),
                 dockerfile_inline=b.get("dockerfile_inline"), args=_frozen_map(b.get("args")),
                 target=b.get("target"), labels=_frozen_map(b.get("labels")), tags=_tuple(b.get("tags")),
                 network=b.get("network"), no_cache=bool(b.get("no_cache", False)),
                 pull=bool(b.get("pull", False)), extra_hosts=_extra_hosts(b.get("extra_hosts")),
                 cache_from=tuple(str(ref) for ref in _tuple(b.get("cache_from"))))


def _service_networks(value: Any) -> tuple[ServiceNetwork, ...]:
    if isinstance(value, list):
        value = dict.fromkeys(value)
    nets = []
    for key, cfg in (value or {}).items():
        cfg = cfg or {}
        nets.append(ServiceNetwork(network=key, aliases=_tuple(cfg.get("aliases")),
                                   ipv4_address=cfg.get("ipv4_address"), ipv6_address=cfg.get("ipv6_address"),
                                   mac_address=cfg.get("mac_address"), priority=int(cfg.get("priority") or 0)))
    return tuple(nets)


def _depends_on(value: Any) -> tuple[DependsOn, ...]:
    if isinstance(value, list):
        value = dict.fromkeys(value)
    out = []
    for name, cfg in (value or {}).items():
        cfg = cfg or {}
        condition = cfg.get("condition", Condition.STARTED.value)
        try:
            cond = Condition(condition)
        except ValueError:
            raise ComposeError(f"service dependency {name!r}: unknown condition {condition!r}") from None
        out.append(DependsOn(service=name, condition=cond, restart=bool(cfg.get("restart", False)),
                             required=bool(cfg.get("required", True))))
    return tuple(out)


def port_from(p: Mapping[str, Any]) -> Port:
    """A long-form (canonical) port entry."""
    published = p.get("published")
    return Port(target=int(p["target"]), published=None if published in (None, "") else str(published),
                protocol=p.get("protocol") or "tcp", host_ip=p.get("host_ip") or None,
                mode=p.get("mode", "ingress"), name=p.get("name"), app_protocol=p.get("app_protocol"))


def parse_ports(spec: Any, key: str = "ports") -> tuple[Port, ...]:
    """Short port syntax (`[ip:][host:]container[/proto]`, ranges) -> ports, with the loader's
    one parser of it (compose/shortsyntax.py); `run -p` reads its values here too."""
    from compose.errors import NormalizeError
    from compose.shortsyntax import parse_port

    try:
        return tuple(port_from(p) for p in parse_port(spec, key))
    except NormalizeError as e:
        raise ComposeError(f"{e.key}: {e.message}") from None


def _ports(value: Any) -> tuple[Port, ...]:
    out: list[Port] = []
    for p in value or []:
        out += [port_from(p)] if isinstance(p, Mapping) else parse_ports(p)
    return tuple(out)


def _scalars(s: dict) -> dict[str, Any]:
    """The service attributes that are one value each, as the model types them."""
    return dict(
        image=s.get("image"), working_dir=s.get("working_dir"), user=s.get("user"),
        hostname=s.get("hostname"), container_name=s.get("container_name"),
        network_mode=s.get("network_mode"), ipc=s.get("ipc"), pid=s.get("pid"), uts=s.get("uts"),
        cgroup=s.get("cgroup"), scale=int(s.get("scale", 1)), init=bool(s.get("init", False)),
        cpuset=str(s["cpuset"]) if s.get("cpuset") not in (None, "") else None,
        tty=bool(s.get("tty", False)), stdin_open=bool(s.get("stdin_open", False)),
        privileged=bool(s.get("privileged", False)), read_only=bool(s.get("read_only", False)),
        stop_signal=s.get("stop_signal"), stop_grace_period_ns=_opt_ns(s.get("stop_grace_period")),
        mem_limit=_opt_bytes(s.get("mem_limit")), memswap_limit=_opt_bytes(s.get("memswap_limit")),
        cpus=float(s["cpus"]) if s.get("cpus") not in (None, "") else None,
        cpu_shares=_opt_int(s.get("cpu_shares")), pids_limit=_opt_int(s.get("pids_limit")),
        domainname=s.get("domainname"), mac_address=s.get("mac_address"),
        shm_size=_opt_bytes(s.get("shm_size")), platform=s.get("platform"),
        pull_policy=_pull_policy(s.get("pull_policy")), attach=bool(s.get("attach", True)))


def service_from(name: str, s: dict) -> Service:
    """A service from its canonical mapping (what `config` prints for it)."""
    return Service(
        name=name, build=_build(s["build"]) if s.get("build") else None,
        command=_argv(s.get("command")), entrypoint=_argv(s.get("entrypoint")),
        environment=_frozen_map(s.get("environment")), labels=_labels(s.get("labels")),
        ports=_ports(s.get("ports")), expose=tuple(str(e) for e in _tuple(s.get("expose"))),
        volumes=tuple(_volume_mount(v) for v in s.get("volumes") or []),
        tmpfs=_tuple(s.get("tmpfs")), depends_on=_depends_on(s.get("depends_on")),
        networks=_service_networks(s.get("networks")), links=_tuple(s.get("links")),
        volumes_from=_tuple(s.get("volumes_from")),
        healthcheck=_healthcheck(s["healthcheck"]) if s.get("healthcheck") else None,
        restart=parse_restart(s.get("restart")), restart_policy=_engine_restart(s),
        deploy=_deploy(s.get("deploy")), profiles=_tuple(s.get("profiles")),
        secrets=tuple(_file_ref(r, "secrets") for r in s.get("secrets") or []),
        configs=tuple(_file_ref(r, "configs") for r in s.get("configs") or []),
        cap_add=_tuple(s.get("cap_add")), cap_drop=_tuple(s.get("cap_drop")),
        security_opt=_tuple(s.get("security_opt")), ulimits=_ulimits(s.get("ulimits")),
        sysctls=_frozen_map({k: str(v) for k, v in _labels(s.get("sysctls")).items()}),
        extra_hosts=_extra_hosts(s.get("extra_hosts")), dns=_tuple(s.get("dns")),
        dns_opt=_tuple(s.get("dns_opt")), dns_search=_tuple(s.get("dns_search")),
        group_add=tuple(str(g) for g in s.get("group_add") or ()),
        develop=_frozen_map(s["develop"]) if s.get("develop") else None,
        extensions=_frozen_map({k: v for k, v in s.items() if k.startswith("x-")}),
        canonical=json.dumps(s, sort_keys=True, separators=(",", ":"), default=str),
        **_scalars(s),
    )


def _extra_hosts(value: Any) -> tuple[str, ...]:
    """`host=ip` entries (canonical; a hand-made mapping is spelled out the same way)."""
    if isinstance(value, Mapping):
        return tuple(f"{k}={v}" for k, vs in value.items() for v in (vs if isinstance(vs, list) else [vs]))
    return _tuple(value)


def _labels(value: Any) -> Mapping[str, str]:
    if isinstance(value, list):
        value = dict(str(x).partition("=")[::2] for x in value)
    return _frozen_map(value)


def _external(cfg: Mapping) -> bool:
    ext = cfg.get("external")
    return True if isinstance(ext, Mapping) else bool(ext)   # `external: {name: x}` (old form)


def _name(key: str, cfg: Mapping, project: str) -> str:
    """The engine name: as given, else the key (external) or `<project>_<key>` (canonical
    documents carry it; hand-made ones may not)."""
    return cfg.get("name") or (key if _external(cfg) else f"{project}_{key}")


def _network(key: str, n: dict, project: str = "") -> Network:
    ipam = n.get("ipam") or {}
    configs = ipam.get("config") or []
    pools = tuple(IpamPool(subnet=c.get("subnet"), gateway=c.get("gateway"), ip_range=c.get("ip_range"),
                           aux_addresses=_frozen_map(c.get("aux_addresses"))) for c in configs)
    return Network(key=key, name=_name(key, n, project), driver=n.get("driver"),
                   driver_opts=_frozen_map({k: str(v) for k, v in (n.get("driver_opts") or {}).items()}),
                   external=_external(n), internal=bool(n.get("internal", False)),
                   enable_ipv6=bool(n.get("enable_ipv6", False)),
                   subnets=tuple(c["subnet"] for c in configs if c.get("subnet")),
                   gateways=tuple(c["gateway"] for c in configs if c.get("gateway")),
                   labels=_labels(n.get("labels")), attachable=bool(n.get("attachable", False)),
                   ipam_driver=ipam.get("driver"), ipam=pools)


def _volume(key: str, v: dict, project: str = "") -> Volume:
    return Volume(key=key, name=_name(key, v, project), driver=v.get("driver"),
                  driver_opts=_frozen_map({k: str(x) for k, x in (v.get("driver_opts") or {}).items()}),
                  external=_external(v), labels=_labels(v.get("labels")))


def _file_object(key: str, f: dict, project: str = "") -> FileObject:
    return FileObject(key=key, name=_name(key, f, project), file=f.get("file"),
                      environment=f.get("environment"), content=f.get("content"),
                      external=_external(f), labels=_labels(f.get("labels")))
