"""The content-addressed image store under `$PYCOMPOSE_ROOT/images`.

Layout (every file written to a temp name and renamed into place, so a reader never sees half):

    blobs/sha256/<hex>      manifests, configs and layer blobs exactly as they came
    layers/<hex>/           one layer unpacked (hex of its diff_id): an overlay lower dir
    layers/<hex>.json       {"diff_id", "tar_size", "size"}, written before the dir appears
    images/<hex>.json       image record: manifest digest, layer blob digests (hex = image id)
    repositories.json       {"tags": {ref: id}, "digests": {ref@digest: id}, "tag_times": {...}}
    locks/, tmp/

Locks are flock(2) on files in locks/ (they exclude other threads and other processes alike):
`layer-<hex>` while one layer is unpacked, so two imports sharing a layer unpack it once;
`meta` around every read-modify-write of records and tags; `gc` shared by every import and
exclusive for garbage collection, so GC never deletes a layer an import is about to reference.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from engine.errors import BadParameter, Conflict, EngineError, NotFound
from engine.images import gc, reference
from engine.images.auth import CredentialStore
from engine.images.configcheck import UnreadableConfig, check_container_config, why_unreadable
from engine.images.archive import CHUNK, extract_layer, tar_digest
from engine.images.tarpath import MAGIC_LENGTH, Compression, detect_compression
from engine.images.image import (Image, canonical_json, config_digest, history_shape,
                                 image_from_config, inspect_shape, now_rfc3339, summary_shape)
from engine.jsonshape import BadShape

log = logging.getLogger("engine.images")


class DigestMismatch(EngineError):
    """Content did not hash to the digest it was announced with; nothing was kept."""


@dataclass(frozen=True)
class LayerRecord:
    diff_id: str
    tar_size: int
    size: int


@dataclass(frozen=True)
class LayerRef:
    """A layer as an image refers to it: its blob and the diff_id its config names."""
    diff_id: str
    blob: str
    media_type: str


def check_digest(digest: str) -> str:
    if not isinstance(digest, str) or not reference.is_digest(digest):
        raise BadParameter(f"invalid digest {digest!r} (expected sha256:<64 hex>)")
    return digest


def _hex(digest: str) -> str:
    return check_digest(digest)[len("sha256:"):]


class ImageStore:
    def __init__(self, root: Path, in_use: Callable[[str], bool] | None = None,
                 credentials: CredentialStore | None = None) -> None:
        self.root = Path(root)
        self._in_use = in_use
        # Registry logins the engine uses for pull/push (0600 JSON, Docker's config.json shape).
        self.credentials = credentials or CredentialStore(self.root / "auth.json")
        for sub in ("blobs/sha256", "layers", "images", "locks", "tmp"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        gc.sweep_tmp(self.root)

    # -- locking and atomic files -------------------------------------------------------

    @contextmanager
    def lock(self, name: str, *, shared: bool = False) -> Iterator[None]:
        fd = os.open(self.root / "locks" / f"{name}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC,
                     0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)   # releases the lock

    def _write_atomic(self, path: Path, data: bytes) -> None:
        fd, tmp = tempfile.mkstemp(dir=self.root / "tmp", prefix=f"{os.getpid()}-{path.name}.")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            os.replace(tmp, path)
        except BaseException:
            gc.unlink(Path(tmp))
            raise

    def tempdir(self) -> Path:
        """A fresh dir on the store's filesystem (renames into place stay atomic). Named after
        our pid: GC sweeps only the debris of processes that are gone."""
        return Path(tempfile.mkdtemp(dir=self.root / "tmp", prefix=f"{os.getpid()}-"))

    # -- blobs ---------------------------------------------------------------------------

    def blob_path(self, digest: str) -> Path:
        return self.root / "blobs" / "sha256" / _hex(digest)

    def has_blob(self, digest: str) -> bool:
        return self.blob_path(digest).is_file()

    def read_blob(self, digest: str) -> bytes:
        try:
            return self.blob_path(digest).read_bytes()
        except FileNotFoundError:
            raise NotFound(f"blob {digest} is missing from the image store") from None

    def put_blob(self, stream: BinaryIO, expected: str | None = None) -> tuple[str, int]:
        """Store a blob from a stream; with `expected`, a mismatch keeps nothing."""
        if expected is not None and self.has_blob(expected):
            return expected, self.blob_path(expected).stat().st_size
        fd, tmp = tempfile.mkstemp(dir=self.root / "tmp", prefix=f"{os.getpid()}-blob.")
        hasher, size = hashlib.sha256(), 0
        try:
            with os.fdopen(fd, "wb") as out:
                while chunk := stream.read(CHUNK):
                    hasher.update(chunk)
                    out.write(chunk)
                    size += len(chunk)
            digest = "sha256:" + hasher.hexdigest()
            if expected is not None and digest != expected:
                raise DigestMismatch(f"digest mismatch: expected {expected}, content hashes to "
                                     f"{digest}")
            os.replace(tmp, self.blob_path(digest))
            return digest, size
        except BaseException:
            gc.unlink(Path(tmp))
            raise

    def discard_blob(self, digest: str) -> None:
        """Drop a blob no image refers to (a failed import's upload)."""
        with self.lock("meta"):
            for image_id in self._image_ids():
                record = self._record(image_id)
                if any(layer["blob"] == digest for layer in record["layers"]):
                    return
            gc.unlink(self.blob_path(digest))

    def put_blob_bytes(self, data: bytes) -> str:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        if not self.has_blob(digest):
            self._write_atomic(self.blob_path(digest), data)
        return digest

    # -- layers --------------------------------------------------------------------------

    def layer_dir(self, diff_id: str) -> Path:
        return self.root / "layers" / _hex(diff_id)

    def layer_record(self, diff_id: str) -> LayerRecord:
        try:
            data = json.loads((self.root / "layers" / f"{_hex(diff_id)}.json").read_bytes())
        except FileNotFoundError:
            raise NotFound(f"layer {diff_id} is missing from the image store") from None
        return LayerRecord(data["diff_id"], data["tar_size"], data["size"])

    def ensure_layer(self, blob: str, diff_id: str | None = None) -> LayerRecord:
        """Unpack the layer blob `blob` once; its uncompressed tar must hash to `diff_id`."""
        if diff_id is None:
            with self.blob_path(blob).open("rb") as f:
                if detect_compression(f.read(MAGIC_LENGTH)) is Compression.NONE:
                    diff_id = blob     # an uncompressed blob is its own diff
                else:
                    f.seek(0)
                    diff_id = tar_digest(f).diff_id
        check_digest(diff_id)
        target = self.layer_dir(diff_id)
        with self.lock(f"layer-{_hex(diff_id)}"):
            if target.is_dir():
                return self.layer_record(diff_id)
            staging = self.tempdir()
            try:
                with self.blob_path(blob).open("rb") as f:
                    stats = extract_layer(f, staging)
                if stats.diff_id != diff_id:
                    raise DigestMismatch(f"layer {blob} unpacks to {stats.diff_id}, but the "
                                         f"image config says {diff_id}")
                record = LayerRecord(diff_id, stats.tar_size, stats.size)
                self._write_atomic(self.root / "layers" / f"{_hex(diff_id)}.json",
                                   canonical_json(record.__dict__))
                os.rename(staging, target)
            except BaseException:
                shutil.rmtree(staging, ignore_errors=True)
                raise
            return record

    # -- images --------------------------------------------------------------------------

    def _record_path(self, image_id: str) -> Path:
        return self.root / "images" / f"{_hex(image_id)}.json"

    def _record(self, image_id: str) -> dict:
        try:
            return json.loads(self._record_path(image_id).read_bytes())
        except FileNotFoundError:
            raise NotFound(f"No such image: {image_id}") from None

    def _image_ids(self) -> list[str]:
        return ["sha256:" + p.stem for p in (self.root / "images").glob("*.json")]

    def _tags(self) -> dict:
        try:
            data = json.loads((self.root / "repositories.json").read_bytes())
        except FileNotFoundError:
            data = {}
        return {"tags": data.get("tags", {}), "digests": data.get("digests", {}),
                "tag_times": data.get("tag_times", {})}

    def _save_tags(self, tags: dict) -> None:
        self._write_atomic(self.root / "repositories.json",
                           json.dumps(tags, sort_keys=True, indent=1).encode())

    def commit_image(self, config_bytes: bytes, layers: list[LayerRef], *,
                     manifest_digest: str = "", tags: tuple[str, ...] = (),
                     repo_digests: tuple[str, ...] = (), parent: str = "") -> Image:
        """Record an image whose blobs and layers are already in the store; tag it.
        `parent`: the image it was committed on (Docker hides such parents in `images`)."""
        image_id = config_digest(config_bytes)
        config = json.loads(config_bytes)
        diff_ids = list((config.get("rootfs") or {}).get("diff_ids") or [])
        if diff_ids != [layer.diff_id for layer in layers]:
            raise BadParameter(f"image {image_id[:19]}: its config lists {len(diff_ids)} layers "
                               f"that do not match the {len(layers)} layers supplied")
        for layer in layers:
            self.layer_record(layer.diff_id)   # raises if not unpacked
        self.put_blob_bytes(config_bytes)
        record = {"id": image_id, "manifest": manifest_digest,
                  "layers": [layer.__dict__ for layer in layers]}
        if parent:
            record["parent"] = parent
        parsed_tags = [reference.parse(t) for t in tags]
        with self.lock("meta"):
            # The same image again (re-pulled, loaded from another archive): keep the first
            # record, so the manifest its RepoDigests name stays the one we push and save.
            if not self._record_path(image_id).is_file():
                self._write_atomic(self._record_path(image_id), canonical_json(record))
            state = self._tags()
            now = now_rfc3339()
            for ref in parsed_tags:
                state["tags"][str(ref)] = image_id
                state["tag_times"][image_id] = now
            for ref in repo_digests:
                state["digests"][ref] = image_id
            self._save_tags(state)
        return self._image(image_id, state)

    def _image(self, image_id: str, state: dict | None = None) -> Image:
        record = self._record(image_id)
        state = state if state is not None else self._tags()
        tags = sorted(reference.familiar(r) for r, i in state["tags"].items() if i == image_id)
        digests = sorted(reference.familiar(r) for r, i in state["digests"].items()
                         if i == image_id)
        size = sum(self.layer_record(layer["diff_id"]).size for layer in record["layers"])
        return image_from_config(self.read_blob(image_id), repo_tags=tags,
                                 repo_digests=digests, size=size,
                                 manifest_digest=record.get("manifest", ""),
                                 parent=record.get("parent", ""))

    def resolve(self, ref_or_id: str) -> tuple[str, reference.Reference | None]:
        """(image id, the reference it was named by, or None when named by id)."""
        state = self._tags()
        text = ref_or_id.strip()
        full = text if text.startswith("sha256:") else "sha256:" + text
        if reference.is_digest(full) and self._record_path(full).is_file():
            return full, None
        parse_error: BadParameter | None = None
        ref = None
        try:
            ref = reference.parse(text)
        except BadParameter as exc:
            parse_error = exc
        if ref is not None:
            if ref.digest:
                found = state["digests"].get(str(ref.with_digest(ref.digest)))
            else:
                found = state["tags"].get(str(ref))
            if found and self._record_path(found).is_file():
                return found, ref
        if reference.looks_like_id_prefix(text):
            prefix = full[len("sha256:"):]
            matches = [i for i in self._image_ids() if i[len("sha256:"):].startswith(prefix)]
            if len(matches) == 1:
                return matches[0], None
            if len(matches) > 1:
                raise BadParameter(f"image id prefix {text!r} is ambiguous "
                                   f"({len(matches)} images match)")
        if ref is None and parse_error is not None:
            raise parse_error
        raise NotFound(f"No such image: {ref.familiar() if ref else text}")

    def get(self, ref_or_id: str) -> Image:
        """The image, or UnreadableConfig (500, naming `ref_or_id`) when its stored config
        does not parse or has fields of the wrong type: an older version's image or a damaged
        file would otherwise fail every create from it with a traceback."""
        image_id = self.resolve(ref_or_id)[0]
        try:
            image = self._image(image_id)
            check_container_config(image.config)
        except (ValueError, TypeError, AttributeError, KeyError, BadShape) as exc:
            try:
                config_bytes = self.read_blob(image_id)
            except NotFound as missing:
                raise UnreadableConfig(ref_or_id, missing.message) from None
            raise UnreadableConfig(ref_or_id, why_unreadable(config_bytes, exc)) from None
        return image

    def identify(self, ref_or_id: str) -> tuple[str, tuple[str, ...]]:
        """(image id, its tags in familiar form), read without the image's config: what a
        removal needs, so an image whose config is unreadable can still be removed."""
        image_id = self.resolve(ref_or_id)[0]
        state = self._tags()
        return image_id, tuple(sorted(reference.familiar(r) for r, i in state["tags"].items()
                                      if i == image_id))

    def list(self) -> list[Image]:
        state = self._tags()
        images = []
        for image_id in self._image_ids():
            try:
                images.append(self._image(image_id, state))
            except NotFound:
                continue   # removed while we listed
            except (ValueError, TypeError, AttributeError, KeyError) as exc:
                # an unreadable config (see get) must not hide every other image; as Docker
                # skips an image it cannot load, said in the log; rmi by name still works
                log.warning("image %s skipped: unreadable config: %s", image_id, exc)
        return sorted(images, key=lambda image: (image.created, image.id), reverse=True)

    def layer_paths(self, image: Image) -> list[Path]:
        paths = [self.layer_dir(d) for d in image.diff_ids]
        for diff_id, path in zip(image.diff_ids, paths):
            if not path.is_dir():
                raise NotFound(f"layer {diff_id} of image {image.short_id} is not unpacked")
        return paths

    def layer_refs(self, image: Image) -> list[LayerRef]:
        return [LayerRef(**layer) for layer in self._record(image.id)["layers"]]

    def tag(self, source: str, ref: str) -> None:
        image_id, _ = self.resolve(source)
        target = reference.parse(ref)
        if target.digest:
            raise BadParameter(f"refusing to create a tag with a digest reference: {ref!r}")
        with self.lock("meta"):
            state = self._tags()
            state["tags"][str(target)] = image_id
            state["tag_times"][image_id] = now_rfc3339()
            self._save_tags(state)

    def add_repo_digest(self, ref: str, image_id: str) -> None:
        """Record `repo@sha256:...` (normalized) as a name of `image_id` (after a push)."""
        with self.lock("meta"):
            state = self._tags()
            state["digests"][ref] = image_id
            self._save_tags(state)

    def inspect(self, ref_or_id: str) -> dict:
        image = self.get(ref_or_id)
        dirs = [str(p) for p in self.layer_paths(image)]
        return inspect_shape(image, layer_dirs=dirs,
                             last_tag_time=self._tags()["tag_times"].get(image.id, ""))

    def summary(self, image: Image) -> dict:
        return summary_shape(image)

    # -- removal -------------------------------------------------------------------------

    def remove(self, ref_or_id: str, force: bool = False,
               in_use: Callable[[str], bool] | None = None, prune: bool = True) -> list[dict]:
        """Like `docker rmi`: untag, and delete the image once no tag is left; then (unless
        `prune` is off: the API's `noprune=1`) its untagged parents that nothing else holds,
        as Docker does, so removing a build's image does not leave its steps as new `<none>`
        images one at a time.

        An image a container uses (per `in_use`) is never deleted, since its layers are that
        container's overlay lower dirs: without `force` that is a Conflict, with `force` only
        its tags go.
        """
        checker = in_use or self._in_use
        with self.lock("gc"), self.lock("meta"):
            image_id, ref = self.resolve(ref_or_id)
            state = self._tags()
            tags = [r for r, i in state["tags"].items() if i == image_id]
            short = image_id[len("sha256:"):][:12]
            used = bool(checker and checker(image_id))
            removed: list[dict] = []
            if ref is not None:
                key = str(ref.with_digest(ref.digest)) if ref.digest else str(ref)
                others = [t for t in tags if t != key]
                if others:
                    self._untag(state, [key], removed)
                    self._save_tags(state)
                    return removed
                if used and not force:
                    raise Conflict(f"conflict: unable to remove repository reference "
                                   f"{ref.familiar()!r} (must force) - a container is using its "
                                   f"referenced image {short}")
            else:
                if len(tags) > 1 and not force:
                    raise Conflict(f"conflict: unable to delete {short} (must be forced) - image "
                                   f"is referenced in multiple repositories")
                if used and not force:
                    raise Conflict(f"conflict: unable to delete {short} (must be forced) - image "
                                   f"is being used by a container")
            self._untag(state, tags, removed)
            if used:
                self._save_tags(state)
                return removed
            digests = [r for r, i in state["digests"].items() if i == image_id]
            self._untag(state, digests, removed)
            parent = self._record(image_id).get("parent", "") if prune else ""
            self._delete_record(state, image_id, removed)
            while parent and self._prunable(state, parent, checker):
                grandparent = self._record(parent).get("parent", "")
                self._delete_record(state, parent, removed)
                parent = grandparent
            self._save_tags(state)
            self._collect_garbage()
            return removed

    def _delete_record(self, state: dict, image_id: str, removed: list[dict]) -> None:
        state["tag_times"].pop(image_id, None)
        gc.unlink(self._record_path(image_id))
        removed.append({"Deleted": image_id})

    def _prunable(self, state: dict, image_id: str,
                  checker: Callable[[str], bool] | None) -> bool:
        """May a removal take this parent along? Only when nothing else holds it: no tag or
        digest, no container, and no other image built on it (its child was just deleted)."""
        if not self._record_path(image_id).is_file():
            return False
        if image_id in state["tags"].values() or image_id in state["digests"].values():
            return False
        if checker and checker(image_id):
            return False
        return not any(self._record(other).get("parent") == image_id
                       for other in self._image_ids() if other != image_id)

    def prune(self, dangling_only: bool = True,
              in_use: Callable[[str], bool] | None = None) -> dict:
        """Docker's POST /images/prune: delete untagged (or, with dangling_only=False, all)
        images no container uses; answers {"ImagesDeleted": [...], "SpaceReclaimed": bytes}.

        As Docker, only images nothing else builds on are candidates: an untagged build step
        under a tagged image is its build cache, not dangling. A deleted image takes its
        untagged parents along (those `_prunable` allows), as a removal does."""
        checker = in_use or self._in_use
        deleted: list[dict] = []
        with self.lock("gc"), self.lock("meta"):
            state = self._tags()
            before = self._disk_usage()
            ids = self._image_ids()
            parents = {self._record(i).get("parent", "") for i in ids}
            for image_id in ids:
                if image_id in parents or not self._record_path(image_id).is_file():
                    continue
                tags = [r for r, i in state["tags"].items() if i == image_id]
                if (tags and dangling_only) or (checker and checker(image_id)):
                    continue
                self._untag(state, tags, deleted)
                self._untag(state, [r for r, i in state["digests"].items() if i == image_id],
                            deleted)
                parent = self._record(image_id).get("parent", "")
                self._delete_record(state, image_id, deleted)
                while parent and self._prunable(state, parent, checker):
                    grandparent = self._record(parent).get("parent", "")
                    self._delete_record(state, parent, deleted)
                    parent = grandparent
            self._save_tags(state)
            self._collect_garbage()
            reclaimed = max(0, before - self._disk_usage())
        return {"ImagesDeleted": deleted or None, "SpaceReclaimed": reclaimed}

    def _disk_usage(self) -> int:
        total = sum(p.stat().st_size for p in (self.root / "blobs" / "sha256").iterdir())
        for entry in (self.root / "layers").glob("*.json"):
            total += json.loads(entry.read_bytes()).get("size", 0)
        return total

    def history(self, ref_or_id: str) -> list[dict]:
        """Docker's GET /images/{name}/history: newest step first."""
        image = self.get(ref_or_id)
        doc = json.loads(self.read_blob(image.id))
        sizes = [self.layer_record(d).size for d in image.diff_ids]
        return history_shape(image, doc.get("history") or [], sizes)

    @staticmethod
    def _untag(state: dict, refs: list[str], removed: list[dict]) -> None:
        for ref in refs:
            if state["tags"].pop(ref, None) or state["digests"].pop(ref, None):
                removed.append({"Untagged": reference.familiar(ref)})

    def collect_garbage_if_idle(self) -> None:
        """GC now unless an import holds `gc` (then the next removal collects)."""
        fd = os.open(self.root / "locks" / "gc.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return
            with self.lock("meta"):
                self._collect_garbage()
        finally:
            os.close(fd)

    def _collect_garbage(self) -> None:
        """Delete what no image refers to. Caller holds `gc` and `meta`."""
        gc.collect(self.root, *self._referenced(), self.tempdir)

    def _referenced(self) -> tuple[set[str], set[str]]:
        """The layers (hex of diff_id) and blobs (hex of digest) some image refers to."""
        layers: set[str] = set()
        blobs: set[str] = set()
        for image_id in self._image_ids():
            record = self._record(image_id)
            blobs.add(_hex(image_id))
            if record.get("manifest"):
                blobs.add(_hex(record["manifest"]))
            for layer in record["layers"]:
                layers.add(_hex(layer["diff_id"]))
                blobs.add(_hex(layer["blob"]))
        return layers, blobs

    # -- sources (implemented in importer.py / registry.py) -------------------------------

    def import_rootfs(self, fileobj: BinaryIO, ref: str | None,
                      changes: list[str] | tuple[str, ...] = ()) -> Image:
        from engine.images import importer
        return importer.import_rootfs(self, fileobj, ref, changes)

    def load(self, fileobj: BinaryIO) -> list[Image]:
        from engine.images import importer
        return importer.load(self, fileobj)

    def save(self, refs: list[str], fileobj: BinaryIO) -> None:
        from engine.images import importer
        importer.save(self, refs, fileobj)

    def commit(self, parent: str | None, layer: BinaryIO | None, config: dict,
               ref: str | None = None, *, created_by: str = "", comment: str = "",
               author: str = "") -> Image:
        """`parent` + one diff layer (or none) + `config` -> a new image (commit / build step)."""
        from engine.images import importer
        return importer.create_image(self, parent, layer, config, ref, created_by=created_by,
                                     comment=comment, author=author)

    def pull(self, ref: str, platform: str | None = None,
             progress: Callable[[dict], None] | None = None, *,
             insecure: bool | None = None, auth: tuple[str, str] | None = None) -> Image:
        """Pull `ref` from its registry (loopback registries speak plain HTTP).

        `auth` (user, password), e.g. from X-Registry-Auth, wins over stored logins."""
        from engine.images import transfer
        return transfer.pull(self, ref, platform, progress, credentials=self.credentials,
                             insecure=insecure, auth=auth)

    def push(self, ref: str, progress: Callable[[dict], None] | None = None, *,
             insecure: bool | None = None, auth: tuple[str, str] | None = None) -> str:
        """Push the image tagged `ref`; returns its manifest digest."""
        from engine.images import transfer
        return transfer.push(self, ref, progress, credentials=self.credentials,
                             insecure=insecure, auth=auth)

    def login(self, server: str, username: str, password: str, *,
              insecure: bool | None = None) -> str:
        """Verify credentials against the registry, then store them (0600)."""
        from engine.images import transfer
        return transfer.login(self.credentials, server, username, password, insecure=insecure)
