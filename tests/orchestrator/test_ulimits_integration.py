"""A service's ulimits reach its container through the real CLI and engine: the shell's own
`ulimit` inside reads the limits the kernel gave PID 1's child."""
from __future__ import annotations

import pytest

pytestmark = pytest.mark.integration


def test_a_services_ulimits_are_the_containers_rlimits(engine, project):
    (project / "compose.yaml").write_text("""
services:
  app:
    image: busybox:latest
    command: ["sleep", "600"]
    stop_signal: SIGKILL
    ulimits:
      nofile: {soft: 1000, hard: 2000}
""")
    engine.cli("up", "-d", cwd=project, check=True)
    r = engine.cli("exec", "-T", "app", "sh", "-c", "ulimit -Sn; ulimit -Hn", cwd=project,
                   check=True)
    assert r.stdout.split() == ["1000", "2000"]
