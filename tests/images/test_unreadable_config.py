"""An image whose stored config cannot be used (#11): one an older version recorded before configs
were checked at the door, or a config file damaged on disk. Looking it up is a typed 500 naming
the image as the caller named it, in one line ("image pcbad:1 has an unreadable config: ..."),
never a traceback from whatever code first trips over it; removing it still works.
The same through the API (a container create): tests/daemon/test_image_config_unreadable.py.
"""
from __future__ import annotations

import io
import json

import pytest

from engine.images import ImageStore
from engine.images.configcheck import UnreadableConfig
from tests.images.tarbuild import file, make_tar


@pytest.fixture
def good(store: ImageStore):
    return store.import_rootfs(io.BytesIO(make_tar([file("hello", b"hi\n")])), "pcgood:1",
                               ['CMD ["/hello"]'])


def _record_as_an_older_version_would(store: ImageStore, good, config: object) -> None:
    """An image `pcbad:1` on good's layers whose stored config has `config` as its "config"
    (recorded well-formed, then its config file rewritten: what a version without the door
    checks left behind, short of its digest)."""
    doc = json.loads(store.read_blob(good.id))
    doc["comment"] = "recorded by an older version"
    bad = store.commit_image(json.dumps(doc).encode(), store.layer_refs(good),
                             tags=("pcbad:1",))
    doc["config"] = config
    store.blob_path(bad.id).write_bytes(json.dumps(doc).encode())


@pytest.mark.parametrize("config, why", [
    ({"Env": "PATH=/bin"},
     "json: cannot unmarshal string into Go struct field Image.config.Env of type []string"),
    ({"Volumes": ["/data"]},
     "json: cannot unmarshal array into Go struct field Image.config.Volumes of type "
     "map[string]struct {}"),
    ({"Cmd": ["sh", 1]},
     "json: cannot unmarshal array into Go struct field Image.config.Cmd of type "
     "strslice.StrSlice"),
    ({"Labels": {"a": 1}},
     "json: cannot unmarshal number 1 into Go struct field Image.config.Labels of type string"),
    ("sh -c true",
     "json: cannot unmarshal string into Go struct field Image.config of type container.Config"),
    ([1, 2],
     "json: cannot unmarshal array into Go struct field Image.config of type container.Config"),
])
def test_a_config_of_the_wrong_types_is_named_with_the_image(store, good, config, why):
    _record_as_an_older_version_would(store, good, config)
    with pytest.raises(UnreadableConfig) as err:
        store.get("pcbad:1")
    assert err.value.status == 500
    assert err.value.message == f"image pcbad:1 has an unreadable config: {why}"
    assert store.get("pcgood:1").config["Cmd"] == ["/hello"]   # the others are unaffected


@pytest.mark.parametrize("damage, why", [
    (b"", "not JSON (Expecting value: line 1 column 1 (char 0))"),
    (b'{"config": {"Cmd": ["/hello"]', "not JSON (Expecting ',' delimiter: line 1 column 30 "
                                       "(char 29))"),
    (b"\xff\xfe\x00garbage", "not JSON ("),
    (b"[]", "json: cannot unmarshal array into Go value of type ocispec.Image"),
    (b"null", "not a JSON object"),
])
def test_a_damaged_config_file_is_named_with_the_image_as_it_was_asked_for(store, good, damage,
                                                                           why):
    store.blob_path(good.id).write_bytes(damage)
    for name in ("pcgood:1", good.short_id):
        with pytest.raises(UnreadableConfig) as err:
            store.get(name)
        message = err.value.message
        assert message.startswith(f"image {name} has an unreadable config: {why}"), message
        assert "\n" not in message


def test_an_unreadable_image_can_still_be_removed(store, good):
    store.blob_path(good.id).write_bytes(b"{")
    assert store.identify("pcgood:1") == (good.id, ("pcgood:1",))
    assert store.remove("pcgood:1") == [{"Untagged": "pcgood:1"}, {"Deleted": good.id}]
    assert [i.id for i in store.list()] == []


def test_the_list_skips_an_unreadable_image_and_says_so(store, good, caplog):
    _record_as_an_older_version_would(store, good, "not an object")
    bad_id = store.identify("pcbad:1")[0]
    with caplog.at_level("WARNING", logger="engine.images"):
        assert [i.repo_tags for i in store.list()] == [("pcgood:1",)]
    assert f"image {bad_id} skipped: unreadable config" in caplog.text
