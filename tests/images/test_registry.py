"""Pull and push against a real registry (docker-registry on 127.0.0.1), with and without auth."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from engine.errors import NotFound
from engine.images import ImageStore
from engine.images.registry import RegistryError, Unauthorized
from engine.images.store import DigestMismatch
from tests.images.ocilayout import Layout
from tests.images.registryfix import (USERS, Registry, free_port, run_registry, skopeo_inspect,
                                      skopeo_push)
from tests.images.tarbuild import directory, file, make_tar

pytestmark = pytest.mark.integration

LOWER = make_tar([directory("etc"), file("etc/a", b"1"), file("etc/b", b"b")])
UPPER = make_tar([file("etc/a", b"2"), file("etc/.wh.b", b""), file("bin/tool", b"t",
                                                                     mode=0o4755)])


@pytest.fixture(scope="module")
def layout(tmp_path_factory: pytest.TempPathFactory) -> Layout:
    lay = Layout(tmp_path_factory.mktemp("layout") / "oci")
    lay.add(lay.image([LOWER, UPPER], {"Cmd": ["/bin/sh"], "Env": ["PATH=/bin"]}), "app")
    amd = lay.image([make_tar([file("arch", b"amd64")])], arch="amd64")
    arm = lay.image([make_tar([file("arch", b"arm64")])], arch="arm64")
    lay.add(lay.multi([arm, amd]), "multi")
    return lay


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory, layout: Layout):
    with run_registry(tmp_path_factory.mktemp("registry")) as reg:
        skopeo_push(f"oci:{layout.path}:app", reg, "test/app:v1")
        skopeo_push(f"oci:{layout.path}:multi", reg, "test/multi:latest", all_images=True)
        yield reg


def check_app(store: ImageStore, ref: str) -> None:
    image = store.get(ref)
    assert image.config["Cmd"] == ["/bin/sh"]
    lower, upper = store.layer_paths(image)
    assert (lower / "etc/a").read_bytes() == b"1" and (upper / "etc/a").read_bytes() == b"2"
    assert (upper / "etc/b").is_char_device()
    assert (upper / "bin/tool").stat().st_mode & 0o7777 == 0o4755


def test_pull_by_tag_and_digest(store: ImageStore, registry: Registry) -> None:
    messages: list[dict] = []
    ref = f"{registry.host}/test/app:v1"
    image = store.pull(ref, progress=messages.append)
    check_app(store, ref)
    digest = skopeo_inspect(registry, "test/app:v1")["Digest"]
    assert image.manifest_digest == digest
    assert image.repo_digests == (f"{registry.host}/test/app@{digest}",)
    statuses = [m["status"] for m in messages]
    assert statuses.count("Pull complete") == 2 and statuses[-2] == f"Digest: {digest}"
    # By digest, in a fresh store: no tag, but the digest reference resolves.
    fresh = ImageStore(store.root.parent / "fresh")
    by_digest = fresh.pull(f"{registry.host}/test/app@{digest}")
    assert by_digest.id == image.id and by_digest.repo_tags == ()
    assert fresh.get(f"{registry.host}/test/app@{digest}").id == image.id
    # A second pull finds every layer present.
    again: list[dict] = []
    store.pull(ref, progress=again.append)
    assert [m["status"] for m in again].count("Already exists") == 2
    assert again[-1]["status"] == f"Status: Image is up to date for {ref}"
    assert messages[-1]["status"] == f"Status: Downloaded newer image for {ref}"


def test_pull_index_chooses_platform(store: ImageStore, registry: Registry) -> None:
    ref = f"{registry.host}/test/multi"
    amd = store.pull(ref, "linux/amd64")
    assert (store.layer_paths(amd)[0] / "arch").read_bytes() == b"amd64"
    arm = store.pull(ref, "linux/arm64")
    assert (store.layer_paths(arm)[0] / "arch").read_bytes() == b"arm64"
    assert arm.architecture == "arm64"
    with pytest.raises(NotFound, match=r"no image for platform linux/s390x .*linux/amd64"):
        store.pull(ref, "linux/s390x")


def test_pull_docker_schema2(store: ImageStore, registry: Registry, layout: Layout,
                             tmp_path: Path) -> None:
    archive = tmp_path / "docker.tar"
    subprocess.run(["skopeo", "copy", f"oci:{layout.path}:app",
                    f"docker-archive:{archive}:test/app:v1"], check=True, capture_output=True)
    skopeo_push(f"docker-archive:{archive}", registry, "test/schema2:v1")
    raw = subprocess.run(["skopeo", "inspect", "--raw", "--tls-verify=false",
                          f"docker://{registry.host}/test/schema2:v1"], check=True,
                         capture_output=True, text=True).stdout
    assert "application/vnd.docker.distribution.manifest.v2+json" in raw
    store.pull(f"{registry.host}/test/schema2:v1")
    check_app(store, f"{registry.host}/test/schema2:v1")


def test_corrupt_blob_is_refused_and_nothing_stays(store: ImageStore, registry: Registry,
                                                   layout: Layout) -> None:
    skopeo_push(f"oci:{layout.path}:app", registry, "test/corrupt:v1")
    raw = subprocess.run(["skopeo", "inspect", "--raw", "--tls-verify=false",
                          f"docker://{registry.host}/test/corrupt:v1"], check=True,
                         capture_output=True, text=True).stdout
    blob = registry.blob_file(json.loads(raw)["layers"][1]["digest"])
    original = blob.read_bytes()
    blob.write_bytes(original[:-8] + b"\0" * 8)
    try:
        with pytest.raises(DigestMismatch, match="digest mismatch"):
            store.pull(f"{registry.host}/test/corrupt:v1")
    finally:
        blob.write_bytes(original)
    assert store.list() == []
    for sub in ("layers", "blobs/sha256", "images", "tmp"):
        assert list((store.root / sub).iterdir()) == [], sub


def test_clear_errors(store: ImageStore, registry: Registry) -> None:
    with pytest.raises(NotFound, match=r"^manifest for .*/test/nope:latest: not found in "
                                       r"registry .*manifest unknown"):
        store.pull(f"{registry.host}/test/nope")
    port = free_port()
    with pytest.raises(RegistryError, match=rf"^cannot reach registry 127.0.0.1:{port}: "):
        store.pull(f"127.0.0.1:{port}/test/app")


def test_push_then_pull_roundtrip(store: ImageStore, registry: Registry,
                                  busybox_tar: Path) -> None:
    with busybox_tar.open("rb") as f:
        image = store.import_rootfs(f, "busybox", ['CMD ["/bin/sh"]'])
    ref = f"{registry.host}/test/pushed:v1"
    store.tag("busybox", ref)
    messages: list[dict] = []
    digest = store.push(ref, progress=messages.append)
    assert [m["status"] for m in messages].count("Pushed") == 2
    assert skopeo_inspect(registry, "test/pushed:v1")["Digest"] == digest
    assert store.get(ref).repo_digests == (f"{registry.host}/test/pushed@{digest}",)
    again: list[dict] = []
    store.push(ref, progress=again.append)
    assert [m["status"] for m in again].count("Layer already exists") == 2
    fresh = ImageStore(store.root.parent / "fresh")
    pulled = fresh.pull(ref)
    assert pulled.id == image.id
    assert (fresh.layer_paths(pulled)[0] / "bin/busybox").is_file()


@pytest.fixture(scope="module", params=["basic", "token"])
def secured(request, tmp_path_factory: pytest.TempPathFactory, layout: Layout):
    with run_registry(tmp_path_factory.mktemp(f"reg-{request.param}"), request.param) as reg:
        skopeo_push(f"oci:{layout.path}:app", reg, "test/app:v1", creds="alice:secret")
        yield reg


def test_auth_required_then_granted(store: ImageStore, secured: Registry,
                                   busybox_tar: Path) -> None:
    ref = f"{secured.host}/test/app:v1"
    with pytest.raises(Unauthorized, match="unauthorized|requires a login|denied"):
        store.pull(ref)
    store.credentials.set(secured.host, "alice", "wrong")
    with pytest.raises(Unauthorized):
        store.pull(ref)
    store.credentials.set(secured.host, "alice", USERS["alice"])
    assert (store.credentials.path.stat().st_mode & 0o777) == 0o600
    store.pull(ref)
    check_app(store, ref)
    with busybox_tar.open("rb") as f:
        store.import_rootfs(f, f"{secured.host}/test/pushed:v1", [])
    digest = store.push(f"{secured.host}/test/pushed:v1")
    assert skopeo_inspect(secured, "test/pushed:v1", creds="alice:secret")["Digest"] == digest


def test_concurrent_pulls_share_layers(store: ImageStore, registry: Registry, layout: Layout,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    from engine.images import store as store_module
    skopeo_push(f"oci:{layout.path}:app", registry, "test/twin:v1")
    calls = []
    real = store_module.extract_layer
    monkeypatch.setattr(store_module, "extract_layer",
                        lambda stream, dest, **kw: calls.append(dest) or real(stream, dest, **kw))
    barrier, errors = threading.Barrier(2), []

    def pull(name: str) -> None:
        try:
            barrier.wait()
            store.pull(f"{registry.host}/test/{name}:v1")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=pull, args=(n,)) for n in ("app", "twin")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(calls) == 2                          # two layers, each unpacked once
    a, b = store.get(f"{registry.host}/test/app:v1"), store.get(f"{registry.host}/test/twin:v1")
    assert a.id == b.id and store.layer_paths(a) == store.layer_paths(b)
    check_app(store, f"{registry.host}/test/twin:v1")


def test_login_and_explicit_auth(store: ImageStore, secured: Registry) -> None:
    with pytest.raises(Unauthorized):
        store.login(secured.host, "alice", "wrong")
    assert store.credentials.get(secured.host) is None
    # Credentials given per request (X-Registry-Auth) work without a stored login.
    store.pull(f"{secured.host}/test/app:v1", auth=("alice", USERS["alice"]))
    assert store.login(f"http://{secured.host}/", "alice", USERS["alice"]) == "Login Succeeded"
    assert store.credentials.get(secured.host) == ("alice", USERS["alice"])
