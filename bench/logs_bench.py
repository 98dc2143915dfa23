"""How long `GET /containers/{id}/logs` of 200,000 lines takes over a raw unix socket.

Starts its own engine (temp root, socket and pool), runs `seq 200000` in a busybox container,
then times complete log reads (request sent → last chunk received; the engine that ran the
container still holds its plain output in memory, so these skip the file: see
engine/containers/logcache.py), and the CPU of the file read paths. Usage, as root:

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


def cpu_paths(log_path: Path, runs: int) -> None:
    """Server-side CPU (process time, so other load on the machine matters less) of reading and
    framing the whole log: the general path (JSON decode per line, LogEntry objects, one frame
    call per line: what `logs` did before the bulk path) against the bulk path (a regex cut)
    and the plain path (a split per write, what `logs` uses for plain text now)."""
    from engine.api.framing import HEADER, frame
    from engine.api.streams import encode_batch
    from engine.containers.logs import (LogFile, LogQuery, parse_lines,
                                        raw_records, render_records, select)
    from engine.containers.output import render

    query = LogQuery()
    log = LogFile(log_path)

    def general() -> bytes:
        data = log.read_raw_from(0, None)[0]
        entries = select(iter(parse_lines(data)), query)
        return b"".join(frame({'stdout': 1, 'stderr': 2}[e.stream], query.render(e)) for e in entries)

    def bulk() -> bytes:
        data = log.read_raw_from(0, None)[0]
        sids, datas, _ends = render_records(raw_records(data), query)
        parts: list[bytes] = [b""] * (2 * len(datas))
        parts[0::2] = map(HEADER.pack, sids, map(len, datas))
        parts[1::2] = datas
        return b"".join(parts)

    def plain() -> bytes:
        data = log.read_raw_from(0, None)[0]
        return encode_batch(render([data], query), False)

    assert general() == bulk() == plain()
    for name, fn in (("general", general), ("bulk", bulk), ("plain", plain)):
        times = []
        for _ in range(runs):
            t0 = time.process_time()
            fn()
            times.append(time.process_time() - t0)
        print(f"  {name} path, CPU: min {min(times):.3f} s, median {statistics.median(times):.3f} s")


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
        cpu_paths(base / "root" / "containers" / c.id / f"{c.id}-json.log", args.runs)
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
