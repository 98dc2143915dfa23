#!/usr/bin/env python3
"""What the API server's guards cost per request (#11.5, #13.4).

For each source tree given (default: this one), a daemon in a temp root, then, variants
interleaved over several rounds, medians of:
1. GET /_ping on one keep-alive connection (abandoned on disconnect: watched by a second task);
2. GET /containers/{id}/json (the same, with a real handler);
3. POST /containers/create + DELETE (not watched: the guard is one regex match);
4. a new connection per GET /_ping (admission: SO_PEERCRED + the connection table);
5. exec of `true` through the docker SDK (hijacked: waits until the client read the head;
   the old server slept 5 ms there).
Usage: bench/api_server_bench.py [TREE ...]   e.g. a checkout of the commit before, to compare.
Needs root; stops its daemons and removes their roots.
"""
from __future__ import annotations

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


def _request(sock: socket.socket, method: str, path: str, body: bytes = b"") -> bytes:
    sock.sendall(f"{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, rest = data.split(b"\r\n\r\n", 1)
    length = 0
    for line in head.split(b"\r\n")[1:]:
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    while len(rest) < length:
        rest += sock.recv(65536)
    return rest


def _start(tree: Path, base: Path, index: int) -> tuple[subprocess.Popen, Path]:
    sock = base / "engine.sock"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYCOMPOSE_")}
    env.update(PYCOMPOSE_ROOT=str(base / "root"), PYCOMPOSE_HOST=f"unix://{sock}",
               PYCOMPOSE_ADDRESS_POOL=f"10.{247 + index}.0.0/16", PYTHONPATH=str(tree))
    proc = subprocess.Popen([sys.executable, "-m", "engine.daemon"], cwd=tree, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(400):
        if sock.exists():
            try:
                s = socket.socket(socket.AF_UNIX)
                s.connect(str(sock))
                _request(s, "GET", "/_ping")
                s.close()
                return proc, sock
            except OSError:
                pass
        time.sleep(0.05)
    raise RuntimeError(f"daemon of {tree} did not start")


def _per_op(fn, n: int) -> float:
    t = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t) / n * 1e6


def _round(sock_path: Path, cid: str, client) -> dict[str, float]:
    s = socket.socket(socket.AF_UNIX)
    s.connect(str(sock_path))

    def fresh_ping() -> None:
        c = socket.socket(socket.AF_UNIX)
        c.connect(str(sock_path))
        _request(c, "GET", "/_ping")
        c.close()

    def create_rm() -> None:
        import json
        out = json.loads(_request(s, "POST", "/containers/create",
                                  b'{"Image": "busybox", "Cmd": ["true"]}'))
        _request(s, "DELETE", f"/containers/{out['Id']}")

    container = client.containers.get(cid)
    out = {"ping": _per_op(lambda: _request(s, "GET", "/_ping"), 500),
           "inspect": _per_op(lambda: _request(s, "GET", f"/containers/{cid}/json"), 300),
           "create+rm": _per_op(create_rm, 20),
           "connect+ping": _per_op(fresh_ping, 300),
           "exec true": _per_op(lambda: container.exec_run(["true"]), 20)}
    s.close()
    return out


def main() -> None:
    from tests.support.busybox import make_busybox_tar
    import docker

    trees = [Path(t).resolve() for t in sys.argv[1:]] or [REPO]
    bases = [Path(tempfile.mkdtemp(prefix="pcbench-", dir="/tmp")) for _ in trees]
    daemons, clients, cids = [], [], []
    try:
        tar = make_busybox_tar(bases[0] / "busybox.tar").read_bytes()
        for index, (tree, base) in enumerate(zip(trees, bases)):
            proc, sock = _start(tree, base, index)
            daemons.append(proc)
            client = docker.DockerClient(base_url=f"unix://{sock}", version="1.41")
            client.api.import_image_from_data(tar, repository="busybox", tag="latest")
            c = client.containers.run("busybox", ["sleep", "600"], detach=True)
            clients.append((sock, client))
            cids.append(c.id)
        results: list[dict[str, list[float]]] = [{} for _ in trees]
        for _ in range(5):
            for i, (sock, client) in enumerate(clients):
                for key, value in _round(sock, cids[i], client).items():
                    results[i].setdefault(key, []).append(value)
        for tree, res in zip(trees, results):
            print(tree)
            for key, values in res.items():
                print(f"  {key:14s} median {statistics.median(values):8.0f} µs/op "
                      f"(rounds: {', '.join(f'{v:.0f}' for v in values)})")
        for (sock, client), cid in zip(clients, cids):
            client.containers.get(cid).remove(force=True)
            client.close()
    finally:
        for proc in daemons:
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGTERM)
                proc.wait(60)
        for base in bases:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
