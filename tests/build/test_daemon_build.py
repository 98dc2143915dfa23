"""Builds through a real engine daemon over its socket: our client and the docker SDK."""
from __future__ import annotations

import io
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

from tests.support.busybox import make_busybox_tar

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def daemon(tmp_path):
    root, sock = tmp_path / "root", tmp_path / "engine.sock"
    env = {**os.environ, "PYCOMPOSE_ROOT": str(root), "PYCOMPOSE_HOST": f"unix://{sock}",
           "PYCOMPOSE_ADDRESS_POOL": "10.197.0.0/16", "PYTHONPATH": str(REPO)}
    log = open(tmp_path / "daemon.out", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "engine.daemon"], env=env,
                            cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    try:
        from engine.client import Client
        client = Client(str(sock))
        deadline = time.monotonic() + 20
        while True:
            try:
                if client.ping():
                    break
            except Exception:
                pass
            assert proc.poll() is None, (tmp_path / "daemon.out").read_text()
            assert time.monotonic() < deadline, "engine did not start"
            time.sleep(0.1)
        with open(make_busybox_tar(tmp_path / "busybox.tar"), "rb") as f:
            client.import_image(f, "busybox", "latest")
        yield client, sock, root
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(10)
        log.close()
        with open("/proc/self/mountinfo") as f:
            left = [line.split()[4] for line in f if str(tmp_path) in line.split()[4]]
        shutil.rmtree(tmp_path, ignore_errors=True)
        assert left == []


def test_build_over_the_socket_with_our_client_and_the_docker_sdk(daemon, tmp_path):
    import docker

    from engine.client import build as bc
    client, sock, root = daemon
    project = tmp_path / "project"
    project.mkdir()
    (project / "msg.txt").write_text("over the socket\n")
    (project / "Dockerfile").write_text(
        "FROM busybox\nCOPY msg.txt /msg.txt\nRUN cat /msg.txt\nCMD [\"cat\", \"/msg.txt\"]\n")
    messages = list(bc.build(client, project, tags=["sock:1"]))
    text = "".join(m.get("stream", "") for m in messages)
    assert "over the socket" in text and "Successfully tagged sock:1" in text
    # the container manager runs the built image like any other
    created = client.create_container({"Image": "sock:1", "HostConfig": {"NetworkMode": "none"}})
    client.start(created["Id"])
    assert client.wait(created["Id"])["StatusCode"] == 0
    logs = b"".join(data for _, data in client.logs(created["Id"]))
    assert logs == b"over the socket\n"
    client.remove_container(created["Id"], force=True)

    sdk = docker.DockerClient(base_url=f"unix://{sock}", version="1.41", timeout=120)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for path in project.iterdir():
            tar.add(path, arcname=path.name)
    buf.seek(0)
    image, logs = sdk.images.build(fileobj=buf, custom_context=True, tag="sdk:1",
                                   buildargs={"X": "1"})
    assert "sdk:1" in image.tags
    assert any("Using cache" in chunk.get("stream", "") for chunk in logs)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        data = b"FROM busybox\nRUN exit 7\n"
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    buf.seek(0)
    with pytest.raises(docker.errors.BuildError, match="returned a non-zero code: 7"):
        sdk.images.build(fileobj=buf, custom_context=True)


def _context(dockerfile: bytes) -> io.BytesIO:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(dockerfile)
        tar.addfile(info, io.BytesIO(dockerfile))
    buf.seek(0)
    return buf


def test_run_steps_on_a_user_network_resolve_its_containers_and_leave_no_endpoint(daemon):
    import docker
    client, sock, root = daemon
    sdk = docker.DockerClient(base_url=f"unix://{sock}", version="1.41", timeout=120)
    net = sdk.networks.create("pcbuildnet")
    peer = None
    try:
        peer = sdk.containers.run("busybox", ["sleep", "60"], name="pcbuildpeer",
                                  network="pcbuildnet", detach=True)
        peer.reload()
        peer_ip = peer.attrs["NetworkSettings"]["Networks"]["pcbuildnet"]["IPAddress"]
        dockerfile = (b"FROM busybox\n"
                      b"RUN nslookup pcbuildpeer > /lookup.txt && cp /etc/hosts /hosts.txt"
                      b" && ip -4 addr show eth0 > /addr.txt\n")
        # by name, with extra hosts too (docker-py sends them as repeated parameters)
        out = list(sdk.api.build(fileobj=io.BytesIO(dockerfile), tag="netbuild:1",
                                 network_mode="pcbuildnet", decode=True, nocache=True,
                                 extra_hosts={"x.test": "10.1.2.3", "y.test": "10.1.2.4"}))
        assert any("aux" in m for m in out), out
        text = sdk.containers.run("netbuild:1", ["cat", "/lookup.txt", "/hosts.txt",
                                                 "/addr.txt"],
                                  remove=True, network_mode="none").decode()
        assert f"Address: {peer_ip}" in text or f"Address 1: {peer_ip}" in text, text
        assert "10.1.2.3\tx.test\n10.1.2.4\ty.test\n" in text
        subnet = net.attrs["IPAM"]["Config"][0]["Subnet"].rsplit(".", 2)[0]
        assert f"inet {subnet}." in text        # the step had an address on the network
        net.reload()
        assert list(net.attrs["Containers"]) == [peer.id]     # the step's endpoint is gone
        # by id, too; and the default network still builds
        out = list(sdk.api.build(fileobj=io.BytesIO(b"FROM busybox\nRUN nslookup pcbuildpeer\n"),
                                 network_mode=net.id, decode=True, nocache=True))
        assert any("aux" in m for m in out), out
        out = list(sdk.api.build(fileobj=io.BytesIO(b"FROM busybox\nRUN true\n"),
                                 network_mode="default", decode=True, nocache=True))
        assert any("aux" in m for m in out), out
        # an unknown network: a 404 naming it before anything is streamed
        response = sdk.api._post(sdk.api._url("/build"), params={"networkmode": "pcnosuchnet"},
                                 data=_context(b"FROM busybox\nRUN true\n").read(),
                                 headers={"Content-Type": "application/x-tar"})
        assert response.status_code == 404
        assert "pcnosuchnet" in response.json()["message"]
    finally:
        if peer is not None:
            peer.remove(force=True)
        net.remove()
