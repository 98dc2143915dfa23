"""/_ping, /version, /info and the /pycompose/... extras. Handlers are plain functions in a
table (the pattern of routes_files)."""
from __future__ import annotations

import os
import platform
from typing import Awaitable, Callable

from engine.api.context import Engine
from engine.api.http import Request, Response, empty_response, json_response
from engine.api.router import Router
from engine.api.validate import adder
from engine.api.sysinfo import host_facts, info_extras, trio_task_count
from engine.containers.model import ContainerState
from engine.containers.unsupported import DEFAULT_RUNTIME, RUNTIMES
from engine.errors import EngineError

API_VERSION = "1.41"
MIN_API_VERSION = "1.24"
ENGINE_VERSION = "0.1.0"

Handler = Callable[[Engine, Request], Awaitable[Response]]


class NotInSwarm(EngineError):
    """Swarm is not offered; Docker answers 503 on a node that is in none."""
    status = 503


def _arch() -> str:
    machine = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)


def _mem_total() -> int:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


async def ping(engine: Engine, req: Request) -> Response:
    return Response(200, b"OK", "text/plain; charset=utf-8",
                    [("Cache-Control", "no-cache, no-store, must-revalidate"),
                     ("Pragma", "no-cache"), ("Builder-Version", "1"), ("OSType", "linux")])


async def version(engine: Engine, req: Request) -> Response:
    uname = os.uname()
    return json_response({
        "Platform": {"Name": "pycompose engine"},
        "Components": [{"Name": "Engine", "Version": ENGINE_VERSION, "Details": {
            "ApiVersion": API_VERSION, "MinAPIVersion": MIN_API_VERSION,
            "Os": "linux", "Arch": _arch(), "KernelVersion": uname.release}}],
        "Version": ENGINE_VERSION, "ApiVersion": API_VERSION,
        "MinAPIVersion": MIN_API_VERSION, "GitCommit": "", "GoVersion": "",
        "Os": "linux", "Arch": _arch(), "KernelVersion": uname.release, "BuildTime": "",
    })


def _container_counts(engine: Engine) -> dict[str, int]:
    recs = engine.manager.store.all()
    count = lambda *states: sum(1 for r in recs if r.state.status in states)  # noqa: E731
    return {"Containers": len(recs),
            "ContainersRunning": count(ContainerState.RUNNING, ContainerState.RESTARTING),
            "ContainersPaused": count(ContainerState.PAUSED),
            "ContainersStopped": count(ContainerState.EXITED, ContainerState.CREATED,
                                       ContainerState.DEAD)}


async def info(engine: Engine, req: Request) -> Response:
    facts = host_facts(engine.info_extra.get("cgroup_version", ""), str(engine.config.root))
    extras = info_extras(facts, tasks=trio_task_count(),
                         listeners=engine.manager.events.listeners(),
                         address_pool=engine.config.address_pool,
                         environ=dict(engine.config.proxies))
    uname = os.uname()
    return json_response({
        "ID": engine.info_extra.get("id", ""),
        **_container_counts(engine),
        "Images": len(engine.images.list()),
        "Driver": "overlay2",
        "DockerRootDir": str(engine.config.root),
        "LoggingDriver": "json-file",
        "CgroupDriver": "cgroupfs",
        "CgroupVersion": engine.info_extra.get("cgroup_version", ""),
        "KernelVersion": uname.release,
        "OperatingSystem": engine.info_extra.get("os", "Linux"),
        "OSType": "linux",
        "Architecture": uname.machine,
        "NCPU": os.cpu_count() or 1,
        "MemTotal": _mem_total(),
        "Name": uname.nodename,
        "ServerVersion": ENGINE_VERSION,
        "DefaultRuntime": DEFAULT_RUNTIME,
        "Runtimes": {name: {"path": "builtin"} for name in RUNTIMES if name},
        "Plugins": {"Volume": ["local"], "Network": ["bridge", "host", "none"],
                    "Log": ["json-file"]},
        "Swarm": {"LocalNodeState": "inactive"},
        "Labels": [],
        "SecurityOptions": ["name=seccomp,profile=builtin"],
        "Warnings": None,
        **extras,
    })


async def swarm_leave(engine: Engine, req: Request) -> Response:
    # the docker SDK's tests leave a swarm in every tearDown and ignore exactly this answer
    raise NotInSwarm("This node is not part of a swarm")


async def shutdown(engine: Engine, req: Request) -> Response:
    engine.request_shutdown()
    return empty_response(204)


ROUTES: tuple[tuple[str, str, Handler], ...] = (
    ("GET", "/_ping", ping),
    ("GET", "/version", version),
    ("GET", "/info", info),
    ("POST", "/pycompose/shutdown", shutdown),
    ("POST", "/swarm/leave", swarm_leave),
)


def register(router: Router, engine: Engine) -> None:
    add = adder(router)
    for method, template, handler in ROUTES:
        add(method, template, lambda req, h=handler: h(engine, req))
