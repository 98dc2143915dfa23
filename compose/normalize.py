"""Canonical form of a merged, validated compose document, as `docker compose config` prints it.

Pure: plain data in, plain data out. Short syntaxes become long ones (ports, volumes,
depends_on, env_file, build, service networks, secrets/configs), mapping-like lists become
mappings, relative paths become absolute against the project directory, resources get their
engine names (`<project>_<key>`), implicit dependencies (links, volumes_from, `service:x`
namespaces) are added, and the cross-reference checks compose-go runs afterwards are made
here (undefined networks/volumes/secrets/configs, unknown dependencies, container_name with
scale > 1, network_mode with networks).
"""
from __future__ import annotations

import os
import posixpath
import re
import shlex
from typing import Any, Callable, Mapping

from compose.errors import NormalizeError
from compose.merge import dedupe, _port_key
from compose.shortsyntax import _long_port, parse_port, parse_volume
from compose.values import (OMITTED_WHEN_FALSE, blkio as _blkio, device as _device,
                            file_mode as _file_mode, gpus as _gpus, is_remote as _is_remote,
                            print_form)
from compose.values import (extra_hosts, format_duration, go_number, kv_mapping, ordered as _ordered,
                            parse_bytes, parse_duration, to_bool, to_int as _to_int)


TOP_ORDER = ("name", "services", "networks", "volumes", "secrets", "configs", "models")


# --- the normalizer ---------------------------------------------------------------------------

class Normalizer:
    def __init__(self, project_name: str, working_dir: str, environment: Mapping[str, str],
                 read_env_file: Callable[[str, str | None], dict] | None = None,
                 warn: Callable[[str], None] | None = None, interpolated: bool = True) -> None:
        # `config --no-interpolate`: values still holding `${...}` are printed as written
        self.interpolated = interpolated
        # `config --no-consistency / --no-path-resolution / --no-normalize`
        self.consistency = self.resolve_paths = self.normalize = True
        self.project = project_name
        self.working_dir = working_dir
        self.env = environment
        self.read_env_file = read_env_file
        self.warn = warn or (lambda message: None)

    # paths
    def abspath(self, path: str) -> str:
        if not self.resolve_paths:
            return path
        if path.startswith("~"):
            home = self.env.get("HOME") or os.path.expanduser("~")
            path = home + path[1:]
        return posixpath.normpath(posixpath.join(self.working_dir, path))

    def run(self, data: dict) -> dict:
        services_in = data.get("services") or {}
        out: dict = {"name": self.project}
        top = {kind: dict(data.get(kind) or {}) for kind in ("networks", "volumes", "secrets", "configs")}
        services = {}
        for name, svc in services_in.items():
            services[name] = self.service(name, dict(svc or {}), top)
        self._check_dependencies(services)
        out["services"] = dict(sorted(services.items()))
        used_default = any("default" in (s.get("networks") or {}) for s in services.values())
        if used_default and "default" not in top["networks"] and self.normalize:
            top["networks"]["default"] = None
        # Go maps print sorted: `docker compose config` lists every mapping by key
        out["networks"] = {k: self.network(k, v) for k, v in sorted(top["networks"].items())}
        out["volumes"] = {k: self.volume(k, v) for k, v in sorted(top["volumes"].items())}
        out["secrets"] = {k: self.file_object(k, v, "secrets") for k, v in sorted(top["secrets"].items())}
        out["configs"] = {k: self.file_object(k, v, "configs") for k, v in sorted(top["configs"].items())}
        if data.get("models"):
            out["models"] = dict(data["models"])
        for key, value in data.items():
            if key.startswith("x-"):
                out[key] = value
        return {k: v for k, v in out.items() if v or k in ("name", "services") or k.startswith("x-")}

    # top-level resources
    def _engine_name(self, key: str, value: dict) -> str:
        if value.get("name"):
            return str(value["name"])
        if value.get("external"):
            ext = value["external"]
            if isinstance(ext, dict) and ext.get("name"):
                return str(ext["name"])
            return key
        return f"{self.project}_{key}"

    @staticmethod
    def _check_external(kind: str, key: str, value: dict) -> None:
        """compose-go's consistency rules for external resources."""
        ext = value.get("external")
        if isinstance(ext, dict) and ext.get("name") and value.get("name") \
                and str(ext["name"]) != str(value["name"]):
            raise NormalizeError("name and external.name conflict; only use name", f"{kind}.{key}")
        if kind == "volumes" and ext and to_bool(ext if not isinstance(ext, dict) else True):
            for attr in ("driver", "driver_opts", "labels"):
                if value.get(attr):
                    raise NormalizeError(f'conflicting parameters "external" and "{attr}" specified',
                                         f"{kind}.{key}")

    def _external(self, value: dict) -> dict:
        if "external" in value:
            value["external"] = bool(value["external"]) if not isinstance(value["external"], dict) else True
            if not value["external"]:
                del value["external"]
        return value

    def network(self, key: str, value: Any) -> dict:
        value = dict(value or {})
        self._check_external("networks", key, value)
        if self.normalize:
            value["name"] = self._engine_name(key, value)
        self._external(value)
        for flag in ("internal", "attachable", "enable_ipv4", "enable_ipv6"):
            if flag in value:
                value[flag] = to_bool(value[flag])
        if "labels" in value:
            value["labels"] = kv_mapping(value["labels"], None)
        return _ordered(value, ("name", "driver", "driver_opts", "ipam", "external", "internal",
                                "attachable", "enable_ipv4", "enable_ipv6", "labels"))

    def volume(self, key: str, value: Any) -> dict:
        value = dict(value or {})
        self._check_external("volumes", key, value)
        if self.normalize:
            value["name"] = self._engine_name(key, value)
        self._external(value)
        if "labels" in value:
            value["labels"] = kv_mapping(value["labels"], None)
        opts = value.get("driver_opts")
        if isinstance(opts, dict) and "bind" in str(opts.get("o", "")) and opts.get("device"):
            value["driver_opts"] = {**opts, "device": self.abspath(str(opts["device"]))}
        return _ordered(value, ("name", "driver", "driver_opts", "external", "labels"))

    def file_object(self, key: str, value: Any, kind: str) -> dict:
        value = dict(value or {})
        if self.normalize:
            value["name"] = self._engine_name(key, value)
        self._external(value)
        if value.get("file"):
            value["file"] = self.abspath(str(value["file"]))
        if "labels" in value:
            value["labels"] = kv_mapping(value["labels"], None)
        return _ordered(value, ("name", "file", "environment", "content", "external", "labels"))

    # services
    def service(self, name: str, svc: dict, top: dict) -> dict:
        """One service in compose-go's canonical form (`svc` is this pass's own copy)."""
        key = f"services.{name}"
        svc.pop("extends", None)
        if "build" in svc:
            svc["build"] = self.build(svc["build"], key + ".build")
        self._process(svc, key)
        self._host_devices(svc, key)
        self._ports_and_mounts(svc, key, top)
        self._scalars(svc, key)
        self._references(name, svc, key, top)
        return print_form(svc)

    def _process(self, svc: dict, key: str) -> None:
        """What the container's process gets: command, entrypoint, environment, labels, hosts."""
        for k in ("command", "entrypoint"):
            if isinstance(svc.get(k), str):
                svc[k] = shlex.split(svc[k])
        env: dict = {}
        if "env_file" in svc:
            svc["env_file"] = self.env_files(svc["env_file"])
            for entry in svc["env_file"]:
                env.update(self._read_env_file(entry, key + ".env_file"))
        if "environment" in svc:
            env.update(kv_mapping(svc["environment"], self.env.get))
            for name_ in env:
                if name_ != name_.rstrip():
                    raise NormalizeError(f"environment variable {name_.rstrip()} is declared with a "
                                         "trailing space", key + ".environment")
        if "env_file" in svc or "environment" in svc:
            svc["environment"] = env
        if "env_file" in svc and self.read_env_file is not None:
            del svc["env_file"]   # its values are in `environment` now, as Compose v2 prints it
        for k in ("labels", "annotations", "sysctls"):
            if k in svc:
                svc[k] = kv_mapping(svc[k], None, missing="")
        if "label_file" in svc:
            svc["labels"] = {**self._label_files(svc.pop("label_file"), key + ".label_file"),
                             **(svc.get("labels") or {})}
        if "extra_hosts" in svc:
            try:
                svc["extra_hosts"] = extra_hosts(svc["extra_hosts"])
            except ValueError as e:
                raise NormalizeError(str(e), key + ".extra_hosts") from None
        if isinstance(svc.get("develop"), dict) and isinstance(svc["develop"].get("watch"), list):
            svc["develop"] = {**svc["develop"], "watch": [
                {**rule, "path": self.abspath(str(rule["path"]))} if isinstance(rule, dict)
                and rule.get("path") else rule for rule in svc["develop"]["watch"]]}

    def _host_devices(self, svc: dict, key: str) -> None:
        """Devices, GPUs, logging, block I/O and lifecycle hooks."""
        if "devices" in svc:
            svc["devices"] = [_device(d, f"{key}.devices[{i}]") for i, d in enumerate(svc["devices"])]
        if "gpus" in svc:
            svc["gpus"] = _gpus(svc["gpus"])
        if isinstance(svc.get("logging"), dict) and not svc["logging"].get("options"):
            svc["logging"] = {k: v for k, v in svc["logging"].items() if k != "options"}
        if isinstance(svc.get("blkio_config"), dict):
            svc["blkio_config"] = _blkio(svc["blkio_config"], key + ".blkio_config")
        for hook in ("post_start", "pre_stop"):
            if isinstance(svc.get(hook), list):
                svc[hook] = [self._hook(h) for h in svc[hook]]

    def _ports_and_mounts(self, svc: dict, key: str, top: dict) -> None:
        """Ports and volumes in their long forms; tmpfs, dns, healthcheck, the stop grace."""
        if "ports" in svc:
            ports: list = []
            for i, p in enumerate(svc["ports"]):
                pk = f"{key}.ports[{i}]"
                if self._verbatim(p):
                    ports.append(p)
                    continue
                ports += [_long_port(p, pk)] if isinstance(p, dict) else parse_port(p, pk)
            svc["ports"] = dedupe(ports, _port_key)
        if "expose" in svc:
            svc["expose"] = [str(e) for e in svc["expose"]]
        if "volumes" in svc:
            svc["volumes"] = self.service_volumes(svc["volumes"], key, top["volumes"])
        if "tmpfs" in svc and isinstance(svc["tmpfs"], str):
            svc["tmpfs"] = [svc["tmpfs"]]
        for k in ("dns", "dns_search"):
            if isinstance(svc.get(k), str):
                svc[k] = [svc[k]]
        if "healthcheck" in svc:
            svc["healthcheck"] = self.healthcheck(svc["healthcheck"], key + ".healthcheck")
        if "stop_grace_period" in svc:
            svc["stop_grace_period"] = self._duration(svc["stop_grace_period"], key + ".stop_grace_period")

    def _scalars(self, svc: dict, key: str) -> None:
        """Byte sizes, booleans and numbers as compose-go prints them."""
        for k in ("mem_limit", "mem_reservation", "memswap_limit", "shm_size"):
            if k in svc and svc[k] is not None and not self._verbatim(svc[k]):
                try:
                    svc[k] = str(parse_bytes(svc[k])) if k != "memswap_limit" or str(svc[k]) != "-1" else "-1"
                except ValueError as e:
                    raise NormalizeError(str(e), f"{key}.{k}") from None
        for k in ("init", "privileged", "read_only", "tty", "stdin_open", "oom_kill_disable", "attach"):
            if k in svc:
                svc[k] = to_bool(svc[k])
                if not svc[k] and k in OMITTED_WHEN_FALSE:
                    del svc[k]
        for k in ("cpu_shares", "pids_limit", "cpu_quota", "cpu_period", "oom_score_adj", "mem_swappiness"):
            if k in svc:
                svc[k] = _to_int(svc[k], f"{key}.{k}")
        if "mem_swappiness" in svc:
            svc["mem_swappiness"] = str(svc["mem_swappiness"])   # a UnitBytes in compose-go
        if "group_add" in svc:
            svc["group_add"] = [str(g) for g in svc["group_add"]]
        if "cpus" in svc:
            svc["cpus"] = go_number(float(svc["cpus"]))
        if svc.get("pull_policy") == "if_not_present":
            svc["pull_policy"] = "missing"

    def _references(self, name: str, svc: dict, key: str, top: dict) -> None:
        """What the service refers to (secrets, configs, networks, other services) and the
        checks across attributes compose-go makes (image or build, platform, deploy limits)."""
        for k in ("secrets", "configs"):
            if k in svc:
                svc[k] = self.service_files(svc[k], f"{key}.{k}", top[k], k)
        self._networks(name, svc, key, top["networks"])
        svc["depends_on"] = self.depends_on(name, svc, key)
        if not svc["depends_on"]:
            del svc["depends_on"]
        self._scale(name, svc, key)
        if not svc.get("image") and not svc.get("build") and not svc.get("provider") \
                and self.consistency:
            raise NormalizeError(f"service {name!r} has neither an image nor a build context "
                                 "specified", key)
        platforms = (svc.get("build") or {}).get("platforms") if isinstance(svc.get("build"), dict) else None
        if svc.get("platform") and platforms and svc["platform"] not in platforms:
            raise NormalizeError(f"service.build.platforms MUST include service.platform "
                                 f"{svc['platform']!r}", key + ".platform")
        if isinstance(svc.get("deploy"), dict):
            svc["deploy"] = self.deploy(svc["deploy"], key + ".deploy")
            limits = ((svc["deploy"].get("resources") or {}).get("limits") or {})
            for short, long in (("mem_limit", "memory"), ("cpus", "cpus"), ("pids_limit", "pids")):
                if svc.get(short) is not None and limits.get(long) is not None and svc[short] != limits[long]:
                    raise NormalizeError(f"can't set distinct values on '{short}' and "
                                         f"'deploy.resources.limits.{long}'", f"{key}.{short}")

    def deploy(self, deploy: dict, key: str) -> dict:
        deploy = dict(deploy)
        resources = deploy.get("resources")
        if isinstance(resources, dict):
            resources = dict(resources)
            for kind in ("limits", "reservations"):
                spec = resources.get(kind)
                if not isinstance(spec, dict):
                    continue
                spec = dict(spec)
                try:
                    if spec.get("memory") is not None:
                        spec["memory"] = str(parse_bytes(spec["memory"]))
                    if spec.get("cpus") is not None:
                        spec["cpus"] = go_number(float(spec["cpus"]))
                except ValueError as e:
                    raise NormalizeError(str(e), f"{key}.resources.{kind}") from None
                if spec.get("pids") is not None:
                    spec["pids"] = _to_int(spec["pids"], f"{key}.resources.{kind}.pids")
                for i, device in enumerate(spec.get("devices") or []):
                    if isinstance(device, dict) and "count" in device and "device_ids" in device:
                        raise NormalizeError('"count" and "device_ids" attributes are exclusive',
                                             f"{key}.resources.{kind}.devices[{i}]")
                if spec.get("devices"):
                    spec["devices"] = _gpus(spec["devices"])   # the same count rules as gpus
                resources[kind] = spec
            deploy["resources"] = resources
        if "labels" in deploy:
            deploy["labels"] = kv_mapping(deploy["labels"], None)
        for section in ("update_config", "rollback_config"):
            config = deploy.get(section)
            if isinstance(config, dict):
                config = dict(config)
                for k in ("delay", "monitor"):
                    if k in config:
                        config[k] = self._duration(config[k], f"{key}.{section}.{k}")
                deploy[section] = config
        policy = deploy.get("restart_policy")
        if isinstance(policy, dict):
            policy = dict(policy)
            for k in ("delay", "window"):
                if k in policy:
                    policy[k] = self._duration(policy[k], f"{key}.restart_policy.{k}")
            if "max_attempts" in policy:
                policy["max_attempts"] = _to_int(policy["max_attempts"], f"{key}.restart_policy.max_attempts")
            deploy["restart_policy"] = policy
        return deploy

    def _verbatim(self, value: Any) -> bool:
        return not self.interpolated and isinstance(value, str) and "$" in value

    def _duration(self, value: Any, key: str) -> str:
        if self._verbatim(value):
            return value
        try:
            return format_duration(parse_duration(value))
        except ValueError as e:
            raise NormalizeError(str(e), key) from None

    def build(self, build: Any, key: str) -> dict:
        if isinstance(build, str):
            build = {"context": build}
        build = dict(build)
        context = str(build.get("context") or ".")
        if not re.match(r"^([a-z]+://|git@|github\.com/)", context):
            context = self.abspath(context)
        build["context"] = context
        if "dockerfile_inline" not in build:
            if self.normalize:
                build.setdefault("dockerfile", "Dockerfile")
        if "args" in build:
            args = kv_mapping(build["args"], self.env.get)
            build["args"] = {k: v for k, v in args.items() if v is not None}
        if "labels" in build:
            build["labels"] = kv_mapping(build["labels"], None)
        if "additional_contexts" in build:
            contexts = kv_mapping(build["additional_contexts"], None)
            # a local directory is made absolute; docker-image://, URLs and git refs are not paths
            build["additional_contexts"] = {
                k: v if v is None or _is_remote(v) else self.abspath(v) for k, v in contexts.items()}
        if "ssh" in build:
            build["ssh"] = [self._ssh(entry) for entry in
                            (build["ssh"] if isinstance(build["ssh"], list)
                             else [f"{k}={v}" if v else k for k, v in build["ssh"].items()])]
        if "extra_hosts" in build:
            try:
                build["extra_hosts"] = extra_hosts(build["extra_hosts"])
            except ValueError as e:
                raise NormalizeError(str(e), key + ".extra_hosts") from None
        if build.get("shm_size") is not None:
            try:
                build["shm_size"] = str(parse_bytes(build["shm_size"]))
            except ValueError as e:
                raise NormalizeError(str(e), key + ".shm_size") from None
        if "secrets" in build:
            build["secrets"] = [{"source": s} if isinstance(s, str) else dict(s)
                                for s in build["secrets"]]
        return _ordered(build, ("context", "dockerfile", "dockerfile_inline", "args", "ssh", "labels",
                                "cache_from", "cache_to", "no_cache", "additional_contexts", "network",
                                "pull", "target", "shm_size", "extra_hosts", "isolation", "privileged",
                                "secrets", "tags", "ulimits", "platforms"))

    def _ssh(self, entry: Any) -> str:
        """build.ssh: `default`, or `id=path` with the path made absolute (we print `id=path`, the
        form the file takes; Compose v2 prints `id: path`, which does not read back)."""
        name, sep, path = str(entry).partition("=")
        return f"{name}={self.abspath(path)}" if sep and path else str(entry)

    def _label_files(self, value: Any, key: str) -> dict:
        """label_file: dotenv-format files of labels, in order (later ones win)."""
        labels: dict = {}
        for path in value if isinstance(value, list) else [value]:
            path = self.abspath(str(path))
            if not os.path.isfile(path):
                raise NormalizeError(f"label file {path} not found", key)
            if self.read_env_file is not None:
                labels.update(self.read_env_file(path, None))
        return labels

    def _hook(self, hook: Any) -> dict:
        """post_start / pre_stop: a command string is split, an environment list is a mapping."""
        hook = dict(hook)
        if isinstance(hook.get("command"), str):
            hook["command"] = shlex.split(hook["command"])
        if "environment" in hook:
            hook["environment"] = kv_mapping(hook["environment"], self.env.get)
        return hook

    def env_files(self, value: Any) -> list[dict]:
        items = value if isinstance(value, list) else [value]
        out = []
        for item in items:
            entry = {"path": item, "required": True} if isinstance(item, str) else dict(item)
            entry["path"] = self.abspath(str(entry["path"]))
            entry["required"] = to_bool(entry.get("required", True))
            out.append(entry)
        return dedupe(out, lambda e: e["path"])

    def _read_env_file(self, entry: dict, key: str) -> dict:
        path = entry["path"]
        if not os.path.isfile(path):
            if entry["required"]:
                raise NormalizeError(f"env file {path} not found", key)
            return {}
        if self.read_env_file is None:
            return {}
        return self.read_env_file(path, entry.get("format"))

    def service_volumes(self, volumes: list, key: str, top_volumes: dict) -> list[dict]:
        out = []
        for i, item in enumerate(volumes):
            vk = f"{key}.volumes[{i}]"
            if self._verbatim(item):
                out.append(item)
                continue
            entry = parse_volume(str(item), vk) if not isinstance(item, dict) else dict(item)
            if entry.get("type") == "bind" and not entry.get("source"):
                raise NormalizeError('invalid mount config for type "bind": field Source must not '
                                     'be empty', vk)
            if entry.get("type") == "bind":
                entry["source"] = self.abspath(str(entry["source"]))
            if "read_only" in entry:
                entry["read_only"] = to_bool(entry["read_only"])
                if not entry["read_only"]:
                    del entry["read_only"]
            if entry.get("type") == "volume" and entry.get("source"):
                if entry["source"] not in top_volumes and self.consistency:
                    raise NormalizeError(f"service {key.split('.')[1]!r} refers to undefined volume "
                                         f"{entry['source']!r}", vk)
            if "target" in entry:
                entry["target"] = posixpath.normpath(str(entry["target"]))
            elif entry.get("type") != "npipe":
                raise NormalizeError("volume target is required", vk)
            tmpfs = entry.get("tmpfs")
            if isinstance(tmpfs, dict):
                tmpfs = dict(tmpfs)
                if tmpfs.get("size") is not None:
                    try:
                        tmpfs["size"] = str(parse_bytes(tmpfs["size"]))
                    except ValueError as e:
                        raise NormalizeError(str(e), vk + ".tmpfs.size") from None
                if tmpfs.get("mode") is not None:
                    tmpfs["mode"] = _file_mode(tmpfs["mode"], vk + ".tmpfs.mode")
                entry["tmpfs"] = tmpfs
            out.append(_ordered(entry, ("type", "source", "target", "read_only", "consistency",
                                        "bind", "volume", "tmpfs", "image")))
        return dedupe(out, lambda e: e.get("target", "") if isinstance(e, dict) else e)

    def healthcheck(self, hc: dict, key: str) -> dict:
        hc = dict(hc)
        test = hc.get("test")
        if isinstance(test, str):
            hc["test"] = ["CMD-SHELL", test]
        for k in ("interval", "timeout", "start_period", "start_interval"):
            if k in hc:
                hc[k] = self._duration(hc[k], f"{key}.{k}")
        if "retries" in hc:
            hc["retries"] = _to_int(hc["retries"], key + ".retries")
        if "disable" in hc:
            hc["disable"] = to_bool(hc["disable"])
            if not hc["disable"]:
                del hc["disable"]   # omitempty
        return _ordered(hc, ("test", "timeout", "interval", "retries", "start_period", "start_interval", "disable"))

    def service_files(self, items: list, key: str, defined: dict, kind: str) -> list[dict]:
        out = []
        for i, item in enumerate(items):
            entry = {"source": item} if isinstance(item, str) else dict(item)
            if entry.get("mode") is not None:
                # printed as compose-go's FileMode prints: an octal string ("0440")
                entry["mode"] = f"0{_file_mode(entry['mode'], f'{key}[{i}].mode'):o}"
            if kind == "secrets" and not entry.get("target"):
                entry["target"] = f"/run/secrets/{entry['source']}"
            if entry["source"] not in defined and self.consistency:
                noun = "secret" if kind == "secrets" else "config"
                raise NormalizeError(f"service {key.split('.')[1]!r} refers to undefined {noun} "
                                     f"{entry['source']!r}", f"{key}[{i}]")
            out.append(entry)
        return out

    def _networks(self, name: str, svc: dict, key: str, defined: dict) -> None:
        nets = svc.get("networks")
        if nets is not None and svc.get("network_mode"):
            raise NormalizeError("'network_mode' and 'networks' cannot be combined", key + ".network_mode")
        if nets is None:
            if not svc.get("network_mode") and not svc.get("provider") and self.normalize:
                svc["networks"] = {"default": None}
            return
        if isinstance(nets, list):
            nets = {n: None for n in nets}
        for net, cfg in nets.items():
            if net not in defined and net != "default" and self.consistency:
                raise NormalizeError(f"service {name!r} refers to undefined network {net!r}",
                                     f"{key}.networks.{net}")
            if isinstance(cfg, dict):
                cfg = dict(cfg)
                if "priority" in cfg:
                    cfg["priority"] = int(cfg["priority"])
                nets[net] = cfg
        svc["networks"] = nets

    def depends_on(self, name: str, svc: dict, key: str) -> dict:
        deps: dict = {}
        raw = svc.get("depends_on") or {}
        if isinstance(raw, list):
            raw = {d: {} for d in raw}
        for dep, cfg in raw.items():
            cfg = dict(cfg or {})
            entry = {"condition": cfg.get("condition", "service_started")}
            if to_bool(cfg.get("restart", False)):
                entry["restart"] = True
            entry["required"] = to_bool(cfg.get("required", True))
            deps[dep] = entry

        def implied(dep: str, restart: bool) -> None:
            deps.setdefault(dep, {"condition": "service_started", **({"restart": True} if restart else {}),
                                  "required": True})

        for link in svc.get("links") or []:
            implied(str(link).split(":", 1)[0], True)
        for mode_key in ("network_mode", "ipc", "pid", "uts", "cgroup"):
            value = str(svc.get(mode_key) or "")
            if value.startswith("service:"):
                implied(value[len("service:"):], True)
        for source in svc.get("volumes_from") or []:
            if not str(source).startswith("container:"):
                implied(str(source).split(":", 1)[0], False)
        return deps

    def _check_dependencies(self, services: dict) -> None:
        owners: dict[str, str] = {}
        for name, svc in services.items():
            deps = svc.get("depends_on") or {}
            for dep, cfg in list(deps.items()):
                if dep not in services and self.consistency:   # even when optional, as Compose v2
                    raise NormalizeError(f"service {name!r} depends on undefined service {dep!r}",
                                         f"services.{name}.depends_on.{dep}")
            if "depends_on" in svc and not deps:
                del svc["depends_on"]
            container_name = svc.get("container_name")
            if container_name:
                if container_name in owners:
                    raise NormalizeError(f"container name {container_name!r} is already in use by "
                                         f"service {owners[container_name]!r}",
                                         f"services.{name}.container_name")
                owners[container_name] = name

    def _scale(self, name: str, svc: dict, key: str) -> None:
        deploy = svc.get("deploy") or {}
        replicas = deploy.get("replicas") if isinstance(deploy, dict) else None
        if "scale" in svc:
            svc["scale"] = _to_int(svc["scale"], key + ".scale")
        if replicas is not None:
            replicas = _to_int(replicas, key + ".deploy.replicas")
            deploy["replicas"] = replicas
            if "scale" in svc and svc["scale"] != replicas:
                raise NormalizeError(f"services.{name}: can't set distinct values on 'scale' and "
                                     f"'deploy.replicas'", key + ".scale")
        scale = svc.get("scale", replicas if replicas is not None else 1)
        if svc.get("container_name") and scale > 1:
            raise NormalizeError(f"can't set container_name and scale > 1 ({scale}): container name "
                                 f"{svc['container_name']!r} must be unique", key + ".container_name")
