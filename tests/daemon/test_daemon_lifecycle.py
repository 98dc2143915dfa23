"""Engine daemon start/stop/crash behaviour: one root, SIGTERM stops containers, SIGKILL of the
daemon leaves nothing running after the next start, restart policies at daemon start."""
from __future__ import annotations

import subprocess
import sys
import time

import pytest

from tests.daemon.conftest import (REPO, assert_clean, cgroups_of, import_busybox, make_daemon,
                                   container_processes, mounts_under, wait_for)

pytestmark = pytest.mark.integration


@pytest.fixture
def fresh(tmp_path_factory, request):
    d = make_daemon(tmp_path_factory, request.node.name[:20])
    yield d
    try:
        if d.proc is not None and d.proc.poll() is None:
            assert d.stop() == 0
        assert_clean(d)
    finally:
        if d.proc is not None and d.proc.poll() is None:
            d.kill9()


def test_second_daemon_on_same_root_is_refused(fresh):
    fresh.start()
    other = subprocess.run([sys.executable, "-m", "engine.daemon"], env=fresh.env, cwd=REPO,
                           capture_output=True, text=True, timeout=30)
    assert other.returncode != 0
    assert "another engine is already running" in other.stderr
    assert "Traceback" not in other.stderr


def test_sigterm_stops_containers_and_removes_socket(fresh):
    fresh.start()
    client = fresh.client()
    import_busybox(client, fresh.base)
    c = client.containers.run("busybox", ["sleep", "600"], detach=True,
                              stop_signal="SIGKILL")
    slow = [client.api.create_container("busybox", ["sleep", "600"], stop_timeout=2)["Id"]
            for _ in range(2)]
    for cid in slow:
        client.api.start(cid)
    t = time.monotonic()
    assert fresh.stop() == 0
    took = time.monotonic() - t
    assert 2 <= took < 3.9  # each waits its 2 s grace period, in parallel
    assert not fresh.sock.exists()
    assert_clean(fresh)
    state = (fresh.root / "containers" / c.id / "state.json").read_text()
    assert '"Status": "exited"' in state


def test_killed_daemon_leaves_nothing_running_after_restart(fresh):
    fresh.start()
    client = fresh.client()
    import_busybox(client, fresh.base)
    c = client.containers.run("busybox", ["sleep", "600"], detach=True, name="survivor")
    keep = client.containers.run("busybox", ["sleep", "600"], detach=True, name="always",
                                 restart_policy={"Name": "always"})
    assert len(container_processes(fresh.created_ids())) == 2
    fresh.kill9()
    # whatever the dead daemon left (mounts, cgroups, processes) must be gone after the restart
    fresh.start()
    client = fresh.client()
    info = client.api.inspect_container("survivor")
    assert info["State"]["Status"] == "exited" and info["State"]["ExitCode"] == 255
    assert info["State"]["Pid"] == 0
    # restarted by its policy (asynchronously: "restarting" until then), the other one is not
    wait_for(lambda: client.containers.get("always").status == "running", 15)
    assert [x.name for x in client.containers.list()] == ["always"]
    assert len(mounts_under(fresh.root)) == 1  # only the restarted container's overlay
    ids = {c.id[:12]}
    assert cgroups_of(ids) == []
    assert container_processes(ids) == []
    assert len(container_processes(fresh.created_ids())) == 1
    c.reload()
    keep.reload()
    client.containers.get("always").remove(force=True)
    client.containers.get("survivor").remove()


def test_socket_of_a_live_engine_is_not_taken_over(fresh, tmp_path_factory):
    fresh.start()
    other = make_daemon(tmp_path_factory, "other-root")
    env = dict(other.env, PYCOMPOSE_HOST=fresh.env["PYCOMPOSE_HOST"])
    res = subprocess.run([sys.executable, "-m", "engine.daemon"], env=env, cwd=REPO,
                         capture_output=True, text=True, timeout=60)
    assert res.returncode != 0 and "already listening" in res.stderr
    assert "Traceback" not in res.stderr
    assert fresh.sock.exists()
    assert fresh.client().ping()


def test_unless_stopped_survives_a_graceful_daemon_restart_but_not_a_user_stop(fresh):
    fresh.start()
    client = fresh.client()
    import_busybox(client, fresh.base)
    for name in ("kept", "stopped"):
        client.containers.run("busybox", ["sleep", "600"], detach=True, name=name,
                              restart_policy={"Name": "unless-stopped"}, stop_signal="SIGKILL")
    client.containers.get("stopped").stop()
    assert fresh.stop() == 0
    fresh.start()
    client = fresh.client()
    wait_for(lambda: client.containers.get("kept").status == "running", 15)
    assert [c.name for c in client.containers.list()] == ["kept"]
    assert client.containers.get("stopped").status == "exited"
    for c in client.containers.list(all=True):
        c.remove(force=True)
