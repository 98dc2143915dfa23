"""The store end to end: import, lookup, tags, rmi semantics, GC, concurrency, Docker shapes."""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import threading
from pathlib import Path

import pytest

from engine.errors import BadParameter, Conflict, NotFound
from engine.images import ImageStore, store as store_module
from tests.images.tarbuild import file, make_tar

pytestmark = pytest.mark.integration


def import_busybox(store: ImageStore, busybox_tar: Path, ref: str | None = "busybox:1",
                   changes=('CMD ["/bin/sh"]', "ENV PATH=/bin")):
    with busybox_tar.open("rb") as f:
        return store.import_rootfs(f, ref, list(changes))


def test_import_and_lookup(store: ImageStore, busybox_tar: Path) -> None:
    image = import_busybox(store, busybox_tar,
                           changes=['CMD ["/bin/sh"]', "ENV PATH=/bin", "WORKDIR /srv",
                                    "EXPOSE 80", "LABEL a=b", "USER app"])
    # Image id = sha256 of the stored config JSON, as in Docker.
    config_bytes = store.read_blob(image.id)
    assert image.id == "sha256:" + hashlib.sha256(config_bytes).hexdigest()
    assert image.repo_tags == ("busybox:1",)
    assert image.config["Cmd"] == ["/bin/sh"] and image.config["User"] == "app"
    assert image.diff_ids == ("sha256:" + hashlib.sha256(busybox_tar.read_bytes()).hexdigest(),)
    for name in ("busybox:1", "docker.io/library/busybox:1", image.id, image.id[7:],
                 image.short_id, image.id[:13]):
        assert store.get(name).id == image.id
    [layer] = store.layer_paths(image)
    assert (layer / "bin/busybox").is_file() and (layer / "bin/sh").is_symlink()
    assert (layer / "var/www/index.html").read_text() == "hello\n"
    assert image.size > 1_000_000


def test_not_found_and_bad_reference(store: ImageStore) -> None:
    with pytest.raises(NotFound, match=r"^No such image: nope:latest$"):
        store.get("nope")
    with pytest.raises(BadParameter, match="invalid reference format"):
        store.get("Not Valid")


def test_inspect_and_summary_shapes(store: ImageStore, busybox_tar: Path) -> None:
    image = import_busybox(store, busybox_tar)
    data = store.inspect("busybox:1")
    assert data["Id"] == image.id and data["RepoTags"] == ["busybox:1"]
    assert data["RootFS"] == {"Type": "layers", "Layers": list(image.diff_ids)}
    assert data["Config"]["Cmd"] == ["/bin/sh"] and data["Config"]["Env"] == ["PATH=/bin"]
    for key in ("Entrypoint", "WorkingDir", "User", "Volumes", "Labels", "OnBuild"):
        assert key in data["Config"]
    assert data["Os"] == "linux" and data["Architecture"] and data["Size"] == image.size
    assert data["Created"].endswith("Z") and data["Metadata"]["LastTagTime"].endswith("Z")
    summary = store.summary(image)
    assert summary["Id"] == image.id and summary["RepoTags"] == ["busybox:1"]
    assert isinstance(summary["Created"], int) and summary["Created"] > 1_700_000_000
    assert summary["Size"] == image.size
    untagged = import_busybox(store, busybox_tar, ref=None, changes=["CMD x"])
    assert store.summary(untagged)["RepoTags"] == ["<none>:<none>"]
    assert {i.id for i in store.list()} == {image.id, untagged.id}


def test_tag_and_rmi_semantics(store: ImageStore, busybox_tar: Path) -> None:
    image = import_busybox(store, busybox_tar)
    store.tag("busybox:1", "localhost:5000/mine/bb:v2")
    assert store.get("busybox:1").repo_tags == ("busybox:1", "localhost:5000/mine/bb:v2")
    with pytest.raises(BadParameter, match="digest"):
        store.tag("busybox:1", "x@sha256:" + "0" * 64)
    with pytest.raises(Conflict, match="referenced in multiple repositories"):
        store.remove(image.short_id)
    assert store.remove("localhost:5000/mine/bb:v2") == [
        {"Untagged": "localhost:5000/mine/bb:v2"}]
    assert store.remove("busybox:1") == [{"Untagged": "busybox:1"}, {"Deleted": image.id}]
    with pytest.raises(NotFound):
        store.get(image.id)
    # Garbage collected: no layer, no blob, no debris left.
    root = store.root
    assert list((root / "layers").iterdir()) == []
    assert list((root / "blobs/sha256").iterdir()) == []
    assert list((root / "tmp").iterdir()) == []


def test_force_removes_multiply_tagged(store: ImageStore, busybox_tar: Path) -> None:
    image = import_busybox(store, busybox_tar)
    store.tag(image.id, "other")
    result = store.remove(image.id, force=True)
    assert {"Deleted": image.id} in result
    assert {r["Untagged"] for r in result if "Untagged" in r} == {"busybox:1", "other:latest"}


def test_in_use_image_is_never_deleted(store: ImageStore, busybox_tar: Path) -> None:
    image = import_busybox(store, busybox_tar)
    in_use = lambda image_id: image_id == image.id  # noqa: E731
    with pytest.raises(Conflict, match="container is using"):
        store.remove("busybox:1", in_use=in_use)
    with pytest.raises(Conflict, match="being used by a container"):
        store.remove(image.id, in_use=in_use)
    assert store.remove("busybox:1", force=True, in_use=in_use) == [{"Untagged": "busybox:1"}]
    assert store.layer_paths(store.get(image.id))[0].is_dir()
    # The same check given once to the store.
    guarded = ImageStore(store.root, in_use=in_use)
    with pytest.raises(Conflict):
        guarded.remove(image.id)


def test_shared_layers_are_collected_last(store: ImageStore, busybox_tar: Path) -> None:
    a = import_busybox(store, busybox_tar, "a", ["CMD a"])
    b = import_busybox(store, busybox_tar, "b", ["CMD b"])
    assert a.id != b.id and a.diff_ids == b.diff_ids
    layer = store.layer_paths(a)[0]
    store.remove("a")
    assert layer.is_dir() and store.layer_paths(store.get("b")) == [layer]
    store.remove("b")
    assert not layer.exists()


def test_gzip_import_keeps_blob_as_it_came(store: ImageStore) -> None:
    raw = make_tar([file("etc/hostname", b"x\n")])
    packed = gzip.compress(raw)
    image = store.import_rootfs(io.BytesIO(packed), "gz", [])
    assert image.diff_ids == ("sha256:" + hashlib.sha256(raw).hexdigest(),)
    blob = store.layer_refs(image)[0]
    assert store.read_blob(blob.blob) == packed
    assert blob.media_type == "application/vnd.oci.image.layer.v1.tar+gzip"
    manifest = json.loads(store.read_blob(image.manifest_digest))
    assert manifest["layers"][0]["digest"] == blob.blob


def test_bad_input_leaves_nothing(store: ImageStore) -> None:
    with pytest.raises(BadParameter, match="invalid change 'RUN x'"):
        store.import_rootfs(io.BytesIO(make_tar([file("a")])), "x", ["RUN x"])
    with pytest.raises(BadParameter, match="escapes the layer directory"):
        store.import_rootfs(io.BytesIO(make_tar([file("../a")])), "x", [])
    with pytest.raises(BadParameter, match="invalid reference format"):
        store.import_rootfs(io.BytesIO(make_tar([file("a")])), "UPPER", [])
    for sub in ("blobs/sha256", "layers", "images", "tmp"):
        assert list((store.root / sub).iterdir()) == [], sub


def test_concurrent_imports_unpack_a_shared_layer_once(store: ImageStore, busybox_tar: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    real = store_module.extract_layer

    def counting(stream, dest, **kw):
        calls.append(dest)
        return real(stream, dest, **kw)

    monkeypatch.setattr(store_module, "extract_layer", counting)
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def worker(n: int) -> None:
        try:
            barrier.wait()
            import_busybox(store, busybox_tar, f"t{n}", [f"CMD t{n}"])
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(calls) == 1
    paths = {tuple(store.layer_paths(store.get(f"t{n}"))) for n in range(4)}
    assert len(paths) == 1
    assert [p.name for p in (store.root / "layers").iterdir() if p.is_dir()] == \
        [next(iter(paths))[0].name]


def test_prune_and_history(store: ImageStore, busybox_tar: Path) -> None:
    tagged = import_busybox(store, busybox_tar, "keep", ["CMD keep"])
    dangling = import_busybox(store, busybox_tar, None, ["CMD x"])
    other = store.import_rootfs(io.BytesIO(make_tar([file("only", b"x" * 5000)])), None, [])
    in_use = lambda image_id: image_id == dangling.id  # noqa: E731
    result = store.prune(in_use=in_use)
    assert result["ImagesDeleted"] == [{"Deleted": other.id}]
    assert result["SpaceReclaimed"] >= 5000
    assert {i.id for i in store.list()} == {tagged.id, dangling.id}
    assert store.prune(dangling_only=False, in_use=in_use)["ImagesDeleted"] == [
        {"Untagged": "keep:latest"}, {"Deleted": tagged.id}]
    child = store.commit(dangling.id, io.BytesIO(make_tar([file("new", b"abc")])),
                         {"Cmd": ["y"]}, "child", created_by="RUN make")
    rows = store.history("child")
    assert [r["CreatedBy"] for r in rows] == ["RUN make", "pycompose image import"]
    assert rows[0]["Id"] == child.id and rows[0]["Tags"] == ["child:latest"]
    assert rows[0]["Size"] == 3 and rows[1]["Id"] == "<missing>"
    assert rows[1]["Size"] == dangling.size


def test_import_and_remove_race_on_a_shared_layer(store: ImageStore, busybox_tar: Path) -> None:
    """GC from one thread's rmi never takes a layer another thread's import is about to use."""
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def churn(n: int) -> None:
        try:
            barrier.wait()
            for round_ in range(4):
                image = import_busybox(store, busybox_tar, f"c{n}:{round_}", [f"CMD {n}"])
                assert store.layer_paths(store.get(image.id))[0].is_dir()
                store.remove(f"c{n}:{round_}")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=churn, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert store.list() == []
    assert list((store.root / "layers").iterdir()) == []
    assert list((store.root / "blobs/sha256").iterdir()) == []


def test_gc_sweeps_only_debris_of_dead_processes(store: ImageStore, busybox_tar: Path) -> None:
    import subprocess
    dead = subprocess.Popen(["true"])
    dead.wait()
    debris = store.root / "tmp" / f"{dead.pid}-crashed-import"
    debris.mkdir()
    (debris / "half.tar").write_bytes(b"x")
    busy = store.tempdir()            # e.g. a bootstrap writing its tarball in another thread
    (busy / "rootfs.tar").write_bytes(b"y")
    import_busybox(store, busybox_tar, "x")
    store.remove("x")                 # runs GC
    assert not debris.exists()
    assert (busy / "rootfs.tar").read_bytes() == b"y"
    (store.root / "tmp" / f"{dead.pid}-blob.abc").write_bytes(b"z")
    ImageStore(store.root)            # a restarted engine sweeps too
    assert [p.name for p in (store.root / "tmp").iterdir()] == [busy.name]


def test_commit_records_its_parent(store: ImageStore, busybox_tar: Path) -> None:
    base = import_busybox(store, busybox_tar, "base")
    child = store.commit(base.id, io.BytesIO(make_tar([file("c", b"1")])), {"Cmd": ["c"]},
                         "child", created_by="RUN c")
    assert child.parent == base.id and store.get("child").parent == base.id
    assert store.inspect("child")["Parent"] == base.id
    assert store.summary(store.get("child"))["ParentId"] == base.id
    assert base.parent == "" and store.inspect("base")["Parent"] == ""
