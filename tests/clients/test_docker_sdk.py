"""The docker SDK for Python (a client nobody here wrote) on our socket: what its own
integration suite showed we answered differently from Docker."""
from __future__ import annotations

import socket
import struct
import time

import docker
import pytest

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def client(engine):
    c = engine.client()
    yield c
    c.close()


def _read_until_eof(sock, timeout: float = 10) -> bytes:
    sock.settimeout(timeout)
    data = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk


def _frames(data: bytes) -> list[tuple[int, bytes]]:
    out = []
    while data:
        stream, size = struct.unpack(">BxxxL", data[:8])
        out.append((stream, data[8:8 + size]))
        data = data[8 + size:]
    return out


def test_swarm_leave_answers_not_in_a_swarm(client):
    # the SDK's leave_swarm (every network test's tearDown) takes exactly this answer as done
    assert client.api.leave_swarm(force=True) is True
    res = client.api._post(client.api._url("/swarm/leave"))
    assert res.status_code == 503
    assert res.json() == {"message": "This node is not part of a swarm"}


def test_info_carries_what_clients_read(client):
    info = client.info()
    assert info["Debug"] is False and info["ExperimentalBuild"] is False
    assert info["NCPU"] >= 1 and info["MemTotal"] > 0
    assert isinstance(info["RegistryConfig"]["IndexConfigs"], dict)
    assert info["SystemTime"].endswith("Z")
    assert info["NGoroutines"] > 0 and info["NFd"] > 0


def test_exec_created_with_a_tty_started_without_is_multiplexed(client):
    c = client.containers.run("busybox", ["sleep", "60"], detach=True)
    try:
        exec_id = client.api.exec_create(c.id, ["sh", "-c", "tty; echo out"], tty=True)["Id"]
        sock = client.api.exec_start(exec_id, tty=False, socket=True)._sock
        frames = _frames(_read_until_eof(sock))
        sock.close()
        text = b"".join(d for s, d in frames)
        assert {s for s, _ in frames} == {1}, frames
        assert b"/dev/pts/" in text and b"out" in text   # the process did get a terminal
    finally:
        c.remove(force=True)


def test_repeated_query_parameter_takes_the_first_value(client, engine):
    c = client.containers.create("busybox", ["true"], name="pcfirst")
    try:
        s = socket.socket(socket.AF_UNIX)
        s.connect(str(engine.sock))
        s.sendall(b"POST /v1.41/containers/pcfirst/rename?name=pcone&name=pctwo HTTP/1.1\r\n"
                  b"Host: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        assert _read_until_eof(s).startswith(b"HTTP/1.1 204")
        s.close()
        assert client.containers.get(c.id).name == "pcone"
    finally:
        c.remove()


def _attach(engine, cid: str, query: str = "") -> socket.socket:
    s = socket.socket(socket.AF_UNIX)
    s.connect(str(engine.sock))
    s.sendall(f"POST /v1.41/containers/{cid}/attach?stream=1&stdin=1&stdout=1{query} "
              "HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n"
              "Content-Length: 0\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += s.recv(1)
    assert head.startswith(b"HTTP/1.1 101"), head
    return s


@pytest.mark.parametrize("query, keys", [("", b"\x10\x11"), ("&detachKeys=ctrl-x,e", b"\x18e")])
def test_detach_keys_end_an_attach_and_leave_the_container_running(client, engine, query, keys):
    c = client.containers.run("busybox", ["cat"], detach=True, tty=True, stdin_open=True)
    try:
        s = _attach(engine, c.id, query)
        s.sendall(b"before\n")
        s.settimeout(10)
        seen = b""
        while b"before" not in seen:
            seen += s.recv(1000)
        s.sendall(b"held" + keys)
        got = _read_until_eof(s)       # the engine ends the stream at the keys
        s.close()
        assert keys not in got
        time.sleep(0.3)
        c.reload()
        assert c.status == "running"
        # the next attach still feeds the same stdin
        s = _attach(engine, c.id, query)
        s.sendall(b"after\n")
        s.settimeout(10)
        seen = b""
        while b"after" not in seen:
            seen += s.recv(1000)
        s.close()
    finally:
        c.remove(force=True)


def test_bad_detach_keys_are_a_400(client, engine):
    c = client.containers.run("busybox", ["cat"], detach=True, tty=True, stdin_open=True)
    try:
        with pytest.raises(docker.errors.APIError) as err:
            client.api.attach_socket(c.id, params={"stdin": 1, "stream": 1,
                                                    "detachKeys": "ctrl-1"})
        assert err.value.status_code == 400
        assert "Invalid detach keys" in err.value.explanation
    finally:
        c.remove(force=True)


def test_exec_detach_keys_leave_the_exec_running(client, engine):
    c = client.containers.run("busybox", ["sleep", "60"], detach=True)
    try:
        exec_id = client.api.exec_create(c.id, ["cat"], tty=True, stdin=True)["Id"]
        sock = client.api.exec_start(exec_id, tty=True, socket=True)._sock
        sock.sendall(b"x\x10\x11")
        _read_until_eof(sock)
        sock.close()
        time.sleep(0.3)
        assert client.api.exec_inspect(exec_id)["Running"] is True
    finally:
        c.remove(force=True)


def test_pull_failing_before_any_progress_answers_an_error_status(client, tmp_path):
    from tests.images.registryfix import free_port

    closed = f"127.0.0.1:{free_port()}"
    with pytest.raises(docker.errors.APIError) as err:
        client.api.pull(f"{closed}/nothing", tag="latest")
    assert err.value.status_code == 500 and "cannot reach registry" in err.value.explanation


def test_pull_of_a_missing_repository_is_an_error_status(client, tmp_path):
    from tests.images.registryfix import run_registry

    with run_registry(tmp_path / "registry") as reg:
        with pytest.raises(docker.errors.APIError) as err:
            client.api.pull(f"{reg.host}/pcnosuchrepo", tag="latest")
        assert err.value.status_code == 404, err.value
        # a pull that works still streams its progress with a 200
        client.api.tag("busybox", f"{reg.host}/pcpushed", "v1")
        client.api.push(f"{reg.host}/pcpushed", tag="v1")
        client.api.remove_image(f"{reg.host}/pcpushed:v1")
        lines = list(client.api.pull(f"{reg.host}/pcpushed", tag="v1", stream=True,
                                     decode=True))
        assert any("Pulling from" in (line.get("status") or "") for line in lines)
        client.api.remove_image(f"{reg.host}/pcpushed:v1")


def test_container_prune_reports_the_space_of_the_writable_layers(client):
    c = client.containers.create("busybox", ["sh", "-c", "head -c 100000 /dev/zero > /data"])
    c.start()
    c.wait()
    result = client.api.prune_containers()
    assert c.id in result["ContainersDeleted"]
    assert result["SpaceReclaimed"] >= 100000


def test_unknown_log_driver_is_refused_in_dockers_words(client):
    with pytest.raises(docker.errors.APIError) as err:
        client.containers.create("busybox", ["true"],
                                 log_config=docker.types.LogConfig(type="pcnodriver"))
    assert err.value.status_code == 400
    assert err.value.explanation == "logger: no log driver named 'pcnodriver' is registered"


def test_exec_detach_keys_from_the_sdks_config(client):
    # the SDK sends ExecConfig.DetachKeys as `detachKeys` (Go matches field names
    # case-insensitively)
    c = client.containers.run("busybox", ["sleep", "60"], detach=True)
    try:
        exec_id = client.api.exec_create(c.id, ["cat"], tty=True, stdin=True,
                                         detach_keys="ctrl-x")["Id"]
        sock = client.api.exec_start(exec_id, tty=True, socket=True)._sock
        sock.sendall(b"\x18")
        _read_until_eof(sock)
        sock.close()
        time.sleep(0.3)
        assert client.api.exec_inspect(exec_id)["Running"] is True
    finally:
        c.remove(force=True)


def test_endpoint_driver_opts_are_kept_and_shown(client):
    net = client.networks.create("pcdriveropts")
    try:
        c = client.containers.create(
            "busybox", ["true"], network="pcdriveropts",
            networking_config={"pcdriveropts": client.api.create_endpoint_config(
                driver_opt={"pc.setting": "on"})})
        try:
            attrs = client.api.inspect_container(c.id)
            assert attrs["NetworkSettings"]["Networks"]["pcdriveropts"]["DriverOpts"] \
                == {"pc.setting": "on"}
        finally:
            c.remove()
        with pytest.raises(docker.errors.APIError) as err:
            client.containers.create(
                "busybox", ["true"], network="pcdriveropts",
                networking_config={"pcdriveropts": client.api.create_endpoint_config(
                    driver_opt={"com.docker.network.endpoint.ifname": "pcif"})})
        assert err.value.status_code == 400 and "ifname" in err.value.explanation
    finally:
        net.remove()
