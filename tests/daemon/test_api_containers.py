"""Containers over the API, driven with the docker SDK (the shapes are Docker's)."""
from __future__ import annotations

import re
import time

import docker
import pytest

from tests.daemon.conftest import wait_for

pytestmark = pytest.mark.integration


def test_ping_version_info(client, daemon):
    assert client.ping() is True
    import socket
    s = socket.socket(socket.AF_UNIX)
    s.connect(str(daemon.sock))
    s.sendall(b"HEAD /v1.41/_ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    head = s.recv(4096)
    s.close()
    assert head.startswith(b"HTTP/1.1 200") and b"api-version: 1.41" in head.lower()
    assert not head.endswith(b"OK")  # HEAD: headers only
    v = client.version()
    assert v["ApiVersion"] == "1.41" and v["Os"] == "linux"
    assert client.info()["Driver"] == "overlay2"


def test_run_echo_returns_output_and_removes(client):
    assert client.containers.run("busybox", "echo hi", remove=True) == b"hi\n"
    created = client.containers.create("busybox", ["true"], name="listed")
    try:
        listed = {c.name: c.status for c in client.containers.list(all=True)}
        assert listed.get("listed") == "created"
        assert all(c.attrs["Config"]["Cmd"] != ["echo", "hi"]
                   for c in client.containers.list(all=True))  # the --rm one is gone
        assert "listed" not in [c.name for c in client.containers.list()]  # not running
    finally:
        created.remove()


def test_exit_code_in_list_and_inspect(client):
    c = client.containers.run("busybox", ["sh", "-c", "exit 3"], detach=True, name="exit3")
    try:
        assert c.wait()["StatusCode"] == 3
        listed = client.api.containers(all=True, filters={"name": "exit3"})
        assert len(listed) == 1 and listed[0]["State"] == "exited"
        assert re.match(r"Exited \(3\) ", listed[0]["Status"])
        assert listed[0]["Names"] == ["/exit3"]
        c.reload()
        st = c.attrs["State"]
        assert (st["Status"], st["ExitCode"], st["Running"]) == ("exited", 3, False)
        assert c.attrs["Name"] == "/exit3" and c.attrs["Config"]["Hostname"] == c.id[:12]
        assert st["FinishedAt"] > st["StartedAt"]
    finally:
        c.remove()


def test_writable_layer_survives_restart_and_is_private(client, daemon):
    cmd = ["sh", "-c", "cat /state.txt 2>/dev/null || echo absent; echo kept > /state.txt"]
    c1 = client.containers.create("busybox", cmd)
    c2 = client.containers.create("busybox", ["sh", "-c", "cat /state.txt 2>/dev/null || echo absent"])
    try:
        c1.start()
        assert c1.wait()["StatusCode"] == 0
        c1.start()
        assert c1.wait()["StatusCode"] == 0
        assert c1.logs() == b"absent\nkept\n"
        c2.start()
        c2.wait()
        assert c2.logs() == b"absent\n"
        c1.reload()
        graph = c1.attrs["GraphDriver"]["Data"]
        upper = graph["UpperDir"]
        assert open(f"{upper}/state.txt").read() == "kept\n"
        image = client.images.get("busybox")
        layers = (daemon.root / "images" / "layers")
        assert not any(p.name == "state.txt" for p in layers.rglob("state.txt"))
        assert image.id == c1.attrs["Image"]
    finally:
        c1.remove()
        c2.remove()
    import os
    import time
    # the container's directory goes on a background thread after its overlay's release
    # (mounts.remove_later): removal is done when rm answers, the directory soon after
    deadline = time.monotonic() + 15
    while os.path.exists(upper) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not os.path.exists(upper)


def test_exec_output_exit_code_and_env(client):
    c = client.containers.run("busybox", ["sleep", "60"], detach=True, environment={"FOO": "bar"})
    try:
        res = c.exec_run(["sh", "-c", "echo $FOO; echo err >&2; exit 4"])
        assert res.exit_code == 4 and b"bar\n" in res.output and b"err\n" in res.output
        res = c.exec_run(["sh", "-c", "echo $X"], environment={"X": "y"})
        assert res.output == b"y\n"
        ids = client.api.inspect_container(c.id)["ExecIDs"]
        assert ids and client.api.exec_inspect(ids[0])["ExitCode"] == 4
    finally:
        c.remove(force=True)


def test_exec_into_stopped_container_is_409(client):
    c = client.containers.create("busybox", ["true"])
    try:
        with pytest.raises(docker.errors.APIError) as err:
            c.exec_run(["true"])
        assert err.value.status_code == 409 and "is not running" in str(err.value)
    finally:
        c.remove()


def test_stop_uses_timeout_then_kills_and_kill_signal(client):
    c = client.containers.run("busybox", ["sleep", "60"], detach=True)
    try:
        t = time.monotonic()
        c.stop(timeout=1)
        took = time.monotonic() - t
        assert 0.9 < took < 5
        c.reload()
        assert c.attrs["State"]["ExitCode"] == 137
        trap = client.containers.run(
            "busybox", ["sh", "-c", "trap 'exit 42' TERM; echo ready; while true; do sleep 0.1; done"],
            detach=True)
        try:
            wait_for(lambda: b"ready" in trap.logs(), 10)
            trap.kill(signal="SIGTERM")
            assert trap.wait(timeout=10)["StatusCode"] == 42
        finally:
            trap.remove(force=True)
    finally:
        c.remove(force=True)


def test_pause_unpause_and_top(client):
    c = client.containers.run("busybox", ["sleep", "60"], detach=True)
    try:
        top = c.top()
        assert any("sleep 60" in " ".join(p) for p in top["Processes"])
        c.pause()
        c.reload()
        assert c.attrs["State"]["Paused"] and c.status == "paused"
        with pytest.raises(docker.errors.APIError) as err:
            c.exec_run(["true"])
        assert err.value.status_code == 409
        c.unpause()
        c.reload()
        assert c.status == "running"
    finally:
        c.remove(force=True)


def test_remove_running_needs_force(client):
    c = client.containers.run("busybox", ["sleep", "60"], detach=True)
    with pytest.raises(docker.errors.APIError) as err:
        c.remove()
    assert err.value.status_code == 409 and "Stop the container" in str(err.value)
    c.remove(force=True)
    with pytest.raises(docker.errors.NotFound):
        client.containers.get(c.id)


def test_wait_next_exit_and_removed_with_auto_remove(client):
    c = client.containers.run("busybox", ["sh", "-c", "sleep 0.5; exit 7"], detach=True,
                              auto_remove=True)
    assert client.api.wait(c.id, condition="removed")["StatusCode"] == 7
    with pytest.raises(docker.errors.NotFound):
        client.containers.get(c.id)


def test_logs_tail_timestamps_streams_and_follow(client):
    c = client.containers.run(
        "busybox", ["sh", "-c", "for i in 1 2 3 4; do echo out$i; echo err$i >&2; sleep 0.2; done"],
        detach=True)
    try:
        streamed = b"".join(c.logs(stream=True, follow=True, stderr=False))
        assert streamed == b"out1\nout2\nout3\nout4\n"  # ended by itself when the container stopped
        assert c.logs(stdout=False, stderr=True, tail=2) == b"err3\nerr4\n"
        stamped = c.logs(timestamps=True, stderr=False).splitlines()
        assert len(stamped) == 4
        assert all(re.match(rb"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z out\d$", line)
                   for line in stamped)
        first = stamped[0].split(b" ")[0].decode()
        import datetime
        since = datetime.datetime.strptime(first[:19], "%Y-%m-%dT%H:%M:%S").replace(
            tzinfo=datetime.timezone.utc).timestamp() + 0.5
        later = c.logs(stderr=False, since=int(since) + 1)
        assert later.count(b"\n") < 4
    finally:
        c.remove(force=True)


def test_restart_always_restarts_and_stop_sticks(client):
    c = client.containers.run("busybox", ["sh", "-c", "echo run; exit 1"], detach=True,
                              restart_policy={"Name": "always"})
    try:
        # wait for the third run's output, not the counter: the count goes up before the next
        # run starts, so stopping on the counter alone can kill that run before it prints
        wait_for(lambda: c.logs().count(b"run\n") >= 3, 10)
        c.stop(timeout=1)
        count = client.api.inspect_container(c.id)["RestartCount"]
        time.sleep(1.5)
        info = client.api.inspect_container(c.id)
        assert info["State"]["Status"] == "exited" and info["RestartCount"] == count
        assert c.logs().count(b"run\n") >= 3
    finally:
        c.remove(force=True)


def test_on_failure_gives_up_after_max_retries(client):
    c = client.containers.run("busybox", ["sh", "-c", "exit 2"], detach=True,
                              restart_policy={"Name": "on-failure", "MaximumRetryCount": 2})
    try:
        def done():
            info = client.api.inspect_container(c.id)
            return info["State"]["Status"] == "exited" and info["RestartCount"] == 2
        wait_for(done, 10)
        time.sleep(1)
        info = client.api.inspect_container(c.id)
        assert info["RestartCount"] == 2 and info["State"]["ExitCode"] == 2
    finally:
        c.remove(force=True)


def test_oom_killed_with_32m_limit(client):
    c = client.containers.run(
        "busybox", ["sh", "-c", "x=$(head -c 200000000 /dev/zero | tr '\\0' a); echo survived"],
        detach=True, mem_limit="32m", memswap_limit="32m")
    try:
        assert c.wait(timeout=60)["StatusCode"] == 137
        c.reload()
        assert c.attrs["State"]["OOMKilled"] is True
        assert c.attrs["HostConfig"]["Memory"] == 32 * 1024 * 1024
    finally:
        c.remove(force=True)


def test_errors_unknown_image_duplicate_name_bad_bind(client, tmp_path):
    with pytest.raises(docker.errors.ImageNotFound) as err:
        client.api.create_container("no-such-image:1", ["true"])
    assert err.value.status_code == 404 and "No such image" in str(err.value)
    c = client.containers.create("busybox", ["true"], name="dup")
    try:
        with pytest.raises(docker.errors.APIError) as err:
            client.containers.create("busybox", ["true"], name="dup")
        assert err.value.status_code == 409 and '"/dup" is already in use' in str(err.value)
    finally:
        c.remove()
    missing = tmp_path / "does-not-exist"
    with pytest.raises(docker.errors.APIError) as err:
        client.containers.create("busybox", ["true"], volumes={str(missing): {"bind": "/x"}})
    assert err.value.status_code == 400 and str(missing) in str(err.value)
    with pytest.raises(docker.errors.APIError) as err:
        client.containers.create("busybox", ["true"], mem_limit="1k")
    assert err.value.status_code == 400 and "HostConfig.Memory" in str(err.value)
