#!/usr/bin/env python3
"""`pycompose config -q` wall time, CLI start-up included, next to docker-compose / podman-compose.

Inputs: a generated 200-service file, and the largest awesome-compose file when the external corpus
(../shared/corpus, our machines only) is there.
Runs each command N times (hyperfine if installed, else a subprocess loop) and prints the
median and minimum. Byte-code caching is on (into a temporary PYTHONPYCACHEPREFIX, so the tree
stays clean) because that is how installed pycompose runs; the first, cold run is discarded.
"""
from __future__ import annotations

import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / ".." / "shared" / "corpus" / "awesome-compose"
RUNS = int(os.environ.get("BENCH_RUNS", "15"))


def largest_awesome() -> Path | None:
    found = list(CORPUS.glob("*/compose.y*"))
    return max(found, key=lambda p: p.stat().st_size) if found else None


def generated(directory: Path, count: int = 200) -> Path:
    lines = ["services:"]
    for i in range(count):
        lines += [f"  svc{i}:", f"    image: busybox:{i % 7}", "    command: [sleep, infinity]",
                  f"    ports: ['{20000 + i}:80']", f"    environment: [INDEX={i}, NAME=svc{i}]",
                  f"    volumes: ['data{i % 10}:/data', './conf:/etc/conf:ro']",
                  "    networks: [front, back]", "    restart: unless-stopped"]
        if i:
            lines += ["    depends_on:", f"      svc{i - 1}: {{condition: service_started}}"]
        lines += ["    healthcheck: {test: [CMD, 'true'], interval: 10s}"]
    lines += ["networks:", "  front: {}", "  back: {}", "volumes:"]
    lines += [f"  data{i}: {{}}" for i in range(10)]
    path = directory / "compose.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(cmd: list[str], env: dict) -> tuple[float, float, float] | None:
    """(median wall, min wall, median CPU user+sys) seconds. CPU time is the steadier number
    on a busy machine: wall time also counts waiting for a core."""
    if subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode != 0:
        return None
    wall, cpu = [], []
    for _ in range(RUNS):
        start, cpu0 = time.perf_counter(), _children_cpu()
        subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wall.append(time.perf_counter() - start)
        cpu.append(_children_cpu() - cpu0)
    return statistics.median(wall), min(wall), statistics.median(cpu)


def in_process(file: Path) -> tuple[float, float]:
    """(median, min) seconds of `config -q` called in this process, modules already imported."""
    import contextlib
    import io

    sys.path.insert(0, str(ROOT))
    from compose.cli.main import main as cli

    times = []
    for _ in range(RUNS + 1):
        start = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            cli(["-f", str(file), "config", "-q"])
        times.append(time.perf_counter() - start)
    times = times[1:]   # the first pays for imports and the schema's first read
    return statistics.median(times), min(times)


def _reference_v2() -> Path | None:
    """The Compose v2 binary the differential tests cache, if a test run fetched it."""
    cache = Path(os.environ.get("PYCOMPOSE_TEST_CACHE", "/var/tmp/pycompose-test-cache"))
    found = sorted(cache.glob("docker-compose-*"))
    return found[-1] if found else None


def main() -> int:
    cache = tempfile.mkdtemp(prefix="pycompose-bench-pyc-")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = cache
    try:
        with tempfile.TemporaryDirectory(prefix="pycompose-bench-") as tmp:
            inputs = {"generated 200 services": generated(Path(tmp))}
            awesome = largest_awesome()
            if awesome is not None:
                inputs = {"awesome (largest)": awesome, **inputs}
            else:
                print(f"(no external corpus at {CORPUS}: the generated file only)")
            tools = {"pycompose": [sys.executable, "-m", "compose.cli.main", "-f", "{file}", "config", "-q"],
                     "python -c pass": [sys.executable, "-c", "pass"]}
            v2 = _reference_v2()
            if v2:
                tools["compose v2.40.3"] = [str(v2), "-f", "{file}", "config", "-q"]
            if shutil.which("docker-compose"):
                tools["docker-compose"] = ["docker-compose", "-f", "{file}", "config", "-q"]
            if shutil.which("podman-compose"):
                tools["podman-compose"] = ["podman-compose", "-f", "{file}", "config"]
            print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
            print(f"{'input':24} {'tool':16} {'median ms':>10} {'min ms':>8} {'cpu ms':>8} {'ratio':>7}")
            for label, file in inputs.items():
                base = None
                for tool, template in tools.items():
                    cmd = [str(file) if a == "{file}" else a for a in template]
                    # only ours gets the repo on its path: docker-compose's own package is also
                    # called `compose` and would be shadowed by ours
                    run_env = {**env, "PYTHONPATH": str(ROOT)} if tool == "pycompose" else env
                    result = timed(cmd, run_env)
                    if result is None:
                        print(f"{label:24} {tool:16} {'failed':>10}")
                        continue
                    median, fastest, cpu = result
                    if tool == "pycompose":
                        base = median
                    ratio = f"{median / base:.2f}x" if base else ""
                    print(f"{label:24} {tool:16} {median * 1000:10.0f} {fastest * 1000:8.0f} "
                          f"{cpu * 1000:8.0f} {ratio:>7}")
            for label, file in inputs.items():
                median, fastest = in_process(file)
                print(f"{label:24} {'in-process':16} {median * 1000:10.1f} {fastest * 1000:8.1f}"
                      "    (pycompose config -q without interpreter start-up; goal < 150 ms)")
            missing = [t for t in ("docker-compose", "podman-compose") if not shutil.which(t)]
            if missing:
                print(f"(not installed, not compared: {', '.join(missing)})")
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
