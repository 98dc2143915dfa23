"""What acts on a project's containers as they exist: stop, kill, start, pause/unpause (`each`),
rm, down, and the stop-and-remove step `up` uses too. A mixin of `executor.Orchestrator`.

Stopping goes the other way from starting: one stop generation at a time (dependents first),
each generation in parallel; `down -t 0` removes everything in one round.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import trio

from compose.orchestrator import labels as L
from compose.orchestrator import naming, networks
from compose.orchestrator.early_calls import RemovalHeadStart
from compose.orchestrator.errors import OrchestratorError
from compose.orchestrator.plan import Observed, orphan_warning, plan_stop, removal_rounds
from engine.errors import EngineError, NotFound, PycomposeError

if TYPE_CHECKING:
    from compose.orchestrator.gateway import Gateway
    from compose.orchestrator.progress import Progress
    from compose.orchestrator.project_view import ProjectSpec

_is_unsupported = networks.unsupported


class ExistingContainers:
    project: ProjectSpec
    gw: Gateway
    progress: Progress
    removal: RemovalHeadStart | None

    # -- discovery ----------------------------------------------------------------------------

    async def containers(self, *, all: bool = True, service: str | None = None,
                         oneoff: bool | None = None) -> list[dict]:
        return await self.gw.call("containers", all=all,
                                  filters=L.filters(self.project.name, service, oneoff)) or []

    async def observed(self, **kw) -> list[Observed]:
        return [Observed.from_summary(c) for c in await self.containers(**kw)]

    # -- stop and remove ----------------------------------------------------------------------

    async def _stop_remove(self, c: Observed, timeout: int | None, quiet: bool = False,
                           volumes: bool = False) -> None:
        try:
            if timeout == 0:
                # `-t 0`: no grace period, so a forced remove (SIGKILL + remove) does it in one
                # request instead of two.
                await self.gw.call("remove_container", c.id, force=True, volumes=volumes)
                if not quiet:
                    self.progress.done("Container", c.name, "Removed")
                return
            if c.running or c.state == "paused":
                await self.gw.call("stop", c.id, timeout)
                if not quiet:
                    self.progress.done("Container", c.name, "Stopped")
            await self.gw.call("remove_container", c.id, force=True, volumes=volumes)
        except NotFound:
            pass   # gone already (auto-removed, or removed by someone else)
        if not quiet:
            self.progress.done("Container", c.name, "Removed")

    # -- stop / down -----------------------------------------------------------------------

    def _stop_gens(self, services: Iterable[str] | None) -> list[list[str]]:
        names = list(services) if services else list(self.project.services)
        for n in names:
            self.project.service(n)
        return self.project.stop_generations(names)

    async def stop(self, services: Iterable[str] = (), timeout: int | None = None) -> None:
        gens = self._stop_gens(services)
        existing = [c for c in await self.observed(all=False) if not c.oneoff]
        for gen in plan_stop(existing, gens, include_orphans=False).generations:
            async with trio.open_nursery() as nursery:
                for c in gen:
                    nursery.start_soon(self._stop_one, c, timeout)

    async def _stop_one(self, c: Observed, timeout: int | None) -> None:
        try:
            await self.gw.call("stop", c.id, timeout)
        except NotFound:
            return
        self.progress.done("Container", c.name, "Stopped")

    async def kill(self, services: Iterable[str] = (), signal: str | None = None) -> None:
        names = set(services) or set(self.project.services)
        async with trio.open_nursery() as nursery:
            for c in await self.observed(all=False):
                if c.service in names and not c.oneoff:
                    nursery.start_soon(self._simple, "kill", c, "Killed", signal)

    async def _simple(self, method: str, c: Observed, status: str, *args) -> None:
        await self.gw.call(method, c.id, *args)
        self.progress.done("Container", c.name, status)

    async def each(self, method: str, status: str, services: Iterable[str] = (),
                   states: tuple[str, ...] | None = None, *args) -> int:
        """`method` on every service container (optionally only in `states`), in parallel."""
        names = set(services) or set(self.project.services)
        count = 0
        async with trio.open_nursery() as nursery:
            for c in await self.observed(all=True):
                if c.service in names and not c.oneoff and (states is None or c.state in states):
                    count += 1
                    nursery.start_soon(self._simple, method, c, status, *args)
        return count

    async def start_existing(self, services: Iterable[str] = ()) -> None:
        """`pycompose start`: start existing containers in dependency order."""
        gens = self.project.start_generations(list(services) or None)
        existing = [c for c in await self.observed(all=True) if not c.oneoff]
        if not existing:
            raise OrchestratorError("no containers to start")
        for gen in gens:
            async with trio.open_nursery() as nursery:
                for c in existing:
                    if c.service in gen and not c.running:
                        nursery.start_soon(self._simple, "start", c, "Started")

    async def down(self, *, remove_orphans: bool = False, volumes: bool = False,
                   rmi: str | None = None, timeout: int | None = None) -> None:
        head = self.removal if timeout == 0 else None
        if head is not None:   # the CLI's head start listed and removed the containers
            existing = await self.gw.blocking(head.existing)
        else:
            existing = await self.observed(all=True)
        # Without a compose file (`down -p NAME`) every container of the project goes.
        sp = plan_stop(existing, self.project.stop_generations(),
                       include_orphans=remove_orphans or not self.project.services)
        errors: list[PycomposeError] = []

        async def remove(c: Observed) -> None:
            # One container the engine refuses to remove must not keep the rest of the
            # project (and its networks) around: carry on, report at the end.
            try:
                # existing() returned after every head-start removal ended: no wait here
                early = head.outcome(c.id) if head else None
                if isinstance(early, BaseException):
                    raise early
                if early is None:
                    await self._stop_remove(c, timeout, False, volumes)
                else:
                    self.progress.done("Container", c.name, "Removed")
            except PycomposeError as e:
                errors.append(e)
                self.progress.failed("Container", c.name, e.message)

        for round_ in removal_rounds(sp, timeout):
            async with trio.open_nursery() as nursery:
                for c in round_:
                    nursery.start_soon(remove, c)
        orphans = [c for c in existing if c.service not in self.project.known_services()]
        if orphans and not remove_orphans and self.project.services:
            self.progress.warn(orphan_warning(orphans))
        await self._remove_networks(head)
        if volumes:
            await self._remove_volumes()
        if rmi:
            await self._remove_images(rmi)
        if errors:
            more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
            raise OrchestratorError(errors[0].message + more)

    async def _remove_networks(self, head: RemovalHeadStart | None = None) -> None:
        try:
            if head is not None:   # the head start removed them after the containers
                removed = head.network_outcomes()
            else:
                removed = await self.gw.blocking(
                    lambda: networks.remove_all(self.gw.client(), self.project))
        except EngineError as e:   # listing them failed
            if not _is_unsupported(e):
                raise
            return
        for name, error in removed:
            if isinstance(error, NotFound):
                continue
            if error is not None and _is_unsupported(error):
                return
            if error is not None:
                self.progress.warn(f"network {name}: {error.message}")
                continue
            self.progress.done("Network", name, "Removed")

    async def _remove_volumes(self) -> None:
        for res in self.project.volumes.values():
            if res.external:
                continue
            try:
                await self.gw.call("remove_volume", res.name)
            except NotFound:
                continue
            except EngineError as e:
                self.progress.warn(f"volume {res.name}: {e.message}")
                continue
            self.progress.done("Volume", res.name, "Removed")

    async def _remove_images(self, mode: str) -> None:
        if mode not in ("local", "all"):
            raise OrchestratorError(f"--rmi must be 'local' or 'all', not {mode!r}")
        images = []
        for spec in self.project.services.values():
            if spec.image and mode == "all":
                images.append(spec.image)
            elif not spec.image and spec.has_build:
                # `local`: only images without a custom tag, i.e. the ones built for us
                images.append(naming.built_image_name(self.project.name, spec.name))
        for image in dict.fromkeys(images):
            try:
                await self.gw.call("remove_image", image)
            except NotFound:
                continue
            except EngineError as e:
                self.progress.warn(f"image {image}: {e.message}")
                continue
            self.progress.done("Image", image, "Removed")

    async def remove_stopped(self, services: Iterable[str] = (), stop: bool = False,
                             volumes: bool = False, timeout: int | None = None) -> list[str]:
        names = set(services) or set(self.project.services)
        chosen = [c for c in await self.observed(all=True)
                  if c.service in names and not c.oneoff and (stop or not c.running)]
        async with trio.open_nursery() as nursery:
            for c in chosen:
                nursery.start_soon(self._stop_remove, c, timeout, False, volumes)
        return [c.name for c in chosen]
