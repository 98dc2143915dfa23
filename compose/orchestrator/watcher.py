"""`watch` at work: inotify events batched (watch.py decides), then applied to the running
containers of each service, the way Compose v2 applies them:

- sync: the changed files that exist go into each container as ONE tar, through the same
  endpoint as `cp` (`PUT /containers/{id}/archive`, extracted at "/" with each member named by
  its container path, so the engine resolves every path inside the container's root); files
  gone on the host are removed with `rm -rf` run by exec in the container, as Compose does (the
  Engine API has no delete; this needs an `rm` in the image);
- sync+restart: the sync, then one restart of the container; sync+exec: the sync, then the
  rule's command by exec (a non-zero exit is reported, the watch goes on);
- rebuild: build the service's image, then recreate the service's containers (no deps).

A failure while applying a batch is printed as one line and the watch goes on (an editor saving
a half-written file must not end the session).
"""
from __future__ import annotations

import errno
import os
import sys
import tarfile
import tempfile
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import trio

from compose.orchestrator.inotify import TreeWatch
from compose.orchestrator.plan import RecreatePolicy
from compose.orchestrator.project_view import ProjectSpec
from compose.orchestrator.watch import (Action, Batcher, ExecHook, Rule, ServicePlan,
                                        WatchError, bind_mounted, descends, initial_paths,
                                        plan_batch, service_rules)
from engine.client.cli import copy as cp
from engine.errors import NotFound, PycomposeError


def load_rules(project: ProjectSpec, services: Sequence[str] = (), *,
               no_build: bool = False) -> list[Rule]:
    """The watch rules of `services` (all the project's when empty), each with its build
    context's .dockerignore. `no_build` (up --no-build) refuses a rebuild rule."""
    rules: list[Rule] = []
    for name in services or list(project.services):
        spec = project.service(name)
        build = spec.model.build
        text = None
        if build is not None and build.context:
            try:
                with open(os.path.join(build.context, ".dockerignore"), encoding="utf-8") as f:
                    text = f.read()
            except (FileNotFoundError, NotADirectoryError):
                pass
            except OSError as e:
                raise WatchError(f"service {name!r}: cannot read its .dockerignore: "
                                 f"{e.strerror}") from None
        for rule in service_rules(spec.model, text):
            if rule.action.syncs and bind_mounted(rule, spec.model.volumes):
                # as Compose: the container sees these files through its mount already
                sys.stderr.write(f"WARN[0000] path '{rule.path}' also declared by a bind "
                                 "mount volume, this path won't be monitored!\n")
                continue
            rules.append(rule)
    if not rules:
        raise WatchError("none of the selected services is configured for watch, consider "
                         "setting a 'develop' section")
    watch_roots(rules)   # a missing path is refused before anything starts
    rebuilt = [r.service for r in rules if r.action is Action.REBUILD]
    if no_build and rebuilt:
        raise WatchError("--no-build is incompatible with the watch action rebuild of service "
                         f"{rebuilt[0]!r}")
    return rules


def watch_roots(rules: Iterable[Rule]) -> list[str]:
    """The directories to watch: a rule's path, or the directory of a rule that names a file."""
    roots = []
    for rule in rules:
        if os.path.isdir(rule.path):
            roots.append(rule.path)
        elif os.path.lexists(rule.path):
            roots.append(os.path.dirname(rule.path))
        else:
            raise WatchError(f"service {rule.service!r}: watch path {rule.path} does not exist")
    return list(dict.fromkeys(roots))


def sync_tar(copies: Iterable[Any], out: Any,
             keep: Callable[[str, bool], bool] | None = None) -> None:
    """One tar of the host paths, each member named by its container path (no leading "/"),
    owned as on the host (Compose syncs with copyUIDGID). A directory brings what is below it
    that `keep(host_path, is_dir)` accepts (the rules' ignores hold inside a new directory
    too). A path gone since the batch was planned is left out (its delete comes later)."""
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for m in copies:
            arc = m.container.lstrip("/")

            def chosen(info: tarfile.TarInfo, m: Any = m, arc: str = arc) -> Any:
                host = m.host + info.name[len(arc):]
                if keep is not None and host != m.host and not keep(host, info.isdir()):
                    return None   # and, for a directory, nothing below it
                info.uname = info.gname = ""   # numeric ids: the container's names differ
                return info

            try:
                tar.add(m.host, arcname=arc, recursive=True, filter=chosen)
            except FileNotFoundError:
                continue


def _run_exec(client: Any, cid: str, command: Sequence[str],
              hook: ExecHook | None = None) -> tuple[int, bytes, bytes]:
    """Run a command in the container to its end: (exit code, stdout, stderr)."""
    env = [f"{k}={v}" for k, v in hook.environment] if hook else None
    exec_id = client.exec_create(cid, list(command), stdout=True, stderr=True,
                                 env=env or None, user=hook.user if hook else None,
                                 workdir=hook.working_dir if hook else None,
                                 privileged=hook.privileged if hook else False)
    out: dict[int, list[bytes]] = {1: [], 2: []}
    with client.exec_start(exec_id) as sock:
        for stream, data in sock.frames():
            out.setdefault(stream, []).append(data)
    code = client.exec_inspect(exec_id).get("ExitCode")
    return 0 if code is None else int(code), b"".join(out[1]), b"".join(out[2])


def _first_line(data: bytes) -> str:
    lines = data.decode(errors="replace").strip().splitlines()
    return f": {lines[0]}" if lines else ""


class Watcher:
    """Applies batches to a project's running containers. `orchestrator` makes a fresh
    Orchestrator (a rebuild runs an `up` of the service)."""

    def __init__(self, project: ProjectSpec, gateway: Any, progress: Any,
                 orchestrator: Callable[[], Any], rules: Sequence[Rule],
                 timeout: int | None = None, prune: bool = True) -> None:
        self.project, self.gw, self.progress = project, gateway, progress
        self.prune = prune
        self.orchestrator = orchestrator
        self.rules = list(rules)
        self.timeout = timeout
        self.rebuilds = 0                 # finished rebuilds (up --watch re-attaches after one)
        self.rebuilding = False
        self._rebuilt = trio.Event()

    async def settled(self) -> None:
        """Returns once no rebuild is under way."""
        while self.rebuilding:
            await self._rebuilt.wait()

    async def _call(self, fn: Callable[[Any], Any]) -> Any:
        """`fn(client)` on a worker thread with that thread's client."""
        return await self.gw.blocking(lambda: fn(self.gw.client()))

    async def running(self, service: str) -> dict[str, str]:
        """id -> name of the service's running containers."""
        from compose.orchestrator import labels as L

        found = await self.gw.call("containers", all=False,
                                   filters=L.filters(self.project.name, service, False))
        return {c["Id"]: (c.get("Names") or ["/" + c["Id"][:12]])[0].lstrip("/")
                for c in found or [] if c.get("State") in ("running", None)}

    async def apply(self, plan: ServicePlan, announce: bool = True) -> None:
        try:
            await self._apply(plan, announce)
        except PycomposeError as e:
            self.progress.warn(f"watch: service {plan.service!r}: {e.message}")
        except OSError as e:   # a host file unreadable while making the tar
            self.progress.warn(f"watch: service {plan.service!r}: "
                               f"{e.filename or ''}: {e.strerror or e}")

    async def _apply(self, plan: ServicePlan, announce: bool = True) -> None:
        name = plan.service
        if plan.rebuild:
            await self._rebuild(name)
            if not (plan.copies or plan.deletes or plan.restart or plan.hooks):
                return
        ids = await self.running(name)
        if not ids:
            self.progress.warn(f"watch: service {name!r} has no running container: "
                               f"{plan.changed} change(s) not applied")
            return
        if announce and (plan.copies or plan.deletes):
            self.progress.info(f"Syncing service {name!r} after {plan.changed} changes "
                               "were detected")
        async with trio.open_nursery() as nursery:
            for cid, shown in ids.items():
                nursery.start_soon(self._one, plan, cid, shown)

    async def _rebuild(self, name: str) -> None:
        """Build the service's image, recreate its containers (no deps); with `prune`, remove
        the image the build replaced when nothing uses or names it any more."""
        from compose.orchestrator.executor import UpOptions, summarize_failures

        self.progress.info(f"Rebuilding service {name!r} after changes were detected...")
        orch = self.orchestrator()
        tag = orch.image_ref(self.project.service(name))
        old = await self._image_id(tag)
        self.rebuilding = True
        try:
            result = await orch.up(UpOptions(services=(name,), no_deps=True,
                                             policy=RecreatePolicy.FORCE, build=True,
                                             timeout=self.timeout))
        finally:
            self.rebuilding = False
            self.rebuilds += 1
            self._rebuilt.set()
            self._rebuilt = trio.Event()
        error = summarize_failures(result)
        if error is not None:
            raise error
        if self.prune and old and old != await self._image_id(tag):
            try:
                if not (await self.gw.call("inspect_image", old)).get("RepoTags"):
                    await self.gw.call("remove_image", old)
            except PycomposeError:
                pass   # in use (another project's container) or gone already: keep it
        self.progress.info(f"service {name!r} successfully built")

    async def _image_id(self, tag: str | None) -> str | None:
        if not tag:
            return None
        try:
            return (await self.gw.call("inspect_image", tag)).get("Id")
        except NotFound:
            return None

    async def _one(self, plan: ServicePlan, cid: str, shown: str) -> None:
        if plan.deletes:
            code, _, err = await self._call(
                lambda c: _run_exec(c, cid, ["rm", "-rf", "--", *plan.deletes]))
            if code:
                raise WatchError(f"rm of {len(plan.deletes)} path(s) in {shown} "
                                 f"exited {code}{_first_line(err)}")
        if plan.copies:
            await self._call(lambda c: self._put(c, cid, plan))
        if plan.restart:
            await self.gw.call("restart", cid, self.timeout)
            self.progress.done("Container", shown, "Restarted")
        for hook in plan.hooks:
            code, out, err = await self._call(lambda c, h=hook: _run_exec(c, cid, h.command, h))
            # the command's output shows, as an exec's would (as Compose runs it)
            sys.stdout.buffer.write(out)
            sys.stdout.buffer.flush()
            sys.stderr.buffer.write(err)
            sys.stderr.flush()
            if code:
                self.progress.warn(f"watch: {' '.join(hook.command)!r} in {shown} "
                                   f"exited {code}")

    def _put(self, client: Any, cid: str, plan: ServicePlan) -> None:
        rules = [r for r in self.rules if r.service == plan.service and r.action.syncs]

        def keep(path: str, is_dir: bool) -> bool:
            return descends(rules, path) if is_dir else any(r.matches(path) for r in rules)

        with tempfile.TemporaryFile() as spool:
            sync_tar(plan.copies, spool, keep)
            spool.seek(0)
            # the `cp -a` upload: PUT .../archive?path=/&copyUIDGID=1
            cp._put(client, cid, "/", spool, archive=True)

    async def initial_sync(self) -> None:
        """`initial_sync: true` rules: their whole tree into the containers once."""
        by_service: dict[str, list[str]] = {}
        for rule in self.rules:
            if not rule.initial_sync:
                continue
            walked = await trio.to_thread.run_sync(_walk, rule.path, [rule])
            build = self.project.service(rule.service).model.build
            dockerfile = build.dockerfile if build is not None else None
            by_service.setdefault(rule.service, []).extend(
                initial_paths(rule, walked, dockerfile))
        for service, paths in by_service.items():
            rules = [r for r in self.rules if r.service == service and r.action.syncs]
            for plan in plan_batch(rules, paths, {p: True for p in paths}):
                # the initial copy only, unannounced (as Compose): no restart or hook for
                # files the image may hold too
                await self.apply(ServicePlan(plan.service, copies=plan.copies,
                                             changed=plan.changed), announce=False)

    async def run(self, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        """Watch until cancelled; started once the tree is watched (an edit made after that
        is seen), then the initial sync."""
        try:
            tree = TreeWatch(watch_roots(self.rules), lambda d: descends(self.rules, d))
        except OSError as e:
            raise WatchError(_watch_error(e)) from None
        try:
            task_status.started()
            await self.initial_sync()
            self.progress.info("Watch enabled")
            await self._loop(tree)
        finally:
            tree.close()

    async def _loop(self, tree: TreeWatch) -> None:
        batcher = Batcher()
        while True:
            deadline = batcher.deadline()
            with trio.move_on_at(deadline if deadline is not None else float("inf")):
                await trio.lowlevel.wait_readable(tree.fd)
            try:
                events = tree.read()
            except OSError as e:   # a new directory that cannot be watched: say so, go on
                self.progress.warn(f"watch: {_watch_error(e)}")
                continue
            paths = [p for p in events if any(r.matches(p) for r in self.rules)]
            batcher.add(paths, trio.current_time())
            batch = batcher.take(trio.current_time())
            if not batch:
                continue
            exists = {p: os.path.lexists(p) for p in batch}
            for plan in plan_batch(self.rules, batch, exists):
                await self.apply(plan)


def _watch_error(e: OSError) -> str:
    if e.errno == errno.ENOSPC:   # inotify's per-user budget, not the disk
        return (f"{e.strerror}: the inotify watch limit is reached (raise "
                "fs.inotify.max_user_watches, or ignore big directories in the rules)")
    return str(e.strerror or e)


def _walk(root: str, rules: Sequence[Rule]) -> list[str]:
    """The files below `root`, not entering directories the rules exclude whole."""
    if not os.path.isdir(root):
        return [root] if os.path.lexists(root) else []
    out = []
    for parent, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if descends(rules, os.path.join(parent, d))]
        out += [os.path.join(parent, f) for f in files]
    return out


async def run_watch(session: Any, rules: Sequence[Rule], *, up: Any = None,
                    timeout: int | None = None, prune: bool = True) -> int:
    """`pycompose watch`: `up` (an UpOptions) first unless --no-up, then watch until Ctrl-C."""
    if up is not None:
        from compose.orchestrator.executor import summarize_failures

        error = summarize_failures(await session.orchestrator().up(up))
        if error is not None:
            raise error
    watcher = Watcher(session.project, session.gateway, session.progress, session.orchestrator,
                      rules, timeout, prune)
    await watcher.run()
    return 0


async def run_up_watch(session: Any, rules: Sequence[Rule], up_opts: Any, attach_opts: Any,
                       attached: Sequence[str], timeout: int | None = None) -> int:
    """`up --watch`: up, then the watch and the attached output together, with up's Ctrl-C
    protocol (compose/orchestrator/up.py). A rebuild replaces containers the output
    followed: when that leaves none, the new ones are attached again."""
    from compose.logprinter import ByteSink
    from compose.orchestrator.attach import Interrupts, attach, graceful_stop, signal_receiver
    from compose.orchestrator.executor import Started, summarize_failures

    orch = session.orchestrator()
    interrupts = Interrupts()
    watcher = Watcher(session.project, session.gateway, session.progress, session.orchestrator,
                      rules, timeout)
    with signal_receiver() as signals:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(interrupts.watch, signals, orch.progress)
            try:
                with interrupts.work():
                    result = await orch.up(up_opts)
                if interrupts.count:
                    await graceful_stop(orch, interrupts, up_opts.timeout)
                    return 0
                error = summarize_failures(result)
                if error is not None:
                    raise error
                await nursery.start(watcher.run)
                wanted = set(attached)
                containers = [c for c in result.containers if c.service in wanted]
                while True:
                    seen = watcher.rebuilds
                    sink = ByteSink(1)
                    try:
                        code = await attach(orch, containers, attach_opts, interrupts, sink)
                    finally:
                        sink.flush()
                    await watcher.settled()
                    if interrupts.count or watcher.rebuilds == seen:
                        return code   # Ctrl-C, or the containers exited on their own
                    containers = [Started(c.service, c.name, c.id)
                                  for c in await orch.observed(all=False, oneoff=False)
                                  if c.service in wanted]
                    if not containers:
                        return code
            finally:
                nursery.cancel_scope.cancel()
