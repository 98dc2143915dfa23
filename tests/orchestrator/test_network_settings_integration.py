"""A service's per-network mac_address and a network's enable_ipv6 through the real CLI and
engine: the MAC is the one eth0 has inside the container; IPv6 fails `up` with the engine's
one-line reason and leaves no container behind."""
from __future__ import annotations

import pytest

pytestmark = pytest.mark.integration

MAC = "92:d0:c6:0a:29:44"


def test_a_networks_mac_address_is_the_one_eth0_has(engine, project):
    (project / "compose.yaml").write_text(f"""
services:
  app:
    image: busybox:latest
    command: ["sleep", "600"]
    stop_signal: SIGKILL
    networks:
      front:
        mac_address: "{MAC}"
networks:
  front: {{}}
""")
    engine.cli("up", "-d", cwd=project, check=True)
    r = engine.cli("exec", "-T", "app", "cat", "/sys/class/net/eth0/address", cwd=project,
                   check=True)
    assert r.stdout.strip() == MAC


def test_enable_ipv6_fails_up_with_the_engines_one_line_reason(engine, project):
    (project / "compose.yaml").write_text("""
services:
  app:
    image: busybox:latest
    command: ["sleep", "600"]
    networks: [six]
networks:
  six:
    enable_ipv6: true
""")
    r = engine.cli("up", "-d", cwd=project)
    assert r.returncode != 0
    assert "Traceback" not in r.stderr
    # the reason is said once, on one line (the progress lines around it aside)
    [line] = [ln for ln in r.stderr.splitlines() if "IPv6" in ln]
    assert line == ("Error: EnableIPv6: IPv6 is not supported: this engine's networks are IPv4 "
                    "only (docs/compat.md, \"Deliberate differences\")")
    client = engine.client()
    try:
        name = project.name
        assert client.containers(all=True, filters={"label": [
            f"com.docker.compose.project={name}"]}) == []
        assert not [n for n in client.networks() if n["Name"].startswith(f"{name}_")]
    finally:
        client.close()
