"""`docker pull` and `docker push` against a registry API v2.

Pull: manifest (an index / manifest list is resolved to one platform), then the config and every
layer blob, each checked against its digest while it streams into the store; layers are unpacked
once and their diff_id checked. If anything fails, nothing of the pull stays referenced and the
store collects what it had unpacked. Push: monolithic blob uploads (skipping blobs the registry
has), then the image's manifest under the tag.

`progress` receives Docker's JSON progress messages (`{"status", "id", "progressDetail"}`).
"""
from __future__ import annotations

import hashlib
import http.client
import json
import threading
import urllib.parse
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from engine.errors import BadParameter, NotFound
from engine.images.configcheck import check_image_config
from engine.images import mediatypes, reference
from engine.images.auth import CredentialStore, registry_key
from engine.images.image import Image
from engine.images.platforms import Platform, choose_manifest
from engine.images.registry import RegistryClient, RegistryError, Response
from engine.images.store import DigestMismatch, ImageStore, LayerRef

Progress = Callable[[dict], None]
_EVERY = 1 << 20   # bytes between "Downloading"/"Pushing" messages
PARALLEL_LAYERS = 3


def _quiet(_message: dict) -> None:
    pass


class _Counting:
    """Reports transfer progress while a response body is read."""

    def __init__(self, resp: Response, total: int, short: str, emit: Progress, status: str):
        self._resp, self._total, self._short, self._emit, self._status = \
            resp, total, short, emit, status
        self._done = self._last = 0

    def read(self, n: int = -1) -> bytes:
        data = self._resp.read(n)
        if not data and n != 0:
            expected = self._resp.headers.get("Content-Length")
            if expected is not None and expected.isdigit() and self._done < int(expected):
                # http.client hands out a short body quietly when the peer hangs up.
                raise http.client.IncompleteRead(b"", int(expected) - self._done)
        self._done += len(data)
        if self._done - self._last >= _EVERY or (data and self._done == self._total):
            self._last = self._done
            self._emit({"status": self._status, "id": self._short,
                        "progressDetail": {"current": self._done, "total": self._total}})
        return data


def _short(digest: str) -> str:
    return digest.split(":", 1)[-1][:12]


def _classify(media_type: str, body: bytes) -> str:
    """Media type from the Content-Type header, else from the body (umoci omits it there)."""
    media_type = media_type.split(";", 1)[0].strip()
    if media_type in mediatypes.INDEX_TYPES | mediatypes.MANIFEST_TYPES:
        return media_type
    try:
        doc = json.loads(body)
    except ValueError:
        return media_type
    if doc.get("mediaType"):
        return doc["mediaType"]
    if "manifests" in doc:
        return mediatypes.OCI_INDEX
    if "layers" in doc and "config" in doc:
        return mediatypes.OCI_MANIFEST
    return media_type


def _fetch_manifest(client: RegistryClient, path: str, ref: str, scope: str,
                    expected: str | None, shown: str) -> tuple[bytes, str, str]:
    resp = client.request("GET", f"/v2/{path}/manifests/{ref}", scope=scope,
                          headers={"Accept": mediatypes.ACCEPT}, what=f"manifest for {shown}")
    content_type = resp.headers.get("Content-Type", "")
    announced = resp.headers.get("Docker-Content-Digest")
    body = resp.body()
    actual = "sha256:" + hashlib.sha256(body).hexdigest()
    for claimed in (expected, announced):
        if claimed and claimed != actual:
            raise DigestMismatch(f"manifest for {shown}: digest mismatch: expected {claimed}, "
                                 f"content hashes to {actual}")
    return body, _classify(content_type, body), actual


def pull(store: ImageStore, ref: str, platform: str | Platform | None = None,
         progress: Progress | None = None, *, credentials: CredentialStore | None = None,
         insecure: bool | None = None, auth: tuple[str, str] | None = None) -> Image:
    target = reference.parse(ref)
    wanted = Platform.parse(platform) if isinstance(platform, str) else (platform or
                                                                          Platform.host())
    emit = progress or _quiet
    client = RegistryClient(target.domain, credentials, insecure, auth)
    scope = f"repository:{target.path}:pull"
    shown = target.familiar()
    emit({"status": f"Pulling from {target.familiar_name()}", "id": target.tag or target.digest})
    body, media_type, digest = _fetch_manifest(client, target.path, target.digest or target.tag,
                                               scope, target.digest, shown)
    if media_type in mediatypes.INDEX_TYPES:
        chosen = choose_manifest(json.loads(body), wanted)
        body, media_type, digest = _fetch_manifest(client, target.path, chosen["digest"], scope,
                                                   chosen["digest"], shown)
    if media_type not in mediatypes.MANIFEST_TYPES:
        raise RegistryError(f"manifest for {shown} has unsupported type {media_type!r} "
                            f"(schema 2 and OCI manifests only)")
    manifest = json.loads(body)
    try:
        had = store.resolve(str(target))[0]
    except (NotFound, BadParameter):
        had = None
    try:
        image = _pull_blobs(store, client, target, scope, manifest, body, digest, emit)
    except BaseException:
        store.collect_garbage_if_idle()
        raise
    emit({"status": f"Digest: {digest}"})
    if had == image.id:
        emit({"status": f"Status: Image is up to date for {shown}"})
    else:
        emit({"status": f"Status: Downloaded newer image for {shown}"})
    return image


def _download(store: ImageStore, client: RegistryClient, path: str, scope: str, desc: dict,
              emit: Progress, shown: str) -> None:
    digest = desc["digest"]
    resp = client.request("GET", f"/v2/{path}/blobs/{digest}", scope=scope,
                          what=f"blob {_short(digest)} of {shown}")
    try:
        store.put_blob(_Counting(resp, int(desc.get("size", 0)), _short(digest), emit,
                                 "Downloading"), digest)
    except DigestMismatch as exc:
        raise DigestMismatch(f"blob {_short(digest)} of {shown}: {exc}") from None
    except (OSError, http.client.HTTPException) as exc:
        raise RegistryError(f"download of blob {_short(digest)} of {shown} from "
                            f"{client.host} broke off: {exc.__class__.__name__}: {exc}") from None
    finally:
        resp.close()


def _pull_blobs(store: ImageStore, client: RegistryClient, target: reference.Reference,
                scope: str, manifest: dict, body: bytes, digest: str, emit: Progress) -> Image:
    shown = target.familiar()
    try:
        config_desc, layer_descs = manifest["config"], list(manifest["layers"])
    except (KeyError, TypeError):
        raise RegistryError(f"manifest for {shown} has no config or layers") from None
    with store.lock("gc", shared=True):
        if not store.has_blob(config_desc["digest"]):
            _download(store, client, target.path, scope, config_desc, _quiet, shown)
        config_bytes = store.read_blob(config_desc["digest"])
        # a registry's config is as untrusted as a loaded archive's: wrong types are refused
        # here, not found later as a 500 at every create from the image
        check_image_config(config_bytes)
        diff_ids = (json.loads(config_bytes).get("rootfs") or {}).get("diff_ids") or []
        if len(diff_ids) != len(layer_descs):
            raise RegistryError(f"image {shown}: config lists {len(diff_ids)} layers, the "
                                f"manifest {len(layer_descs)}")
        for desc in layer_descs:
            media_type = desc.get("mediaType", mediatypes.OCI_LAYER_GZIP)
            if media_type in mediatypes.FOREIGN_LAYER_TYPES:
                raise BadParameter(f"image {shown} has a foreign layer ({media_type}): "
                                   f"not supported")
        lock = threading.Lock()

        def locked_emit(message: dict) -> None:
            with lock:
                emit(message)

        def fetch(desc: dict, diff_id: str) -> LayerRef:
            short = _short(desc["digest"])
            if store.layer_dir(diff_id).is_dir() and store.has_blob(desc["digest"]):
                locked_emit({"status": "Already exists", "id": short, "progressDetail": {}})
            else:
                locked_emit({"status": "Pulling fs layer", "id": short, "progressDetail": {}})
                if not store.has_blob(desc["digest"]):
                    _download(store, client, target.path, scope, desc, locked_emit, shown)
                locked_emit({"status": "Download complete", "id": short, "progressDetail": {}})
                store.ensure_layer(desc["digest"], diff_id)
                locked_emit({"status": "Pull complete", "id": short, "progressDetail": {}})
            return LayerRef(diff_id, desc["digest"],
                            desc.get("mediaType", mediatypes.OCI_LAYER_GZIP))

        # Layers unpack into separate dirs, so they can download and unpack side by side.
        with ThreadPoolExecutor(max_workers=PARALLEL_LAYERS) as pool:
            futures = [pool.submit(fetch, desc, diff_id)
                       for desc, diff_id in zip(layer_descs, diff_ids)]
            layers = [future.result() for future in futures]
        store.put_blob_bytes(body)
        tags = (str(target),) if target.tag and not target.digest else ()
        return store.commit_image(config_bytes, layers, manifest_digest=digest, tags=tags,
                                  repo_digests=(f"{target.repository}@{digest}",))


def push(store: ImageStore, ref: str, progress: Progress | None = None, *,
         credentials: CredentialStore | None = None, insecure: bool | None = None,
         auth: tuple[str, str] | None = None) -> str:
    """Push the image tagged `ref` to its registry; returns the manifest digest."""
    target = reference.parse(ref)
    if target.digest:
        raise BadParameter(f"cannot push to a digest reference: {ref!r}")
    image = store.get(ref)
    if not image.manifest_digest:
        raise BadParameter(f"image {image.short_id} has no manifest to push")
    body = store.read_blob(image.manifest_digest)
    manifest = json.loads(body)
    media_type = manifest.get("mediaType") or mediatypes.OCI_MANIFEST
    emit = progress or _quiet
    client = RegistryClient(target.domain, credentials, insecure, auth)
    scope = f"repository:{target.path}:pull,push"
    emit({"status": f"The push refers to repository [{target.repository}]"})
    for desc in [*manifest["layers"], manifest["config"]]:
        digest, short = desc["digest"], _short(desc["digest"])
        head = client.request("HEAD", f"/v2/{target.path}/blobs/{digest}", scope=scope,
                              ok=(200, 404), what=f"blob {short}")
        head.body()
        if head.status == 200:
            emit({"status": "Layer already exists", "id": short, "progressDetail": {}})
            continue
        emit({"status": "Pushing", "id": short, "progressDetail": {}})
        start = client.request("POST", f"/v2/{target.path}/blobs/uploads/", scope=scope,
                               headers={"Content-Length": "0"}, ok=(202,),
                               what=f"upload of blob {short}")
        start.body()
        base = f"{client.scheme}://{client.api_host}/v2/{target.path}/blobs/uploads/"
        location = urllib.parse.urljoin(base, start.headers.get("Location", ""))
        location += ("&" if "?" in location else "?") + "digest=" + urllib.parse.quote(digest)
        path = store.blob_path(digest)
        with path.open("rb") as blob:
            done = client.request("PUT", location, scope=scope, body=blob, ok=(201,),
                                  headers={"Content-Length": str(path.stat().st_size),
                                           "Content-Type": "application/octet-stream"},
                                  what=f"upload of blob {short}")
        done.body()
        emit({"status": "Pushed", "id": short, "progressDetail": {}})
    put = client.request("PUT", f"/v2/{target.path}/manifests/{target.tag}", scope=scope,
                         body=body, ok=(201,), what=f"manifest for {target.familiar()}",
                         headers={"Content-Type": media_type, "Content-Length": str(len(body))})
    put.body()
    announced = put.headers.get("Docker-Content-Digest")
    if announced and announced != image.manifest_digest:
        raise RegistryError(f"registry {target.domain} stored the manifest as {announced}, "
                            f"expected {image.manifest_digest}")
    store.add_repo_digest(f"{target.repository}@{image.manifest_digest}", image.id)
    emit({"status": f"{target.tag}: digest: {image.manifest_digest} size: {len(body)}"})
    return image.manifest_digest


def login(credentials: CredentialStore, server: str, username: str, password: str, *,
          insecure: bool | None = None) -> str:
    """Check the credentials against the registry's /v2/, then remember them (`docker login`)."""
    host = server_host(server)
    client = RegistryClient(host, None, insecure, (username, password))
    client.request("GET", "/v2/", scope="", what=f"login to {host}").body()
    credentials.set(host, username, password)
    return "Login Succeeded"


def server_host(server: str) -> str:
    """`https://index.docker.io/v1/`, `127.0.0.1:5000`, "" -> the registry host."""
    text = server.strip()
    for prefix in ("https://", "http://"):
        text = text.removeprefix(prefix)
    host = text.split("/", 1)[0]
    if not host:
        return "docker.io"
    parsed = reference.parse(f"{host}/x").domain if "." in host or ":" in host or \
        host == "localhost" else None
    if parsed is None:
        raise BadParameter(f"invalid registry address {server!r}")
    return registry_key(parsed)
