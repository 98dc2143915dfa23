#!/usr/bin/env python3
"""`container run --rm busybox true` end to end, against runc / docker / podman where installed.

Starts an engine in a temporary state root (own socket and address pool), imports the busybox
test image, then times (median of N after warm-up, variants interleaved round-robin):

  * `pycompose container run --rm busybox true` — the whole CLI, process start to exit;
  * the API path in-process: create + start + wait + remove through `engine.client.Client`;
  * `runc run` of the same root filesystem (a bundle made with `runc spec`);
  * `docker run --rm busybox true` / `podman run --rm busybox true` if installed with a busybox
    image already present (nothing is pulled);

and the CLI's start-up: `python3 -X importtime` of what `container run` imports, and the wall
time of a command that does no engine work. Leaves nothing behind (daemon stopped by pid, temp
root removed).
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support.busybox import make_busybox_rootfs, make_busybox_tar  # noqa: E402

RUNS = int(os.environ.get("BENCH_RUNS", "20"))
WARMUP = 3
POOL = "10.239.0.0/16"  # 10.236-10.238 are other suites' pools
DOCKER_BASELINE_MS = 173.0  # `docker run --rm busybox true` CLI start-up share, measured by the team


def cli_argv() -> list[str]:
    """The installed console script next to our interpreter (not a pyenv shim on PATH, which
    adds a bash start-up of its own)."""
    script = Path(sys.executable).parent / "pycompose"
    return [str(script)] if script.exists() else [sys.executable, "-m", "compose.cli.main"]


def timed(fn: Callable[[], None]) -> float:
    t0 = time.perf_counter()
    fn()
    return (time.perf_counter() - t0) * 1000


def run_quiet(argv: list[str], env: dict[str, str] | None = None) -> None:
    result = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {result.returncode}: "
                           f"{result.stderr.decode(errors='replace').strip()[:300]}")


def start_engine(root: Path, env: dict[str, str]) -> subprocess.Popen:
    from engine.client import Client

    log = open(root / "daemon.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "engine.daemon"], env=env, stdout=log,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=REPO)
    client = Client(env["PYCOMPOSE_HOST"][len("unix://"):])
    deadline = time.monotonic() + 20
    while not client.ping():
        if proc.poll() is not None or time.monotonic() > deadline:
            stop_engine(proc)
            raise RuntimeError(f"engine did not start; see {root / 'daemon.log'}")
        time.sleep(0.05)
    return proc


def start_busybox_engine(root: Path, env: dict[str, str]) -> subprocess.Popen | None:
    """An engine on `env`'s root and socket with busybox imported as bench/busybox:latest (the
    image of bench/bench-stack.yaml); None, with the reason printed, if it fails."""
    from engine.client import Client

    try:
        proc = start_engine(root, env)
    except RuntimeError as e:
        print(e)
        return None
    try:
        with Client(env["PYCOMPOSE_HOST"][len("unix://"):]) as client, \
                open(make_busybox_tar(root / "busybox.tar"), "rb") as f:
            client.import_image(f, repo="bench/busybox", tag="latest")
    except Exception as e:
        print(f"importing busybox failed: {e}")
        stop_engine(proc)
        return None
    return proc


def stop_engine(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def purge_networks(state_root: Path) -> None:
    """The default network's bridge and firewall rules outlive the daemon (like docker0)."""
    if not (state_root / "network").exists():
        return
    from netbridge.manager import NetworkManager

    manager = NetworkManager(state_root / "network", POOL)
    try:
        manager.cleanup(set())
        for net in manager.list():
            manager.remove(net.id)
    finally:
        manager.close()


def runc_bundle(root: Path) -> Path | None:
    if not shutil.which("runc"):
        return None
    bundle = root / "runc-bundle"
    make_busybox_rootfs(bundle / "rootfs")
    subprocess.run(["runc", "spec"], cwd=bundle, check=True)
    spec = json.loads((bundle / "config.json").read_text())
    spec["process"]["terminal"] = False
    spec["process"]["args"] = ["/bin/true"]
    (bundle / "config.json").write_text(json.dumps(spec))
    return bundle


def incumbent(tool: str) -> list[str] | None:
    """`docker|podman run --rm busybox true` if the tool and a local busybox image exist."""
    if not shutil.which(tool):
        return None
    probe = subprocess.run([tool, "image", "inspect", "busybox"], capture_output=True, timeout=30)
    return [tool, "run", "--rm", "busybox", "true"] if probe.returncode == 0 else None


def api_run(client) -> None:
    cid = client.create_container({"Image": "busybox", "Cmd": ["true"],
                                   "HostConfig": {"NetworkMode": "none"}})["Id"]
    client.start(cid)
    client.wait(cid)
    client.remove_container(cid)


def import_time_ms(env: dict[str, str]) -> tuple[float, list[tuple[str, float]]]:
    """Cumulative import time of everything `container run` imports, and the biggest parts."""
    code = ("import compose.cli.main, typer.main, engine.client.cli.container as c, engine.client;"
            "typer.main.get_command(c.app).get_command(None, 'run')")
    samples, top = [], []
    for _ in range(7):
        out = subprocess.run([sys.executable, "-X", "importtime", "-c", code], cwd=REPO,
                             env=env, capture_output=True, text=True).stderr
        total, parts = 0, []
        for line in out.splitlines():
            fields = line.split("|")
            if not line.startswith("import time:") or len(fields) != 3:
                continue
            try:
                self_us = int(fields[0].split(":")[1])
                cum_us = int(fields[1])
            except ValueError:
                continue  # the header line
            total += self_us
            if not fields[2].startswith("  "):  # top-level imports
                parts.append((fields[2].strip(), cum_us / 1000))
        samples.append(total / 1000)
        top = sorted(parts, key=lambda p: -p[1])[:6]
    return statistics.median(samples), top


def main() -> int:
    if os.geteuid() != 0:
        print("needs root (it starts an engine)")
        return 1
    root = Path(tempfile.mkdtemp(prefix="pcbench-", dir="/tmp"))
    env = dict(os.environ, PYCOMPOSE_ROOT=str(root / "state"),
               PYCOMPOSE_HOST=f"unix://{root / 'engine.sock'}",
               PYCOMPOSE_ADDRESS_POOL=POOL,
               # an installed CLI runs from cached bytecode; keep the cache out of the tree
               PYTHONPYCACHEPREFIX=str(root / "pycache"))
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    proc = None
    try:
        (root / "state").mkdir()
        proc = start_engine(root, env)
        cli = cli_argv()
        tar = make_busybox_tar(root / "busybox.tar")
        run_quiet(cli + ["image", "import", str(tar), "busybox:latest"], env)

        from engine.client import Client

        client = Client(env["PYCOMPOSE_HOST"][len("unix://"):])
        variants: dict[str, Callable[[], None]] = {
            "pycompose container run --rm": lambda: run_quiet(
                cli + ["container", "run", "--rm", "busybox", "true"], env),
            "pycompose run --rm --network none": lambda: run_quiet(
                cli + ["container", "run", "--rm", "--network", "none", "busybox", "true"], env),
            "API create+start+wait+rm (in-process)": lambda: api_run(client),
            "pycompose container ps -q (CLI floor)": lambda: run_quiet(
                cli + ["container", "ps", "-q"], env),
            "python3 -c pass": lambda: run_quiet([sys.executable, "-c", "pass"]),
        }
        bundle = runc_bundle(root)
        if bundle:
            counter = iter(range(10**6))
            variants["runc run"] = lambda: run_quiet(
                ["runc", "run", "--bundle", str(bundle), f"pcbench-{os.getpid()}-{next(counter)}"])
        for tool in ("docker", "podman"):
            argv = incumbent(tool)
            if argv:
                variants[f"{tool} run --rm"] = lambda argv=argv: run_quiet(argv)
            else:
                print(f"({tool}: not installed or no local busybox image; skipped)")

        times: dict[str, list[float]] = {name: [] for name in variants}
        for i in range(WARMUP + RUNS):
            for name, fn in variants.items():
                ms = timed(fn)
                if i >= WARMUP:
                    times[name].append(ms)
        base = statistics.median(times["pycompose container run --rm"])
        base_min = min(times["pycompose container run --rm"])
        print(f"\nmedian of {RUNS} after {WARMUP} warm-ups (ms); ratio = pycompose run / variant "
              f"(by median, and by minimum, which a loaded machine disturbs less)")
        print(f"{'variant':42} {'median':>8} {'min':>8} {'max':>8} {'ratio':>7} {'min-r':>7}")
        for name, samples in times.items():
            med = statistics.median(samples)
            print(f"{name:42} {med:8.1f} {min(samples):8.1f} {max(samples):8.1f} "
                  f"{base / med:7.2f} {base_min / min(samples):7.2f}")
        print(f"(load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")
        total, top = import_time_ms(env)
        print(f"\nCLI imports for `container run` (python3 -X importtime, sum of self times, "
              f"median of 7): {total:.1f} ms; goal <= {0.4 * DOCKER_BASELINE_MS:.0f} ms "
              f"(0.4 x docker's {DOCKER_BASELINE_MS:.0f} ms)")
        for name, ms in top:
            print(f"  {name:40} {ms:7.1f} ms cumulative")
        client.close()
        return 0
    finally:
        if proc is not None:
            stop_engine(proc)
            purge_networks(root / "state")
        with open("/proc/self/mountinfo") as f:
            leftovers = [line.split()[4] for line in f if line.split()[4].startswith(str(root))]
        for target in sorted(leftovers, reverse=True):
            subprocess.run(["umount", "-l", target], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
