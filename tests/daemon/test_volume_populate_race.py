"""Issue #11: a volume's first-use copy (the image's files at the mount target) while another
running container already has the volume mounted. That container swaps every directory the
copy makes for a link to a host canary dir, in a tight loop; nothing may land in, or change,
the canary. Also the copy's ordinary outcomes (owner and mode of the volume root, links kept as
links, a non-empty volume left alone), through a real engine."""
from __future__ import annotations

import os
import stat
import time
import uuid
from pathlib import Path

import docker
import pytest

from tests.daemon.conftest import wait_for

pytestmark = pytest.mark.integration

DIRS, FILES = 40, 25


def snapshot(root: Path) -> dict[str, tuple]:
    out: dict[str, tuple] = {".": (os.lstat(root).st_mode, os.lstat(root).st_mtime_ns)}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            data = open(path, "rb").read() if stat.S_ISREG(st.st_mode) else b""
            out[os.path.relpath(path, root)] = (st.st_mode, st.st_uid, st.st_mtime_ns, data)
    return out


@pytest.fixture
def cleanup(client):
    containers: list = []
    volumes: list[str] = []
    images: list[str] = []
    try:
        yield containers, volumes, images
    finally:
        for c in containers:
            try:
                (client.containers.get(c) if isinstance(c, str) else c).remove(force=True)
            except docker.errors.NotFound:
                pass
        for name in volumes:
            try:
                client.volumes.get(name).remove(force=True)
            except docker.errors.NotFound:
                pass
        for ref in images:
            try:
                client.images.remove(ref, force=True)
            except docker.errors.ImageNotFound:
                pass


def image_with_tree(client, cleanup, tag: str) -> str:
    """busybox + /data holding DIRS dirs of FILES files each, a link, a 0750 1000:1000 root."""
    containers, _, images = cleanup
    script = (f"mkdir -p /data && cd /data && for d in $(seq {DIRS}); do mkdir dir$d; "
              f"for f in $(seq {FILES}); do echo $d-$f > dir$d/f$f; done; done; "
              "ln -s /etc/passwd /data/link && chown 1000:1000 /data && chmod 0750 /data")
    maker = client.containers.run("busybox", ["sh", "-c", script], detach=True)
    containers.append(maker)
    assert maker.wait(timeout=120)["StatusCode"] == 0
    maker.commit(repository="pc-poptree", tag=tag)
    images.append(f"pc-poptree:{tag}")
    return f"pc-poptree:{tag}"


def volume_dir(daemon, name: str) -> Path:
    return daemon.root / "volumes" / name / "_data"


def count_files(root: Path) -> int:
    """Regular files below `root`, no link followed."""
    return sum(stat.S_ISREG(os.lstat(os.path.join(d, f)).st_mode)
               for d, _, files in os.walk(root) for f in files)


def test_swapping_dirs_for_host_links_during_the_first_copy_never_touches_the_host(
        client, daemon, cleanup, canary):
    containers, volumes, _ = cleanup
    image = image_with_tree(client, cleanup, "race")
    name = f"pc-race-{uuid.uuid4().hex[:8]}"
    volumes.append(name)
    before = snapshot(canary)
    # nocopy: the volume stays "not yet populated" while this container has it mounted
    swapper = client.containers.run(
        "busybox", ["sh", "-c", "cd /data; touch /tmp/looping; while true; do for d in dir*; "
                    f"do [ -L $d ] || {{ mv $d .x$d 2>/dev/null && ln -s {canary} $d; }}; "
                    "done; done"],
        mounts=[docker.types.Mount("/data", name, type="volume", no_copy=True)], detach=True)
    containers.append(swapper)
    wait_for(lambda: swapper.exec_run(["test", "-e", "/tmp/looping"]).exit_code == 0)
    started = time.monotonic()
    containers.append(name)
    try:
        client.containers.run(image, ["sh", "-c", "sleep 600"], detach=True, name=name,
                              mounts=[docker.types.Mount("/data", name, type="volume")])
        failed = None
    except docker.errors.APIError as exc:
        failed = exc
    took = time.monotonic() - started
    assert snapshot(canary) == before
    assert failed is None
    swapper.reload()
    assert swapper.status == "running"           # the loop ran all along
    # the copy did happen: every file of the image is in the volume (under the swapper's
    # names once it moved them), and the swapper did swap what it found
    data = volume_dir(daemon, name)
    wait_for(lambda: sum(1 for n in os.listdir(data) if n.startswith(".xdir")) == DIRS, 60)
    assert count_files(data) == DIRS * FILES
    assert os.readlink(data / "dir1") == str(canary)
    assert os.readlink(data / "link") == "/etc/passwd"
    assert snapshot(canary) == before
    assert took < 60


def test_first_copy_keeps_owner_mode_and_links_and_skips_a_non_empty_volume(
        client, daemon, cleanup):
    containers, volumes, _ = cleanup
    image = image_with_tree(client, cleanup, "plain")
    fresh, used = (f"pc-pop-{uuid.uuid4().hex[:8]}" for _ in range(2))
    volumes.extend([fresh, used])
    c = client.containers.run(image, ["true"], detach=True,
                              mounts=[docker.types.Mount("/data", fresh, type="volume")])
    containers.append(c)
    assert c.wait(timeout=60)["StatusCode"] == 0
    data = volume_dir(daemon, fresh)
    st = os.lstat(data)
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (1000, 1000, 0o750)
    assert (data / "dir3" / "f7").read_text() == "3-7\n"
    assert os.readlink(data / "link") == "/etc/passwd"
    assert count_files(data) == DIRS * FILES
    assert [n for n in os.listdir(data.parent) if n.startswith(".populate-")] == []
    # a volume something already wrote to is not filled
    writer = client.containers.run("busybox", ["sh", "-c", "echo mine > /data/own"],
                                   detach=True, mounts=[docker.types.Mount(
                                       "/data", used, type="volume", no_copy=True)])
    containers.append(writer)
    assert writer.wait(timeout=60)["StatusCode"] == 0
    c2 = client.containers.run(image, ["true"], detach=True,
                               mounts=[docker.types.Mount("/data", used, type="volume")])
    containers.append(c2)
    assert c2.wait(timeout=60)["StatusCode"] == 0
    assert os.listdir(volume_dir(daemon, used)) == ["own"]


# -- the copy itself, on a VolumeStore in a temp dir (no engine) ---------------------------

def make_source(root: Path) -> Path:
    src = root / "src"
    for d in ("dir1", "dir2"):
        (src / d).mkdir(parents=True)
        (src / d / "f").write_text(d)
    (src / "link").symlink_to("/etc/passwd")
    return src


def test_an_entry_the_volume_got_after_the_check_is_not_written_through(
        tmp_path, canary, monkeypatch):
    # the worst moment, made deterministic: right after the copy into the staging dir, the
    # volume's user plants dir1 -> canary; the move must neither follow nor replace it
    import subprocess

    from engine import volumes
    store = volumes.VolumeStore(tmp_path / "volumes")
    vol = store.create("pc-unit")
    before = snapshot(canary)
    real_run = subprocess.run

    def run_then_plant(*args, **kw):
        result = real_run(*args, **kw)
        (vol.mountpoint / "dir1").symlink_to(canary)
        return result

    monkeypatch.setattr(volumes.subprocess, "run", run_then_plant)
    store.populate(vol, make_source(tmp_path))
    assert snapshot(canary) == before
    assert os.readlink(vol.mountpoint / "dir1") == str(canary)
    assert (vol.mountpoint / "dir2" / "f").read_text() == "dir2"
    assert os.readlink(vol.mountpoint / "link") == "/etc/passwd"
    assert sorted(os.listdir(vol.mountpoint.parent)) == ["_data", "volume.json"]
    assert store.get("pc-unit").initialized


def test_a_source_that_is_a_link_copies_nothing(tmp_path, canary):
    from engine.volumes import VolumeStore
    store = VolumeStore(tmp_path / "volumes")
    vol = store.create("pc-unit")
    (tmp_path / "merged").mkdir()
    (tmp_path / "merged" / "data").symlink_to(canary)
    store.populate(vol, tmp_path / "merged" / "data")
    assert os.listdir(vol.mountpoint) == [] and store.get("pc-unit").initialized


def test_a_failed_copy_is_one_line_naming_the_volume_and_leaves_no_stage(tmp_path, monkeypatch):
    import subprocess

    from engine import volumes
    from engine.errors import EngineError
    store = volumes.VolumeStore(tmp_path / "volumes")
    vol = store.create("pc-unit")
    (tmp_path / "volumes" / "pc-unit" / ".populate-0123456789abcdef").mkdir()  # a crash's

    def fail(*args, **kw):
        raise subprocess.CalledProcessError(1, args[0], b"",
                                            b"cp: cannot create x\ncp: disk full\n")

    monkeypatch.setattr(volumes.subprocess, "run", fail)
    with pytest.raises(EngineError) as err:
        store.populate(vol, make_source(tmp_path))
    assert err.value.message == ("cannot copy the image's files into volume pc-unit: "
                                 "cp: disk full")
    assert sorted(os.listdir(vol.mountpoint.parent)) == ["_data", "volume.json"]
    assert not store.get("pc-unit").initialized
