"""Registry behaviours docker-registry's filesystem driver never shows: blob redirects to
another host (object storage) and connections that break mid-blob. A small fake registry
on 127.0.0.1 plays them."""
from __future__ import annotations

import gzip
import hashlib
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from engine.images import ImageStore
from engine.images.auth import basic_header
from engine.images.registry import RegistryError
from tests.images.tarbuild import file, make_tar

pytestmark = pytest.mark.integration

LAYER_TAR = make_tar([file("hello", b"world" * 1000)])
LAYER = gzip.compress(LAYER_TAR, mtime=0)
LAYER_DIGEST = "sha256:" + hashlib.sha256(LAYER).hexdigest()
CONFIG = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["/hello"]},
                     "rootfs": {"type": "layers", "diff_ids": [
                         "sha256:" + hashlib.sha256(LAYER_TAR).hexdigest()]}}).encode()
CONFIG_DIGEST = "sha256:" + hashlib.sha256(CONFIG).hexdigest()
MANIFEST = json.dumps({
    "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": CONFIG_DIGEST,
               "size": len(CONFIG)},
    "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                "digest": LAYER_DIGEST, "size": len(LAYER)}]}).encode()
AUTH = basic_header("alice", "secret")


class Servers:
    def __init__(self) -> None:
        self.storage_auth: list[str | None] = []
        self.truncate = False
        self.storage = self._serve(self._storage_handler())
        self.registry = self._serve(self._registry_handler())

    @staticmethod
    def _serve(handler) -> ThreadingHTTPServer:
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.registry.server_address[1]}"

    def close(self) -> None:
        for server in (self.registry, self.storage):
            server.shutdown()
            server.server_close()

    def _storage_handler(self):
        outer = self

        class Storage(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                outer.storage_auth.append(self.headers.get("Authorization"))
                body = LAYER[: len(LAYER) // 2] if outer.truncate else LAYER
                self.send_response(200)
                self.send_header("Content-Length", str(len(LAYER)))
                self.end_headers()
                self.wfile.write(body)
                self.close_connection = True

        return Storage

    def _registry_handler(self):
        outer = self

        class Registry(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def reply(self, status: int, body: bytes = b"", **headers: str) -> None:
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key.replace("_", "-"), value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                if self.headers.get("Authorization") != AUTH:
                    return self.reply(401, WWW_Authenticate='Basic realm="fake"')
                if self.path == "/v2/test/x/manifests/v1":
                    return self.reply(200, MANIFEST, Content_Type=json.loads(
                        MANIFEST)["mediaType"])
                if self.path == f"/v2/test/x/blobs/{CONFIG_DIGEST}":
                    return self.reply(200, CONFIG)
                if self.path == f"/v2/test/x/blobs/{LAYER_DIGEST}":
                    port = outer.storage.server_address[1]
                    return self.reply(307, Location=f"http://localhost:{port}/bucket/layer")
                self.reply(404, b'{"errors":[{"code":"BLOB_UNKNOWN","message":"unknown"}]}')

        return Registry


@pytest.fixture
def servers() -> Iterator[Servers]:
    s = Servers()
    try:
        yield s
    finally:
        s.close()


def test_redirected_blob_gets_no_credentials(store: ImageStore, servers: Servers) -> None:
    image = store.pull(f"{servers.host}/test/x:v1", auth=("alice", "secret"))
    assert (store.layer_paths(image)[0] / "hello").read_bytes() == b"world" * 1000
    # The storage host is another host (localhost vs 127.0.0.1): the login stays home.
    assert servers.storage_auth == [None]


def test_broken_download_is_one_line_and_leaves_nothing(store: ImageStore,
                                                        servers: Servers) -> None:
    servers.truncate = True
    with pytest.raises(RegistryError, match=r"^download of blob .* broke off: IncompleteRead"):
        store.pull(f"{servers.host}/test/x:v1", auth=("alice", "secret"))
    assert store.list() == []
    for sub in ("layers", "blobs/sha256", "images", "tmp"):
        assert list((store.root / sub).iterdir()) == [], sub
