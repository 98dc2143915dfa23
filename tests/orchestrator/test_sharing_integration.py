"""pid, ipc, uts and cpuset of services through the real CLI and engine: `pid: service:db` and
`ipc: service:db` join db's namespaces (db says `ipc: shareable`), `uts: host` has the host's
name, `cpuset:` pins the container."""
from __future__ import annotations

import os

import pytest

pytestmark = pytest.mark.integration


def test_services_share_namespaces_and_are_pinned(engine, project):
    (project / "compose.yaml").write_text("""
services:
  db:
    image: busybox:latest
    command: ["sh", "-c", "echo from-db > /dev/shm/note; exec sleep 600"]
    stop_signal: SIGKILL
    ipc: shareable
  tool:
    image: busybox:latest
    command: ["sleep", "601"]
    stop_signal: SIGKILL
    pid: "service:db"
    ipc: "service:db"
    uts: host
    cpuset: "0"
""")
    engine.cli("up", "-d", cwd=project, check=True)
    r = engine.cli("exec", "-T", "tool", "sh", "-c",
                   "ps -o args; cat /dev/shm/note; hostname; "
                   "grep Cpus_allowed_list /proc/self/status", cwd=project, check=True)
    lines = r.stdout.splitlines()
    assert "sleep 600" in lines and "sleep 601" in lines   # db's process, seen from tool
    assert lines[-3:] == ["from-db", os.uname().nodename, "Cpus_allowed_list:\t0"]
