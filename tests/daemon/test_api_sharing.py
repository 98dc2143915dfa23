"""PidMode, IpcMode, UTSMode and CpusetCpus/Mems through the API, with Docker's refusals."""
from __future__ import annotations

import os
import secrets

import pytest

pytestmark = pytest.mark.integration


def _api_error(fn):
    import docker

    with pytest.raises(docker.errors.APIError) as err:
        fn()
    return err.value.status_code, err.value.explanation


def test_pid_container_mode_by_name_sees_the_donors_processes(client):
    name = f"pcpid{secrets.token_hex(3)}"
    donor = client.containers.run("busybox", ["sleep", "600"], detach=True, name=name)
    try:
        out = client.containers.run("busybox", ["ps", "-o", "pid,args"], remove=True,
                                    pid_mode=f"container:{name}")
        rows = [line.split(None, 1) for line in out.decode().splitlines()[1:]]
        assert ["1", "sleep 600"] in rows
        joiner = client.containers.create("busybox", ["true"], pid_mode=f"container:{name}")
        try:
            joiner.reload()
            assert joiner.attrs["HostConfig"]["PidMode"] == f"container:{name}"
        finally:
            joiner.remove(force=True)
    finally:
        donor.remove(force=True)


def test_joining_a_stopped_container_is_refused_with_dockers_words(client):
    stopped = client.containers.create("busybox", ["sleep", "600"], ipc_mode="shareable")
    try:
        for kw, says in (({"pid_mode": f"container:{stopped.id}"},
                          "cannot join PID of a non running container"),
                         ({"ipc_mode": f"container:{stopped.id}"},
                          f"can't join IPC of container {stopped.id}")):
            joiner = client.containers.create("busybox", ["true"], **kw)
            try:
                status, text = _api_error(joiner.start)
                assert status == 409 and says in text and "is not running" in text
            finally:
                joiner.remove(force=True)
        joiner = client.containers.create("busybox", ["true"], pid_mode="container:pcnosuch")
        try:
            status, text = _api_error(joiner.start)
            assert status == 404 and "No such container: pcnosuch" in text
        finally:
            joiner.remove(force=True)
    finally:
        stopped.remove(force=True)


def test_ipc_join_needs_a_shareable_donor_and_then_shares_dev_shm(client):
    private = client.containers.run("busybox", ["sleep", "600"], detach=True)
    shareable = client.containers.run(
        "busybox", ["sh", "-c", "echo donor > /dev/shm/note; sleep 600"], detach=True,
        ipc_mode="shareable")
    try:
        joiner = client.containers.create("busybox", ["true"],
                                          ipc_mode=f"container:{private.id}")
        try:
            status, text = _api_error(joiner.start)
            assert status == 409 and "non-shareable IPC" in text
        finally:
            joiner.remove(force=True)
        out = client.containers.run("busybox", ["sh", "-c", "cat /dev/shm/note; readlink "
                                                "/proc/self/ns/ipc"], remove=True,
                                    ipc_mode=f"container:{shareable.id}")
        theirs = shareable.exec_run(["readlink", "/proc/self/ns/ipc"]).output
        assert out.decode().splitlines() == ["donor", theirs.decode().strip()]
    finally:
        private.remove(force=True)
        shareable.remove(force=True)


def test_shm_size_is_for_a_dev_shm_of_the_containers_own(client):
    name = f"pcshm-{secrets.token_hex(4)}"
    with open(f"/dev/shm/{name}", "w") as f:
        f.write("from the host")
    try:
        out = client.containers.run("busybox", ["cat", f"/dev/shm/{name}"], remove=True,
                                    ipc_mode="host", shm_size="8m")
        assert out == b"from the host"
        out = client.containers.run("busybox", ["sh", "-c", "grep -c ' /dev/shm ' /proc/mounts"
                                                "; true"], remove=True, ipc_mode="none",
                                    shm_size="8m")
        assert out == b"0\n"
    finally:
        os.unlink(f"/dev/shm/{name}")


def test_pid_and_ipc_and_uts_host(client):
    out = client.containers.run(
        "busybox", ["sh", "-c", f"cat /proc/{os.getpid()}/status | grep ^Pid; hostname; "
                    "cat /etc/hostname; echo $HOSTNAME; readlink /proc/self/ns/ipc"],
        remove=True, pid_mode="host", ipc_mode="host", uts_mode="host")
    name = os.uname().nodename
    assert out.decode().splitlines() == [f"Pid:\t{os.getpid()}", name, name, name,
                                         os.readlink("/proc/self/ns/ipc")]


def test_uts_host_with_a_hostname_is_dockers_400(client):
    status, text = _api_error(lambda: client.containers.create(
        "busybox", ["true"], uts_mode="host", hostname="pcmine"))
    assert status == 400 and "conflicting options: hostname and the UTS mode" in text


def test_cpuset_pins_the_container_and_out_of_range_is_a_400(client):
    out = client.containers.run("busybox", ["grep", "Cpus_allowed_list", "/proc/self/status"],
                                remove=True, cpuset_cpus="0", cpuset_mems="0")
    assert out.decode().split() == ["Cpus_allowed_list:", "0"]
    status, text = _api_error(lambda: client.containers.create("busybox", ["true"],
                                                               cpuset_cpus="0-4095"))
    assert status == 400
    assert "Requested CPUs are not available - requested 0-4095, available: " in text
    status, text = _api_error(lambda: client.containers.create("busybox", ["true"],
                                                               cpuset_cpus="one"))
    assert status == 400 and "Invalid value one for cpuset cpus" in text


def test_what_a_pid_host_container_left_running_goes_with_it(client):
    import time

    c = client.containers.run("busybox", ["sh", "-c", "sleep 600 & echo $!; exit 3"],
                              detach=True, pid_mode="host")
    try:
        t = time.monotonic()
        assert c.wait(timeout=30)["StatusCode"] == 3
        assert time.monotonic() - t < 1.5   # not the output pumps' 2 s wait for the sleep
        left = int(c.logs().decode().split()[0])   # a host pid: the container saw the host's
        deadline = time.monotonic() + 5
        while os.path.exists(f"/proc/{left}") and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not os.path.exists(f"/proc/{left}")
    finally:
        c.remove(force=True)


def test_exec_in_a_joiner_and_init_without_a_pid_namespace(client):
    donor = client.containers.run("busybox", ["sleep", "600"], detach=True)
    joiner = client.containers.run("busybox", ["sleep", "601"], detach=True,
                                   pid_mode=f"container:{donor.id}")
    try:
        res = joiner.exec_run(["ps", "-o", "pid,args"])
        rows = [line.split(None, 1) for line in res.output.decode().splitlines()[1:]]
        assert ["1", "sleep 600"] in rows and ["sleep 601"] in [r[1:] for r in rows]
    finally:
        joiner.remove(force=True)
        donor.remove(force=True)
    # an init that is not PID 1 (the host's namespace) still runs the command and its status
    c = client.containers.run("busybox", ["sh", "-c", "exit 7"], detach=True, pid_mode="host",
                              init=True)
    try:
        assert c.wait(timeout=30)["StatusCode"] == 7
    finally:
        c.remove(force=True)


def test_update_of_the_cpuset(client):
    pinned = client.containers.run("busybox", ["sleep", "600"], detach=True, cpuset_cpus="0")
    plain = client.containers.run("busybox", ["sleep", "600"], detach=True)
    try:
        last = open("/sys/devices/system/cpu/online").read().strip().replace(",", "-")
        last = last.split("-")[-1]
        pinned.update(cpuset_cpus=last)
        status = pinned.exec_run(["grep", "Cpus_allowed_list", "/proc/1/status"]).output
        assert status.decode().split() == ["Cpus_allowed_list:", last]
        pinned.reload()
        assert pinned.attrs["HostConfig"]["CpusetCpus"] == last
        status, text = _api_error(lambda: pinned.update(cpuset_cpus="0-4095"))
        assert status == 400 and "Requested CPUs are not available" in text
        # v1: a running container started without a cpuset gets none live; stopped, it does
        status, text = _api_error(lambda: plain.update(cpuset_cpus="0"))
        assert status == 400 and "started without a cpuset" in text
        plain.stop(timeout=0)
        plain.update(cpuset_cpus="0")
        plain.start()
        status = plain.exec_run(["grep", "Cpus_allowed_list", "/proc/1/status"]).output
        assert status.decode().split() == ["Cpus_allowed_list:", "0"]
    finally:
        pinned.remove(force=True)
        plain.remove(force=True)
