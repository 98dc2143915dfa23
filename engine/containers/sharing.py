"""Namespace sharing of a start (Docker's HostConfig.PidMode, IpcMode, UTSMode): the runtime's
modes, pure from the create body, and the running containers whose namespaces are joined.

Every mode but a container's own namespace is an explicit opt-in, as in Docker
(docs/security.md): `host` puts the container in the engine's namespace, `container:<ref>` in
the one of that container's PID 1, which the runtime reaches through its pidfd only.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from engine.errors import BadParameter, Conflict, NotFound

if TYPE_CHECKING:
    from engine.containers.running import RunningTable
    from engine.containers.store import ContainerRecord, ContainerStore
    from engine.runtime.runtime import Process

_CONTAINER = "container:"
# IpcMode values that are a namespace of the container's own; Docker's "shareable" differs
# from "private" only in that another container may join it
_OWN_IPC = ("", "private", "shareable")


@dataclass(frozen=True)
class Modes:
    """The runtime's modes (spec.py) and whom a "join" joins (a container reference)."""

    pid: str = "private"
    ipc: str = "private"
    uts: str = "private"
    pid_donor: str = ""
    ipc_donor: str = ""


def _host(body: dict) -> dict:
    host = body.get("HostConfig")
    return host if isinstance(host, dict) else {}


def _text(host: dict, key: str) -> str:
    value = host.get(key) or ""
    if not isinstance(value, str):
        raise BadParameter(f"HostConfig.{key}: invalid value {value!r}")
    return value


def _joined(value: str) -> str:
    """The container a `container:<ref>` mode names, "" for any other value."""
    return value[len(_CONTAINER):] if value.startswith(_CONTAINER) else ""


def check_modes(body: dict) -> Modes:
    """The modes a create body asks for, or Docker's 400 for one it does not know."""
    host = _host(body)
    pid, ipc, uts = _text(host, "PidMode"), _text(host, "IpcMode"), _text(host, "UTSMode")
    if pid and pid != "host" and not _joined(pid):
        raise BadParameter(f"HostConfig.PidMode: invalid PID mode {pid!r}")
    if ipc not in (*_OWN_IPC, "host", "none") and not _joined(ipc):
        raise BadParameter(f"HostConfig.IpcMode: invalid IPC mode {ipc!r}")
    if uts not in ("", "host"):
        raise BadParameter(f"HostConfig.UTSMode: invalid UTS mode {uts!r}")
    if uts == "host" and body.get("Hostname"):
        raise BadParameter("Config.Hostname: conflicting options: hostname and the UTS mode")
    if uts == "host" and body.get("Domainname"):
        raise BadParameter("Config.Domainname: conflicting options: domain name and the UTS "
                           "mode")

    def mode(value: str) -> str:
        return "join" if _joined(value) else value if value in ("host", "none") else "private"

    return Modes(pid=mode(pid), ipc=mode(ipc), uts=mode(uts), pid_donor=_joined(pid),
                 ipc_donor=_joined(ipc))


def _running(ref: str, store: ContainerStore, table: RunningTable, prefix: str
             ) -> tuple[ContainerRecord, Process]:
    try:
        rec = store.get(ref)
    except NotFound as exc:
        raise NotFound(f"{prefix}: {exc.message}") from None
    from engine.containers.model import ContainerState   # model imports this module's checks

    run = table.get(rec.id)
    # paused counts as running (Docker's IsRunning); restarting does not
    if run is None or run.exited.is_set() \
            or rec.state.status not in (ContainerState.RUNNING, ContainerState.PAUSED):
        raise Conflict(f"{prefix}: container {rec.id} is not running")
    return rec, run.process


def donors(modes: Modes, me: str, store: ContainerStore, table: RunningTable
           ) -> dict[str, Process]:
    """The running PID 1s whose namespaces the start of container `me` joins, by kind, with
    Docker's refusals: the donor must run, and an IPC donor must have said it shares
    (IpcMode shareable, or host, or itself joined to one)."""
    out: dict[str, Process] = {}
    if modes.pid == "join":
        rec, out["pid"] = _running(modes.pid_donor, store, table,
                                   f"cannot join PID of a non running container: "
                                   f"{modes.pid_donor}")
        if rec.id == me:
            raise BadParameter("HostConfig.PidMode: a container cannot join its own PID "
                               "namespace")
    if modes.ipc == "join":
        prefix = f"can't join IPC of container {modes.ipc_donor}"
        rec, out["ipc"] = _running(modes.ipc_donor, store, table, prefix)
        theirs = _host(rec.config.body).get("IpcMode") or ""
        if theirs not in ("shareable", "host") and not str(theirs).startswith(_CONTAINER):
            raise Conflict(f"{prefix}: non-shareable IPC (hint: use IpcMode:shareable for the "
                           "donor container)")
    return out
