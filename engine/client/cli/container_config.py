"""`container create/run` flags -> the body of POST /containers/create (pure).

`ContainerFlags` holds the flags as typed on the command line; `create_body` turns them into
Docker's ContainerConfig + HostConfig + NetworkingConfig, raising `FlagError` for bad values.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from engine.client.cli import parse


@dataclass(frozen=True)
class ContainerFlags:
    image: str
    command: tuple[str, ...] = ()
    name: str | None = None
    rm: bool = False
    interactive: bool = False
    tty: bool = False
    attach_stdio: bool = True          # False with -d
    env: tuple[str, ...] = ()
    env_file: tuple[str, ...] = ()
    workdir: str | None = None
    user: str | None = None
    hostname: str | None = None
    entrypoint: str | None = None
    labels: tuple[str, ...] = ()
    volumes: tuple[str, ...] = ()
    tmpfs: tuple[str, ...] = ()
    read_only: bool = False
    memory: str | None = None
    memory_swap: str | None = None
    cpus: str | None = None
    pids_limit: str | None = None
    init: bool = False
    restart: str | None = None
    stop_signal: str | None = None
    stop_timeout: str | None = None
    network: str | None = None
    network_aliases: tuple[str, ...] = ()
    ip: str | None = None
    mac_address: str | None = None
    links: tuple[str, ...] = ()
    publish: tuple[str, ...] = ()
    publish_all: bool = False
    expose: tuple[str, ...] = ()
    dns: tuple[str, ...] = ()
    add_hosts: tuple[str, ...] = ()
    cap_add: tuple[str, ...] = ()
    cap_drop: tuple[str, ...] = ()
    security_opt: tuple[str, ...] = ()
    privileged: bool = False
    pid: str | None = None             # --pid host|container:NAME
    ipc: str | None = None             # --ipc host|none|private|shareable|container:NAME
    uts: str | None = None             # --uts host
    cpuset_cpus: str | None = None     # --cpuset-cpus 0-2,5
    cpuset_mems: str | None = None     # --cpuset-mems 0
    extra: dict = field(default_factory=dict)


def _abs_bind(spec: str, cwd: str) -> str:
    """Relative bind sources (`./data:/data`) are made absolute against the client's cwd."""
    source, sep, rest = spec.partition(":")
    if source.startswith("~"):
        source = os.path.expanduser(source)
    elif source.startswith("."):
        source = os.path.normpath(os.path.join(cwd, source))
    return source + sep + rest


def create_body(flags: ContainerFlags, env: Mapping[str, str], cwd: str,
                read_file: Callable[[str], str]) -> dict:
    """The JSON body for POST /containers/create (the name goes in the query string)."""
    config = _process(flags, _environment(flags, env, read_file))
    host: dict = {"AutoRemove": flags.rm, "ReadonlyRootfs": flags.read_only,
                  "PublishAllPorts": flags.publish_all}
    binds, anonymous = _volumes(flags, cwd)
    if binds:
        host["Binds"] = binds
    if anonymous:
        config["Volumes"] = anonymous
    if flags.tmpfs:
        host["Tmpfs"] = dict(parse.parse_tmpfs(t) for t in flags.tmpfs)
    host.update(_resources(flags))
    host.update(_sharing(flags))
    host.update(_lifecycle(flags))
    if flags.network:
        host["NetworkMode"] = flags.network
    if flags.links:
        host["Links"] = [_link(value) for value in flags.links]
    if flags.mac_address:   # Config.MacAddress, where the docker CLI puts it at API 1.41
        config["MacAddress"] = _mac(flags.mac_address)
    exposed, bindings = _ports(flags)
    if exposed:
        config["ExposedPorts"] = exposed
    if bindings:
        host["PortBindings"] = bindings
    host.update(_name_resolution(flags))
    host.update(_privileges(flags))
    config["HostConfig"] = host
    endpoints = _endpoints(flags)
    if endpoints:
        config["NetworkingConfig"] = {"EndpointsConfig": endpoints}
    if flags.name is not None and not _valid_name(flags.name):
        raise parse.FlagError("--name", flags.name, "names use [a-zA-Z0-9][a-zA-Z0-9_.-]*")
    return config


def _environment(flags: ContainerFlags, env: Mapping[str, str],
                 read_file: Callable[[str], str]) -> list[str]:
    """--env-file files first, then -e: a later value of a name wins, as docker."""
    lookup = env.get
    environment: list[str] = []
    for path in flags.env_file:
        try:
            text = read_file(path)
        except OSError as e:
            raise parse.FlagError("--env-file", path, e.strerror or str(e)) from None
        environment += parse.parse_env_file(text, lookup, path)
    return environment + parse.parse_env(list(flags.env), lookup)


def _process(flags: ContainerFlags, environment: list[str]) -> dict:
    """The ContainerConfig part: what runs, as whom, where, with which stdio and how it stops."""
    config: dict = {
        "Image": flags.image,
        "AttachStdin": flags.interactive and flags.attach_stdio,
        "AttachStdout": flags.attach_stdio,
        "AttachStderr": flags.attach_stdio,
        "OpenStdin": flags.interactive,
        "StdinOnce": flags.interactive and flags.attach_stdio,
        "Tty": flags.tty,
        "Env": environment,
        "Labels": parse.parse_labels(list(flags.labels)),
    }
    if flags.command:
        config["Cmd"] = list(flags.command)
    if flags.entrypoint is not None:
        # docker: `--entrypoint ""` clears the image's entrypoint; otherwise one word
        config["Entrypoint"] = [flags.entrypoint] if flags.entrypoint else [""]
    if flags.workdir:
        if not flags.workdir.startswith("/"):
            raise parse.FlagError("--workdir", flags.workdir, "must be an absolute path")
        config["WorkingDir"] = flags.workdir
    if flags.user:
        config["User"] = flags.user
    if flags.hostname:
        config["Hostname"] = flags.hostname
    if flags.stop_signal:
        config["StopSignal"] = parse.parse_signal(flags.stop_signal, "--stop-signal")
    if flags.stop_timeout is not None:
        config["StopTimeout"] = parse.parse_int(flags.stop_timeout, "--stop-timeout", -1)
    return config


def _volumes(flags: ContainerFlags, cwd: str) -> tuple[list[str], dict[str, dict]]:
    """-v: (binds with absolute sources, anonymous volumes by container path)."""
    binds, anonymous = [], {}
    for spec in flags.volumes:
        bind, anon = parse.parse_volume(spec)
        if bind:
            binds.append(_abs_bind(bind, cwd))
        else:
            anonymous[anon] = {}
    return binds, anonymous


def _resources(flags: ContainerFlags) -> dict:
    """Memory (+swap), CPUs and pids limits for HostConfig."""
    host: dict = {}
    if flags.memory:
        host["Memory"] = parse.parse_memory(flags.memory)
    if flags.memory_swap:
        host["MemorySwap"] = parse.parse_memory_swap(flags.memory_swap)
        if host["MemorySwap"] > 0 and host["MemorySwap"] < host.get("Memory", 0):
            raise parse.FlagError("--memory-swap", flags.memory_swap,
                                  "must be at least --memory (it is memory plus swap)")
        if "Memory" not in host and host["MemorySwap"] != -1:
            raise parse.FlagError("--memory-swap", flags.memory_swap, "needs --memory as well")
    if flags.cpus:
        host["NanoCpus"] = parse.parse_cpus(flags.cpus)
    if flags.pids_limit is not None:
        host["PidsLimit"] = parse.parse_int(flags.pids_limit, "--pids-limit", -1)
    return host


def _sharing(flags: ContainerFlags) -> dict:
    """--pid, --ipc, --uts, --cpuset-cpus/-mems: sent as given, the engine checks them (with
    Docker's words, as the docker CLI leaves it to the daemon)."""
    fields = (("PidMode", flags.pid), ("IpcMode", flags.ipc), ("UTSMode", flags.uts),
              ("CpusetCpus", flags.cpuset_cpus), ("CpusetMems", flags.cpuset_mems))
    return {key: value for key, value in fields if value}


def _lifecycle(flags: ContainerFlags) -> dict:
    """--init and --restart (which --rm excludes) for HostConfig."""
    host: dict = {}
    if flags.init:
        host["Init"] = True
    if flags.restart:
        host["RestartPolicy"] = parse.parse_restart(flags.restart)
        if flags.rm and host["RestartPolicy"]["Name"]:
            raise parse.FlagError("--restart", flags.restart, "conflicts with --rm")
    return host


def _ports(flags: ContainerFlags) -> tuple[dict[str, dict], dict[str, list[dict]]]:
    """-p and --expose: (ExposedPorts, PortBindings); a published port is exposed too."""
    exposed: dict[str, dict] = {}
    bindings: dict[str, list[dict]] = {}
    for spec in flags.publish:
        for port, host_ip, host_port in parse.parse_publish(spec):
            exposed[port] = {}
            bindings.setdefault(port, []).append({"HostIp": host_ip, "HostPort": host_port})
    for spec in flags.expose:
        for port in parse.parse_expose(spec):
            exposed[port] = {}
    return exposed, bindings


def _name_resolution(flags: ContainerFlags) -> dict:
    """--dns and --add-host for HostConfig."""
    host: dict = {}
    if flags.dns:
        host["Dns"] = [parse.parse_dns(d) for d in flags.dns]
    if flags.add_hosts:
        host["ExtraHosts"] = [parse.parse_add_host(h) for h in flags.add_hosts]
    return host


def _privileges(flags: ContainerFlags) -> dict:
    """Capabilities, --privileged and --security-opt for HostConfig."""
    host: dict = {}
    if flags.cap_add:
        host["CapAdd"] = [c.upper() for c in flags.cap_add]
    if flags.cap_drop:
        host["CapDrop"] = [c.upper() for c in flags.cap_drop]
    if flags.privileged:
        host["Privileged"] = True
    if flags.security_opt:
        host["SecurityOpt"] = [parse.parse_security_opt(s) for s in flags.security_opt]
    return host


def _endpoints(flags: ContainerFlags) -> dict[str, dict]:
    """--network-alias and --ip: the one endpoint's settings, by network (empty: none)."""
    if not (flags.network_aliases or flags.ip):
        return {}
    network = flags.network or "bridge"
    if network in ("host", "none") or network.startswith("container:"):
        raise parse.FlagError("--network-alias" if flags.network_aliases else "--ip",
                              (list(flags.network_aliases) or [flags.ip])[0],
                              f"not possible with --network {network}")
    endpoint: dict = {}
    if flags.network_aliases:
        endpoint["Aliases"] = list(flags.network_aliases)
    if flags.ip:
        endpoint["IPAMConfig"] = {"IPv4Address": parse.parse_ip(flags.ip)}
    return {network: endpoint}


def _link(value: str) -> str:
    """--link NAME[:ALIAS], checked here so a typo fails before anything is sent."""
    parts = value.split(":")
    if len(parts) > 2 or not all(p.strip("/") for p in parts):
        raise parse.FlagError("--link", value, "expected NAME or NAME:ALIAS")
    return value


def _mac(value: str) -> str:
    import re

    if not re.fullmatch(r"[0-9A-Fa-f]{2}([:-])[0-9A-Fa-f]{2}(\1[0-9A-Fa-f]{2}){4}", value):
        raise parse.FlagError("--mac-address", value, "not a MAC address (aa:bb:cc:dd:ee:ff)")
    return value


def _valid_name(name: str) -> bool:
    import re

    return bool(re.fullmatch(r"/?[a-zA-Z0-9][a-zA-Z0-9_.-]*", name))
