"""Removing an image takes its untagged parents along (Docker's rmi), unless noprune."""
from __future__ import annotations

import io
from pathlib import Path

import pytest

from engine.images import ImageStore
from tests.images.tarbuild import file, make_tar

pytestmark = pytest.mark.integration


def step(store: ImageStore, parent: str, name: str, ref: str | None = None):
    """A build step: one small layer on `parent` (untagged unless `ref`)."""
    return store.commit(parent, io.BytesIO(make_tar([file(name, name.encode())])),
                        {"Cmd": [name]}, ref, created_by=f"RUN {name}")


@pytest.fixture
def chain(store: ImageStore, busybox_tar: Path):
    """busybox:1 <- s1 <- s2 <- app:1 (s1, s2 untagged, as a build's steps)."""
    with busybox_tar.open("rb") as f:
        base = store.import_rootfs(f, "busybox:1", ['CMD ["/bin/sh"]'])
    s1 = step(store, base.id, "s1")
    s2 = step(store, s1.id, "s2")
    app = step(store, s2.id, "app", "app:1")
    return base, s1, s2, app


def ids(store: ImageStore) -> set[str]:
    return {image.id for image in store.list()}


def test_removing_a_built_image_deletes_its_untagged_parents_in_one_go(store, chain):
    base, s1, s2, app = chain
    removed = store.remove("app:1")
    assert removed == [{"Untagged": "app:1"}, {"Deleted": app.id}, {"Deleted": s2.id},
                       {"Deleted": s1.id}]
    assert ids(store) == {base.id}          # the tagged base stays
    assert store.get("busybox:1").id == base.id
    layers = [p for p in (store.root / "layers").iterdir() if p.is_dir()]
    assert len(layers) == 1                 # the steps' layers went with them


def test_noprune_deletes_only_the_image(store, chain):
    base, s1, s2, app = chain
    removed = store.remove("app:1", prune=False)
    assert removed == [{"Untagged": "app:1"}, {"Deleted": app.id}]
    assert ids(store) == {base.id, s1.id, s2.id}


def test_dangling_image_by_id_takes_its_parents(store, chain):
    base, s1, s2, app = chain
    store.remove("app:1", prune=False)      # s2 is now a dangling `<none>` image
    removed = store.remove(s2.id)
    assert removed == [{"Deleted": s2.id}, {"Deleted": s1.id}]
    assert ids(store) == {base.id}


def test_a_parent_another_image_builds_on_stays(store, chain):
    base, s1, s2, app = chain
    other = step(store, s1.id, "other", "other:1")
    removed = store.remove("app:1")
    assert removed == [{"Untagged": "app:1"}, {"Deleted": app.id}, {"Deleted": s2.id}]
    assert ids(store) == {base.id, s1.id, other.id}
    assert store.remove("other:1")[-1] == {"Deleted": s1.id}   # the last child takes it


def test_a_parent_that_is_tagged_or_used_by_a_container_stays(store, chain):
    base, s1, s2, app = chain
    store.tag(s1.id, "keep:1")
    assert store.remove("app:1") == [{"Untagged": "app:1"}, {"Deleted": app.id},
                                     {"Deleted": s2.id}]
    assert ids(store) == {base.id, s1.id}
    s3 = step(store, s1.id, "s3")
    top = step(store, s3.id, "top", "top:1")
    removed = store.remove("top:1", in_use=lambda image_id: image_id == s3.id)
    assert removed == [{"Untagged": "top:1"}, {"Deleted": top.id}]
    assert s3.id in ids(store)
