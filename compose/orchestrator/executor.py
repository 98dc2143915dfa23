"""The trio executor: acts on a convergence plan through the engine API.

Every service gets one task in one nursery; a task waits for the tasks of its dependencies, then
for their `depends_on` conditions, then converges its replicas. So independent branches of the
graph never wait for each other, and a failed dependency skips only its dependents (they record
an `UpstreamError`) while the rest of the project starts. Stopping goes the other way, one stop
generation at a time, each generation in parallel (lifecycle.py). Who waits for whom, with which
condition, and who restarts with whom: the project's one dependency graph (compose/graph.py).
"""
from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace

import trio

from compose.graph import COMPLETED, Edge
from compose.model import Volume
from compose.orchestrator import early_calls, naming, networks
from compose.orchestrator import labels as L
from compose.orchestrator.builds import (build_images, for_project, image_of, network_key,
                                         plan_builds)
from compose.orchestrator.create_body import CreateContext, create_body
from compose.orchestrator.early_calls import NetworkHeadStart, RemovalHeadStart
from compose.orchestrator.engine_events import ContainerChanges
from compose.orchestrator.errors import DependencyError, OrchestratorError, UpstreamError
from compose.orchestrator.file_objects import DEFAULT_BASE, write_file_object
from compose.orchestrator.gateway import Gateway
from compose.orchestrator.lifecycle import ExistingContainers
from compose.orchestrator.plan import (Action, DesiredService, Observed, PlanOptions,
                                       Plan, RecreatePolicy, Step, orphan_warning,
                                       plan_project)
from compose.orchestrator.progress import Progress
from compose.orchestrator.project_view import ProjectSpec, ServiceSpec
from compose.orchestrator.readiness import Readiness
from compose.orchestrator.waiting import check_condition, check_ready, poll
from engine.errors import EngineError, NotFound, PycomposeError


@dataclass(frozen=True)
class UpOptions:
    services: tuple[str, ...] = ()          # targets; empty = every enabled service
    no_deps: bool = False
    policy: RecreatePolicy = RecreatePolicy.DIVERGED
    start: bool = True
    remove_orphans: bool = False
    scale: Mapping[str, int] = field(default_factory=dict)
    timeout: int | None = None
    build: bool | None = None               # --build / --no-build
    wait: bool = False
    wait_timeout: float | None = None
    ignore_orphans: bool = False            # COMPOSE_IGNORE_ORPHANS
    pull: str | None = None                 # --pull always|missing|never (None: per service)


@dataclass
class Started:
    service: str
    name: str
    id: str
    since: float | None = None   # restarted container: attach to output after this time only


@dataclass
class UpResult:
    containers: list[Started] = field(default_factory=list)
    failures: dict[str, PycomposeError] = field(default_factory=dict)


_is_unsupported = networks.unsupported


class Orchestrator(ExistingContainers):
    def __init__(self, project: ProjectSpec, gateway: Gateway,
                 progress: Progress | None = None,
                 headstart: NetworkHeadStart | None = None,
                 removal: RemovalHeadStart | None = None, *,
                 files_dir: str = DEFAULT_BASE) -> None:
        self.project = project
        self.files_dir = files_dir
        self.headstart = headstart
        self.removal = removal
        self.gw = gateway
        self.progress = progress or Progress()
        self.networks_ok = True
        self._ids: dict[str, str] = {}          # service -> id of a replica (service: refs)
        self._image_ids: dict[str, str] = {}    # service -> id of its image, as resolved now
        self._present: dict[str, str] = {}      # tag -> image id, found by build()'s check
        self._changes: ContainerChanges | None = None   # up's event wake-ups (engine_events.py)
        self._warned_networks = False
        self._networks_ensured: set[str] = set()   # keys ensure_networks did in this run

    # -- networks and volumes --------------------------------------------------------------

    def _no_networks(self, err: Exception) -> None:
        self.networks_ok = False
        if not self._warned_networks:
            self._warned_networks = True
            self.progress.warn(f"the engine has no network support yet ({err}); containers "
                               "start without the project's networks")

    async def ensure_networks(self, keys: Iterable[str]) -> None:
        for key in dict.fromkeys(keys):
            res = self.project.networks.get(key)
            if res is None:
                raise OrchestratorError(f"service refers to undefined network {key}")
            if key in self._networks_ensured:    # a build needed it first: done, reported
                continue
            self._networks_ensured.add(key)
            early = await self._early_network(key)
            if isinstance(early, BaseException):
                if isinstance(early, EngineError) and _is_unsupported(early):
                    self._no_networks(early)
                    return
                raise early
            if early is not None:
                if early == early_calls.CREATED:
                    self.progress.done("Network", res.name, "Created")
                continue
            try:
                await self.gw.call("inspect_network", res.name)
                continue
            except NotFound as e:
                if res.external:
                    raise OrchestratorError(f"network {res.name} declared as external, but "
                                            "could not be found") from None
                missing = e
            except EngineError as e:
                if _is_unsupported(e):
                    self._no_networks(e)
                    return
                raise
            try:
                await self.gw.call("create_network", networks.create_body(self.project, res))
            except EngineError as e:
                if _is_unsupported(e) and isinstance(missing, NotFound):
                    self._no_networks(e)
                    return
                raise
            self.progress.done("Network", res.name, "Created")

    async def _early_network(self, key: str) -> str | BaseException | None:
        """What the CLI's head start did for this network (None: nothing, do it here)."""
        if self.headstart is None:
            return None
        return await self.gw.blocking(lambda: self.headstart.outcome(key))

    async def ensure_volumes(self, keys: Iterable[str]) -> None:
        for key in dict.fromkeys(keys):
            res = self.project.volumes.get(key)
            if res is None:
                raise OrchestratorError(f"service refers to undefined volume {key}")
            try:
                await self.gw.call("inspect_volume", res.name)
                continue
            except NotFound:
                if res.external:
                    raise OrchestratorError(f"external volume {res.name!r} not found") from None
            vol = res.model if isinstance(res.model, Volume) else Volume(key, res.name)
            await self.gw.call("create_volume", res.name,
                               L.resource_labels(L.VOLUME, key, self.project.name,
                                                 user_labels=vol.labels),
                               vol.driver or "local", dict(vol.driver_opts))
            self.progress.done("Volume", res.name, "Created")

    # -- containers ------------------------------------------------------------------------

    def _base_labels(self) -> dict[str, str]:
        return L.project_labels(self.project.name, self.project.working_dir,
                                self.project.config_files, self.project.env_files)

    def container_body(self, spec: ServiceSpec, name: str, *, number: int | None = None,
                       slug: str | None = None, **overrides) -> dict:
        labels = L.container_labels(
            self._base_labels(), service=spec.name, config_hash=spec.config_hash,
            number=number, slug=slug,
            image=self._image_ids.get(spec.name) or self.image_ref(spec) or "",
            depends_on=L.depends_on_value((d.service, d.condition, d.restart)
                                          for d in spec.depends_on))
        ctx = CreateContext(
            project=self.project.name, service=spec.name, name=name, labels=labels,
            networks={k: r.name for k, r in self.project.networks.items()},
            volumes={k: r.name for k, r in self.project.volumes.items()},
            secrets={k: r.model for k, r in self.project.secrets.items()},
            configs={k: r.model for k, r in self.project.configs.items()},
            materialize=self._materialize, containers=dict(self._ids), **overrides)
        service = spec.model
        if not spec.image and spec.has_build:
            service = replace(service, image=image_of(self.project.name, service))
        body = create_body(service, ctx)
        if not self.networks_ok:
            mode = body["HostConfig"].get("NetworkMode", "")
            if not mode.startswith(("container:", "host", "none")):
                body["HostConfig"].pop("NetworkMode", None)
                body["NetworkingConfig"] = {"EndpointsConfig": {}}
        return body

    def _materialize(self, kind: str, key: str, content: str) -> str:
        """A `content:` secret/config as a file the engine can bind-mount (root-only dir,
        rewritten on every create so it follows the compose file)."""
        return write_file_object(self.files_dir, self.project.name, kind, key, content)

    async def create(self, spec: ServiceSpec, name: str, number: int | None = None,
                     **overrides) -> str:
        body = self.container_body(spec, name, number=number, **overrides)
        created = await self.gw.call("create_container", body, name)
        return created["Id"]

    async def _apply(self, spec: ServiceSpec, step: Step, opts: UpOptions,
                     result: UpResult, precreated: str | None = None) -> None:
        name = step.name
        if step.action is Action.REMOVE:
            await self._stop_remove(step.existing, opts.timeout)  # type: ignore[arg-type]
            return
        if step.action is Action.CREATE and precreated:
            cid = precreated
        elif step.action is Action.CREATE:
            cid = await self.create(spec, name, step.number)
            self.progress.done("Container", name, "Created")
        elif step.action is Action.RECREATE:
            old = step.existing
            assert old is not None
            cid = await self.create(spec, naming.temporary_name(old.id, name), step.number)
            await self._stop_remove(old, opts.timeout, quiet=True)
            try:
                await self.gw.call("rename", cid, name)
            except NotFound:
                # An engine without the rename endpoint: the replacement was created (so the
                # configuration is valid); make it again under its final name.
                await self.gw.call("remove_container", cid, force=True)
                cid = await self.create(spec, name, step.number)
            self.progress.done("Container", name, "Recreated")
        else:
            assert step.existing is not None
            cid = step.existing.id
        self._ids.setdefault(spec.name, cid)
        since = None
        if opts.start and step.action is not Action.NOOP:
            if step.action is Action.START:
                since = time.time()   # its earlier output belongs to earlier runs
            await self.gw.call("start", cid)
            self.progress.done("Container", name, "Started")
        elif step.action is Action.NOOP and step.existing and step.existing.running:
            self.progress.done("Container", name, "Running")
        result.containers.append(Started(spec.name, name, cid, since))

    # -- up --------------------------------------------------------------------------------

    def _targets(self, opts: UpOptions) -> list[str]:
        targets = list(opts.services) or list(self.project.services)
        for name in targets:
            self.project.service(name)
        return targets if opts.no_deps else self.project.graph.closure(targets)

    async def resolve_images(self, names: Iterable[str], pull: str | None = None) -> None:
        """Image ids of the services' images, in parallel, pulling missing ones (or all, with
        `pull="always"`) unless the policy (`--pull`, else the service's `pull_policy`) is
        `never`. A missing image fails only its service, at create time."""
        async def one(name: str, ref: str) -> None:
            policy = pull or self.project.services[name].model.pull_policy.value
            if self.project.services[name].has_build:
                policy = "build"   # built here, never pulled
                if ref in self._present:   # build() just found it: no second inspect
                    self._image_ids[name] = self._present[ref]
                    return
            if policy != "always":
                try:
                    image = await self.gw.call("inspect_image", ref)
                    self._image_ids[name] = image.get("Id", "")
                    return
                except NotFound:
                    if policy in ("never", "build"):
                        return
            try:
                await self.gw.call("pull_image", ref)
            except PycomposeError as e:
                self.progress.failed("Image", ref, e.message)
                return
            self.progress.done("Image", ref, "Pulled")
            try:
                self._image_ids[name] = (await self.gw.call("inspect_image", ref)).get("Id", "")
            except NotFound:
                pass

        by_ref: dict[str, list[str]] = {}
        for name in names:
            ref = self.image_ref(self.project.services[name])
            if ref:
                by_ref.setdefault(ref, []).append(name)

        async def one_ref(ref: str, services: list[str]) -> None:
            await one(services[0], ref)
            for other in services[1:]:
                if services[0] in self._image_ids:
                    self._image_ids[other] = self._image_ids[services[0]]

        async with trio.open_nursery() as nursery:
            for ref, services in by_ref.items():
                nursery.start_soon(one_ref, ref, services)

    def image_ref(self, spec: ServiceSpec) -> str | None:
        return image_of(self.project.name, spec.model)

    async def build(self, names: Iterable[str], *, always: bool, no_cache: bool = False,
                    pull: bool = False, args: Mapping[str, str] | None = None) -> None:
        """Build the images of services with `build:` (all of them with `always`, else only
        the missing ones), each image once (builds.py), in parallel. Each tag is inspected
        once, however many services share it, and what was found is kept for resolve_images."""
        wanted = []
        order = list(self.project.services)   # who comes first decides a shared tag's build
        for name in sorted(dict.fromkeys(names), key=order.index):
            spec = self.project.services[name]
            tag = self.image_ref(spec)
            if spec.has_build and tag:
                wanted.append((spec.name, tag, spec.model.build))
        if not always:
            async def check(tag: str) -> None:
                try:
                    self._present[tag] = (await self.gw.call("inspect_image", tag)).get("Id", "")
                except NotFound:
                    pass

            async with trio.open_nursery() as nursery:
                for tag in dict.fromkeys(tag for _, tag, _ in wanted):
                    nursery.start_soon(check, tag)
            wanted = [w for w in wanted if w[1] not in self._present]
        for _, tag, _ in wanted:
            self._present.pop(tag, None)
        # a build whose RUN steps join a project network: the network exists first (builds.py)
        nets = {k: r.name for k, r in self.project.networks.items()}
        await self.ensure_networks(k for _, _, b in wanted if (k := network_key(b, nets)))
        wanted = [(s, t, for_project(b, nets)) for s, t, b in wanted]
        await build_images(self.gw, self.progress, plan_builds(wanted), no_cache=no_cache,
                           pull=pull, args=args)

    async def _prepare_up(self, opts: UpOptions) -> tuple[list[str], list[str], Plan]:
        """Up's first phase: images, volumes and networks in place, the plan made. Returns
        the services of this run, their start order (the graph's) and the plan."""
        names = self._targets(opts)
        existing: list[Observed] = []

        async def images() -> None:
            if opts.build is not False:
                await self.build(names, always=bool(opts.build))
            await self.resolve_images(names, opts.pull)

        async def listing() -> None:
            existing.extend(await self.observed(all=True))

        async def volumes() -> None:
            await self.ensure_volumes([k for n in names
                                       for k in self.project.services[n].named_volumes()])

        # independent engine round trips, together (a warm `up` is mostly these)
        await together(images, listing, volumes)
        for c in existing:
            if c.service in self.project.services and not c.oneoff and (c.number or 1) == 1:
                self._ids.setdefault(c.service, c.id)
        order = self.project.graph.start_order(names)
        desired = []
        for n in order:
            spec = self.project.services[n]
            desired.append(DesiredService(
                n, spec.config_hash, opts.scale.get(n, spec.replicas), spec.container_name,
                tuple(p for p in spec.namespace_parents if p in names),
                self._image_ids.get(n, "")))
        plan = plan_project(self.project.name, desired, existing,
                            self.project.known_services(),
                            PlanOptions(opts.policy, frozenset(opts.services or names),
                                        opts.start))
        if plan.orphans:
            if opts.remove_orphans:
                async with trio.open_nursery() as nursery:
                    for orphan in plan.orphans:
                        nursery.start_soon(self._stop_remove, orphan, opts.timeout)
            elif not opts.ignore_orphans:
                self.progress.warn(orphan_warning(plan.orphans))
        await self.ensure_networks(networks.needed(self.project, names))
        return names, order, plan

    async def up(self, opts: UpOptions) -> UpResult:
        names, order, plan = await self._prepare_up(opts)
        result = UpResult()
        readiness: Readiness | None = None   # --wait: made below, watches as services start
        done = {n: trio.Event() for n in names}
        in_run = set(names)
        changed: set[str] = set()

        async def run_service(name: str) -> None:
            spec = self.project.services[name]
            try:
                # New replicas are created before waiting for the dependencies (as Compose's
                # create phase does): only their start has to wait. Not with `service:`
                # references, which need the parent's container id.
                precreated: dict[str, str] = {}
                if not spec.namespace_parents:
                    for step in plan.for_service(name):
                        if step.action is Action.CREATE:
                            precreated[step.name] = await self.create(spec, step.name,
                                                                      step.number)
                            self.progress.done("Container", step.name, "Created")
                await self._wait_dependencies(spec, in_run, done, result, opts.start)
                # `depends_on: {x: {restart: true}}`: a dependency that was (re)started in
                # this run restarts the running containers of this service too.
                restart = opts.start and any(d in changed
                                             for d in self.project.graph.restart_triggers(name))
                for step in plan.for_service(name):
                    if step.action is not Action.NOOP:
                        changed.add(name)
                    if restart and step.action is Action.NOOP and step.existing is not None \
                            and step.existing.running:
                        await self.gw.call("restart", step.existing.id, opts.timeout)
                        self.progress.done("Container", step.name, "Restarted")
                        changed.add(name)
                        result.containers.append(Started(name, step.name, step.existing.id,
                                                         time.time()))
                        continue
                    await self._apply(spec, step, opts, result, precreated.get(step.name))
                if readiness is not None:
                    for c in result.containers:
                        if c.service == name:
                            readiness.watch(c)
            except PycomposeError as e:
                result.failures[name] = e
                shown = spec.container_name or naming.container_name(self.project.name, name, 1)
                if isinstance(e, UpstreamError):
                    self.progress.info(f" - Container {shown}  Skipped: {e.message}")
                else:
                    self.progress.failed("Container", shown, e.message)
            finally:
                done[name].set()

        # The waits below follow the engine's events when it has them (engine_events.py): one
        # subscription for the whole run, begun now so it is live when the first wait starts.
        waits = opts.start and (opts.wait or any(
            e.condition != "service_started" and e.dependency in in_run
            for n in names for e in self.project.graph.dependencies(n)))
        async with trio.open_nursery() as watch:
            if waits and self.gw.threaded:
                self._changes = ContainerChanges.for_project(self.gw.dedicated,
                                                             self.project.name)
                watch.start_soon(self._changes.run)
            if opts.wait and opts.start:
                readiness = Readiness(self._until_ready, self.progress)
                await watch.start(readiness.host)
            try:
                async with trio.open_nursery() as nursery:
                    for name in order:
                        nursery.start_soon(run_service, name)
                if readiness is not None:
                    readiness.start_phase_over(failed=bool(result.failures),
                                               timeout=opts.wait_timeout)
                    await readiness.finished.wait()
            finally:
                self._changes = None
                watch.cancel_scope.cancel()
        if readiness is not None:
            readiness.raise_if_not_ready()
        return result

    async def _wait_dependencies(self, spec: ServiceSpec, in_run: set[str],
                                 done: Mapping[str, trio.Event], result: UpResult,
                                 start: bool) -> None:
        graph = self.project.graph
        for dep in graph.absent(spec.name):
            if not dep.required:
                self.progress.warn(f"optional dependency {dep.dependency!r} of "
                                   f"{spec.name!r} is not enabled")
        for dep in graph.dependencies(spec.name):
            if dep.dependency not in in_run:   # --no-deps, or `up SERVICE` without it
                continue
            await done[dep.dependency].wait()
            upstream = result.failures.get(dep.dependency)
            condition = None
            if upstream is None and start:
                condition = await self._wait_condition(dep, result)
            if upstream is None and condition is None:
                continue
            if not dep.required:
                self.progress.warn(f"optional dependency {dep.dependency!r} of {spec.name!r} "
                                   f"failed: {(upstream or condition).message}")
                continue
            if condition is not None:
                raise DependencyError(f"dependency failed to start: {condition.message}")
            raise UpstreamError(f"service {spec.name!r} skipped: dependency "
                                f"{dep.dependency!r} failed")

    async def _wait_condition(self, dep: Edge,
                              result: UpResult | None = None) -> PycomposeError | None:
        if dep.condition == "service_started":
            return None
        # the dependency's containers as this run left them (no listing needed), else listed
        containers: list[Started | Observed] = [
            c for c in (result.containers if result else ()) if c.service == dep.dependency]
        if not containers:
            containers = await self.observed(all=True, service=dep.dependency, oneoff=False)
        if not containers:
            return None   # scaled to 0: nothing to wait on
        try:
            async with trio.open_nursery() as nursery:
                for c in containers:
                    nursery.start_soon(self._poll_one, dep, c)
        except BaseExceptionGroup as group:   # one or more replicas failed: report the first
            first = first_error(group)
            if first is None:
                raise
            return first
        return None

    async def _poll_one(self, dep: Edge, c: Started | Observed) -> None:
        await poll(lambda: self.gw.call("inspect_container", c.id),
                   lambda data: check_condition(dep.condition, dep.dependency, c.name, data),
                   arm=self._arm(c.id))

    def _arm(self, cid: str):
        """For poll(): wake-ups on the engine's events for `cid`, while up's stream lives."""
        changes = self._changes
        return None if changes is None else (lambda: changes.arm(cid))

    async def _until_ready(self, c: Started) -> object:
        """`up --wait` for one container (readiness.py): running, healthy if it has a check;
        exited 0 only for services others wait on with `service_completed_successfully`."""
        completed_ok = self.project.graph.awaited_as(c.service, COMPLETED)
        return await poll(lambda: self.gw.call("inspect_container", c.id),
                          lambda data: check_ready(c.name, data, completed_ok),
                          arm=self._arm(c.id))

async def together(*fns: Callable[[], Awaitable[None]]) -> None:
    """Run `fns` concurrently; a user-facing error comes out alone, not in an exception group
    (the first one; the others are cancelled)."""
    try:
        async with trio.open_nursery() as nursery:
            for fn in fns:
                nursery.start_soon(fn)
    except BaseExceptionGroup as group:
        first = first_error(group)
        if first is None:
            raise
        raise first from None


def first_error(group: BaseException) -> PycomposeError | None:
    """The first user-facing error inside a (nested) exception group."""
    if isinstance(group, PycomposeError):
        return group
    for exc in getattr(group, "exceptions", ()):
        found = first_error(exc)
        if found is not None:
            return found
    return None


def summarize_failures(result: UpResult) -> OrchestratorError | None:
    """One error for the user: the root causes first, skipped services after."""
    if not result.failures:
        return None
    roots = [e for e in result.failures.values() if not isinstance(e, UpstreamError)]
    first = (roots or list(result.failures.values()))[0]
    return OrchestratorError(first.message)   # Compose exits 1 whatever failed
