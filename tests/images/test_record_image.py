"""importer.record_image, the one way an image made of stored layers is recorded (import, load,
build steps and cachefrom's images made again): what it records, and that recording the same
config twice is the same image."""
from __future__ import annotations

import io
import json

import pytest

from engine.errors import BadParameter
from engine.images import ImageStore
from engine.images.image import canonical_json
from engine.images.importer import import_rootfs, record_image
from tests.images.tarbuild import file, make_tar

pytestmark = pytest.mark.integration     # layers are unpacked (owners, modes) as root does


def _base(store: ImageStore):
    return import_rootfs(store, io.BytesIO(make_tar([file("a", b"1")])), "pc-base:1")


def test_record_image_makes_a_tagged_child_with_the_parents_layers(store: ImageStore) -> None:
    base = _base(store)
    doc = json.loads(store.read_blob(base.id))
    doc["config"] = {"Cmd": ["/a"]}
    doc["history"].append({"created": doc["created"], "created_by": "CMD /a",
                           "empty_layer": True})
    with store.lock("gc", shared=True):
        layers = list(store.layer_refs(base))
        sizes = [store.blob_path(ref.blob).stat().st_size for ref in layers]
        image = record_image(store, canonical_json(doc), layers, sizes, ("pc-child:1",),
                             parent=base.id)
        again = record_image(store, canonical_json(doc), layers, sizes, ("pc-child:2",))
    assert again.id == image.id
    got = store.get("pc-child:1")
    assert got.id == image.id == store.get("pc-child:2").id
    assert got.config["Cmd"] == ["/a"]
    assert [r.diff_id for r in store.layer_refs(got)] == [r.diff_id for r in layers]
    manifest = json.loads(store.read_blob(got.manifest_digest))
    assert [d["digest"] for d in manifest["layers"]] == [r.blob for r in layers]
    assert manifest["config"]["digest"] == image.id
    assert got.parent == base.id         # the first record is kept


def test_record_image_refuses_layers_its_config_does_not_list(store: ImageStore) -> None:
    base = _base(store)
    doc = json.loads(store.read_blob(base.id))
    doc["rootfs"]["diff_ids"] = []
    with store.lock("gc", shared=True), pytest.raises(BadParameter, match="do not match"):
        record_image(store, canonical_json(doc), list(store.layer_refs(base)), [1])
