"""The engine CLI's `container create|run --pid/--ipc/--uts/--cpuset-cpus/--cpuset-mems`: the
body they make (pure), and a run through the real CLI and engine."""
from __future__ import annotations

import os

import pytest

from engine.client.cli.container_config import ContainerFlags, create_body


def _host(**kw) -> dict:
    return create_body(ContainerFlags(image="busybox", **kw), {}, "/work",
                       lambda p: "")["HostConfig"]


def test_sharing_flags_reach_the_host_config_as_given():
    host = _host(pid="container:db", ipc="host", uts="host", cpuset_cpus="0-1",
                 cpuset_mems="0")
    assert {k: host[k] for k in ("PidMode", "IpcMode", "UTSMode", "CpusetCpus",
                                 "CpusetMems")} == {
        "PidMode": "container:db", "IpcMode": "host", "UTSMode": "host", "CpusetCpus": "0-1",
        "CpusetMems": "0"}
    plain = _host()
    assert not {"PidMode", "IpcMode", "UTSMode", "CpusetCpus", "CpusetMems"} & set(plain)


@pytest.mark.integration
def test_run_with_pid_host_uts_host_and_a_cpuset(engine):
    r = engine.cli("container", "run", "--rm", "--pid", "host", "--uts", "host",
                   "--cpuset-cpus", "0", "busybox", "sh", "-c",
                   f"grep ^Pid /proc/{os.getpid()}/status; hostname; "
                   "grep Cpus_allowed_list /proc/self/status")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [f"Pid:\t{os.getpid()}", os.uname().nodename,
                                     "Cpus_allowed_list:\t0"]
