"""pid, ipc, uts, cpuset and ulimits of a service in its create body (the engine implements them)."""
from __future__ import annotations

from compose.canonical import service_from
from compose.orchestrator.create_body import CreateContext, create_body


def _host(service: dict, containers: dict[str, str] | None = None) -> dict:
    ctx = CreateContext(project="p", service="web", name="p-web-1", labels={},
                        containers=containers or {})
    return create_body(service_from("web", {"image": "busybox", **service}), ctx)["HostConfig"]


def test_namespace_modes_and_cpuset_reach_the_host_config():
    host = _host({"pid": "host", "ipc": "host", "uts": "host", "cpuset": "0-1"})
    assert (host["PidMode"], host["IpcMode"], host["UTSMode"], host["CpusetCpus"]) == \
        ("host", "host", "host", "0-1")
    host = _host({"pid": "service:db", "ipc": "service:db"}, {"db": "c" * 64})
    assert host["PidMode"] == host["IpcMode"] == "container:" + "c" * 64
    assert "UTSMode" not in host and "CpusetCpus" not in host
    # YAML reads `cpuset: 0` as a number; the engine takes the list as text
    assert _host({"cpuset": 0})["CpusetCpus"] == "0"


def test_ulimits_reach_the_host_config_in_the_engine_s_shape():
    host = _host({"ulimits": {"nofile": {"soft": 1024, "hard": 2048}, "nproc": 512}})
    assert sorted(host["Ulimits"], key=lambda u: u["Name"]) == [
        {"Name": "nofile", "Soft": 1024, "Hard": 2048},
        {"Name": "nproc", "Soft": 512, "Hard": 512}]
    assert "Ulimits" not in _host({})
