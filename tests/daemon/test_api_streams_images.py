"""Attach and tty exec over hijacked connections, healthchecks, image endpoints."""
from __future__ import annotations

import io
import socket
import tarfile

import docker
import pytest

from engine.api.framing import parse_frames
from tests.daemon.conftest import wait_for

pytestmark = pytest.mark.integration


def _read_until(sock: socket.socket, *needles: bytes, timeout: float = 10) -> bytes:
    sock.settimeout(timeout)
    data = b""
    while not all(n in data for n in needles):
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def test_attach_stdin_roundtrip_with_framing(client):
    cid = client.api.create_container_from_config(
        {"Image": "busybox", "Cmd": ["sh", "-c", "read line; echo got:$line; echo bye >&2"],
         "OpenStdin": True, "StdinOnce": True, "AttachStdin": True}, None)["Id"]
    try:
        raw = client.api.attach_socket(cid, params={"stdin": 1, "stdout": 1, "stderr": 1,
                                                    "stream": 1})
        sock = raw._sock
        client.api.start(cid)
        sock.sendall(b"hello\n")
        data = _read_until(sock, b"bye\n", b"got:hello\n")  # two pipes: either may come first
        frames, _ = parse_frames(data)
        assert (1, b"got:hello\n") in frames and (2, b"bye\n") in frames, (data, client.api.logs(cid))
        assert client.api.wait(cid)["StatusCode"] == 0
        sock.close()
    finally:
        client.api.remove_container(cid, force=True)


def test_tty_exec_and_resize(client):
    c = client.containers.run("busybox", ["sleep", "60"], detach=True)
    try:
        res = c.exec_run(["sh", "-c", "tty; echo $TERM"], tty=True)
        assert res.exit_code == 0
        assert b"/dev/pts/" in res.output and b"xterm" in res.output
        exec_id = client.api.exec_create(c.id, ["sh", "-c", "sleep 0.5; stty size"], tty=True)["Id"]
        sock = client.api.exec_start(exec_id, tty=True, socket=True)
        client.api.exec_resize(exec_id, height=33, width=99)
        out = _read_until(sock._sock, b"33 99")
        assert b"33 99" in out
        sock.close()
    finally:
        c.remove(force=True)


def test_healthcheck_reaches_healthy_and_is_listed(client):
    c = client.containers.run(
        "busybox", ["sh", "-c", "sleep 0.6; touch /ok; sleep 60"], detach=True,
        healthcheck={"test": ["CMD-SHELL", "test -f /ok"], "interval": 200_000_000,
                     "timeout": 2_000_000_000, "retries": 10})
    try:
        assert client.api.inspect_container(c.id)["State"]["Health"]["Status"] == "starting"
        wait_for(lambda: client.api.inspect_container(c.id)["State"]["Health"]["Status"]
                 == "healthy", 15)
        health = client.api.inspect_container(c.id)["State"]["Health"]
        assert health["Log"][-1]["ExitCode"] == 0 and health["FailingStreak"] == 0
        assert "(healthy)" in client.api.containers(filters={"id": c.id})[0]["Status"]
        assert client.api.containers(filters={"health": "healthy", "id": c.id})
    finally:
        c.remove(force=True)


def test_image_tag_inspect_save_load_remove(client):
    img = client.images.get("busybox")
    img.tag("example/copy", "v1")
    assert "example/copy:v1" in client.images.get("example/copy:v1").tags
    assert client.api.inspect_image("example/copy:v1")["Id"] == img.id
    data = b"".join(client.api.get_image("example/copy:v1"))
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        assert "manifest.json" in tar.getnames()
    client.images.remove("example/copy:v1")
    with pytest.raises(docker.errors.ImageNotFound):
        client.images.get("example/copy:v1")
    loaded = client.images.load(data)
    assert [i.id for i in loaded] == [img.id]
    client.images.remove("example/copy:v1")
    c = client.containers.create("busybox", ["true"])
    try:
        with pytest.raises(docker.errors.APIError) as err:
            client.images.remove(img.id)
        assert err.value.status_code == 409
    finally:
        c.remove()


def test_import_with_changes_sets_config(client, daemon):
    from tests.support.busybox import make_busybox_tar
    tar = make_busybox_tar(daemon.base / "bb2.tar")
    client.api.import_image_from_data(tar.read_bytes(), repository="withcmd", tag="1",
                                      changes=['CMD ["echo", "from-image"]', "ENV GREETING=hi"])
    assert client.containers.run("withcmd:1", remove=True) == b"from-image\n"
    assert client.containers.run("withcmd:1", ["sh", "-c", "echo $GREETING"], remove=True) == b"hi\n"
    client.images.remove("withcmd:1")


def test_image_history_and_prune(client, daemon):
    hist = client.api.history("busybox")
    assert hist and "Created" in hist[0] and "Size" in hist[0]
    from tests.support.busybox import tar_bytes
    client.api.import_image_from_data(tar_bytes({"only-file": b"x"}))
    untagged = lambda: [i for i in client.api.images(all=True)  # noqa: E731
                        if i.get("RepoTags") in (None, [], ["<none>:<none>"])]
    assert len(untagged()) == 1
    pruned = client.api.prune_images(filters={"dangling": True})
    assert pruned["ImagesDeleted"] and pruned["SpaceReclaimed"] >= 0
    assert untagged() == []
    assert client.images.get("busybox")  # tagged: kept by a dangling-only prune
