"""Docker's JSON shapes for a container: GET /containers/{id}/json and a /containers/json item."""
from __future__ import annotations

from typing import Any

from engine.containers.logs import parse_time
from engine.containers.model import ContainerConfig, ContainerState, anonymous_targets
from engine.containers.store import ZERO_TIME, ContainerRecord
from engine.containers.unsupported import DEFAULT_RUNTIME
from engine.humanize import human_duration

CONFIG_KEYS = ("Hostname", "Domainname", "User", "AttachStdin", "AttachStdout", "AttachStderr",
               "ExposedPorts", "Tty", "OpenStdin", "StdinOnce", "Env", "Cmd", "Healthcheck",
               "Image", "Volumes", "WorkingDir", "Entrypoint", "OnBuild", "Labels", "StopSignal",
               "StopTimeout")


def _since(ts: str, now: float) -> float:
    if not ts or ts == ZERO_TIME:
        return 0.0
    return max(0.0, now - parse_time(ts) / 1e9)


def status_text(rec: ContainerRecord, now: float) -> str:
    st = rec.state
    if st.status in (ContainerState.RUNNING, ContainerState.PAUSED):
        text = f"Up {human_duration(_since(st.started_at, now))}"
        if st.status is ContainerState.PAUSED:
            text += " (Paused)"
        elif st.health and st.health.get("Status"):
            text += " (health: starting)" if st.health["Status"] == "starting" \
                else f" ({st.health['Status']})"
        return text
    if st.status is ContainerState.RESTARTING:
        return f"Restarting ({st.exit_code}) {human_duration(_since(st.finished_at, now))} ago"
    if st.status is ContainerState.EXITED:
        return f"Exited ({st.exit_code}) {human_duration(_since(st.finished_at, now))} ago"
    if st.status is ContainerState.REMOVING:
        return "Removal In Progress"
    if st.status is ContainerState.DEAD:
        return "Dead"
    return "Created"


def config_json(cfg: ContainerConfig, hostname: str) -> dict:
    body = cfg.body
    out: dict[str, Any] = {k: body.get(k) for k in CONFIG_KEYS}
    out.update({
        "Hostname": hostname, "Domainname": cfg.domainname, "User": cfg.user,
        "AttachStdin": bool(body.get("AttachStdin")),
        "AttachStdout": bool(body.get("AttachStdout")),
        "AttachStderr": bool(body.get("AttachStderr")),
        "Tty": cfg.tty, "OpenStdin": cfg.open_stdin, "StdinOnce": cfg.stdin_once,
        "Env": list(cfg.env), "Cmd": list(cfg.cmd) if cfg.cmd is not None else None,
        "Entrypoint": list(cfg.entrypoint) if cfg.entrypoint is not None else None,
        "Image": cfg.image, "WorkingDir": cfg.working_dir, "Labels": dict(cfg.labels),
        "OnBuild": body.get("OnBuild"),
    })
    if not cfg.stop_signal:
        out.pop("StopSignal")
    if cfg.stop_timeout is None:
        out.pop("StopTimeout")
    if cfg.healthcheck is None and not body.get("Healthcheck"):
        out.pop("Healthcheck")
    return out


def host_config_json(cfg: ContainerConfig) -> dict:
    host = dict(cfg.body.get("HostConfig") or {})
    host.setdefault("Binds", None)
    host["NetworkMode"] = cfg.network_mode
    host["RestartPolicy"] = cfg.restart_policy.to_docker()
    host["AutoRemove"] = cfg.auto_remove
    host["LogConfig"] = {"Type": cfg.log_config.type,
                         "Config": (cfg.body.get("HostConfig") or {}).get("LogConfig", {})
                         .get("Config") or {}}
    host["Memory"] = cfg.memory or 0
    host["MemorySwap"] = cfg.memory_swap or 0
    host["NanoCpus"] = cfg.nano_cpus or 0
    host["CpuShares"] = cfg.cpu_shares or 0
    host["PidsLimit"] = cfg.pids_limit
    host["ReadonlyRootfs"] = cfg.readonly_rootfs
    host["Init"] = cfg.init if "Init" in host else None
    host.setdefault("PortBindings", {})
    host.setdefault("Privileged", False)
    host.setdefault("CapAdd", None)
    host.setdefault("CapDrop", None)
    # clients read it (the docker SDK's tests); an unnamed one is the default, as /info names it
    host["Runtime"] = host.get("Runtime") or DEFAULT_RUNTIME
    return host


def mounts_json(rec: ContainerRecord, volume_root: str) -> list[dict]:
    out = []
    for m in rec.config.mounts:
        if m.type == "bind":
            out.append({"Type": "bind", "Source": m.source, "Destination": m.target, "Mode": "",
                        "RW": not m.readonly, "Propagation": m.propagation or "rprivate"})
        elif m.type == "volume" and m.source:
            out.append(_volume_json(m.source, m.target, not m.readonly, volume_root))
        elif m.type == "tmpfs":
            out.append({"Type": "tmpfs", "Source": "", "Destination": m.target, "Mode": "",
                        "RW": not m.readonly, "Propagation": ""})
    ro = {m.target for m in rec.config.mounts if m.readonly}
    for name, target in zip(rec.anonymous_volumes, anonymous_targets(rec.config)):
        out.append(_volume_json(name, target, target not in ro, volume_root))
    return out


def _volume_json(name: str, target: str, rw: bool, volume_root: str) -> dict:
    return {"Type": "volume", "Name": name, "Source": f"{volume_root}/{name}/_data",
            "Destination": target, "Driver": "local", "Mode": "", "RW": rw, "Propagation": ""}


def ports_json(cfg: ContainerConfig, published: list[dict] | None) -> dict:
    ports: dict[str, Any] = {p: None for p in cfg.exposed_ports}
    for b in published or []:
        key = f"{b['PrivatePort']}/{b['Type']}"
        ports.setdefault(key, None)
        if b.get("PublicPort"):
            ports[key] = (ports[key] or []) + [{"HostIp": b.get("IP", ""),
                                                "HostPort": str(b["PublicPort"])}]
    return ports


def inspect_json(rec: ContainerRecord, *, volume_root: str, exec_ids: list[str],
                 networks: dict[str, dict], published: list[dict] | None,
                 lower_dirs: list[str] | None = None) -> dict:
    cfg, st = rec.config, rec.state
    hostname = cfg.hostname or rec.short_id
    first_net = next(iter(networks.values()), {})
    return {
        "Id": rec.id,
        "Created": rec.created,
        "Path": cfg.args[0] if cfg.args else "",
        "Args": list(cfg.args[1:]),
        "State": {
            "Status": st.status.value,
            "Running": st.status in (ContainerState.RUNNING, ContainerState.PAUSED),
            "Paused": st.status is ContainerState.PAUSED,
            "Restarting": st.status is ContainerState.RESTARTING,
            "OOMKilled": st.oom_killed,
            "Dead": st.status is ContainerState.DEAD,
            "Pid": st.pid,
            "ExitCode": st.exit_code,
            "Error": st.error,
            "StartedAt": st.started_at,
            "FinishedAt": st.finished_at,
            **({"Health": st.health} if st.health else {}),
        },
        "Image": rec.image_id,
        "ResolvConfPath": str(rec.dir / "resolv.conf"),
        "HostnamePath": str(rec.dir / "hostname"),
        "HostsPath": str(rec.dir / "hosts"),
        "LogPath": str(rec.log_path),
        "Name": "/" + rec.name,
        "RestartCount": st.restart_count,
        "Driver": "overlay2",
        "Platform": "linux",
        "MountLabel": "",
        "ProcessLabel": "",
        "AppArmorProfile": "",
        "ExecIDs": exec_ids or None,
        "HostConfig": host_config_json(cfg),
        "GraphDriver": {"Name": "overlay2", "Data": {
            "LowerDir": ":".join(lower_dirs or []),
            "UpperDir": str(rec.dir / "upper"), "WorkDir": str(rec.dir / "work"),
            "MergedDir": str(rec.dir / "merged")}},
        "Mounts": mounts_json(rec, volume_root),
        "Config": config_json(cfg, hostname),
        "NetworkSettings": {
            "Bridge": "", "SandboxID": rec.id if st.pid else "", "HairpinMode": False,
            "LinkLocalIPv6Address": "", "LinkLocalIPv6PrefixLen": 0,
            "Ports": ports_json(cfg, published),
            "SandboxKey": f"/proc/{st.pid}/ns/net" if st.pid else "",
            "SecondaryIPAddresses": None, "SecondaryIPv6Addresses": None,
            "EndpointID": first_net.get("EndpointID", ""), "Gateway": first_net.get("Gateway", ""),
            "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0,
            "IPAddress": first_net.get("IPAddress", ""),
            "IPPrefixLen": first_net.get("IPPrefixLen", 0), "IPv6Gateway": "",
            "MacAddress": first_net.get("MacAddress", ""),
            "Networks": networks,
        },
    }


def summary_json(rec: ContainerRecord, *, now: float, volume_root: str,
                 networks: dict[str, dict], published: list[dict] | None) -> dict:
    cfg = rec.config
    created = int(parse_time(rec.created) / 1e9)
    ports = [{"PrivatePort": b["PrivatePort"], "Type": b["Type"],
              **({"PublicPort": b["PublicPort"], "IP": b.get("IP", "0.0.0.0")}
                 if b.get("PublicPort") else {})} for b in published or []]
    return {
        "Id": rec.id,
        "Names": ["/" + rec.name],
        "Image": cfg.image,
        "ImageID": rec.image_id,
        "Command": " ".join(cfg.args),
        "Created": created,
        "Ports": ports,
        "Labels": dict(cfg.labels),
        "State": rec.state.status.value,
        "Status": status_text(rec, now),
        "HostConfig": {"NetworkMode": cfg.network_mode},
        "NetworkSettings": {"Networks": networks},
        "Mounts": mounts_json(rec, volume_root),
    }


def now_rfc3339() -> str:
    from engine.containers.logs import rfc3339_nanos
    import time

    return rfc3339_nanos(time.time_ns())


