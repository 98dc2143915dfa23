"""Process-level options through the API: init, user, working dir, stop signal, shared netns."""
from __future__ import annotations

import time

import pytest

pytestmark = pytest.mark.integration


def test_init_runs_catatonit_as_pid1_and_stops_fast(client):
    c = client.containers.run("busybox", ["sleep", "600"], detach=True, init=True)
    try:
        res = c.exec_run(["cat", "/proc/1/cmdline"])
        argv = res.output.split(b"\0")
        assert argv[0] in (b"/dev/init", b"/usr/bin/catatonit") and argv[-3:-1] == [b"/bin/sleep", b"600"]  # init, then us
        t = time.monotonic()
        c.stop(timeout=10)
        assert time.monotonic() - t < 3  # catatonit forwards SIGTERM; no 10 s grace wait
        c.reload()
        assert c.attrs["HostConfig"]["Init"] is True
    finally:
        c.remove(force=True)


def test_user_and_working_dir(client):
    out = client.containers.run("busybox", ["sh", "-c", "id -u; id -g; pwd"], user="app",
                                working_dir="/home/app", remove=True)
    assert out == b"1000\n1000\n/home/app\n"
    out = client.containers.run("busybox", ["sh", "-c", "echo $HOSTNAME; cat /etc/hostname"],
                                remove=True, hostname="myhost")
    assert out == b"myhost\nmyhost\n"


def test_stop_signal_is_sent_first(client):
    c = client.containers.run(
        "busybox", ["sh", "-c", "trap 'echo usr1; exit 5' USR1; while true; do sleep 0.1; done"],
        detach=True, stop_signal="SIGUSR1")
    try:
        time.sleep(0.5)
        c.stop(timeout=10)
        assert c.wait()["StatusCode"] == 5
        assert c.logs() == b"usr1\n"
    finally:
        c.remove(force=True)


def test_container_network_mode_shares_the_netns(client):
    a = client.containers.run("busybox", ["sleep", "60"], detach=True, name="netowner")
    try:
        mine = a.exec_run(["readlink", "/proc/1/ns/net"]).output
        shared = client.containers.run("busybox", ["readlink", "/proc/self/ns/net"],
                                       network_mode="container:netowner", remove=True)
        assert shared == mine
    finally:
        a.remove(force=True)


def test_events_rename_and_prune(client):
    import time as _time
    since = int(_time.time()) - 1
    c = client.containers.run("busybox", ["sh", "-c", "exit 1"], detach=True, name="evented",
                              labels={"team": "x"})
    c.wait()
    c.rename("renamed")
    assert client.containers.get("renamed").id == c.id
    with pytest.raises(Exception):
        client.containers.get("evented")
    until = int(_time.time()) + 1
    events = list(client.events(since=since, until=until, decode=True,
                                filters={"label": "team=x", "type": "container"}))
    actions = [e["Action"] for e in events]
    assert actions[:3] == ["create", "start", "die"] and "rename" in actions
    die = events[actions.index("die")]
    assert die["Actor"]["Attributes"]["exitCode"] == "1" and die["id"] == c.id
    pruned = client.containers.prune(filters={"label": "team=x"})
    assert pruned["ContainersDeleted"] == [c.id]


def test_events_without_a_time_range_are_live_only(client):
    """Like docker: `GET /events` with neither since nor until replays no history."""
    old = client.containers.run("busybox", ["true"], detach=True, labels={"team": "live"})
    old.wait()
    stream = client.events(decode=True, filters={"label": "team=live", "type": "container"})
    try:
        new = client.containers.create("busybox", ["true"], labels={"team": "live"})
        first = next(stream)
        assert (first["Action"], first["id"]) == ("create", new.id)
    finally:
        stream.close()
        old.remove(force=True)
        new.remove(force=True)


def test_missing_command_fails_start_with_127_recorded(client):
    import docker
    c = client.containers.create("busybox", ["/no/such/binary"])
    try:
        with pytest.raises(docker.errors.APIError) as err:
            c.start()
        assert "/no/such/binary" in str(err.value)
        c.reload()
        assert c.attrs["State"]["ExitCode"] == 127 and c.status == "created"
        assert "/no/such/binary" in c.attrs["State"]["Error"]
    finally:
        c.remove(force=True)


def test_log_rotation_via_log_config(client, daemon):
    c = client.containers.run(
        "busybox", ["sh", "-c", "i=0; while [ $i -lt 200 ]; do echo line-$i; i=$((i+1)); done"],
        detach=True, log_config={"Type": "json-file", "Config": {"max-size": "2k", "max-file": "2"}})
    try:
        c.wait()
        log_path = c.attrs["LogPath"]
        import glob
        import os
        files = glob.glob(log_path + "*")
        assert 1 <= len(files) <= 2 and all(os.path.getsize(f) <= 2048 for f in files)
        lines = c.logs().splitlines()
        assert lines[-1] == b"line-199" and b"line-0" not in lines
        assert lines == [f"line-{i}".encode() for i in range(200 - len(lines), 200)]
    finally:
        c.remove(force=True)


def test_racing_commands_leave_consistent_state(client):
    import concurrent.futures

    import docker
    c = client.containers.create("busybox", ["sleep", "60"], stop_signal="SIGKILL")
    try:
        api = client.api

        def start():
            return api._post(api._url("/containers/{0}/start", c.id)).status_code

        with concurrent.futures.ThreadPoolExecutor(6) as pool:
            results = sorted(pool.map(lambda _: start(), range(6)))
        assert results == [204, 304, 304, 304, 304, 304]

        def stop(i):
            try:
                api.stop(c.id, timeout=1) if i % 2 else api.kill(c.id)
                return "ok"
            except docker.errors.APIError as exc:
                return exc.status_code

        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            results = list(pool.map(stop, range(4)))
        assert all(r in ("ok", 409) for r in results), results
        info = api.inspect_container(c.id)
        assert info["State"]["Status"] == "exited" and info["State"]["Pid"] == 0
    finally:
        c.remove(force=True)


def test_stats_report_memory_and_cpu(client):
    c = client.containers.run("busybox", ["sh", "-c", "while true; do :; done"], detach=True,
                              mem_limit="64m")
    try:
        s = c.stats(stream=False)
        assert s["id"] == c.id and s["memory_stats"]["limit"] == 64 * 1024 * 1024
        assert s["memory_stats"]["usage"] > 0 and s["pids_stats"]["current"] >= 1
        gen = c.stats(stream=True, decode=True)
        first, second = next(gen), next(gen)
        assert second["cpu_stats"]["cpu_usage"]["total_usage"] > \
            first["cpu_stats"]["cpu_usage"]["total_usage"]
        assert second["precpu_stats"]["cpu_usage"] == first["cpu_stats"]["cpu_usage"]
    finally:
        c.remove(force=True)
