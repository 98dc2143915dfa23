"""Convergence planning: what `up` must do to make the engine match the project. Pure.

Plan, then act: the plan is computed from the desired services and the containers the engine
reports (by label), before anything runs, so it can be printed and unit-tested without an engine.
"""
from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from compose.orchestrator import labels as L
from compose.orchestrator import naming


class Action(enum.Enum):
    CREATE = "create"        # a missing replica
    RECREATE = "recreate"    # config changed (or forced): replace the container
    START = "start"          # kept as is, but not running
    NOOP = "noop"            # kept, running
    REMOVE = "remove"        # scale-down: a replica the project no longer wants


class RecreatePolicy(enum.Enum):
    DIVERGED = "diverged"    # recreate when the config hash differs (the default)
    FORCE = "force"          # --force-recreate
    NEVER = "never"          # --no-recreate


@dataclass(frozen=True)
class Observed:
    """A container as the engine lists it (only the parts planning needs)."""

    id: str
    name: str
    service: str
    state: str                  # Docker's State: created|running|paused|restarting|exited|dead
    config_hash: str = ""
    number: int | None = None
    oneoff: bool = False
    image: str = ""             # the `image` label: the image id it was created from

    @property
    def running(self) -> bool:
        return self.state in ("running", "restarting")

    @classmethod
    def from_summary(cls, item: Mapping) -> Observed:
        """From an item of GET /containers/json (Docker's shape)."""
        labels = item.get("Labels") or {}
        names = item.get("Names") or [""]
        return cls(
            id=item["Id"],
            name=names[0].lstrip("/"),
            service=labels.get(L.SERVICE, ""),
            state=item.get("State", ""),
            config_hash=labels.get(L.CONFIG_HASH, ""),
            number=L.number_of(labels),
            oneoff=L.is_oneoff(labels),
            image=labels.get(L.IMAGE, ""),
        )


@dataclass(frozen=True)
class DesiredService:
    name: str
    config_hash: str
    replicas: int = 1
    container_name: str | None = None          # custom `container_name:` (one replica only)
    namespace_parents: tuple[str, ...] = ()    # `service:X` in network_mode/ipc/pid, volumes_from
    image_id: str = ""                         # the id the image reference resolves to now


@dataclass(frozen=True)
class Step:
    action: Action
    service: str
    name: str                        # the container's (final) name
    number: int
    existing: Observed | None = None

    def describe(self) -> str:
        return f"{self.action.value:<8} {self.name}"


@dataclass(frozen=True)
class Plan:
    steps: tuple[Step, ...]
    orphans: tuple[Observed, ...] = ()

    def for_service(self, service: str) -> tuple[Step, ...]:
        return tuple(s for s in self.steps if s.service == service)

    def changes(self) -> bool:
        return any(s.action is not Action.NOOP for s in self.steps)

    def describe(self) -> list[str]:
        lines = [s.describe() for s in self.steps]
        lines += [f"orphan   {o.name}" for o in self.orphans]
        return lines


@dataclass(frozen=True)
class PlanOptions:
    policy: RecreatePolicy = RecreatePolicy.DIVERGED
    force_services: frozenset[str] = frozenset()   # FORCE applies to these only (the targets)
    start: bool = True                             # False with --no-start


def _name_of(project: str, desired: DesiredService, number: int) -> str:
    if desired.container_name:
        return desired.container_name
    return naming.container_name(project, desired.name, number)


def _must_recreate(desired: DesiredService, current: Observed, options: PlanOptions,
                   parent_recreated: bool) -> bool:
    if options.policy is RecreatePolicy.NEVER:
        return False
    if options.policy is RecreatePolicy.FORCE and desired.name in options.force_services:
        return True
    if parent_recreated or current.config_hash != desired.config_hash:
        return True
    # The image behind the reference changed (a newer one was loaded or built): recreate.
    return bool(desired.image_id and current.image.startswith("sha256:")
                and current.image != desired.image_id)


def plan_service(project: str, desired: DesiredService, existing: Iterable[Observed],
                 options: PlanOptions = PlanOptions(), parent_recreated: bool = False
                 ) -> list[Step]:
    """Steps for one service's replicas. Scale-down drops containers needing recreation first,
    then the highest numbers; new replicas are numbered after the highest existing one."""
    mine = sorted((c for c in existing if c.service == desired.name and not c.oneoff),
                  key=lambda c: (c.number or 0, c.name))
    stale = [c for c in mine if _must_recreate(desired, c, options, parent_recreated)]
    excess = max(0, len(mine) - desired.replicas)
    removed = set()
    for c in sorted(mine, key=lambda c: (c not in stale, -(c.number or 0)))[:excess]:
        removed.add(c.id)
    steps: list[Step] = []
    for c in mine:
        number = c.number or 1
        if c.id in removed:
            steps.append(Step(Action.REMOVE, desired.name, c.name, number, c))
        elif c in stale:
            steps.append(Step(Action.RECREATE, desired.name, _name_of(project, desired, number),
                              number, c))
        elif c.running or not options.start:
            steps.append(Step(Action.NOOP, desired.name, c.name, number, c))
        else:
            steps.append(Step(Action.START, desired.name, c.name, number, c))
    next_number = max((c.number or 0 for c in mine), default=0) + 1
    for _ in range(desired.replicas - (len(mine) - len(removed))):
        steps.append(Step(Action.CREATE, desired.name, _name_of(project, desired, next_number),
                          next_number))
        next_number += 1
    return steps


def plan_project(project: str, services: list[DesiredService], existing: Iterable[Observed],
                 known_services: Iterable[str], options: PlanOptions = PlanOptions()) -> Plan:
    """The plan for `services` (given in dependency order, dependencies first). A recreated
    namespace parent cascades to the services that join its namespaces. Orphans are containers
    of services the project no longer has, and finished one-offs."""
    existing = list(existing)
    recreated: set[str] = set()
    steps: list[Step] = []
    for desired in services:
        cascade = any(p in recreated for p in desired.namespace_parents)
        service_steps = plan_service(project, desired, existing, options, cascade)
        if any(s.action is Action.RECREATE for s in service_steps):
            recreated.add(desired.name)
        steps.extend(service_steps)
    known = set(known_services)
    orphans = tuple(c for c in existing
                    if (not c.oneoff and c.service not in known) or (c.oneoff and not c.running))
    return Plan(tuple(steps), orphans)


def orphan_warning(orphans: Iterable[Observed]) -> str:
    names = ", ".join(o.name for o in orphans)
    return (f"Found orphan containers ([{names}]) for this project. If you removed or renamed "
            "this service in your compose file, you can run this command with the "
            "--remove-orphans flag to clean it up.")


@dataclass(frozen=True)
class StopPlan:
    """Which containers `down`/`stop` touch, grouped by stop generation (dependents first)."""

    generations: tuple[tuple[Observed, ...], ...]
    leftovers: tuple[Observed, ...] = field(default=())   # orphans / one-offs, stopped last


def plan_stop(existing: Iterable[Observed], stop_generations: list[list[str]],
              include_orphans: bool) -> StopPlan:
    existing = list(existing)
    placed: set[str] = set()
    gens = []
    for gen in stop_generations:
        names = set(gen)
        chosen = tuple(c for c in existing if c.service in names and not c.oneoff)
        placed.update(c.id for c in chosen)
        if chosen:
            gens.append(chosen)
    rest = tuple(c for c in existing if c.id not in placed
                 and (include_orphans or c.oneoff and c.service in
                      {s for g in stop_generations for s in g}))
    return StopPlan(tuple(gens), rest)


def removal_rounds(plan: StopPlan, timeout: int | None) -> list[tuple[Observed, ...]]:
    """The rounds in which `down` removes containers, each round in parallel: one per stop
    generation (dependents first, then orphans and one-offs), or a single round with `-t 0`,
    where no container gets a grace period, so the dependency order buys nothing."""
    rounds = [*plan.generations, plan.leftovers]
    if timeout == 0:
        return [tuple(c for r in rounds for c in r)]
    return [r for r in rounds if r]
