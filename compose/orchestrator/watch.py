"""`develop.watch` planning (pure): the rules of the selected services, which rule a changed
path falls under, the quiet-period batching of file events, and what one batch asks for per
service (sync these paths, delete those, restart, run hooks, or rebuild).

As Compose v2 does it:
- a rule watches `path` (a directory, recursively, or one file); a change below it that no
  ignore pattern excludes triggers the rule's action;
- ignored are: the `.dockerignore` of the service's build context (relative to the context),
  the rule's `ignore` patterns (relative to the rule's path), `.git` directories and the
  temporary files editors write next to the file they save; with `include`, only paths
  matching one of its patterns (relative to the rule's path) count;
- every rule a path triggers acts; per service and batch: `rebuild` first (build, recreate),
  then the sync of all the paths, then one restart (`restart`, `sync+restart`), then each
  `sync+exec` command once;
- `initial_sync` copies the rule's tree at start, leaving out the Dockerfile and compose files;
- a sync rule whose path is inside a bind mount of the service is not watched (the container
  sees the files already).
"""
from __future__ import annotations

import enum
import posixpath
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from compose.model import MountType, Service, ServiceVolume
from compose.orchestrator.errors import OrchestratorError
from compose.values import kv_mapping
from engine.dockerignore import Matcher

# Compose waits this long without a new event before acting on a batch.
QUIET_PERIOD = 0.5
# ...but a steady stream of events (a generator rewriting files) must not starve the sync
MAX_BATCH_DELAY = 5.0

# Never synced nor acted upon: version control and the files editors make while saving
# (vim's swap files and its 4913 probe, emacs' lock and auto-save files, backups, JetBrains'
# safe-write copies).
EPHEMERAL = Matcher.from_text("\n".join([
    "**/.git", "**/.*.swp", "**/.*.swx", "**/.*.swo", "**/4913", "**/*~", "**/.#*", "**/#*#",
    "**/*___jb_tmp___", "**/*___jb_old___", "**/.DS_Store",
]))


class WatchError(OrchestratorError):
    """A `develop.watch` rule that cannot be acted upon (one line naming the service)."""


class Action(enum.Enum):
    SYNC = "sync"
    REBUILD = "rebuild"
    RESTART = "restart"
    SYNC_RESTART = "sync+restart"
    SYNC_EXEC = "sync+exec"

    @property
    def syncs(self) -> bool:
        return self in (Action.SYNC, Action.SYNC_RESTART, Action.SYNC_EXEC)


@dataclass(frozen=True)
class ExecHook:
    """`exec:` of a sync+exec rule (the shape of a service hook)."""

    command: tuple[str, ...]
    user: str | None = None
    privileged: bool = False
    working_dir: str | None = None
    environment: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Rule:
    service: str
    action: Action
    path: str                              # absolute, normalized
    target: str | None = None              # container path (the sync actions)
    ignore: Matcher | None = field(default=None, compare=False)
    include: Matcher | None = field(default=None, compare=False)
    context: str | None = None             # the build context the dockerignore belongs to
    dockerignore: Matcher | None = field(default=None, compare=False)
    initial_sync: bool = False
    exec: ExecHook | None = None

    def relative(self, path: str) -> str | None:
        """`path` relative to the rule's path ("" for the path itself), None when outside."""
        return _under(self.path, path)

    def matches(self, path: str) -> bool:
        """Does a change of the absolute `path` trigger this rule?"""
        rel = self.relative(path)
        if rel is None:
            return False
        if EPHEMERAL.ignored(rel or posixpath.basename(self.path)):
            return False
        if self.dockerignore is not None and self.context is not None:
            ctx_rel = _under(self.context, path)
            if ctx_rel and self.dockerignore.ignored(ctx_rel):
                return False
        if rel and self.ignore is not None and self.ignore.ignored(rel):
            return False
        if self.include is not None:
            return bool(rel) and self.include.ignored(rel)   # "ignored" = a pattern matched
        return True

    def container_path(self, path: str) -> str:
        """Where the host `path` lands in the container (target + its path below the rule's)."""
        rel = self.relative(path)
        assert self.target is not None and rel is not None
        return posixpath.join(self.target, rel) if rel else self.target


def _under(root: str, path: str) -> str | None:
    if path == root:
        return ""
    prefix = root.rstrip("/") + "/"
    return path[len(prefix):] if path.startswith(prefix) else None


def _matcher(patterns: Any, where: str) -> Matcher | None:
    if patterns is None:
        return None
    if not isinstance(patterns, list) or not all(isinstance(p, str) for p in patterns):
        raise WatchError(f"{where}: want a list of patterns")
    return Matcher.from_text("\n".join(patterns)) if patterns else None


def _exec_hook(value: Any, where: str) -> ExecHook:
    if not isinstance(value, Mapping) or not value.get("command"):
        raise WatchError(f"{where}: sync+exec needs exec.command")
    command = value["command"]
    if isinstance(command, str):
        import shlex

        command = shlex.split(command)
    env = kv_mapping(value.get("environment") or {}, None, missing="")   # compose's K=V reading
    return ExecHook(tuple(str(c) for c in command), value.get("user") or None,
                    bool(value.get("privileged")), value.get("working_dir") or None,
                    tuple(env.items()))


def service_rules(service: Service, dockerignore_text: str | None = None) -> list[Rule]:
    """The `develop.watch` rules of one service (the model keeps `develop:` as written, paths
    absolute; this is its one reader). `dockerignore_text`: the build context's
    .dockerignore, when it has one."""
    name = service.name
    develop = service.develop or {}
    raw = develop.get("watch") or []
    build = service.build
    context = build.context if build else None
    docker_ignore = Matcher.from_text(dockerignore_text) if dockerignore_text else None
    rules = []
    for i, item in enumerate(raw):
        where = f"service {name!r}: develop.watch[{i}]"
        if not isinstance(item, Mapping) or not item.get("path"):
            raise WatchError(f"{where}: needs a path")
        if not item.get("action"):
            raise WatchError(f"{where}: needs an action")
        try:
            action = Action(item.get("action"))
        except ValueError:
            raise WatchError(f"{where}: unknown action {item.get('action')!r}") from None
        target = item.get("target")
        if action.syncs and not target:
            raise WatchError(f"{where}: action {action.value} needs a target")
        if action is Action.REBUILD and build is None:
            raise WatchError(f"{where}: rebuild needs a build section")
        rules.append(Rule(
            service=name, action=action, path=posixpath.normpath(str(item["path"])),
            # a relative target lands below "/" (Compose's archive is extracted there too)
            target=posixpath.normpath(posixpath.join("/", str(target))) if target else None,
            ignore=_matcher(item.get("ignore"), where + ".ignore"),
            include=_matcher(item.get("include"), where + ".include"),
            context=posixpath.normpath(context) if context and docker_ignore else None,
            dockerignore=docker_ignore,
            initial_sync=bool(item.get("initial_sync")) and action.syncs,
            exec=_exec_hook(item.get("exec"), where) if action is Action.SYNC_EXEC else None))
    return rules


def rules_for(rules: Iterable[Rule], service: str, path: str) -> list[Rule]:
    """The rules of `service` that a change of `path` triggers."""
    return [r for r in rules if r.service == service and r.matches(path)]


def _prunes(matcher: Matcher | None, rel: str | None) -> bool:
    """Does `matcher` exclude the directory `rel` with nothing below it re-included?"""
    return bool(rel) and matcher is not None and matcher.ignored(rel) \
        and not matcher.may_descend(rel)


def descends(rules: Iterable[Rule], directory: str) -> bool:
    """Is a directory worth an inotify watch: on the way to a rule's path, or below one and
    not excluded whole (`node_modules/` in `ignore`, `.git`, a dockerignored dir)? Watches
    are a per-user kernel budget."""
    for r in rules:
        rel = r.relative(directory)
        if rel is None:
            if r.path.startswith(directory.rstrip("/") + "/"):
                return True
            continue
        if _prunes(EPHEMERAL, rel) or _prunes(r.ignore, rel):
            continue
        if r.dockerignore is not None and r.context is not None \
                and _prunes(r.dockerignore, _under(r.context, directory)):
            continue
        return True
    return False


@dataclass(frozen=True)
class PathMapping:
    host: str
    container: str


@dataclass(frozen=True)
class ServicePlan:
    """What one batch asks of one service."""

    service: str
    rebuild: bool = False
    copies: tuple[PathMapping, ...] = ()    # host files/dirs that exist: put into the container
    deletes: tuple[str, ...] = ()           # container paths whose host file is gone
    restart: bool = False
    hooks: tuple[ExecHook, ...] = ()
    changed: int = 0                        # paths of the batch this plan answers

    @property
    def empty(self) -> bool:
        return not (self.rebuild or self.copies or self.deletes or self.restart or self.hooks)


def plan_batch(rules: Iterable[Rule], paths: Iterable[str],
               exists: Mapping[str, bool]) -> list[ServicePlan]:
    """One plan per service that a path of the batch triggers, in the rules' order. Every
    rule a path triggers counts (as Compose: a file under a sync and a sync+restart rule is
    synced and restarts). `exists[path]`: is the host path there now (a path gone is deleted
    in the container)."""
    rules = list(rules)
    batch = sorted(set(paths))
    plans = []
    for service in dict.fromkeys(r.service for r in rules):
        rebuild = restart = False
        copies: dict[str, PathMapping] = {}
        deletes: dict[str, None] = {}
        hooks: dict[ExecHook, None] = {}
        changed = 0
        for path in batch:
            hit = [r for r in rules if r.service == service and r.matches(path)]
            changed += bool(hit)
            for rule in hit:
                rebuild = rebuild or rule.action is Action.REBUILD
                restart = restart or rule.action in (Action.RESTART, Action.SYNC_RESTART)
                if not rule.action.syncs:
                    continue
                dest = rule.container_path(path)
                if exists.get(path, False):
                    copies[dest] = PathMapping(path, dest)
                else:
                    deletes[dest] = None
                if rule.exec is not None:
                    hooks[rule.exec] = None
        if changed:
            plans.append(ServicePlan(service, rebuild=rebuild, copies=_outermost(copies),
                                     deletes=tuple(deletes), restart=restart,
                                     hooks=tuple(hooks), changed=changed))
    return plans


def _outermost(copies: Mapping[str, PathMapping]) -> tuple[PathMapping, ...]:
    """A directory's copy brings what is below it: drop the paths it already covers."""
    kept: list[PathMapping] = []
    for dest in sorted(copies):
        if any(dest.startswith(k.container.rstrip("/") + "/") for k in kept):
            continue
        kept.append(copies[dest])
    return tuple(kept)


# what an initial sync leaves out (as Compose): the image's recipe and the project's files
NOT_INITIAL = frozenset({"Dockerfile", "compose.yaml", "compose.yml", "docker-compose.yml",
                         "docker-compose.yaml", "compose.override.yml", "compose.override.yaml",
                         "docker-compose.override.yml", "docker-compose.override.yaml"})


def initial_paths(rule: Rule, walk: Iterable[str], dockerfile: str | None = None) -> list[str]:
    """The host paths an `initial_sync` of `rule` copies: the walked files the rule takes,
    but not the Dockerfile (`dockerfile`: the build's own name for it) nor compose files."""
    skip = NOT_INITIAL | ({posixpath.basename(dockerfile)} if dockerfile else set())
    return [p for p in walk if rule.matches(p) and posixpath.basename(p) not in skip]


def bind_mounted(rule: Rule, volumes: Iterable[ServiceVolume]) -> bool:
    """Is the rule's path inside a bind mount's source?"""
    for v in volumes:
        if v.type is MountType.BIND and v.source:
            if _under(posixpath.normpath(v.source), rule.path) is not None:
                return True
    return False


class Batcher:
    """File events in, batches out once the tree has been quiet for `quiet` seconds (or the
    oldest pending event is `max_delay` old). Pure: the caller gives the clock."""

    def __init__(self, quiet: float = QUIET_PERIOD, max_delay: float = MAX_BATCH_DELAY) -> None:
        self.quiet = quiet
        self.max_delay = max_delay
        self._paths: dict[str, None] = {}
        self._first = 0.0
        self._last = 0.0

    def add(self, paths: Iterable[str], now: float) -> None:
        new = list(paths)
        if not new:
            return
        if not self._paths:
            self._first = now
        self._last = now
        self._paths.update(dict.fromkeys(new))

    @property
    def pending(self) -> bool:
        return bool(self._paths)

    def deadline(self) -> float | None:
        """When the pending batch is due (None: nothing pending)."""
        if not self._paths:
            return None
        return min(self._last + self.quiet, self._first + self.max_delay)

    def take(self, now: float) -> list[str]:
        """The batch if it is due, else []."""
        due = self.deadline()
        if due is None or now < due:
            return []
        batch, self._paths = list(self._paths), {}
        return batch
