#!/usr/bin/env python3
"""examples/webapp: cold and warm `up -d --wait` with the images already built, side by side with
docker-compose v1 (which speaks the Docker Engine API, so it drives the same engine) where
installed. Goal: warm `up -d --wait` (nothing changed) ≤ 0.3 s.

Starts its own engine (temporary state root, own socket and address pool 10.243.0.0/16), makes
debian:bookworm (bootstrap, or today's cached copy: see tests/e2e/harness.py), builds the three
images (not timed as part of `up`), then measures:

- cold, empty volume: no containers, no volumes (PostgreSQL's initdb included);
- cold, data kept: after `down` (the volume stays);
- warm: `up -d --wait` again with nothing changed (note that, as in Docker Compose, the exited
  one-shot `migrate` is started again, and --wait waits for it to complete).

Everything is removed afterwards. The CLI runs with bytecode caching on (a developer's shell
may set PYTHONDONTWRITEBYTECODE, which would add ~0.2 s of compiling to every command).

    python3 bench/webapp_bench.py [--runs N]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.e2e.harness import (Engine, base_image, copy_example, free_port,  # noqa: E402
                               http_get, start_engine, stop_engine, wait_for)

POOL = "10.243.0.0/16"   # ours alone (tests: 10.231-10.242, compose_bench: 10.239)
GOAL_WARM = 0.3


def timed(engine: Engine, app: Path, env: dict, *args: str, timeout: float = 300) -> float:
    started = time.perf_counter()
    engine.cli(*args, cwd=app, env=env, timeout=timeout, check=True)
    return time.perf_counter() - started


def pycompose_runs(engine: Engine, app: Path, env: dict, port: int, runs: int) -> dict:
    results: dict[str, list[float]] = {"cold, empty volume": [], "cold, data kept": [],
                                       "warm (nothing changed)": []}
    for _ in range(runs):
        engine.cli("down", "-v", cwd=app, env=env, timeout=120, check=True)
        results["cold, empty volume"].append(timed(engine, app, env, "up", "-d", "--wait"))
        assert http_get(port, "/")[0] == 200
        engine.cli("down", cwd=app, env=env, timeout=120, check=True)
        results["cold, data kept"].append(timed(engine, app, env, "up", "-d", "--wait"))
        assert http_get(port, "/")[0] == 200
    for _ in range(max(runs, 5)):
        results["warm (nothing changed)"].append(timed(engine, app, env, "up", "-d", "--wait"))
    engine.cli("down", "-v", cwd=app, env=env, timeout=120, check=True)
    return results


def web_healthy(engine: Engine, project: str) -> bool:
    with engine.client() as c:
        items = c.containers(filters={"label": [f"com.docker.compose.project={project}",
                                                "com.docker.compose.service=web"]})
        return bool(items) and all("(healthy)" in i["Status"] for i in items)


def v1_compose_file(app: Path) -> Path:
    """compose.yaml as docker-compose v1 accepts it: no top-level `name`, and no healthcheck
    `start_interval` — its probing speed while starting becomes the `interval`, so both tools
    probe equally often during start-up (v1 would otherwise wait 10 s for the first probe)."""
    import yaml

    doc = yaml.safe_load((app / "compose.yaml").read_text())
    doc.pop("name", None)
    for service in doc["services"].values():
        check = service.get("healthcheck")
        if check and "start_interval" in check:
            check["interval"] = check.pop("start_interval")
    target = app / "compose.v1.yaml"
    target.write_text(yaml.safe_dump(doc, sort_keys=False))
    return target


def docker_compose_v1(engine: Engine, app: Path, env: dict, port: int, runs: int) -> dict | str:
    """The same stack with docker-compose v1; `up -d` then polling web's health stands in for
    --wait (v1 has none; it does wait for service_healthy dependencies itself)."""
    found = shutil.which("docker-compose")
    if not found:
        return "not installed"
    dc = [found, "-f", str(v1_compose_file(app))]
    denv = {**engine.env, **env, "DOCKER_HOST": f"unix://{engine.socket}",
            "COMPOSE_PROJECT_NAME": "webappv1"}
    denv.pop("PYTHONPATH", None)   # a tree on it (bench of a checkout) shadows its `compose`

    def up() -> float:
        started = time.perf_counter()
        r = subprocess.run([*dc, "up", "-d"], cwd=app, env=denv, capture_output=True, text=True,
                           timeout=300)
        if r.returncode != 0:
            last = [line for line in r.stderr.splitlines() if line.strip()][-1:] or ["?"]
            raise RuntimeError(f"docker-compose up -d: {last[0][:300]}")
        wait_for(lambda: web_healthy(engine, "webappv1"), 120, "web healthy (docker-compose)",
                 interval=0.01)
        return time.perf_counter() - started

    def down(*flags: str) -> None:
        subprocess.run([*dc, "down", *flags], cwd=app, env=denv, capture_output=True,
                       timeout=120)

    results: dict[str, list[float] | str] = {}

    def measure(key: str) -> None:
        """One timing into results[key]; a failure is recorded there instead (and sticks)."""
        if isinstance(results.get(key), str):
            return
        try:
            results.setdefault(key, []).append(up())
        except (RuntimeError, AssertionError, subprocess.TimeoutExpired) as e:
            results[key] = f"failed: {str(e).splitlines()[0][:200]}"

    try:
        for _ in range(runs):
            down("-v")
            measure("cold, empty volume")
            down()
            measure("cold, data kept")
        for _ in range(max(runs, 5)):
            measure("warm (nothing changed)")
    finally:
        down("-v")
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="cold runs of each kind (default 3)")
    parser.add_argument("--json", help="also write the numbers to this file")
    parser.add_argument("--no-v1", action="store_true", help="skip docker-compose v1")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("webapp_bench: needs root (it starts an engine)")
        return 1
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    engine, proc = start_engine(POOL, "pcbench-webapp-")
    work = Path(tempfile.mkdtemp(prefix="pcbench-webapp-src-"))
    try:
        started = time.perf_counter()
        how = base_image(engine)
        print(f"base image {how} in {time.perf_counter() - started:.1f} s", flush=True)
        app = copy_example("webapp", work)
        port = free_port()
        env = {"WEBAPP_PORT": str(port)}
        started = time.perf_counter()
        engine.cli("build", cwd=app, env=env, timeout=1800, check=True)
        print(f"built 3 images in {time.perf_counter() - started:.1f} s", flush=True)
        load_before = os.getloadavg()
        ours = pycompose_runs(engine, app, env, port, args.runs)
        theirs = ("skipped (--no-v1)" if args.no_v1 else
                  docker_compose_v1(engine, app, env, port, args.runs))
        load_after = os.getloadavg()
        engine.cli("down", "-v", cwd=app, env=env, timeout=120)
    finally:
        stop_engine(engine, proc)
        shutil.rmtree(work, ignore_errors=True)

    def cell(values) -> str:
        if not isinstance(values, list) or not values:
            return "failed" if isinstance(values, str) else "n/a"
        return f"{min(values):.2f} / {statistics.median(values):.2f}"

    print(f"\n{'up -d --wait (min / median s)':<30} {'pycompose':>14} {'docker-compose v1':>18}")
    for key in ours:
        other = theirs.get(key) if isinstance(theirs, dict) else None
        print(f"{key:<30} {cell(ours[key]):>14} {cell(other):>18}")
    if isinstance(theirs, str):
        print(f"(docker-compose v1: {theirs})")
    else:
        for key, value in theirs.items():
            if isinstance(value, str):
                print(f"(docker-compose v1, {key}: {value})")
    warm = statistics.median(ours["warm (nothing changed)"])
    verdict = "met" if warm <= GOAL_WARM else "NOT met"
    print(f"goal: warm ≤ {GOAL_WARM:.1f} s (median): {verdict} ({warm:.2f} s)")
    print("load average (1/5/15 min) before: {:.2f} {:.2f} {:.2f}, after: {:.2f} {:.2f} {:.2f}"
          .format(*load_before, *load_after))
    if args.json:
        Path(args.json).write_text(json.dumps({"pycompose": ours, "docker-compose-v1": theirs},
                                              indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
