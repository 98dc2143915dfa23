"""Docker Compose v2 (the reference binary) with pid/ipc `service:x`, uts and cpuset against our
engine: what Compose sends (it resolves `service:db` to `container:<id>`) does what it does on
Docker, checked inside the containers."""
from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

SHARING = """\
services:
  db:
    image: busybox
    pull_policy: never
    ipc: shareable
    command: ["sh", "-c", "echo from-db > /dev/shm/note; exec sleep 600"]
    stop_signal: SIGKILL
  tool:
    image: busybox
    pull_policy: never
    pid: "service:db"
    ipc: "service:db"
    uts: host
    cpuset: "0"
    command: ["sleep", "601"]
    stop_signal: SIGKILL
"""


def test_compose_v2_services_share_namespaces_and_are_pinned(compose_v2, engine):
    project = f"pcv2s{secrets.token_hex(3)}"
    d = Path(tempfile.mkdtemp(prefix="pcv2-"))
    try:
        (d / "compose.yaml").write_text(SHARING)
        compose_v2.run("-p", project, "up", "-d", cwd=d)
        r = compose_v2.run("-p", project, "exec", "-T", "tool", "sh", "-c",
                           "ps -o args; cat /dev/shm/note; hostname; "
                           "grep Cpus_allowed_list /proc/self/status", cwd=d)
        lines = r.stdout.decode().splitlines()
        assert "sleep 600" in lines and "sleep 601" in lines
        assert lines[-3:] == ["from-db", os.uname().nodename, "Cpus_allowed_list:\t0"]
    finally:
        compose_v2.run("-p", project, "down", "-t", "0", cwd=d, check=False)
        shutil.rmtree(d, ignore_errors=True)
