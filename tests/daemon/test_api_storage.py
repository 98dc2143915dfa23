"""Volumes, binds, tmpfs and read-only roots over the API."""
from __future__ import annotations

import docker
import pytest

pytestmark = pytest.mark.integration


def run_output(client, cmd, **kw):
    c = client.containers.run("busybox", cmd, detach=True, **kw)
    try:
        code = c.wait(timeout=30)["StatusCode"]
        return code, c.logs()
    finally:
        c.remove(force=True)


def test_named_volume_first_use_copy_and_survival(client):
    code, out = run_output(client, ["cat", "/var/www/index.html"],
                           volumes={"webdata": {"bind": "/var/www", "mode": "rw"}})
    assert (code, out) == (0, b"hello\n")
    vol = client.volumes.get("webdata")
    assert vol.attrs["Driver"] == "local" and vol.attrs["Mountpoint"].endswith("/webdata/_data")
    code, _ = run_output(client, ["sh", "-c", "echo new > /var/www/new.txt"],
                         volumes={"webdata": {"bind": "/var/www", "mode": "rw"}})
    assert code == 0
    code, out = run_output(client, ["cat", "/var/www/new.txt", "/var/www/index.html"],
                           volumes={"webdata": {"bind": "/var/www", "mode": "rw"}})
    assert out == b"new\nhello\n"
    c = client.containers.run("busybox", ["sleep", "30"], detach=True,
                              volumes={"webdata": {"bind": "/data", "mode": "rw"}})
    try:
        with pytest.raises(docker.errors.APIError) as err:
            vol.remove()
        assert err.value.status_code == 409
    finally:
        c.remove(force=True)
    vol.remove()
    assert "webdata" not in [v.name for v in client.volumes.list()]


def test_volume_api_shapes_and_prune(client):
    v = client.volumes.create("shaped", labels={"team": "a"})
    assert v.attrs["Labels"] == {"team": "a"} and v.attrs["Scope"] == "local"
    assert [x.name for x in client.volumes.list(filters={"label": "team=a"})] == ["shaped"]
    c = client.containers.create("busybox", ["true"], volumes=["/anon"])
    anon = [m["Name"] for m in client.api.inspect_container(c.id)["Mounts"] if m["Type"] == "volume"]
    assert len(anon) == 1 and len(anon[0]) == 64
    c.remove(v=True)
    assert anon[0] not in [x.name for x in client.volumes.list()]
    client.api.prune_volumes(filters={"all": "true"})
    assert "shaped" not in [x.name for x in client.volumes.list()]


def test_bind_read_only(client, tmp_path):
    (tmp_path / "f").write_text("from host\n")
    code, out = run_output(client, ["sh", "-c", "cat /mnt/f; touch /mnt/new"],
                           volumes={str(tmp_path): {"bind": "/mnt", "mode": "ro"}})
    assert code != 0 and b"from host\n" in out and b"Read-only file system" in out
    assert not (tmp_path / "new").exists()
    code, out = run_output(client, ["sh", "-c", "echo w > /mnt/new"],
                           volumes={str(tmp_path): {"bind": "/mnt", "mode": "rw"}})
    assert code == 0 and (tmp_path / "new").read_text() == "w\n"


def test_tmpfs_mount_with_size(client):
    code, out = run_output(client, ["sh", "-c",
                                    "grep ' /scratch ' /proc/mounts; "
                                    "dd if=/dev/zero of=/scratch/big bs=1024 count=2048 2>&1"],
                           tmpfs={"/scratch": "size=1m"})
    assert b"tmpfs /scratch tmpfs" in out
    assert code != 0 and b"No space left on device" in out


def test_read_only_root(client):
    code, out = run_output(client, ["sh", "-c", "touch /x"], read_only=True)
    assert code != 0 and b"Read-only file system" in out
    code, out = run_output(client, ["sh", "-c", "touch /tmp/x && echo ok"], read_only=True,
                           tmpfs={"/tmp": ""})
    assert (code, out) == (0, b"ok\n")
