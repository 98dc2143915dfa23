"""The container store's records on disk: what a create writes, and what load_all() makes of
records a crash or a power loss left behind (state.json is written without fsync)."""
from __future__ import annotations

import json

import trio

from engine.containers.manager import ContainerManager
from engine.containers.model import ContainerState, parse_create
from engine.containers.store import ContainerRecord, ContainerStore, new_id
from engine.volumes import VolumeStore


def _record(store: ContainerStore, name: str) -> ContainerRecord:
    cid = new_id()
    rec = ContainerRecord(cid, name, "2026-01-01T00:00:00Z", "sha256:" + "0" * 64,
                          parse_create({"Image": "busybox", "Cmd": ["true"]}), store.root / cid)
    rec.dir.mkdir()
    store.write_new(rec)
    store.add(rec)
    return rec


def test_write_new_writes_both_files_and_reloads(tmp_path):
    store = ContainerStore(tmp_path / "containers")
    rec = _record(store, "alpha")
    assert json.loads((rec.dir / "config.json").read_text())["Name"] == "alpha"
    assert json.loads((rec.dir / "state.json").read_text())["Status"] == "created"
    again = ContainerStore(tmp_path / "containers")
    [loaded] = again.load_all()
    assert (loaded.id, loaded.name, loaded.state.status) == (rec.id, "alpha",
                                                            ContainerState.CREATED)


def test_state_lost_to_power_loss_reads_as_crashed_and_recover_marks_it_exited(tmp_path):
    store = ContainerStore(tmp_path / "containers")
    rec = _record(store, "beta")
    (rec.dir / "state.json").write_text("")  # what a power loss can leave of an un-synced write
    manager = ContainerManager(tmp_path, runtime=None, cgroups=None, images=None,
                               volumes=VolumeStore(tmp_path / "volumes"))
    assert trio.run(manager.recover) == ([], [])   # nothing to restart, nothing to remove
    loaded = manager.get("beta")
    assert loaded.state.status is ContainerState.EXITED
    assert loaded.state.exit_code == 255
    assert json.loads((rec.dir / "state.json").read_text())["Status"] == "exited"


def test_missing_config_is_a_dead_create_and_is_deleted(tmp_path):
    store = ContainerStore(tmp_path / "containers")
    half = tmp_path / "containers" / new_id()
    (half / "upper").mkdir(parents=True)
    (half / "state.json").write_text("{}")
    assert store.load_all() == []
    assert not half.exists()


def test_duplicate_name_left_by_a_crash_keeps_one_record(tmp_path):
    store = ContainerStore(tmp_path / "containers")
    first = _record(store, "gamma")
    other = ContainerStore(tmp_path / "containers")  # a second create that raced the first
    second = _record(other, "gamma")
    loaded = ContainerStore(tmp_path / "containers")
    recs = loaded.load_all()
    assert len(recs) == 1 and recs[0].name == "gamma"
    assert recs[0].id == min(first.id, second.id)  # load order is the sorted directory order
    assert loaded.get("gamma").id == recs[0].id


def test_forgetting_a_record_drops_its_output_held_in_memory(tmp_path):
    from engine.containers import logcache

    store = ContainerStore(tmp_path / "containers")
    rec = _record(store, "delta")
    logcache.record(str(rec.log_path), 1, logcache.Segment(0, 60, b"stdout",
                                                           b"2026-01-01T00:00:00Z", b"hi\n"))
    assert str(rec.log_path) in logcache._logs
    try:
        store.forget(rec)
        assert str(rec.log_path) not in logcache._logs
        assert not rec.dir.exists()
    finally:
        logcache.forget(str(rec.log_path))
