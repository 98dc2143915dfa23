"""The container of a service's pod: image, command, environment, user, capabilities,
resources, probes. Volume mounts are added by compose/kube/volumes.py and files.py."""
from __future__ import annotations

import json
from typing import TYPE_CHECKING

from compose.kube.context import ConversionError, Context
from compose.kube.probes import probes
from compose.kube.unmapped import Unmapped
from compose.model import PullPolicy

if TYPE_CHECKING:
    from compose.model import Service

_PULL = {PullPolicy.ALWAYS: "Always", PullPolicy.NEVER: "Never",
         PullPolicy.MISSING: "IfNotPresent", PullPolicy.BUILD: "IfNotPresent"}


def escape_dollars(text: str) -> str:
    """Kubernetes expands `$(VAR)` in command, args and env values and turns `$$` into `$`;
    Compose passes them as they are (its own `$` was interpolated already), so every `$` is
    doubled to arrive as written."""
    return text.replace("$", "$$")


def image_of(ctx: Context, service: Service, notes: list[Unmapped]) -> str:
    pushed = ctx.options.images.get(service.name)
    if pushed:
        return pushed
    if service.build is not None:
        name = service.image or f"{ctx.project.name}-{service.name}"
        notes.append(Unmapped(service.name, "build", f"not built: the cluster pulls {name!r}; "
                              "push it where the cluster can pull it, or use --push REGISTRY"))
        return name
    if not service.image:
        raise ConversionError(f"service {service.name!r} has neither image nor build")
    return service.image


def container(ctx: Context, service: Service, notes: list[Unmapped]) -> dict:
    out: dict = {"name": ctx.services[service.name], "image": image_of(ctx, service, notes)}
    pull = _PULL.get(service.pull_policy)
    if pull is None:
        notes.append(Unmapped(service.name, "pull_policy",
                              f"{service.pull_policy.value}: no such pull policy; IfNotPresent"))
        pull = "IfNotPresent"
    if "pull_policy" in json.loads(service.canonical) or service.build is not None:
        out["imagePullPolicy"] = pull
    out.update(_command(service, notes))
    env = _environment(service, notes)
    if env:
        out["env"] = env
    if service.working_dir:
        out["workingDir"] = service.working_dir
    if service.tty:
        out["tty"] = True
    if service.stdin_open:
        out["stdin"] = True
    security = _security(service, notes)
    if security:
        out["securityContext"] = security
    resources = _resources(service, notes)
    if resources:
        out["resources"] = resources
    out.update(probes(service, notes))
    lifecycle = _hooks(service, notes)
    if service.stop_signal:
        lifecycle["stopSignal"] = _signal(service.name, service.stop_signal)
        notes.append(Unmapped(service.name, "stop_signal", "lifecycle.stopSignal: applied only "
                              "where the ContainerStopSignals feature is on (alpha in 1.33)"))
    if lifecycle:
        out["lifecycle"] = lifecycle
    return out


def _hooks(service: Service, notes: list[Unmapped]) -> dict:
    """post_start / pre_stop as the container's postStart / preStop exec handler: one hook
    each, run as the container runs (no user, privileges, directory or environment of its own)."""
    doc = json.loads(service.canonical)
    out: dict = {}
    for key, handler in (("post_start", "postStart"), ("pre_stop", "preStop")):
        hooks = doc.get(key) or []
        for i, hook in enumerate(hooks):
            extra = sorted(k for k in hook if k != "command")
            if i > 0 or extra or not hook.get("command"):
                why = (f"{', '.join(extra)}: a {handler} handler runs as the container does"
                       if extra else f"a container has one {handler} handler")
                notes.append(Unmapped(service.name, f"{key}[{i}]", why))
                continue
            command = hook["command"]
            command = [command] if isinstance(command, str) else list(command)
            out[handler] = {"exec": {"command": command}}
    return out


def _command(service: Service, notes: list[Unmapped]) -> dict:
    """entrypoint -> command, command -> args. An empty entrypoint (the image's cleared) runs
    the compose command as it is; without a command, what would run is the image's CMD, which
    Kubernetes cannot name without the image."""
    out: dict = {}
    command = [escape_dollars(a) for a in service.command] if service.command is not None else None
    if service.entrypoint is not None:
        if service.entrypoint:
            out["command"] = [escape_dollars(a) for a in service.entrypoint]
            if command:
                out["args"] = command
        elif command:
            out["command"] = command
        else:
            notes.append(Unmapped(service.name, "entrypoint", "an empty entrypoint without a "
                                  "command runs the image's CMD alone; give the command"))
    elif command is not None:
        out["args"] = command
    return out


def _environment(service: Service, notes: list[Unmapped]) -> list[dict]:
    env = []
    for name, value in service.environment.items():
        if value is None:
            notes.append(Unmapped(service.name, f"environment.{name}", "no value where the "
                                  "project was loaded; not set in the pod"))
            continue
        env.append({"name": name, "value": escape_dollars(str(value))})
    return env


def _id(text: str) -> int | None:
    text = text.strip()
    if text == "root":
        return 0
    return int(text) if text.isdigit() else None


def _security(service: Service, notes: list[Unmapped]) -> dict:
    out: dict = {}
    if service.user:
        user, _, group = service.user.partition(":")
        uid = _id(user)
        gid = _id(group) if group else None
        if uid is None or (group and gid is None):
            notes.append(Unmapped(service.name, "user", f"{service.user!r}: Kubernetes takes "
                                  "numeric ids only (runAsUser/runAsGroup)"))
        else:
            out["runAsUser"] = uid
            if gid is not None:
                out["runAsGroup"] = gid
    caps: dict = {}
    if service.cap_add:
        caps["add"] = [_cap(c) for c in service.cap_add]
    if service.cap_drop:
        caps["drop"] = [_cap(c) for c in service.cap_drop]
    if caps:
        out["capabilities"] = caps
    if service.privileged:
        out["privileged"] = True
    if service.read_only:
        out["readOnlyRootFilesystem"] = True
    for i, opt in enumerate(service.security_opt):
        key, _, value = opt.replace("=", ":", 1).partition(":")
        if key == "no-new-privileges" and value in ("", "true"):
            out["allowPrivilegeEscalation"] = False
        elif key == "seccomp" and value == "unconfined":
            out["seccompProfile"] = {"type": "Unconfined"}
        else:
            notes.append(Unmapped(service.name, f"security_opt[{i}]", f"{opt!r}: no faithful "
                                  "securityContext field"))
    return out


def _cap(name: str) -> str:
    name = name.upper()
    return name[4:] if name.startswith("CAP_") else name


def _signal(service: str, name: str) -> str:
    name = str(name).upper()
    if name.isdigit():
        raise ConversionError(f"service {service!r} stop_signal {name}: Kubernetes takes the "
                              "signal's name (SIGTERM...)")
    return name if name.startswith("SIG") else f"SIG{name}"


def cpu_quantity(cpus: float) -> str:
    milli = round(cpus * 1000)
    return str(milli // 1000) if milli % 1000 == 0 else f"{milli}m"


def memory_quantity(size: int) -> str:
    for unit, factor in (("Gi", 1 << 30), ("Mi", 1 << 20), ("Ki", 1 << 10)):
        if size % factor == 0:
            return f"{size // factor}{unit}"
    return str(size)


def _resources(service: Service, notes: list[Unmapped]) -> dict:
    deploy = service.deploy
    limits_cpu = deploy.limits.cpus if deploy and deploy.limits.cpus is not None else service.cpus
    limits_mem = deploy.limits.memory if deploy and deploy.limits.memory is not None \
        else service.mem_limit
    limits: dict = {}
    if limits_cpu:
        limits["cpu"] = cpu_quantity(float(limits_cpu))
    if limits_mem:
        limits["memory"] = memory_quantity(int(limits_mem))
    requests: dict = {}
    if deploy and deploy.reservations.cpus:
        requests["cpu"] = cpu_quantity(deploy.reservations.cpus)
    if deploy and deploy.reservations.memory:
        requests["memory"] = memory_quantity(deploy.reservations.memory)
    pids = (deploy.limits.pids if deploy else None) or service.pids_limit
    if pids:
        notes.append(Unmapped(service.name, "pids_limit", "a pod's PID limit is the kubelet's "
                              "podPidsLimit, not part of the pod spec"))
    if service.cpu_shares:
        notes.append(Unmapped(service.name, "cpu_shares", "relative CPU weight: use "
                              "deploy.resources.reservations.cpus (a CPU request) instead"))
    if service.memswap_limit:
        notes.append(Unmapped(service.name, "memswap_limit", "swap is a node setting"))
    for u in service.ulimits:
        notes.append(Unmapped(service.name, f"ulimits.{u.name}", "a pod spec sets no rlimits; "
                              "the container runtime's defaults apply"))
    _note_deploy_extras(service, notes)
    out: dict = {}
    if limits:
        out["limits"] = limits
    if requests:
        out["requests"] = requests
    return out


def _note_deploy_extras(service: Service, notes: list[Unmapped]) -> None:
    deploy = json.loads(service.canonical).get("deploy") or {}
    known = {"replicas", "resources", "restart_policy", "labels"}
    for key in deploy:
        if key not in known:
            notes.append(Unmapped(service.name, f"deploy.{key}", "a Swarm setting with no "
                                  "counterpart in the workload written"))
    for part, values in (deploy.get("resources") or {}).items():
        for key in values or {}:
            if key not in ("cpus", "memory", "pids"):
                notes.append(Unmapped(service.name, f"deploy.resources.{part}.{key}",
                                      "needs a device plugin and an extended resource"))
    policy = deploy.get("restart_policy") or {}
    for key in ("delay", "window"):
        if key in policy:
            notes.append(Unmapped(service.name, f"deploy.restart_policy.{key}", "the kubelet's "
                                  "restart back-off is fixed"))
