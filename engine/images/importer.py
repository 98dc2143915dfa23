"""Images from and to tarballs: `docker import`, `docker load` (docker-archive and OCI archive)
and `docker save` (docker-archive).

Archives are spooled to a file in the store's tmp/ first: an API upload is a stream, and both
formats need random access (manifest.json is usually last in a `docker save` tarball).
"""
from __future__ import annotations

import hashlib
import io
import json
import posixpath
import shutil
import tarfile
from typing import BinaryIO

from engine.errors import BadParameter, EngineError
from engine.images import mediatypes, reference
from engine.images.archive import CHUNK, decompressed
from engine.images.changes import apply_changes
from engine.images.configcheck import check_image_config
from engine.images.image import Image, canonical_json, now_rfc3339
from engine.images.platforms import Platform, choose_manifest
from engine.images.store import DigestMismatch, ImageStore, LayerRef, check_digest


def _oci_manifest(config_digest: str, config_size: int, layers: list[tuple[str, int, str]]) -> bytes:
    return canonical_json({
        "schemaVersion": 2,
        "mediaType": mediatypes.OCI_MANIFEST,
        "config": {"mediaType": mediatypes.OCI_CONFIG, "digest": config_digest,
                   "size": config_size},
        "layers": [{"mediaType": media_type, "digest": digest, "size": size}
                   for digest, size, media_type in layers],
    })


def record_image(store: ImageStore, config_bytes: bytes, layers: list[LayerRef],
                 sizes: list[int], tags: tuple[str, ...] = (), parent: str = "") -> Image:
    """Record an image made of `layers` (their blobs already stored; `sizes` their blobs'
    sizes) with `config_bytes` as its config: write its manifest and commit it to the store
    (tagged `tags`, its parent recorded). What import, load, build steps and cachefrom make
    images with. The caller holds the store's "gc" lock shared, so no removal takes a layer
    away in between. Recording an image the store has (the same config bytes) keeps its first
    record and adds the tags."""
    check_image_config(config_bytes)
    config_digest = store.put_blob_bytes(config_bytes)
    manifest = _oci_manifest(config_digest, len(config_bytes),
                             [(layer.blob, size, layer.media_type)
                              for layer, size in zip(layers, sizes)])
    manifest_digest = store.put_blob_bytes(manifest)
    return store.commit_image(config_bytes, layers, manifest_digest=manifest_digest, tags=tags,
                              parent=parent)


# -- import ---------------------------------------------------------------------------------


def import_rootfs(store: ImageStore, fileobj: BinaryIO, ref: str | None,
                  changes: list[str] | tuple[str, ...] = ()) -> Image:
    """One image from a root filesystem tarball (plain, gzip or zstd), like `docker import`."""
    parsed = reference.parse(ref) if ref else None
    if parsed is not None and parsed.digest:
        raise BadParameter(f"cannot tag an imported image with a digest reference: {ref!r}")
    tags = (str(parsed),) if parsed is not None else ()
    config = apply_changes({}, list(changes))     # bad input fails before any work
    with store.lock("gc", shared=True):
        blob, size = store.put_blob(fileobj)
        with store.blob_path(blob).open("rb") as f:
            media_type = mediatypes.layer_type_for(f.read(8))
        try:
            layer = store.ensure_layer(blob)
        except BaseException:
            store.discard_blob(blob)
            raise
        now = now_rfc3339()
        config_doc = {
            "architecture": Platform.host().architecture,
            "os": "linux",
            "created": now,
            "config": config,
            "rootfs": {"type": "layers", "diff_ids": [layer.diff_id]},
            "history": [{"created": now, "created_by": "pycompose image import",
                         "comment": "Imported from tarball"}],
        }
        return record_image(store, canonical_json(config_doc),
                       [LayerRef(layer.diff_id, blob, media_type)], [size], tags)


def create_image(store: ImageStore, parent: str | None, layer: BinaryIO | None, config: dict,
                 ref: str | None = None, *, created_by: str = "", comment: str = "",
                 author: str = "") -> Image:
    """A new image: `parent`'s layers plus `layer` (a diff tar, e.g. from
    archive.write_diff, or None for a metadata-only step) with `config` as its "config" object.
    What `docker commit` and each build step produce."""
    parsed = reference.parse(ref) if ref else None
    if parsed is not None and parsed.digest:
        raise BadParameter(f"cannot tag an image with a digest reference: {ref!r}")
    with store.lock("gc", shared=True):
        if parent:
            base = store.get(parent)
            doc = json.loads(store.read_blob(base.id))
            layers = store.layer_refs(base)
        else:
            doc = {"architecture": Platform.host().architecture, "os": "linux",
                   "rootfs": {"type": "layers", "diff_ids": []}}
            layers = []
        sizes = [store.blob_path(ref_.blob).stat().st_size for ref_ in layers]
        now = now_rfc3339()
        step = {"created": now, "created_by": created_by}
        if comment:
            step["comment"] = comment
        if layer is not None:
            blob, size = store.put_blob(layer)
            with store.blob_path(blob).open("rb") as f:
                media_type = mediatypes.layer_type_for(f.read(8))
            try:
                record = store.ensure_layer(blob)
            except BaseException:
                store.discard_blob(blob)
                raise
            layers = [*layers, LayerRef(record.diff_id, blob, media_type)]
            sizes.append(size)
        else:
            step["empty_layer"] = True
        doc.update(created=now, config=config,
                   rootfs={"type": "layers", "diff_ids": [ref_.diff_id for ref_ in layers]},
                   history=[*(doc.get("history") or []), step])
        if author:
            doc["author"] = author
        doc.pop("container", None)
        return record_image(store, canonical_json(doc), layers, sizes,
                       (str(parsed),) if parsed is not None else (),
                       parent=base.id if parent else "")


# -- load -----------------------------------------------------------------------------------


# manifests, configs and indexes are read into memory; real ones are kilobytes
MAX_METADATA_BYTES = 16 << 20


class _Archive:
    """Random access to the members of a spooled tarball, by normalized name."""

    # links followed from one member to another (legacy `docker save` links duplicate layers)
    MAX_LINKS = 8

    def __init__(self, tar: tarfile.TarFile) -> None:
        self.tar = tar
        try:
            members = tar.getmembers()
        except (tarfile.TarError, EOFError, OSError) as exc:
            raise BadParameter(f"invalid image archive: {exc}") from None
        self.members = {_normal(m.name): m for m in members}

    def has(self, name: str) -> bool:
        return _normal(name) in self.members

    def _regular(self, name: object) -> tarfile.TarInfo:
        """The regular member `name` stands for, following symbolic and hard links inside the
        archive; anything else (missing, a directory, a device, a loop, a link out of the
        archive) is refused with the name it was asked for."""
        if not isinstance(name, str) or not name:
            raise BadParameter(f"invalid image archive: member name {name!r} is not a string")
        current = _normal(name)
        for _ in range(self.MAX_LINKS + 1):
            member = self.members.get(current)
            if member is None:
                break
            if member.isreg():
                return member
            if member.issym():
                base = posixpath.dirname(current)
                target = posixpath.normpath(posixpath.join(base, member.linkname))
            elif member.islnk():
                target = posixpath.normpath(member.linkname)
            else:
                raise BadParameter(f"invalid image archive: {name!r} is not a regular file")
            if target.startswith("../") or target == ".." or target.startswith("/"):
                raise BadParameter(f"invalid image archive: {name!r} links outside the "
                                   f"archive ({member.linkname!r})")
            current = _normal(target)
        else:
            raise BadParameter(f"invalid image archive: {name!r} is a link chain longer than "
                               f"{self.MAX_LINKS} (a loop?)")
        raise BadParameter(f"invalid image archive: {name!r} is missing")

    def open(self, name: object) -> BinaryIO:
        member = self._regular(name)
        stream = self.tar.extractfile(member)
        assert stream is not None          # a regular member always has content
        return stream

    def read(self, name: object) -> bytes:
        """A metadata member (manifest, config, index), held in memory: bounded."""
        if self._regular(name).size > MAX_METADATA_BYTES:
            raise BadParameter(f"invalid image archive: {name!r} is larger than "
                               f"{MAX_METADATA_BYTES} bytes: not image metadata")
        try:
            return self.open(name).read()
        except (tarfile.TarError, EOFError) as exc:
            raise BadParameter(f"invalid image archive: {name!r} cannot be read ({exc})") \
                from None

    def json(self, name: str):
        try:
            return json.loads(self.read(name))
        except (ValueError, RecursionError) as exc:
            raise BadParameter(f"invalid image archive: {name!r} is not JSON ({exc})") from None


def _normal(name: str) -> str:
    return posixpath.normpath(name.lstrip("/")).removeprefix("./")


def load(store: ImageStore, fileobj: BinaryIO) -> list[Image]:
    try:
        try:
            return _load(store, fileobj)
        except (tarfile.TarError, EOFError) as exc:   # a member cut short, read mid-way
            raise BadParameter(f"invalid image archive: {exc}") from None
    except BaseException:
        store.collect_garbage_if_idle()   # layers of a half-loaded archive
        raise


def _load(store: ImageStore, fileobj: BinaryIO) -> list[Image]:
    with store.lock("gc", shared=True):
        spool_dir = store.tempdir()
        try:
            spooled = spool_dir / "archive.tar"
            with spooled.open("wb") as out:
                shutil.copyfileobj(decompressed(fileobj), out, CHUNK)
            try:
                tar = tarfile.open(spooled, "r:")
            except tarfile.TarError as exc:
                raise BadParameter(f"invalid image archive: {exc}") from None
            with tar:
                archive = _Archive(tar)
                if archive.has("manifest.json"):
                    return _load_docker(store, archive)
                if archive.has("index.json") and archive.has("oci-layout"):
                    return _load_oci(store, archive)
                raise BadParameter("invalid image archive: it has neither manifest.json "
                                   "(docker-archive) nor index.json and oci-layout (OCI)")
        finally:
            shutil.rmtree(spool_dir, ignore_errors=True)


def _load_docker(store: ImageStore, archive: _Archive) -> list[Image]:
    entries = archive.json("manifest.json")
    if not isinstance(entries, list):
        raise BadParameter("invalid image archive: manifest.json is not a list")
    images = []
    for entry in entries:
        config_name, layer_names, tags = _manifest_entry(entry)
        config_bytes = archive.read(config_name)
        check_image_config(config_bytes)       # before any layer is stored
        diff_ids = _diff_ids(config_bytes, len(layer_names))
        layers, sizes = [], []
        for name, diff_id in zip(layer_names, diff_ids):
            blob, size = store.put_blob(archive.open(name))
            with store.blob_path(blob).open("rb") as f:
                media_type = mediatypes.layer_type_for(f.read(8))
            store.ensure_layer(blob, diff_id)
            layers.append(LayerRef(diff_id, blob, media_type))
            sizes.append(size)
        images.append(record_image(store, config_bytes, layers, sizes, tags))
    return images


def _strings(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _manifest_entry(entry: object) -> tuple[str, list[str], tuple[str, ...]]:
    """(Config, Layers, RepoTags) of one manifest.json entry, each of the type docker save
    writes: a string would otherwise pass for a list of one-letter names."""
    if not isinstance(entry, dict) or "Config" not in entry or "Layers" not in entry:
        raise BadParameter("invalid image archive: a manifest.json entry lacks Config or Layers")
    config_name, layer_names = entry["Config"], entry["Layers"]
    tags = entry.get("RepoTags") or []
    if not isinstance(config_name, str):
        raise BadParameter("invalid image archive: a manifest.json Config is not a string")
    if not _strings(layer_names):
        raise BadParameter("invalid image archive: a manifest.json Layers is not a list of "
                           "strings")
    if not _strings(tags):
        raise BadParameter("invalid image archive: a manifest.json RepoTags is not a list of "
                           "strings")
    return config_name, layer_names, tuple(tags)


def _diff_ids(config_bytes: bytes, layer_count: int) -> list[str]:
    try:
        diff_ids = json.loads(config_bytes)["rootfs"]["diff_ids"]
    except (ValueError, KeyError, TypeError, RecursionError):
        raise BadParameter("invalid image archive: an image config has no rootfs.diff_ids") \
            from None
    if not _strings(diff_ids):
        raise BadParameter("invalid image archive: an image config's rootfs.diff_ids is not a "
                           "list of strings")
    if len(diff_ids) != layer_count:
        raise BadParameter(f"invalid image archive: config lists {len(diff_ids)} layers, the "
                           f"manifest {layer_count}")
    return [check_digest(d) for d in diff_ids]


def _oci_blob(archive: _Archive, digest: str) -> str:
    return f"blobs/sha256/{check_digest(digest)[len('sha256:'):]}"


def _load_oci(store: ImageStore, archive: _Archive) -> list[Image]:
    index = archive.json("index.json")
    manifests = index.get("manifests") if isinstance(index, dict) else None
    if not isinstance(manifests, list):
        raise BadParameter("invalid image archive: index.json has no manifests list")
    images = []
    for raw in manifests:
        descriptor = _descriptor(raw, "index.json")
        tags = _oci_tags(descriptor.get("annotations") or {})
        manifest_bytes, manifest_digest = _resolve_oci_manifest(store, archive, descriptor)
        images.append(_store_manifest(store, manifest_bytes, manifest_digest, tags,
                                      lambda d: archive.open(_oci_blob(archive, d))))
    if not images:
        raise BadParameter("invalid image archive: index.json lists no images")
    return images


def _descriptor(value: object, where: str) -> dict:
    """An OCI descriptor with the types the spec gives it (digest and mediaType strings,
    annotations a string map), so later lookups cannot meet a list or a number."""
    if not isinstance(value, dict) or not isinstance(value.get("digest"), str):
        raise BadParameter(f"invalid image: a descriptor in {where} has no digest string")
    if not isinstance(value.get("mediaType") or "", str):
        raise BadParameter(f"invalid image: a descriptor in {where} has a mediaType that is "
                           f"not a string")
    annotations = value.get("annotations") or {}
    if not isinstance(annotations, dict) or not all(
            isinstance(v, str) for v in annotations.values()):
        raise BadParameter(f"invalid image: a descriptor in {where} has annotations that are "
                           f"not a map of strings")
    return value


def _oci_tags(annotations: dict) -> tuple[str, ...]:
    """A full reference from containerd's or the OCI annotation; a bare tag names no repo."""
    for key in ("io.containerd.image.name", "org.opencontainers.image.ref.name"):
        name = annotations.get(key, "")
        if name and ("/" in name or ":" in name):
            try:
                return (str(reference.parse(name)),)
            except BadParameter:
                continue
    return ()


def _verified(archive: _Archive, digest: str) -> bytes:
    data = archive.read(_oci_blob(archive, digest))
    actual = "sha256:" + hashlib.sha256(data).hexdigest()
    if actual != digest:
        raise DigestMismatch(f"digest mismatch: expected {digest}, content hashes to {actual}")
    return data


def _resolve_oci_manifest(store: ImageStore, archive: _Archive, descriptor: dict,
                          platform_: Platform | None = None) -> tuple[bytes, str]:
    """Follow nested indexes down to one image manifest (host platform)."""
    for _ in range(4):
        digest = _descriptor(descriptor, "an image index")["digest"]
        data = _verified(archive, digest)
        doc = _json_object(data, digest)
        media_type = descriptor.get("mediaType") or doc.get("mediaType", "")
        if media_type not in mediatypes.INDEX_TYPES:
            return data, digest
        if not isinstance(doc.get("manifests"), list) or not all(
                isinstance(d, dict) and isinstance(d.get("platform") or {}, dict)
                for d in doc["manifests"]):
            raise BadParameter(f"invalid image: index {digest} has no list of manifest "
                               f"descriptors")
        descriptor = choose_manifest(doc, platform_ or Platform.host())
    raise BadParameter("invalid image archive: image indexes nested too deep")


def _json_object(data: bytes, digest: str) -> dict:
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise BadParameter(f"invalid image: {digest} is not JSON ({exc})") from None
    if not isinstance(doc, dict):
        raise BadParameter(f"invalid image: {digest} is not a JSON object")
    return doc


def _store_manifest(store: ImageStore, manifest_bytes: bytes, manifest_digest: str,
                    tags: tuple[str, ...], open_blob, repo_digests: tuple[str, ...] = ()) -> Image:
    """Store one image manifest's config and layers (read through `open_blob(digest)`)."""
    manifest = _json_object(manifest_bytes, manifest_digest)
    if not isinstance(manifest.get("layers"), list):
        raise BadParameter(f"manifest {manifest_digest} has no config or layers")
    config_desc = _descriptor(manifest.get("config"), f"manifest {manifest_digest}")
    layer_descs = [_descriptor(d, f"manifest {manifest_digest}") for d in manifest["layers"]]
    config_digest, size = store.put_blob(open_blob(config_desc["digest"]), config_desc["digest"])
    if size > MAX_METADATA_BYTES:
        raise BadParameter(f"invalid image: config {config_digest} is larger than "
                           f"{MAX_METADATA_BYTES} bytes")
    config_bytes = store.read_blob(config_digest)
    check_image_config(config_bytes)
    diff_ids = _diff_ids(config_bytes, len(layer_descs))
    layers = []
    for desc, diff_id in zip(layer_descs, diff_ids):
        media_type = desc.get("mediaType", mediatypes.OCI_LAYER_GZIP)
        if media_type in mediatypes.FOREIGN_LAYER_TYPES:
            raise BadParameter(f"layer {desc['digest']} is a foreign layer ({media_type}): "
                               f"not supported")
        if not store.layer_dir(diff_id).is_dir() or not store.has_blob(desc["digest"]):
            store.put_blob(open_blob(desc["digest"]), desc["digest"])
        store.ensure_layer(desc["digest"], diff_id)
        layers.append(LayerRef(diff_id, desc["digest"], media_type))
    store.put_blob_bytes(manifest_bytes)
    return store.commit_image(config_bytes, layers, manifest_digest=manifest_digest, tags=tags,
                              repo_digests=repo_digests)


# -- save -----------------------------------------------------------------------------------


class _SizedReader:
    """Exactly `size` bytes of a decompressed blob, or a clear error."""

    def __init__(self, stream, size: int, what: str) -> None:
        self._stream, self._left, self._what = stream, size, what

    def read(self, n: int = -1) -> bytes:
        if self._left <= 0:
            return b""
        data = self._stream.read(self._left if n is None or n < 0 else min(n, self._left))
        if not data:
            raise EngineError(f"layer {self._what} is shorter than recorded; the store is damaged")
        self._left -= len(data)
        return data


def save(store: ImageStore, refs: list[str], fileobj: BinaryIO) -> None:
    """A docker-archive (`manifest.json`, `<config>.json`, `<diff>/layer.tar`) of `refs`."""
    chosen: list[tuple[Image, list[str]]] = []
    for text in refs:
        image_id, ref = store.resolve(text)
        image = store.get(image_id)
        tags = [ref.familiar()] if ref is not None and ref.tag else []
        for known, known_tags in chosen:
            if known.id == image.id:
                known_tags.extend(t for t in tags if t not in known_tags)
                break
        else:
            chosen.append((image, tags))
    manifest, written = [], set()
    with tarfile.open(fileobj=fileobj, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for image, tags in chosen:
            hex_id = image.id[len("sha256:"):]
            _add_bytes(tar, f"{hex_id}.json", store.read_blob(image.id))
            layer_names = []
            for layer in store.layer_refs(image):
                name = f"{layer.diff_id[len('sha256:'):]}/layer.tar"
                layer_names.append(name)
                if name in written:
                    continue
                written.add(name)
                record = store.layer_record(layer.diff_id)
                info = tarfile.TarInfo(name)
                info.size, info.mode, info.mtime = record.tar_size, 0o644, 0
                with store.blob_path(layer.blob).open("rb") as blob:
                    tar.addfile(info, _SizedReader(decompressed(blob), record.tar_size,
                                                   layer.diff_id))
            manifest.append({"Config": f"{hex_id}.json", "RepoTags": tags or None,
                             "Layers": layer_names})
        _add_bytes(tar, "manifest.json", json.dumps(manifest).encode())


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), 0o644, 0
    tar.addfile(info, io.BytesIO(data))
