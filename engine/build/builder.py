"""Runs a parsed Dockerfile: stage by stage, step by step, each step one image in the store.

Each step's result is looked up in the layer cache first (cache.py); a miss runs the step:
RUN in a container over the parent image (sandbox.py), COPY/ADD by extracting a tar into the
mounted parent (layers.py), everything else by changing the config. Progress goes to `emit` as
Docker's build JSON messages ({"stream": ...}, {"aux": {"ID": ...}}); a failure raises a
PycomposeError whose message is what Docker prints, after which nothing is tagged and no mount,
cgroup or process is left.

Behaviour follows Docker's classic builder output with BuildKit's semantics where they differ
in substance: only the stages `--target` depends on are built; RUN secrets and cache mounts.
"""
from __future__ import annotations

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
from engine.build import metadata
from engine.build.cache import LayerCache, step_key
from engine.build.context import BuildContext
from engine.dockerignore import Matcher, parse_patterns
from engine.build.layers import Ownership, parse_chmod, write_copy
from engine.build.sandbox import (RUNTIME_TARGETS, RunRequest, Sandbox, remove_stale_cgroups,
                                  run_process)
from engine.errors import (BadParameter, CommandNotExecutable, CommandNotFound, NotFound,
                           PycomposeError)
from engine.images.archive import extract_layer, write_diff
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
    network: str = "default"                                  # RUN steps: default|host|none


@dataclass
class StageState:
    image_id: str | None                   # None: scratch, nothing committed yet
    config: dict
    args: dict[str, str] = field(default_factory=dict)
    cmd_set: bool = False                  # CMD given in this stage (ENTRYPOINT keeps it then)

    def env(self) -> dict[str, str]:
        out = dict(self.args)
        for item in self.config.get("Env") or []:
            key, _, value = item.partition("=")
            out[key] = value
        return out


@dataclass
class BuildResult:
    image_id: str
    steps: int
    cached: int


class Builder:
    def __init__(self, store, runtime, cgroups, state_root: Path) -> None:
        self.store = store
        self.runtime = runtime
        self.cgroups = cgroups
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
        return BuildResult(image_id, run.step, run.cached)


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
        self.cached = 0
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
            final = await self._commit_meta(final, config, "LABEL " + " ".join(
                f"{k}={v}" for k, v in sorted(self.options.labels.items())))
        if final.image_id is None:
            final = await self._commit_meta(final, final.config, "")
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
        return await self._cached_meta(state, applied.config, applied.created_by)

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

    # -- committing ------------------------------------------------------------------------

    def _key(self, state: StageState, text: str, **kw) -> str:
        return step_key(state.image_id or "scratch", text, **kw)

    async def _lookup(self, key: str) -> str | None:
        if self.options.no_cache:
            return None
        image_id = self.b.cache.get(key)
        if image_id is None:
            return None
        try:
            await trio.to_thread.run_sync(self.b.store.get, image_id)
        except NotFound:
            self.b.cache.forget(key)
            return None
        self.emit({"stream": " ---> Using cache\n"})
        self.emit({"stream": f" ---> {image_id[7:19]}\n"})
        self.cached += 1
        return image_id

    async def _cached_meta(self, state: StageState, config: dict, created_by: str) -> StageState:
        key = self._key(state, created_by, content=json.dumps(config, sort_keys=True))
        hit = await self._lookup(key)
        if hit is not None:
            return StageState(hit, config, state.args, state.cmd_set)
        new = await self._commit_meta(state, config, created_by)
        self.b.cache.put(key, new.image_id or "")
        return new

    async def _commit_meta(self, state: StageState, config: dict, created_by: str
                           ) -> StageState:
        image = await trio.to_thread.run_sync(
            lambda: self.b.store.commit(state.image_id, None, config, created_by=created_by))
        self.emit({"stream": f" ---> {image.id[7:19]}\n"})
        return StageState(image.id, config, state.args, state.cmd_set)

    async def _commit_layer(self, state: StageState, sandbox: Sandbox, created_by: str,
                            stubs: list[str] = (), targets: list[str] = ()) -> StageState:
        """Unmount, drop mount stubs, turn the upper dir into a layer, commit."""
        sandbox.unmount()
        sandbox.remove_stubs(list(stubs), list(targets))

        def work():
            with tempfile.TemporaryFile(dir=sandbox.dir) as tmp:
                write_diff(sandbox.upper, tmp)
                tmp.seek(0)
                return self.b.store.commit(state.image_id, tmp, state.config,
                                           created_by=created_by)

        image = await trio.to_thread.run_sync(work)
        self.emit({"stream": f" ---> {image.id[7:19]}\n"})
        return StageState(image.id, state.config, state.args, state.cmd_set)

    async def _lowers(self, image_id: str | None) -> list[Path]:
        if image_id is None:
            return []
        store = self.b.store
        return await trio.to_thread.run_sync(lambda: store.layer_paths(store.get(image_id)))

    # -- RUN -------------------------------------------------------------------------------

    async def _run(self, state: StageState, instr: df.Instruction) -> StageState:
        config = state.config
        if instr.exec_form is not None:
            args = tuple(instr.exec_form)
            shown = " ".join(args)
        else:
            args = (*(config.get("Shell") or metadata.DEFAULT_SHELL), instr.text)
            shown = " ".join(args)
        env_items = list(config.get("Env") or [])
        names = {item.partition("=")[0] for item in env_items}
        build_env = {k: v for k, v in state.args.items() if k not in names}
        for key in PREDEFINED_ARGS & set(self.options.build_args):
            build_env.setdefault(key, self.options.build_args[key])
        if "PATH" not in names:
            env_items.append(f"PATH={DEFAULT_PATH}")
        env = tuple(env_items + [f"{k}={v}" for k, v in build_env.items()])
        flags = " ".join(f"--{k}={v}" for k, v in instr.flags)
        created_by = f"RUN {flags + ' ' if flags else ''}{shown}"
        mounts, network = self._run_mounts(instr)
        key = self._key(state, created_by, build_args=build_env, content=network)
        hit = await self._lookup(key)
        if hit is not None:
            return StageState(hit, config, state.args, state.cmd_set)
        lowers = await self._lowers(state.image_id)
        with Sandbox(lowers, self.b.work) as box:
            targets = [*RUNTIME_TARGETS, "/etc/resolv.conf", "/etc/hosts",
                       *(m.target for m in mounts)]
            stubs = box.missing(targets)
            user = self._user(box, instr, config.get("User") or "")
            if "HOME" not in names:       # as Docker does: the user's home from /etc/passwd
                env = (*env, f"HOME={box.home(user.uid)}")
            cwd = config.get("WorkingDir") or "/"
            request = RunRequest(args, env, cwd, user, tuple(mounts), network)
            self.emit({"stream": f" ---> Running in {os.path.basename(box.dir)[:12]}\n"})
            try:
                status = await run_process(self.b.runtime, self.b.cgroups, box, request,
                                           lambda data: self.emit(
                                               {"stream": data.decode(errors="replace")}),
                                           scope=self.b.scope)
            except (CommandNotFound, CommandNotExecutable) as exc:
                raise BuildError(f"The command '{shown}' could not run: {exc.message}",
                                 exc.exit_code) from None
            if status.code != 0:
                raise BuildError(f"The command '{shown}' returned a non-zero code: "
                                 f"{status.code}", status.code)
            new = await self._commit_layer(state, box, created_by, stubs, targets)
        self.b.cache.put(key, new.image_id or "")
        return new

    def _user(self, box: Sandbox, instr: df.Instruction, spec: str,
              what: str = "USER ") -> User:
        try:
            return users.resolve_user(box.merged, spec)
        except PycomposeError as exc:
            raise self.fail(instr, f"{what}{spec}: {exc}") from None

    def _run_mounts(self, instr: df.Instruction) -> tuple[list[Mount], str]:
        mounts: list[Mount] = []
        for raw in instr.flag_all("mount"):
            opts = df.parse_mount(raw, instr.line, self.file.filename)
            kind = opts["type"]
            if kind == "secret":
                ident = opts.get("id") or posixpath.basename(opts.get("target", ""))
                if not ident:
                    raise self.fail(instr, "secret mount needs an id or a target")
                target = opts.get("target") or f"/run/secrets/{ident}"
                source = self.options.secrets.get(ident)
                if source is None:
                    if opts.get("required", "false").lower() in ("true", "1"):
                        raise self.fail(instr, f"secret {ident} not found")
                    continue
                mounts.append(Mount(target=target, source=str(source), readonly=True))
            elif kind == "cache":
                target = opts.get("target")
                if not target:
                    raise self.fail(instr, "cache mount needs a target")
                ident = opts.get("id") or target
                source = self.b.cache_mounts / hashlib.sha256(ident.encode()).hexdigest()[:24]
                source.mkdir(parents=True, exist_ok=True)
                mounts.append(Mount(target=target, source=str(source)))
            elif kind == "tmpfs":
                target = opts.get("target")
                if not target:
                    raise self.fail(instr, "tmpfs mount needs a target")
                mounts.append(Mount(target=target, type="tmpfs"))
            else:
                raise self.fail(instr, f"RUN --mount=type={kind} is not supported "
                                "(secret, cache and tmpfs are)")
        if instr.flag("security") not in (None, "sandbox"):
            raise self.fail(instr, "RUN --security=insecure is not supported")
        network = instr.flag("network", self.options.network)
        if network not in ("default", "host", "none"):
            raise self.fail(instr, f"unsupported RUN --network={network} "
                            "(default, host, none)")
        return mounts, "none" if network == "none" else "host"

    # -- COPY / ADD ------------------------------------------------------------------------

    async def _copy(self, state: StageState, instr: df.Instruction,
                    env: dict[str, str]) -> StageState:
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
        workdir = state.config.get("WorkingDir") or "/"
        dest_is_dir = dest.endswith("/") or dest in (".", "..") or dest.endswith("/.")
        dest_abs = posixpath.normpath(posixpath.join(workdir, dest))
        for flag in ("parents", "checksum", "keep-git-dir"):
            if instr.flag(flag) is not None:
                raise self.fail(instr, f"{instr.cmd} --{flag} is not supported")
        excludes = instr.flag_all("exclude")
        from_ref = instr.flag("from")
        source_id = ""
        if from_ref is not None:
            from_ref = df.expand_word(from_ref, {**self._meta, **env}, escape=esc)
            source_id = await self._from_image(instr, from_ref)
        chown, chmod = (None if v is None else df.expand_word(v, env, escape=esc, line=instr.line)
                        for v in (instr.flag("chown"), instr.flag("chmod")))
        try:
            mode = parse_chmod(chmod) if chmod else None
        except BadParameter as exc:
            raise self.fail(instr, exc.message) from None
        text = f"{instr.cmd} {' '.join(f'--{k}={v}' for k, v in instr.flags)} " \
               f"{' '.join(words)}".replace("  ", " ")

        async def with_source(ctx: BuildContext) -> StageState:
            if excludes:
                # --exclude: patterns like .dockerignore's, matched at any depth below the
                # context (or the --from image) root
                extra = parse_patterns("\n".join(p for x in excludes for p in (x, "**/" + x)))
                ctx = BuildContext(ctx.root, Matcher(ctx.matcher.patterns + extra))
            matched: list[str] = []
            for src in sources:
                try:
                    found = ctx.matches(src)
                except PycomposeError as exc:
                    raise self.fail(instr, f"{instr.cmd} failed: {exc}") from None
                if not found:
                    raise self.fail(instr, f"{instr.cmd} failed: file not found in build "
                                    f"context or excluded by .dockerignore: stat {src}: file "
                                    "does not exist")
                matched.extend(found)
            if len(matched) > 1 and not dest_is_dir:
                raise self.fail(instr, f"When using {instr.cmd} with more than one source "
                                "file, the destination must be a directory and end with a /")
            content = await trio.to_thread.run_sync(ctx.content_hash, matched)
            key = self._key(state, text, content=content + source_id)  # flags are in `text`
            hit = await self._lookup(key)
            if hit is not None:
                return StageState(hit, state.config, state.args, state.cmd_set)
            lowers = await self._lowers(state.image_id)
            with Sandbox(lowers, self.b.work) as box:
                own = Ownership(mode=mode)
                if chown:
                    user = self._user(box, instr, chown, f"{instr.cmd} --chown=")
                    own = Ownership(user.uid, user.gid, mode)
                into_dir = dest_is_dir or box.kind(dest_abs) == "dir"

                def work() -> None:
                    with tempfile.TemporaryFile(dir=box.dir) as tmp:
                        write_copy(tmp, ctx, matched, dest_abs, into_dir, own, box.kind,
                                   extract_archives=instr.cmd == "ADD" and not from_ref)
                        tmp.seek(0)
                        extract_layer(tmp, box.merged, allow_devices=False,
                                      overlay_whiteouts=False)

                try:
                    await trio.to_thread.run_sync(work)
                except PycomposeError as exc:
                    raise self.fail(instr, f"{instr.cmd} failed: {exc}") from None
                new = await self._commit_layer(state, box, f"{text}")
            self.b.cache.put(key, new.image_id or "")
            return new

        if from_ref is None:
            return await with_source(self.context)
        lowers = await self._lowers(source_id)
        with Sandbox(lowers, self.b.work) as src_box:
            return await with_source(BuildContext(src_box.merged, Matcher([])))

    async def _from_image(self, instr: df.Instruction, ref: str) -> str:
        index = self.file.stage_index(ref)
        if index is not None:
            result = self.results.get(index)
            if result is None:
                raise self.fail(instr, f"COPY --from={ref}: the stage must come before this one")
            if result.image_id is None:
                result = self.results[index] = await self._commit_meta(result, result.config, "")
            return result.image_id or ""
        try:
            image = await trio.to_thread.run_sync(self.b.store.get, ref)
        except NotFound:
            image = await self._base_image(df.Stage(0, None, ref, None, instr.line), ref)
        return image.id
