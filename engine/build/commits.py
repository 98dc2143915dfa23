"""A build's steps as images: looking a step up (the local step cache, or the `cachefrom`
images instead when given) and committing what a step made. One `StepCommits` per build;
its `emit` says Docker's lines (` ---> Using cache`, ` ---> <id>`)."""
from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import trio

from engine.build.cache import step_fingerprint, step_key
from engine.build.cachefrom import CacheSources, step_comment
from engine.build.sandbox import Sandbox
from engine.errors import NotFound
from engine.images.archive import write_diff


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

    def moved_to(self, image_id: str | None, config: dict | None = None) -> StageState:
        """The state after a step that made `image_id` (with `config`, when it changed)."""
        return StageState(image_id, self.config if config is None else config, self.args,
                          self.cmd_set)


@dataclass(frozen=True)
class StepId:
    """One step on one parent: its key in the local cache, the comment its history entry
    carries (how cache sources recognise it)."""

    key: str
    comment: str


class StepCommits:
    def __init__(self, builder, no_cache: bool, cache_from: tuple[str, ...],
                 emit: Callable[[dict], None]) -> None:
        self.b, self.no_cache, self.cache_from, self.emit = builder, no_cache, cache_from, emit
        self.cached = 0
        self._sources: CacheSources | None = None

    @staticmethod
    def step(state: StageState, text: str, **kw) -> StepId:
        """`text` and `kw` (build_args, content) as cache.step_key takes them."""
        return StepId(step_key(state.image_id or "scratch", text, **kw),
                      step_comment(step_fingerprint(text, **kw)))

    async def lookup(self, state: StageState, step: StepId, config: dict) -> str | None:
        """The image this step made before (said so on the stream), or None."""
        if self.no_cache:
            return None
        if self.cache_from:
            image_id = await self._from_sources(state, step, config)
        else:
            image_id = await self._local(step.key)
        if image_id is None:
            return None
        self.emit({"stream": " ---> Using cache\n"})
        self.emit({"stream": f" ---> {image_id[7:19]}\n"})
        self.cached += 1
        return image_id

    async def _local(self, key: str) -> str | None:
        image_id = self.b.cache.get(key)
        if image_id is None:
            return None
        try:
            await trio.to_thread.run_sync(self.b.store.get, image_id)
        except NotFound:
            self.b.cache.forget(key)
            return None
        return image_id

    async def _from_sources(self, state: StageState, step: StepId, config: dict) -> str | None:
        if self._sources is None:
            self._sources = await trio.to_thread.run_sync(CacheSources, self.b.store,
                                                          self.cache_from)
        image_id = await trio.to_thread.run_sync(self._sources.find, state.image_id,
                                                 step.comment, config)
        if image_id is not None:        # a later build without cachefrom finds it too
            self.b.cache.put(step.key, image_id)
        return image_id

    async def cached_meta(self, state: StageState, config: dict, created_by: str,
                          content: str) -> StageState:
        """A step that changes only the config: from the cache, else committed."""
        step = self.step(state, created_by, content=content)
        hit = await self.lookup(state, step, config)
        if hit is not None:
            return state.moved_to(hit, config)
        new = await self.commit_meta(state, config, created_by, step.comment)
        self.b.cache.put(step.key, new.image_id or "")
        return new

    async def commit_meta(self, state: StageState, config: dict, created_by: str,
                          comment: str = "") -> StageState:
        image = await trio.to_thread.run_sync(
            lambda: self.b.store.commit(state.image_id, None, config, created_by=created_by,
                                        comment=comment))
        self.emit({"stream": f" ---> {image.id[7:19]}\n"})
        return state.moved_to(image.id, config)

    async def commit_layer(self, state: StageState, sandbox: Sandbox, created_by: str,
                           step: StepId, stubs: list[str] = (),
                           targets: list[str] = ()) -> StageState:
        """Unmount, drop mount stubs, turn the upper dir into a layer, commit, remember."""
        sandbox.unmount()
        sandbox.remove_stubs(list(stubs), list(targets))

        def work():
            with tempfile.TemporaryFile(dir=sandbox.dir) as tmp:
                write_diff(sandbox.upper, tmp)
                tmp.seek(0)
                return self.b.store.commit(state.image_id, tmp, state.config,
                                           created_by=created_by, comment=step.comment)

        image = await trio.to_thread.run_sync(work)
        self.emit({"stream": f" ---> {image.id[7:19]}\n"})
        self.b.cache.put(step.key, image.id)
        return state.moved_to(image.id)

    async def lowers(self, image_id: str | None) -> list[Path]:
        if image_id is None:
            return []
        store = self.b.store
        return await trio.to_thread.run_sync(lambda: store.layer_paths(store.get(image_id)))
