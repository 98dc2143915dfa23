"""Images for services with `build:`: built by the engine (POST /build) from the service's
context, tagged with its `image:` or `<project>-<service>`.

Each image is built once however many services use it (webapp's `migrate` and `web` share
`build: ./web` and `image: webapp/web:latest`): building it twice in parallel did the work twice
and left the first result behind as a dangling image. Services whose image name is the same but
whose `build:` differs cannot both have their way under one tag. Compose v2 builds each of them
and the tag goes to whichever finishes last (so it varies from run to run); we build the image
once, from the first of those services in the project's order, and say so in a warning.

What the engine is asked for besides the context (all of it Docker's classic-builder query):
`extra_hosts` as `host:ip`; `network` naming one of the project's networks as that network's
engine name (`<project>_<key>`, or an external one's name), which the network is known by:
Compose v2 (2.40) sends the key as written, so with Docker such a build finds no network;
Docker's own modes and any other name go as written (a network no service joins is not the
project's: the loader drops it, as Compose does). `cache_from` as image references; of
BuildKit's `type=…` cache entries only `type=registry,ref=IMAGE` names something a classic
builder can use (the image), the others are left out with a warning.
"""
from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import trio

from compose.model import Build, Service
from compose.orchestrator import naming
from compose.orchestrator.build_output import BuildView, view_for


def image_of(project: str, service: Service) -> str | None:
    """The image a service runs: its `image:`, else the one built for it."""
    if service.image:
        return service.image
    if service.build is not None:
        return naming.built_image_name(project, service.name)
    return None


# what Docker's classic builder reads in `networkmode` itself rather than as a network's name
ENGINE_NETWORK_MODES = frozenset({"", "default", "bridge", "host", "none"})


def network_key(build: Build, keys: Collection[str]) -> str | None:
    """The key of the project network the build's RUN steps join, or None (an engine mode, a
    `container:` one, or a name the project does not declare)."""
    net = build.network or ""
    return net if net not in ENGINE_NETWORK_MODES and net in keys else None


def for_project(build: Build, network_names: Mapping[str, str]) -> Build:
    """The build as this project sends it: a `network:` that is a key of the project's networks
    becomes that network's engine name (`network_names`: key -> name). Pure."""
    key = network_key(build, network_names)
    return build if key is None else replace(build, network=network_names[key])


def cache_refs(entries: Iterable[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """`cache_from` entries -> (image references for the engine's `cachefrom`, entries left
    out): a plain reference as it is, `type=registry,ref=IMAGE` as IMAGE, other types out."""
    refs: list[str] = []
    left: list[str] = []
    for entry in entries:
        if "=" not in entry.split(",", 1)[0]:
            refs.append(entry)
            continue
        fields = dict(part.split("=", 1) for part in entry.split(",") if "=" in part)
        if fields.get("type") == "registry" and fields.get("ref"):
            refs.append(fields["ref"])
        else:
            left.append(entry)
    return tuple(refs), tuple(left)


def engine_extra_hosts(entries: Iterable[str]) -> list[str]:
    """The model's `host=ip` -> the engine's `host:ip` (an IPv6 address keeps its colons: the
    engine ends the host at the first one)."""
    return [f"{host}:{ip}" if sep else host
            for host, sep, ip in (entry.partition("=") for entry in entries)]


@dataclass(frozen=True)
class BuildJob:
    """One image to build: its tag, the `build:` it is built from, the services that run it
    (the first one's build is used; it names the build in the output)."""
    tag: str
    build: Build
    services: tuple[str, ...]

    @property
    def name(self) -> str:
        return self.services[0]


@dataclass(frozen=True)
class BuildPlan:
    jobs: tuple[BuildJob, ...]
    warnings: tuple[str, ...] = ()


def plan_builds(wanted: Iterable[tuple[str, str, Build]]) -> BuildPlan:
    """(service, tag, build) in project order -> one job per tag (pure). Two builds make the
    same image when their models are equal (contexts are absolute, the Dockerfile defaulted)."""
    by_tag: dict[str, list[tuple[str, Build]]] = {}
    for service, tag, build in wanted:
        by_tag.setdefault(tag, []).append((service, build))
    jobs, warnings = [], []
    for tag, users in by_tag.items():
        first, build = users[0]
        differ = [s for s, b in users[1:] if b != build]
        if differ:
            others = ", ".join(f'"{s}"' for s in differ)
            warnings.append(f'services "{first}" and {others} use image "{tag}" with different '
                            f'build settings; it is built once, from "{first}"\'s build')
        jobs.append(BuildJob(tag, build, tuple(s for s, _ in users)))
        left = cache_refs(build.cache_from)[1]
        if left:
            warnings.append(f'service "{first}": cache_from {", ".join(left)} left out: the '
                            'engine\'s builder takes images only (an image name, or '
                            'type=registry,ref=IMAGE)')
    return BuildPlan(tuple(jobs), tuple(warnings))


def run_build(client: Any, tag: str, build: Build, *, no_cache: bool = False,
              pull: bool = False, extra_args: Mapping[str, str] | None = None,
              on_text: Callable[[str], None] | None = None) -> str:
    """Blocking: build `tag` from the service's `build:`; every stream message goes to
    `on_text` as it comes; returns the last stream line. Errors are the engine's, raised as
    EngineError (after the output before them went to `on_text`)."""
    from engine.client.build import build as build_stream   # client-side helper made for this
    from engine.client.build import unwrap_stderr

    args = {k: str(v) for k, v in build.args.items() if v is not None}
    args.update(extra_args or {})
    inline = build.dockerfile_inline
    dockerfile = build.dockerfile
    temp = None
    try:
        if inline:
            temp = tempfile.NamedTemporaryFile("w", suffix=".Dockerfile", delete=False)
            temp.write(inline)
            temp.close()
            dockerfile = temp.name
        last = ""
        for message in build_stream(
                client, build.context or ".", dockerfile=dockerfile,
                tags=[tag, *build.tags], build_args=args or None,
                target=build.target, no_cache=no_cache or build.no_cache,
                pull=pull or build.pull, labels=dict(build.labels),
                extra_hosts=engine_extra_hosts(build.extra_hosts), network_mode=build.network,
                cache_from=list(cache_refs(build.cache_from)[0])):
            raw = message.get("stream")
            if not raw:
                continue
            if on_text is not None:
                on_text(str(raw))
            text = unwrap_stderr(str(raw))[0].strip()
            if text:
                last = text
        return last
    finally:
        if temp is not None:
            os.unlink(temp.name)


async def build_images(gw: Any, progress: Any, plan: BuildPlan, *, no_cache: bool = False,
                       pull: bool = False, args: Mapping[str, str] | None = None,
                       view: BuildView | None = None) -> list[BuildJob]:
    """Run the plan's builds in parallel, their output on `view` (default: the one the progress
    stream calls for); returns the jobs built. The first failure is raised once every build
    has ended (a build runs in a thread that cannot be interrupted), after the failed step's
    output was shown."""
    for warning in plan.warnings:
        progress.warn(warning)
    if not plan.jobs:
        return []
    view = view or view_for(progress, [job.name for job in plan.jobs])
    built: list[BuildJob] = []
    failed: list[BuildJob] = []

    async def one(job: BuildJob) -> None:
        view.begin(job.name, job.tag)
        ok = False
        try:
            await gw.blocking(lambda: run_build(gw.client(), job.tag, job.build,
                                                no_cache=no_cache, pull=pull, extra_args=args,
                                                on_text=lambda t: view.text(job.name, t)),
                              abandon=False)
            ok = True
            built.append(job)
        except Exception:
            failed.append(job)   # not a cancelled one: another build's failure ended it
            raise
        finally:
            view.end(job.name, ok)

    try:
        with view:
            async with trio.open_nursery() as nursery:
                for job in plan.jobs:
                    nursery.start_soon(one, job)
    finally:
        for job in built:
            progress.done("Image", job.tag, "Built")
        for job in failed:
            view.report_failure(job.name, job.tag)
    return built
