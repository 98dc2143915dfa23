"""`cachefrom`: images a build may take its steps from, as Docker's classic builder does.

A step on parent P is found in a source image S when P's history and layers are where S's
begin, and S's next history entry is this step: same fingerprint (cache.step_fingerprint,
which our builder keeps in each step's history `comment`). The step's image is then made again
from P, that entry and (unless the entry is an empty layer) S's layer for it; made the way the
step first made it, it is the very same image (same config bytes, same id), so a build that
takes every step from S ends at S itself. A source whose entry does not match is skipped;
after a hit, only that source is asked for later steps (as Docker narrows its sources).

With `cachefrom` given, the sources are the only cache (the local step cache is not asked),
which is Docker's rule too: a build with `cachefrom=["nosuchtag"]` uses no cache at all.

`match` and `restored_doc` are pure; `CacheSources` reads and writes the store.
"""
from __future__ import annotations

import copy
import json
from dataclasses import dataclass

from engine.errors import NotFound

COMMENT_PREFIX = "pycompose.build.v1 "


def step_comment(fingerprint: str) -> str:
    """The history comment our builder gives a step (BuildKit marks its steps similarly)."""
    return COMMENT_PREFIX + fingerprint


@dataclass(frozen=True)
class Chain:
    """An image as a cache source sees it: its history entries and layer diff ids."""

    image_id: str
    history: tuple[dict, ...]
    diff_ids: tuple[str, ...]

    @classmethod
    def of(cls, image_id: str, doc: dict) -> Chain:
        return cls(image_id, tuple(doc.get("history") or ()),
                   tuple((doc.get("rootfs") or {}).get("diff_ids") or ()))


def _layers_before(history: tuple[dict, ...], index: int) -> int:
    return sum(1 for h in history[:index] if not h.get("empty_layer"))


def match(parent: Chain | None, source: Chain, comment: str) -> int | None:
    """The index of `source`'s history entry that is this step on `parent` (None: scratch),
    or None when `source` does not continue `parent` with it."""
    history = parent.history if parent else ()
    diff_ids = parent.diff_ids if parent else ()
    n = len(history)
    if len(source.history) <= n or source.history[:n] != history \
            or source.diff_ids[:len(diff_ids)] != diff_ids:
        return None
    entry = source.history[n]
    if entry.get("comment") != comment:
        return None
    if not entry.get("empty_layer"):
        layer = _layers_before(source.history, n)
        if layer != len(diff_ids) or layer >= len(source.diff_ids):
            return None
    return n


def restored_doc(parent_doc: dict, source: Chain, index: int, config: dict) -> dict:
    """The step's image config: `parent_doc` (of the parent image; for scratch the bare
    document a commit starts from) plus entry `index` of `source`, as a commit makes it."""
    doc = copy.deepcopy(parent_doc)
    entry = dict(source.history[index])
    diff_ids = list((doc.get("rootfs") or {}).get("diff_ids") or [])
    if not entry.get("empty_layer"):
        diff_ids.append(source.diff_ids[_layers_before(source.history, index)])
    doc.update(created=entry.get("created"), config=config,
               rootfs={"type": "layers", "diff_ids": diff_ids},
               history=[*(doc.get("history") or []), entry])
    doc.pop("container", None)
    return doc


class CacheSources:
    """The build's cachefrom images, loaded once (worker thread)."""

    def __init__(self, store, refs: tuple[str, ...]) -> None:
        self.store = store
        self.sources: list[Chain] = []
        for ref in refs:
            try:
                image = store.get(ref)
            except NotFound:
                continue        # Docker skips a cache source it does not have
            self.sources.append(Chain.of(image.id, self._doc(image.id)))

    def _doc(self, image_id: str) -> dict:
        return json.loads(self.store.read_blob(image_id))

    def find(self, parent_id: str | None, comment: str, config: dict) -> str | None:
        """Worker thread: the image of this step taken from a source (made if missing), or
        None."""
        if not self.sources:
            return None
        parent_doc = self._doc(parent_id) if parent_id else _scratch_doc()
        parent = Chain.of(parent_id, parent_doc) if parent_id else None
        for source in self.sources:
            index = match(parent, source, comment)
            if index is None:
                continue
            try:
                image_id = self._restore(parent_id, parent_doc, source, index, config)
            except NotFound:        # the source went away meanwhile: a miss, not a failure
                continue
            self.sources = [source]
            return image_id
        return None

    def _restore(self, parent_id: str | None, parent_doc: dict, source: Chain, index: int,
                 config: dict) -> str:
        from engine.images import importer
        from engine.images.image import canonical_json
        store = self.store
        doc = restored_doc(parent_doc, source, index, config)
        # as a commit holds it: no removal takes the layers away while the image is recorded
        with store.lock("gc", shared=True):
            layers = list(store.layer_refs(store.get(parent_id))) if parent_id else []
            if not source.history[index].get("empty_layer"):
                layers.append(store.layer_refs(store.get(source.image_id))[len(layers)])
            sizes = [store.blob_path(ref.blob).stat().st_size for ref in layers]
            image = importer.record_image(store, canonical_json(doc), layers, sizes,
                                          parent=parent_id or "")
        return image.id


def _scratch_doc() -> dict:
    from engine.images.platforms import Platform
    return {"architecture": Platform.host().architecture, "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": []}}
