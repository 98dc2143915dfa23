"""`up` and `stop` against a real engine follow the dependency graph's generations, as the
engine's own event stream (timeNano) records them: a service starts only after every
dependency started (and after `service_healthy` ones reported healthy), and stops before them."""
from __future__ import annotations

import time

import pytest

pytestmark = pytest.mark.integration

STACK = """
services:
  web:
    image: busybox:latest
    command: ["sleep", "600"]
    stop_signal: SIGKILL
    depends_on: [api, worker]
  api:
    image: busybox:latest
    command: ["sleep", "600"]
    stop_signal: SIGKILL
    depends_on:
      db: {condition: service_healthy}
  worker:
    image: busybox:latest
    command: ["sleep", "600"]
    stop_signal: SIGKILL
    network_mode: "service:cache"
  db:
    image: busybox:latest
    command: ["sleep", "600"]
    stop_signal: SIGKILL
    healthcheck: {test: ["CMD", "true"], interval: 200ms, retries: 3}
  cache:
    image: busybox:latest
    command: ["sleep", "600"]
    stop_signal: SIGKILL
"""
DEPENDS = {"web": ["api", "worker"], "api": ["db"], "worker": ["cache"], "db": [], "cache": []}


def project_events(engine, name: str, since: float) -> list[dict]:
    with engine.client() as c:
        return list(c.events(filters={"type": ["container"],
                                      "label": [f"com.docker.compose.project={name}"]},
                             since=f"{since:.9f}", until=f"{time.time() + 0.001:.9f}"))


def first(events: list[dict], action: str) -> dict[str, int]:
    """service -> timeNano of its first `action` event."""
    out: dict[str, int] = {}
    for e in events:
        if e.get("Action") == action:
            service = e["Actor"]["Attributes"]["com.docker.compose.service"]
            out.setdefault(service, int(e["timeNano"]))
    return out


def test_up_starts_and_stop_stops_by_the_graphs_generations(engine, project):
    from compose.orchestrator.project_view import from_canonical

    (project / "compose.yaml").write_text(STACK)
    services = {n: {"image": "busybox:latest", "depends_on": d} for n, d in DEPENDS.items()}
    services["worker"]["network_mode"] = "service:cache"
    generations = from_canonical("x", {"services": services}).start_generations()
    assert generations == [["db", "cache"], ["api", "worker"], ["web"]]

    since = time.time() - 1
    r = engine.cli("up", "-d", cwd=project)
    assert r.returncode == 0, r.stderr
    events = project_events(engine, project.name, since)
    started = first(events, "start")
    healthy = first(events, "health_status: healthy")
    assert sorted(started) == sorted(DEPENDS), events
    for service, deps in DEPENDS.items():
        for dep in deps:
            assert started[dep] < started[service], (service, dep, started)
    assert healthy["db"] < started["api"]          # service_healthy waited for
    # generation by generation: nothing of a later one starts before an earlier one began
    for earlier, later in zip(generations, generations[1:]):
        assert max(started[s] for s in earlier) < min(started[s] for s in later)

    since = time.time() - 0.001
    r = engine.cli("stop", cwd=project)
    assert r.returncode == 0, r.stderr
    died = first(project_events(engine, project.name, since), "die")
    assert sorted(died) == sorted(DEPENDS)
    for service, deps in DEPENDS.items():
        for dep in deps:
            assert died[service] < died[dep], (service, dep, died)
