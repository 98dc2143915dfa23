"""load/save against archives skopeo writes and reads (local transports only, no network)."""
from __future__ import annotations

import io
import json
import subprocess
import tarfile
from pathlib import Path

import pytest

from engine.errors import BadParameter
from engine.images import ImageStore
from engine.images.store import DigestMismatch
from tests.images.ocilayout import Layout
from tests.images.tarbuild import directory, file, make_tar

pytestmark = pytest.mark.integration

LOWER = make_tar([directory("etc"), file("etc/a", b"1"), file("etc/b", b"b"),
                  directory("d"), file("d/old", b"o")])
UPPER = make_tar([file("etc/a", b"2"), file("etc/.wh.b", b""), directory("d"),
                  file("d/.wh..wh..opq", b""), file("d/new", b"n")])


def skopeo(*args: str) -> str:
    return subprocess.run(["skopeo", *args], check=True, capture_output=True, text=True).stdout


@pytest.fixture
def layout(tmp_path: Path) -> Layout:
    lay = Layout(tmp_path / "layout")
    lay.add(lay.image([LOWER, UPPER], {"Cmd": ["/bin/sh"], "Env": ["PATH=/bin"]}), "v1")
    return lay


def check_two_layer_image(store: ImageStore, ref: str) -> None:
    image = store.get(ref)
    assert image.config["Cmd"] == ["/bin/sh"]
    lower, upper = store.layer_paths(image)      # lowest first
    assert (lower / "etc/a").read_bytes() == b"1" and (upper / "etc/a").read_bytes() == b"2"
    assert (upper / "etc/b").is_char_device()
    assert (upper / "d/new").read_bytes() == b"n"


def test_load_docker_archive_from_skopeo(store: ImageStore, layout: Layout,
                                         tmp_path: Path) -> None:
    archive = tmp_path / "docker.tar"
    skopeo("copy", f"oci:{layout.path}:v1", f"docker-archive:{archive}:test/app:v1")
    with archive.open("rb") as f:
        [image] = store.load(f)
    assert image.repo_tags == ("test/app:v1",)
    check_two_layer_image(store, "test/app:v1")


def test_load_oci_archive_from_skopeo(store: ImageStore, layout: Layout, tmp_path: Path) -> None:
    archive = tmp_path / "oci.tar"
    skopeo("copy", f"oci:{layout.path}:v1", f"oci-archive:{archive}:localhost:5000/test/app:v1")
    # Through a non-seekable stream, as an API upload arrives.
    with archive.open("rb") as f:
        [image] = store.load(io.BufferedReader(_Unseekable(f)))
    assert image.repo_tags == ("localhost:5000/test/app:v1",)
    assert image.manifest_digest == json.loads(
        tarfile.open(archive).extractfile("index.json").read())["manifests"][0]["digest"]
    check_two_layer_image(store, "localhost:5000/test/app:v1")


def test_load_oci_archive_picks_host_platform(store: ImageStore, tmp_path: Path) -> None:
    lay = Layout(tmp_path / "multi")
    amd = lay.image([make_tar([file("arch", b"amd64")])], arch="amd64")
    arm = lay.image([make_tar([file("arch", b"arm64")])], arch="arm64")
    lay.add(lay.multi([arm, amd]), "docker.io/test/multi:1")
    archive = tmp_path / "multi.tar"
    with tarfile.open(archive, "w") as tar:
        tar.add(lay.path, arcname=".")
    with archive.open("rb") as f:
        [image] = store.load(f)
    assert image.repo_tags == ("test/multi:1",)
    assert (store.layer_paths(image)[0] / "arch").read_bytes() == b"amd64"


def test_save_is_readable_by_skopeo_and_ourselves(store: ImageStore, layout: Layout,
                                                  tmp_path: Path) -> None:
    archive = tmp_path / "in.tar"
    skopeo("copy", f"oci:{layout.path}:v1", f"docker-archive:{archive}:test/app:v1")
    with archive.open("rb") as f:
        [image] = store.load(f)
    saved = tmp_path / "saved.tar"
    with saved.open("wb") as out:
        store.save(["test/app:v1"], out)
    info = json.loads(skopeo("inspect", f"docker-archive:{saved}"))
    assert info["Layers"] == list(image.diff_ids)   # uncompressed layers: digest = diff_id
    assert info["Env"] == ["PATH=/bin"]
    # skopeo can copy it onward, and a fresh store loads the same image id back.
    skopeo("copy", f"docker-archive:{saved}", f"oci:{tmp_path / 'again'}:x")
    fresh = ImageStore(tmp_path / "fresh")
    with saved.open("rb") as f:
        [back] = fresh.load(f)
    assert back.id == image.id and back.repo_tags == ("test/app:v1",)
    check_two_layer_image(fresh, "test/app:v1")


def test_load_refuses_corrupt_blob(store: ImageStore, layout: Layout, tmp_path: Path) -> None:
    manifest_digest = layout.index[0]["digest"]
    manifest = json.loads((layout.path / "blobs/sha256" / manifest_digest[7:]).read_bytes())
    layer = layout.path / "blobs/sha256" / manifest["layers"][1]["digest"][7:]
    layer.write_bytes(layer.read_bytes()[:-4] + b"\0\0\0\0")
    archive = tmp_path / "bad.tar"
    with tarfile.open(archive, "w") as tar:
        tar.add(layout.path, arcname=".")
    with archive.open("rb") as f, pytest.raises(DigestMismatch, match="digest mismatch"):
        store.load(f)
    assert store.list() == []
    assert list((store.root / "tmp").iterdir()) == []
    # The good lower layer was unpacked before the bad one was met: collected again.
    assert list((store.root / "layers").iterdir()) == []
    assert list((store.root / "blobs/sha256").iterdir()) == []


def test_load_rejects_non_archives(store: ImageStore) -> None:
    with pytest.raises(BadParameter, match="neither manifest.json"):
        store.load(io.BytesIO(make_tar([file("hello")])))
    with pytest.raises(BadParameter, match="invalid image archive"):
        store.load(io.BytesIO(b"garbage" * 200))


class _Unseekable(io.RawIOBase):
    def __init__(self, inner) -> None:
        self._inner = inner

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self._inner.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def test_save_gzip_import_and_multiple_images(store: ImageStore, busybox_tar: Path,
                                              tmp_path: Path) -> None:
    import gzip
    packed = tmp_path / "rootfs.tar.gz"
    packed.write_bytes(gzip.compress(busybox_tar.read_bytes()))
    with packed.open("rb") as f:
        a = store.import_rootfs(f, "a:1", ["CMD a"])
    with busybox_tar.open("rb") as f:
        b = store.import_rootfs(f, "b:1", ["CMD b"])
    saved = tmp_path / "two.tar"
    with saved.open("wb") as out:
        store.save(["a:1", "b:1", a.id], out)
    with tarfile.open(saved) as tar:
        manifest = json.loads(tar.extractfile("manifest.json").read())
        # One layer, written once (uncompressed) and shared by both images.
        assert [n for n in tar.getnames() if n.endswith("layer.tar")] == [
            f"{a.diff_ids[0][7:]}/layer.tar"]
    assert [m["RepoTags"] for m in manifest] == [["a:1"], ["b:1"]]
    info = json.loads(skopeo("inspect", f"docker-archive:{saved}:a:1"))
    assert info["Layers"] == list(a.diff_ids)
    fresh = ImageStore(tmp_path / "fresh")
    with saved.open("rb") as f:
        loaded = fresh.load(f)
    assert [i.id for i in loaded] == [a.id, b.id]
