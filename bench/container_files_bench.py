#!/usr/bin/env python3
"""What cp/diff/export/commit cost (#14.3, #17), against a daemon in a temp root:
1. HEAD archive (stat) of a small file, running and stopped (a detached overlay per request);
2. GET archive of a small file, running and stopped;
3. GET archive of a 64 MiB file (MB/s), PUT of a 64 MiB tar (MB/s);
4. GET archive of a directory of 2,000 small files;
5. diff of a container with 2,000 added files; export of a busybox container; commit.
Medians of several rounds. Usage: bench/container_files_bench.py. Needs root; stops its
daemon and removes its root.
"""
from __future__ import annotations

import io
import shutil
import statistics
import sys
import tarfile
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.daemon.conftest import DirFactory, import_busybox, make_daemon  # noqa: E402

ROUNDS = 7


def median_ms(fn, rounds: int = ROUNDS) -> float:
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def big_tar(size: int) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("big.bin")
        info.size = size
        tar.addfile(info, io.BytesIO(b"\0" * size))
    return buf.getvalue()


def main() -> None:
    base = Path(tempfile.mkdtemp(prefix="pcfilesbench-"))
    daemon = make_daemon(DirFactory(base), "bench")
    daemon.start()
    try:
        client = daemon.client()
        import_busybox(client, daemon.base)
        run = client.containers.run("busybox", ["sleep", "600"], detach=True)
        stopped = client.containers.create("busybox", ["true"])
        run.exec_run(["sh", "-c", "echo hi > /small; mkdir /many; i=0; while [ $i -lt 2000 ];"
                                  " do echo $i > /many/f$i; i=$((i+1)); done"])
        stopped.put_archive("/", big_tar(3))
        api = client.api
        size = 64 << 20
        payload = big_tar(size)
        results = {
            "stat small file (running), ms": median_ms(lambda: api.head(
                api._url("/containers/{0}/archive", run.id), params={"path": "/small"})),
            "stat small file (stopped), ms": median_ms(lambda: api.head(
                api._url("/containers/{0}/archive", stopped.id), params={"path": "/big.bin"})),
            "get small file (running), ms": median_ms(
                lambda: b"".join(run.get_archive("/small")[0])),
            "get small file (stopped), ms": median_ms(
                lambda: b"".join(stopped.get_archive("/big.bin")[0])),
        }
        put_ms = median_ms(lambda: run.put_archive("/tmp", payload), 3)
        get_ms = median_ms(lambda: b"".join(run.get_archive("/tmp/big.bin")[0]), 3)
        results["put 64 MiB, MB/s"] = size / 1e6 / (put_ms / 1000)
        results["get 64 MiB, MB/s"] = size / 1e6 / (get_ms / 1000)
        results["get dir of 2,000 files, ms"] = median_ms(
            lambda: b"".join(run.get_archive("/many")[0]), 3)
        results["diff (2,000 added + 64 MiB), ms"] = median_ms(lambda: run.diff(), 3)
        results["export, ms"] = median_ms(lambda: b"".join(run.export()), 3)
        results["commit (pause), ms"] = median_ms(lambda: run.commit("pc-bench", "x"), 3)
        for name, value in results.items():
            print(f"{name:38s} {value:10.1f}")
        run.remove(force=True)
        stopped.remove(force=True)
        client.images.remove("pc-bench:x", force=True)
        client.close()
    finally:
        daemon.stop()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
