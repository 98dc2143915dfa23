"""Runs a parsed Dockerfile: stage by stage, step by step, each step one image in the store.

Each step's result is looked up first (commits.py: the layer cache, cache.py, or the
`cachefrom` images, cachefrom.py); a miss runs the step: RUN in a container over the parent
image (sandbox.py; its network and /etc files, stepnet.py; its --mount's, runmounts.py),
COPY/ADD by extracting a tar into the mounted parent (layers.py), everything else by changing
the config. Progress goes to `emit` as Docker's build JSON messages ({"stream": ...}, a RUN's
stderr in red as the classic builder's, {"aux": {"ID": ...}}); a failure raises a
PycomposeError whose message is what Docker prints, after which nothing is tagged and no mount,
cgroup or process is left.

Behaviour follows Docker's classic builder output with BuildKit's semantics where they differ
in substance: only the stages `--target` depends on are built; RUN secrets and cache mounts.
"""
from __future__ import annotations

import codecs
import hashlib
import json
import os
import shutil
import posixpath
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import trio

from engine.build import dockerfile as df
from engine.build import metadata, stepnet
from engine.build.cache import LayerCache
from engine.build.commits import StageState, StepCommits, StepId
from engine.build.context import BuildContext
from engine.build.layers import Ownership, parse_chmod, write_copy
from engine.build.runmounts import run_mounts
from engine.build.sandbox import (RUNTIME_TARGETS, RunRequest, Sandbox, remove_stale_cgroups,
                                  run_process)
from engine.build.stepnet import StepNetwork
from engine.dockerignore import Matcher, parse_patterns
from engine.errors import (BadParameter, CommandNotExecutable, CommandNotFound, NotFound,
                           PycomposeError)
from engine.images.archive import extract_layer
from engine.runtime import rootfs, users
from engine.runtime.spec import Mount, User

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# Usable in RUN without an ARG line (Docker's predefined args); never in the image.
PREDEFINED_ARGS = frozenset({"HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy",
                             "FTP_PROXY", "ftp_proxy", "NO_PROXY", "no_proxy", "ALL_PROXY",
                             "all_proxy"})
PLATFORM_ARGS = {"TARGETPLATFORM": "linux/amd64", "TARGETOS": "linux", "TARGETARCH": "amd64",
                 "TARGETVARIANT": "", "BUILDPLATFORM": "linux/amd64", "BUILDOS": "linux",
                 "BUILDARCH": "amd64", "BUILDVARIANT": ""}


class BuildError(PycomposeError):
    """A step failed; the message is Docker's (e.g. "The command '/bin/sh -c false' returned a
    non-zero code: 1")."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class BuildOptions:
    dockerfile: str = "Dockerfile"
    tags: tuple[str, ...] = ()
    build_args: dict[str, str] = field(default_factory=dict)
    target: str | None = None
    no_cache: bool = False
    pull: bool = False
    labels: dict[str, str] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)    # id -> host file path
    network: StepNetwork = StepNetwork()                      # RUN steps (stepnet.py)
    extra_hosts: tuple[tuple[str, str], ...] = ()             # (host, ip) in RUN's /etc/hosts
    cache_from: tuple[str, ...] = ()                          # cachefrom.py


@dataclass
class BuildResult:
    image_id: str
    steps: int
    cached: int


class Builder:
    def __init__(self, store, runtime, cgroups, state_root: Path, networks=None) -> None:
        self.store = store
        self.runtime = runtime
        self.cgroups = cgroups
        self.networks = networks        # netbridge's manager: RUN steps on a user network
        self.root = Path(state_root)
        self.cache = LayerCache(self.root / "cache")
        self.work = self.root / "work"
        self.cache_mounts = self.root / "cache-mounts"
        self.work.mkdir(parents=True, exist_ok=True)
        self.scope = hashlib.sha256(str(self.root.resolve()).encode()).hexdigest()[:8]

    def cleanup_stale(self) -> None:
        """What a build of this state root left when its process died (call at daemon start,
        before any build): overlay mounts and step dirs under work/, build cgroups."""
        rootfs.cleanup_stale_mounts(self.work)
        for entry in self.work.iterdir():
            shutil.rmtree(entry, ignore_errors=True)
        remove_stale_cgroups(self.cgroups, self.scope)

    async def build(self, context: BuildContext, options: BuildOptions,
                    emit: Callable[[dict], None]) -> BuildResult:
        text = context.read_dockerfile(options.dockerfile)
        run = _Run(self, context, options, df.parse(text, _shown_name(options.dockerfile)), emit)
        image_id = await run.execute()
        for tag in options.tags:
            await trio.to_thread.run_sync(self.store.tag, image_id, tag)
        emit({"aux": {"ID": image_id}})
        emit({"stream": f"Successfully built {image_id[7:19]}\n"})
        for tag in options.tags:
            emit({"stream": f"Successfully tagged {_familiar(tag)}\n"})
        return BuildResult(image_id, run.step, run.commits.cached)


def _shown_name(name: str) -> str:
    return posixpath.basename(name) or "Dockerfile"


def _familiar(tag: str) -> str:
    from engine.images import reference
    return reference.familiar(str(reference.parse(tag)))


def _needed_stages(file: df.Dockerfile, target: int, meta: dict[str, str]) -> list[int]:
    """`target` and the stages it depends on (FROM <stage>, COPY --from=<stage>), in order."""
    needed: set[int] = set()

    def visit(index: int) -> None:
        if index in needed:
            return
        needed.add(index)
        stage = file.stages[index]
        base = df.expand_word(stage.base, meta, escape=file.escape, line=stage.line)
        dep = file.stage_index(base) if not base.isdigit() else None
        if dep is not None and dep < index:
            visit(dep)
        for instr in stage.instructions:
            ref = instr.flag("from") if instr.cmd == "COPY" else None
            if ref is not None:
                dep = file.stage_index(ref)
                if dep is not None and dep < index:
                    visit(dep)

    visit(target)
    return sorted(needed)


class _Run:
    """One build's state: the stages built so far and the step counter."""

    def __init__(self, builder: Builder, context: BuildContext, options: BuildOptions,
                 file: df.Dockerfile, emit: Callable[[dict], None]) -> None:
        self.b, self.context, self.options, self.file, self.emit = (builder, context, options,
                                                                   file, emit)
        self.results: dict[int, StageState] = {}
        self.step = 0
        self.commits = StepCommits(builder, options.no_cache, options.cache_from, emit)
        self.used_args: set[str] = set()

    def fail(self, instr: df.Instruction | df.Stage, message: str) -> BadParameter:
        return df.DockerfileError(message, filename=self.file.filename, line=instr.line)

    # -- the plan --------------------------------------------------------------------------

    def _meta_args(self) -> dict[str, str]:
        values: dict[str, str] = dict(PLATFORM_ARGS)
        for instr in self.file.meta_args:
            for key, default in df.key_values(instr, values, escape=self.file.escape,
                                              filename=self.file.filename):
                self.used_args.add(key)
                if key in self.options.build_args:
                    values[key] = self.options.build_args[key]
                elif default is not None:
                    values[key] = default
        return values

    async def execute(self) -> str:
        meta = self._meta_args()
        if self.options.target:
            target = self.file.stage_index(self.options.target)
            if target is None:
                raise BadParameter(f"failed to reach build target {self.options.target} in "
                                   "Dockerfile")
        else:
            target = len(self.file.stages) - 1
        stages = _needed_stages(self.file, target, meta)
        self.total = sum(1 + len(self.file.stages[i].instructions) for i in stages)
        for index in stages:
            self.results[index] = await self._stage(self.file.stages[index], meta)
        unused = sorted(set(self.options.build_args) - self.used_args - PREDEFINED_ARGS)
        if unused:
            self.emit({"stream": f"[Warning] One or more build-args [{' '.join(unused)}] were "
                                 "not consumed\n"})
        final = self.results[target]
        if self.options.labels:
            config = dict(final.config)
            config["Labels"] = {**(config.get("Labels") or {}), **self.options.labels}
            final = await self.commits.commit_meta(final, config, "LABEL " + " ".join(
                f"{k}={v}" for k, v in sorted(self.options.labels.items())))
        if final.image_id is None:
            final = await self.commits.commit_meta(final, final.config, "")
        assert final.image_id is not None
        return final.image_id

    # -- stages ----------------------------------------------------------------------------

    def _announce(self, text: str) -> None:
        self.step += 1
        self.emit({"stream": f"Step {self.step}/{self.total} : {text}\n"})

    async def _stage(self, stage: df.Stage, meta: dict[str, str]) -> StageState:
        base = df.expand_word(stage.base, meta, escape=self.file.escape, line=stage.line,
                              filename=self.file.filename)
        self._announce(f"FROM {base}" + (f" AS {stage.name}" if stage.name else ""))
        dep = self.file.stage_index(base) if not base.isdigit() else None
        if dep is not None and dep < stage.index and dep in self.results:
            prev = self.results[dep]
            state = StageState(prev.image_id, json.loads(json.dumps(prev.config)))
        elif base == "scratch":
            state = StageState(None, {})
        else:
            image = await self._base_image(stage, base)
            state = StageState(image.id, json.loads(json.dumps(image.config)))
        if state.image_id:
            self.emit({"stream": f" ---> {state.image_id[7:19]}\n"})
        state.args = {}
        self._meta = meta
        for instr in stage.instructions:
            state = await self._instruction(state, instr)
        return state

    async def _base_image(self, stage: df.Stage, ref: str):
        store = self.b.store
        if not self.options.pull:
            try:
                return await trio.to_thread.run_sync(store.get, ref)
            except NotFound:
                pass
        progress = lambda msg: None  # noqa: E731 - per-layer pull progress is not forwarded
        self.emit({"stream": f"Pulling {ref} ...\n"})
        try:
            return await trio.to_thread.run_sync(
                lambda: store.pull(ref, stage.platform, progress))
        except PycomposeError as exc:
            raise self.fail(stage, f"FROM {ref}: {exc}") from None

    # -- instructions ----------------------------------------------------------------------

    async def _instruction(self, state: StageState, instr: df.Instruction) -> StageState:
        cmd = instr.cmd
        env = state.env()
        self._announce(instr.original)
        if cmd == "ARG":
            return self._arg(state, instr)
        if cmd == "RUN":
            return await self._run(state, instr)
        if cmd in ("COPY", "ADD"):
            return await self._copy(state, instr, env)
        applied = metadata.apply(state.config, instr, env, cmd_set=state.cmd_set,
                                 escape=self.file.escape, filename=self.file.filename)
        state = StageState(state.image_id, state.config, state.args, applied.cmd_set)
        return await self.commits.cached_meta(state, applied.config, applied.created_by,
                                              json.dumps(applied.config, sort_keys=True))

    def _arg(self, state: StageState, instr: df.Instruction) -> StageState:
        for key, default in df.key_values(instr, state.env(), escape=self.file.escape,
                                          filename=self.file.filename):
            self.used_args.add(key)
            if key in self.options.build_args:
                state.args[key] = self.options.build_args[key]
            elif default is not None:
                state.args[key] = default
            elif key in self._meta:
                state.args[key] = self._meta[key]
        return state

    # -- RUN -------------------------------------------------------------------------------

    async def _run(self, state: StageState, instr: df.Instruction) -> StageState:
        config = state.config
        if instr.exec_form is not None:
            args = tuple(instr.exec_form)
        else:
            args = (*(config.get("Shell") or metadata.DEFAULT_SHELL), instr.text)
        env, build_env, names = self._run_env(state)
        flags = " ".join(f"--{k}={v}" for k, v in instr.flags)
        created_by = f"RUN {flags + ' ' if flags else ''}{' '.join(args)}"
        mounts = run_mounts(instr, self.file.filename, self.options.secrets,
                            self.b.cache_mounts)
        network = self._step_network(instr)
        step = self.commits.step(state, created_by, build_args=build_env,
                                 content=network.cache_word)
        hit = await self.commits.lookup(state, step, config)
        if hit is not None:
            return state.moved_to(hit)
        plan = _RunPlan(args, env, "HOME" not in names, tuple(mounts), network, created_by)
        return await self._run_step(state, instr, plan, step)

    def _run_env(self, state: StageState) -> tuple[tuple[str, ...], dict[str, str], set[str]]:
        """(the step's environment, the build args in it, the names the image sets)."""
        env_items = list(state.config.get("Env") or [])
        names = {item.partition("=")[0] for item in env_items}
        build_env = {k: v for k, v in state.args.items() if k not in names}
        for key in PREDEFINED_ARGS & set(self.options.build_args):
            build_env.setdefault(key, self.options.build_args[key])
        if "PATH" not in names:
            env_items.append(f"PATH={DEFAULT_PATH}")
        return tuple(env_items + [f"{k}={v}" for k, v in build_env.items()]), build_env, names

    def _step_network(self, instr: df.Instruction) -> StepNetwork:
        if instr.flag("security") not in (None, "sandbox"):
            raise self.fail(instr, "RUN --security=insecure is not supported")
        flag = instr.flag("network")
        network = stepnet.step_network(flag, self.options.network)
        if network is None:
            raise self.fail(instr, f"unsupported RUN --network={flag} (default, host, none)")
        return network

    async def _run_step(self, state: StageState, instr: df.Instruction, plan: _RunPlan,
                        step: StepId) -> StageState:
        shown = " ".join(plan.args)
        lowers = await self.commits.lowers(state.image_id)
        with Sandbox(lowers, self.b.work) as box:
            targets = [*RUNTIME_TARGETS, "/etc/resolv.conf", "/etc/hosts",
                       *(m.target for m in plan.mounts)]
            stubs = box.missing(targets)
            user = self._user(box, instr, state.config.get("User") or "")
            env = plan.env
            if plan.needs_home:       # as Docker does: the user's home from /etc/passwd
                env = (*env, f"HOME={box.home(user.uid)}")
            request = RunRequest(plan.args, env, state.config.get("WorkingDir") or "/", user,
                                 plan.mounts, plan.network, self.options.extra_hosts)
            self.emit({"stream": f" ---> Running in {os.path.basename(box.dir)[:12]}\n"})
            try:
                status = await run_process(self.b.runtime, self.b.cgroups, box, request,
                                           _stream(self.emit), errors=_stream(self.emit, True),
                                           scope=self.b.scope, networks=self.b.networks)
            except (CommandNotFound, CommandNotExecutable) as exc:
                raise BuildError(f"The command '{shown}' could not run: {exc.message}",
                                 exc.exit_code) from None
            if status.code != 0:
                raise BuildError(f"The command '{shown}' returned a non-zero code: "
                                 f"{status.code}", status.code)
            return await self.commits.commit_layer(state, box, plan.created_by, step, stubs,
                                                   targets)

    def _user(self, box: Sandbox, instr: df.Instruction, spec: str,
              what: str = "USER ") -> User:
        try:
            return users.resolve_user(box.merged, spec)
        except PycomposeError as exc:
            raise self.fail(instr, f"{what}{spec}: {exc}") from None

    # -- COPY / ADD ------------------------------------------------------------------------

    async def _copy(self, state: StageState, instr: df.Instruction,
                    env: dict[str, str]) -> StageState:
        plan = await self._copy_plan(state, instr, env)
        if plan.from_ref is None:
            return await self._copy_from(state, instr, plan, self.context)
        lowers = await self.commits.lowers(plan.source_id)
        with Sandbox(lowers, self.b.work) as src_box:
            return await self._copy_from(state, instr, plan,
                                         BuildContext(src_box.merged, Matcher([])))

    async def _copy_plan(self, state: StageState, instr: df.Instruction,
                         env: dict[str, str]) -> _CopyPlan:
        """The words and flags of a COPY/ADD, checked and substituted."""
        esc, name = self.file.escape, self.file.filename
        if instr.exec_form is not None:
            words = [df.expand_word(w, env, escape=esc, line=instr.line, filename=name)
                     for w in instr.exec_form]
        else:
            words = df.expand_words(instr.text, env, escape=esc, line=instr.line, filename=name)
        *sources, dest = words
        if instr.cmd == "ADD":
            for src in sources:
                if "://" in src or src.startswith("git@"):
                    raise self.fail(instr, f"ADD from a URL is not supported (builds have no "
                                    f"access to remote sources): {src}")
        for flag in ("parents", "checksum", "keep-git-dir"):
            if instr.flag(flag) is not None:
                raise self.fail(instr, f"{instr.cmd} --{flag} is not supported")
        from_ref, source_id = instr.flag("from"), ""
        if from_ref is not None:
            from_ref = df.expand_word(from_ref, {**self._meta, **env}, escape=esc)
            source_id = await self._from_image(instr, from_ref)
        chown, chmod = (None if v is None else df.expand_word(v, env, escape=esc, line=instr.line)
                        for v in (instr.flag("chown"), instr.flag("chmod")))
        try:
            mode = parse_chmod(chmod) if chmod else None
        except BadParameter as exc:
            raise self.fail(instr, exc.message) from None
        workdir = state.config.get("WorkingDir") or "/"
        text = f"{instr.cmd} {' '.join(f'--{k}={v}' for k, v in instr.flags)} " \
               f"{' '.join(words)}".replace("  ", " ")
        return _CopyPlan(tuple(sources), posixpath.normpath(posixpath.join(workdir, dest)),
                         dest.endswith("/") or dest in (".", "..") or dest.endswith("/."),
                         tuple(instr.flag_all("exclude")), from_ref, source_id, chown, mode,
                         text)

    def _copy_matches(self, instr: df.Instruction, plan: _CopyPlan,
                      ctx: BuildContext) -> list[str]:
        """The paths of `ctx` (its rules include --exclude) the sources name."""
        matched: list[str] = []
        for src in plan.sources:
            try:
                found = ctx.matches(src)
            except PycomposeError as exc:
                raise self.fail(instr, f"{instr.cmd} failed: {exc}") from None
            if not found:
                raise self.fail(instr, f"{instr.cmd} failed: file not found in build "
                                f"context or excluded by .dockerignore: stat {src}: file "
                                "does not exist")
            matched.extend(found)
        if len(matched) > 1 and not plan.dest_is_dir:
            raise self.fail(instr, f"When using {instr.cmd} with more than one source "
                            "file, the destination must be a directory and end with a /")
        return matched

    async def _copy_from(self, state: StageState, instr: df.Instruction, plan: _CopyPlan,
                         ctx: BuildContext) -> StageState:
        if plan.excludes:
            # --exclude: patterns like .dockerignore's, matched at any depth below the
            # context (or the --from image) root
            extra = parse_patterns("\n".join(p for x in plan.excludes for p in (x, "**/" + x)))
            ctx = BuildContext(ctx.root, Matcher(ctx.matcher.patterns + extra))
        matched = self._copy_matches(instr, plan, ctx)
        content = await trio.to_thread.run_sync(ctx.content_hash, matched)
        # flags are in `text`
        step = self.commits.step(state, plan.text, content=content + plan.source_id)
        hit = await self.commits.lookup(state, step, state.config)
        if hit is not None:
            return state.moved_to(hit)
        lowers = await self.commits.lowers(state.image_id)
        with Sandbox(lowers, self.b.work) as box:
            own = Ownership(mode=plan.mode)
            if plan.chown:
                user = self._user(box, instr, plan.chown, f"{instr.cmd} --chown=")
                own = Ownership(user.uid, user.gid, plan.mode)
            into_dir = plan.dest_is_dir or box.kind(plan.dest) == "dir"

            def work() -> None:
                with tempfile.TemporaryFile(dir=box.dir) as tmp:
                    write_copy(tmp, ctx, matched, plan.dest, into_dir, own, box.kind,
                               extract_archives=instr.cmd == "ADD" and not plan.from_ref)
                    tmp.seek(0)
                    extract_layer(tmp, box.merged, allow_devices=False,
                                  overlay_whiteouts=False)

            try:
                await trio.to_thread.run_sync(work)
            except PycomposeError as exc:
                raise self.fail(instr, f"{instr.cmd} failed: {exc}") from None
            return await self.commits.commit_layer(state, box, plan.text, step)

    async def _from_image(self, instr: df.Instruction, ref: str) -> str:
        index = self.file.stage_index(ref)
        if index is not None:
            result = self.results.get(index)
            if result is None:
                raise self.fail(instr, f"COPY --from={ref}: the stage must come before this one")
            if result.image_id is None:
                result = self.results[index] = await self.commits.commit_meta(
                    result, result.config, "")
            return result.image_id or ""
        try:
            image = await trio.to_thread.run_sync(self.b.store.get, ref)
        except NotFound:
            image = await self._base_image(df.Stage(0, None, ref, None, instr.line), ref)
        return image.id


@dataclass(frozen=True)
class _RunPlan:
    args: tuple[str, ...]
    env: tuple[str, ...]
    needs_home: bool                # the image sets no HOME: the user's, found in the step
    mounts: tuple[Mount, ...]
    network: StepNetwork
    created_by: str


@dataclass(frozen=True)
class _CopyPlan:
    sources: tuple[str, ...]
    dest: str                       # absolute in the image
    dest_is_dir: bool               # said so by its spelling (`dir/`, `.`)
    excludes: tuple[str, ...]
    from_ref: str | None
    source_id: str                  # --from's image, "" for the context
    chown: str | None
    mode: int | None
    text: str                       # the history's created_by


_STDERR_START, _STDERR_END = "\x1b[91m", "\x1b[0m"


def _stream(emit: Callable[[dict], None], stderr: bool = False) -> Callable[[bytes], None]:
    """A sink of a RUN's output: each read is one `stream` message, decoded across reads (a
    character split between two reads stays whole). Stderr is wrapped in red as Docker's
    classic builder wraps it (clients print it as is)."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def sink(data: bytes) -> None:
        text = decoder.decode(data)
        if text:
            emit({"stream": f"{_STDERR_START}{text}{_STDERR_END}" if stderr else text})

    return sink
