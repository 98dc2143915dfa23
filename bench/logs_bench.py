"""How long `GET /containers/{id}/logs` of 200,000 lines takes over a raw unix socket.

Starts its own engine (temp root, socket and pool), runs `seq 200000` in a busybox container,
then times complete log reads (request sent → last chunk received). Usage, as root:

    python3 bench/logs_bench.py [--lines 200000] [--runs 7] [--timestamps]
"""
from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def read_all(sock_path: str, path: str) -> tuple[float, int]:
    s = socket.socket(socket.AF_UNIX)
    s.connect(sock_path)
    t0 = time.perf_counter()
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    total = 0
    tail = b""
    while True:
        data = s.recv(1 << 20)
        if not data:
            break
        total += len(data)
        tail = (tail + data)[-16:]
    elapsed = time.perf_counter() - t0
    s.close()
    assert tail.endswith(b"0\r\n\r\n"), "stream did not end cleanly"
    return elapsed, total


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lines", type=int, default=200_000)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--timestamps", action="store_true")
    args = ap.parse_args()

    import docker
    from tests.support.busybox import make_busybox_tar

    base = Path(tempfile.mkdtemp(prefix="pclogbench-"))
    sock = base / "engine.sock"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYCOMPOSE_")}
    env.update(PYCOMPOSE_ROOT=str(base / "root"), PYCOMPOSE_HOST=f"unix://{sock}",
               PYCOMPOSE_ADDRESS_POOL="10.149.0.0/16", PYTHONPATH=str(REPO))
    proc = subprocess.Popen([sys.executable, "-m", "engine.daemon"], env=env, cwd=REPO,
                            stdout=open(base / "daemon.out", "wb"), stderr=subprocess.STDOUT)
    try:
        client = docker.DockerClient(base_url=f"unix://{sock}", version="1.41", timeout=120)
        deadline = time.monotonic() + 20
        while True:
            try:
                client.ping()
                break
            except Exception:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise SystemExit("engine did not start:\n" + (base / "daemon.out").read_text())
                time.sleep(0.1)
        tar = make_busybox_tar(base / "busybox.tar")
        client.api.import_image_from_data(tar.read_bytes(), repository="busybox", tag="latest")
        c = client.containers.run("busybox", ["seq", str(args.lines)], detach=True,
                                  network_mode="none")
        c.wait()
        path = f"/containers/{c.id}/logs?stdout=1&stderr=1" + \
            ("&timestamps=1" if args.timestamps else "")
        times = []
        for _ in range(args.runs):
            elapsed, total = read_all(str(sock), path)
            times.append(elapsed)
        print(f"{args.lines} lines, {total} bytes on the wire, {args.runs} runs: "
              f"min {min(times):.3f} s, median {statistics.median(times):.3f} s")
        c.remove(force=True)
        client.close()
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
