#!/usr/bin/env python3
"""Compose orchestration speed: `up -d` to an HTTP answer, `down -t 0`, an attached `up` that
prints 200,000 lines and `logs` of those lines afterwards, and `up -d` of 50 services.

Starts its own engine in a temporary state root (own socket and address pool), imports a busybox
image as bench/busybox:latest, and removes everything afterwards. Where docker-compose (v1, which
speaks the Docker Engine API) or podman-compose is installed, the same stack is timed with it.
Goals: up ≤ 0.3 s, down ≤ 0.2 s, 200k lines ≤ 0.6 s (attached up) and ≤ 0.3 s (logs),
50 services ≤ 3 s. Both 200k-line measures send the CLI's output to a pipe and count every line.

`--rounds N` (default 3) repeats every measure and prints the median and the minimum, with the
load average before and after: the VM is shared, so compare runs made under similar load.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from run_bench import start_busybox_engine, stop_engine  # noqa: E402
STACK = REPO / "bench" / "bench-stack.yaml"
CLI = [sys.executable, "-m", "compose.cli.main"]
POOL = "10.239.0.0/16"
GOALS = {"up -d (HTTP answer)": 0.3, "down -t 0": 0.2, "attached up, 200k lines": 0.6,
         "logs, 200k lines": 0.3, "up -d, 50 services": 3.0, "down, 50 services": None}
LINES = 200_000


def cli(env, cwd, *args, stdout=subprocess.DEVNULL) -> float:
    start = time.perf_counter()
    r = subprocess.run(CLI + list(args), env=env, cwd=cwd, stdout=stdout,
                       stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - start
    if r.returncode != 0:
        raise RuntimeError(f"pycompose {' '.join(args)}: {r.stderr.decode()[-500:]}")
    return elapsed


def cli_piped(env, cwd, *args) -> tuple[float, int]:
    """Run the CLI with stdout on a pipe read to its end; (seconds, lines of `spam-1  | n`).
    The clock stops when the CLI exited and its output was all read."""
    start = time.perf_counter()
    proc = subprocess.Popen(CLI + list(args), env=env, cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    out, err = proc.communicate()
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"pycompose {' '.join(args)}: {err.decode()[-500:]}")
    return elapsed, out.count(b"spam-1  | ")


def http_ready(url: str, deadline: float) -> bool:
    while time.perf_counter() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=0.5) as resp:
                if resp.read().strip() == b"hello":
                    return True
        except OSError:
            time.sleep(0.005)
    return False


def bench_up_http(env, workdir) -> tuple[float | None, float]:
    (workdir / "compose.yaml").write_text(STACK.resolve().read_text())
    start = time.perf_counter()
    cli(env, workdir, "-p", "bench", "up", "-d")
    ok = http_ready("http://127.0.0.1:18080/", start + 10)
    up = time.perf_counter() - start if ok else None
    down = cli(env, workdir, "-p", "bench", "down", "-t", "0")
    return up, down


def bench_lines(env, workdir) -> tuple[float | None, float | None]:
    """The attached `up` of a service printing 200k lines, then `logs` of them."""
    d = workdir / "lines"
    d.mkdir()
    (d / "compose.yaml").write_text(
        "services:\n  spam:\n    image: bench/busybox:latest\n"
        f"    command: [\"seq\", \"1\", \"{LINES}\"]\n")
    try:
        up, up_count = cli_piped(env, d, "-p", "lines", "up")
        logs, logs_count = cli_piped(env, d, "-p", "lines", "logs")
    finally:
        cli(env, d, "-p", "lines", "down", "-t", "0")
    if up_count != LINES:
        print(f"lines: attached up printed {up_count} lines, not {LINES}")
    if logs_count != LINES:
        print(f"lines: logs printed {logs_count} lines, not {LINES}")
    return (up if up_count == LINES else None), (logs if logs_count == LINES else None)


def bench_fifty(env, workdir) -> tuple[float, float]:
    d = workdir / "fifty"
    d.mkdir()
    services = "".join(f"  s{i}:\n    image: bench/busybox:latest\n"
                       f"    command: [\"sleep\", \"3600\"]\n    stop_signal: SIGKILL\n"
                       for i in range(50))
    (d / "compose.yaml").write_text("services:\n" + services)
    up = cli(env, d, "-p", "fifty", "up", "-d")
    down = cli(env, d, "-p", "fifty", "down", "-t", "0")
    return up, down


def other_tools(env, workdir) -> list[tuple[str, float | None, float | None]]:
    rows = []
    dc = shutil.which("docker-compose")
    if dc:
        denv = dict(env, DOCKER_HOST=env["PYCOMPOSE_HOST"])
        (workdir / "compose.yaml").write_text(STACK.resolve().read_text())
        start = time.perf_counter()
        r = subprocess.run([dc, "-p", "benchv1", "up", "-d"], env=denv, cwd=workdir,
                           capture_output=True)
        up = (time.perf_counter() - start
              if r.returncode == 0 and http_ready("http://127.0.0.1:18080/", start + 10)
              else None)
        start = time.perf_counter()
        subprocess.run([dc, "-p", "benchv1", "down", "-t", "0"], env=denv, cwd=workdir,
                       capture_output=True)
        rows.append(("docker-compose", up, time.perf_counter() - start))
    if shutil.which("podman-compose"):
        rows.append(("podman-compose", None, None))   # needs podman's own engine: not comparable
    return rows


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="repetitions of every measure")
    parser.add_argument("--only", choices=("up", "lines", "fifty"), action="append",
                        help="run only these measures (repeatable); default all")
    args = parser.parse_args()
    rounds = max(1, args.rounds)
    load_before = _load()
    if os.geteuid() != 0:
        print("compose_bench: needs root (it starts an engine)")
        return 1

    root = Path(tempfile.mkdtemp(prefix="pcbench-", dir="/tmp"))
    sock = root / "engine.sock"
    env = dict(os.environ, PYCOMPOSE_ROOT=str(root / "state"), PYCOMPOSE_HOST=f"unix://{sock}",
               PYCOMPOSE_ADDRESS_POOL=POOL, NO_COLOR="1")
    (root / "state").mkdir()
    proc = start_busybox_engine(root, env)
    if proc is None:
        shutil.rmtree(root, ignore_errors=True)
        return 1
    results: dict[str, list[float]] = {}
    failed: set[str] = set()
    try:
        work = root / "work"
        work.mkdir()
        measures = (("up", lambda: bench_up_http(env, work)),
                    ("lines", lambda: bench_lines(env, work)),
                    ("fifty", lambda: bench_fifty(env, work)))
        keys = {"up": ("up -d (HTTP answer)", "down -t 0"),
                "lines": ("attached up, 200k lines", "logs, 200k lines"),
                "fifty": ("up -d, 50 services", "down, 50 services")}
        measures = tuple(m for m in measures if not args.only or m[0] in args.only)
        for round_ in range(rounds):
            for name, fn in measures:
                try:
                    value = fn()
                except RuntimeError as e:
                    print(f"{name}: failed: {e}")
                    failed.update(keys[name])
                    continue
                finally:
                    for sub in ("lines", "fifty"):
                        shutil.rmtree(work / sub, ignore_errors=True)
                values = value if isinstance(value, tuple) else (value,)
                for key, v in zip(keys[name], values):
                    if v is None:
                        failed.add(key)
                    else:
                        results.setdefault(key, []).append(v)
        others = other_tools(env, work) if not args.only or "up" in args.only else []
    finally:
        stop_engine(proc)
        # a daemon the CLI autostarted (if ours died mid-run) serves the same root: stop it too
        from tests.orchestrator.conftest import daemons_for, stop_foreign

        for pid in daemons_for(root / "state"):
            stop_foreign(pid)
        from tests.support.daemon import unmount_below

        unmount_below(root)
        shutil.rmtree(root, ignore_errors=True)
    print(f"load average before {load_before}, after {_load()}; {rounds} round(s)")
    print(f"{'measure':<28} {'median':>8} {'min':>8} {'goal':>6}  failures")
    ran = {key for name, _fn in measures for key in keys[name]}
    for key, goal in GOALS.items():
        if key not in ran:
            continue
        values = results.get(key, [])
        med = f"{statistics.median(values):.3f}s" if values else "failed"
        low = f"{min(values):.3f}s" if values else ""
        print(f"{key:<28} {med:>8} {low:>8} {'' if goal is None else f'{goal:.1f}s':>6}"
              f"  {'yes' if key in failed else ''}")
    for tool, up, down in others:
        fmt = lambda v: "n/a" if v is None else f"{v:.3f}s"   # noqa: E731
        print(f"{tool}: up -d {fmt(up)}, down {fmt(down)}")
    if not others:
        print("(docker-compose / podman-compose not installed: no comparison)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
