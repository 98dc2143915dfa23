"""Volume store, per-container /etc files and list filters (no kernel objects)."""
from __future__ import annotations

import os

import pytest

from engine.containers.model import parse_create
from engine.containers.setup import hosts_content, resolv_content
from engine.errors import BadParameter, Conflict, NotFound
from engine.volumes import VolumeStore


def test_volume_create_is_idempotent_and_shaped_like_docker(tmp_path):
    store = VolumeStore(tmp_path / "volumes")
    v = store.create("data", labels={"a": "b"})
    assert store.create("data").created_at == v.created_at
    d = v.to_docker()
    assert d["Name"] == "data" and d["Driver"] == "local" and d["Scope"] == "local"
    assert d["Mountpoint"] == str(tmp_path / "volumes" / "data" / "_data")
    assert d["Labels"] == {"a": "b"} and d["CreatedAt"]
    anon = store.create(None)
    assert anon.anonymous and len(anon.name) == 64
    with pytest.raises(BadParameter):
        store.create("bad/name")
    with pytest.raises(NotFound):
        store.get("nope")


def test_volume_remove_in_use_and_prune(tmp_path):
    store = VolumeStore(tmp_path / "volumes")
    store.create("busy")
    store.create("named")
    anon = store.create(None)
    with pytest.raises(Conflict, match="volume is in use"):
        store.remove("busy", lambda name: ["abc123"] if name == "busy" else [])
    deleted, _ = store.prune(lambda name: [])
    assert deleted == [anon.name]  # named volumes only with all
    deleted, _ = store.prune(lambda name: ["x"] if name == "busy" else [], all_volumes=True)
    assert deleted == ["named"]


def test_first_use_copy_preserves_content_and_owner(tmp_path):
    src = tmp_path / "image" / "srv"
    src.mkdir(parents=True)
    (src / "f").write_text("x")
    os.chown(src / "f", 1000, 1000)
    store = VolumeStore(tmp_path / "volumes")
    v = store.create("vol")
    store.populate(v, src)
    copied = v.mountpoint / "f"
    assert copied.read_text() == "x" and copied.stat().st_uid == 1000
    (copied).write_text("changed")
    store.populate(store.get("vol"), src)  # only the first use copies
    assert copied.read_text() == "changed"


def test_hosts_and_resolv_content():
    text = hosts_content("abc", ("db:10.0.0.5",), ["10.1.0.2"])
    assert "127.0.0.1\tlocalhost" in text and "10.0.0.5\tdb" in text and "10.1.0.2\tabc" in text
    with pytest.raises(BadParameter):
        hosts_content("abc", ("nocolon",), [])
    host = "nameserver 127.0.0.53\nnameserver 192.0.2.1\nsearch corp\noptions ndots:2\n"
    cfg = parse_create({"Image": "b"})
    assert resolv_content(host, cfg) == ("nameserver 192.0.2.1\nsearch corp\n"
                                         "options ndots:2\n")
    assert resolv_content(host, cfg, ["10.1.0.1"]).startswith("nameserver 10.1.0.1\n")
    custom = parse_create({"Image": "b", "HostConfig": {"Dns": ["9.9.9.9"], "DnsSearch": ["x"]}})
    assert resolv_content(host, custom) == "nameserver 9.9.9.9\nsearch x\noptions ndots:2\n"
