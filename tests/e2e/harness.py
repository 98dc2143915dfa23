"""Harness for the end-to-end tests and bench/webapp_bench.py: the examples, driven through the
real `pycompose` CLI as a user types it, against a real engine with its own state root, socket
and address pool.

`HostTrace` records the kernel objects a test's engine made (links in its address pool and the
veths on them, firewall rules naming the pool, mounts under its root, processes whose root is
under its root, container cgroups) so a test can prove that, afterwards, none of them remain.
"""
from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from tests.support.daemon import stop_daemon as _stop, unmount_below as _unmount_below

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
CLI = [sys.executable, "-m", "compose.cli.main"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(port: int, path: str = "/", timeout: float = 5) -> tuple[int, bytes]:
    """A plain HTTP/1.0 GET on 127.0.0.1 (status, body); OSError if nothing answers."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(f"GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, body


def wait_for(predicate, timeout: float, what: str, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            result = predicate()
            if result:
                return result
        except Exception as e:   # noqa: BLE001 - retried until the deadline, then reported
            last_error = e
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:g}s waiting for {what}"
                         + (f" (last error: {last_error!r})" if last_error else ""))


@dataclass
class HostTrace:
    """What an engine (identified by its state root and address pool) left on the host."""

    root: Path
    pool_prefix: str                    # e.g. "10.241." for 10.241.0.0/16
    cgroups: set[str] = field(default_factory=set)   # "pycompose-<id12>" names seen

    def links(self) -> set[str]:
        """Bridges holding an address in our pool, and every link enslaved to them."""
        out = subprocess.run(["ip", "-o", "-4", "addr", "show"], capture_output=True,
                             text=True, check=True).stdout
        bridges = {line.split()[1] for line in out.splitlines()
                   if f" {self.pool_prefix}" in line}
        found = set(bridges)
        for bridge in bridges:
            ports = subprocess.run(["ip", "-o", "link", "show", "master", bridge],
                                   capture_output=True, text=True).stdout
            found |= {line.split(":")[1].strip().split("@")[0] for line in ports.splitlines()}
        return found

    def rules(self) -> list[str]:
        rules = []
        for tool in ("iptables-save",):
            out = subprocess.run([tool], capture_output=True, text=True).stdout
            rules += [line for line in out.splitlines() if self.pool_prefix in line]
        return rules

    def mounts(self) -> list[str]:
        with open("/proc/self/mountinfo") as f:
            return [line.split()[4] for line in f if line.split()[4].startswith(str(self.root))]

    def processes(self) -> list[int]:
        """Container processes of our engine: their root mount is an overlay whose layers and
        upper dir lie under our state root (readlink /proc/PID/root only says "/" for them)."""
        pids = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/mountinfo") as f:
                    first = f.readline()
            except OSError:
                continue
            if f"={self.root}/" in first:
                pids.append(int(entry))
        return pids

    def remember_cgroups(self, container_ids) -> None:
        self.cgroups |= {f"pycompose-{cid[:12]}" for cid in container_ids}

    def cgroup_dirs(self) -> list[str]:
        if not self.cgroups:
            return []
        found = []
        for dirpath, dirnames, _ in os.walk("/sys/fs/cgroup"):
            for name in dirnames:
                if name in self.cgroups:
                    found.append(os.path.join(dirpath, name))
            # pycompose cgroups sit below the engine's own cgroup, never very deep
            if dirpath.count("/") > 9:
                dirnames[:] = []
        return found

    def leftovers(self) -> dict[str, list]:
        found = {"links": sorted(self.links()), "firewall rules": self.rules(),
                 "mounts": self.mounts(), "processes": self.processes(),
                 "cgroups": self.cgroup_dirs()}
        return {k: v for k, v in found.items() if v}


@dataclass
class Engine:
    home: Path             # the temp dir holding state root, socket and logs
    root: Path
    socket: Path
    pool: str
    env: dict[str, str]
    pid: int | None = None
    trace: HostTrace = None  # type: ignore[assignment]

    def cli(self, *args: str, cwd: Path | None = None, timeout: float = 120,
            check: bool = False, env: dict[str, str] | None = None,
            input: bytes | None = None) -> subprocess.CompletedProcess:
        r = subprocess.run(CLI + list(args), env={**self.env, **(env or {})}, cwd=cwd,
                           capture_output=True, timeout=timeout, input=input)
        out = subprocess.CompletedProcess(r.args, r.returncode, r.stdout.decode(errors="replace"),
                                          r.stderr.decode(errors="replace"))
        if check and out.returncode != 0:
            raise AssertionError(f"pycompose {' '.join(args)} exited {out.returncode}:\n"
                                 f"{out.stdout}\n{out.stderr}")
        return out

    def popen(self, *args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
              **kwargs) -> subprocess.Popen:
        return subprocess.Popen(CLI + list(args), env={**self.env, **(env or {})}, cwd=cwd,
                                **kwargs)

    def client(self):
        from engine.client import Client

        return Client(self.socket)

    def container_ids(self) -> list[str]:
        with self.client() as c:
            return [i["Id"] for i in c.containers(all=True)]

    def log_tail(self) -> str:
        try:
            return (self.root / "engine.log").read_text(errors="replace")[-3000:]
        except OSError:
            return ""






def start_engine(pool: str, prefix: str) -> tuple[Engine, subprocess.Popen]:
    home = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    root = home / "state"
    root.mkdir()
    sock = home / "engine.sock"
    env = dict(os.environ)
    env.update(PYCOMPOSE_ROOT=str(root), PYCOMPOSE_HOST=f"unix://{sock}",
               PYCOMPOSE_ADDRESS_POOL=pool, NO_COLOR="1")
    env.pop("PYCOMPOSE_DEBUG", None)
    log = open(home / "daemon.out", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "engine.daemon"], env=env, stdout=log,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=REPO)
    log.close()
    prefix_octets = ".".join(pool.split(".")[:2]) + "."
    engine = Engine(home, root, sock, pool, env, proc.pid, HostTrace(root, prefix_octets))
    from engine.client import Client

    client = Client(sock)
    deadline = time.monotonic() + 20
    while not client.ping():
        if proc.poll() is not None or time.monotonic() > deadline:
            out = (home / "daemon.out").read_text(errors="replace")[-2000:]
            stop_engine(engine, proc)
            pytest.fail(f"engine did not start (exit {proc.poll()}):\n{out}")
        time.sleep(0.05)
    client.close()
    return engine, proc


def stop_engine(engine: Engine, proc: subprocess.Popen) -> None:
    """Stop our engine by PID; a safety net for what a failed test left (mounts, files)."""
    _stop(proc.pid)
    _unmount_below(engine.home)
    shutil.rmtree(engine.home, ignore_errors=True)


@contextlib.contextmanager
def running_engine(pool: str, prefix: str) -> Iterator[Engine]:
    """An engine of the caller's own (temp home named `prefix`..., address pool `pool`),
    stopped by PID and its home removed however the block ends."""
    engine, proc = start_engine(pool, prefix)
    try:
        yield engine
    finally:
        stop_engine(engine, proc)


CACHE = Path(os.environ.get("PYCOMPOSE_CI_CACHE", "/var/cache/pycompose-ci"))
BASE = "debian:bookworm"


def base_image(engine: Engine) -> str:
    """Make `debian:bookworm` in the engine; returns how ("bootstrapped" / "loaded from cache").

    `pycompose image bootstrap` runs mmdebstrap against the host's plain-http Debian mirror
    (about 1.5 min). To spare repeated CI runs on one machine that step, its result is kept as a
    docker-archive in $PYCOMPOSE_CI_CACHE (default /var/cache/pycompose-ci) named
    debian-bookworm-YYYYMMDD.tar — one per day (UTC), so a stale base is never used for long;
    older ones are deleted — and loaded with `image load`. PYCOMPOSE_CI_NO_CACHE=1 bootstraps
    regardless. A fresh machine (no cache) bootstraps.
    """
    cached = CACHE / f"debian-bookworm-{time.strftime('%Y%m%d', time.gmtime())}.tar"
    use_cache = os.environ.get("PYCOMPOSE_CI_NO_CACHE") != "1"
    if use_cache and cached.is_file():
        r = engine.cli("image", "load", "-i", str(cached), timeout=300)
        if r.returncode == 0:
            return "loaded from cache"
        cached.unlink(missing_ok=True)   # a broken cache file: bootstrap instead
    engine.cli("image", "bootstrap", BASE, timeout=1200, check=True)
    if use_cache:
        CACHE.mkdir(parents=True, exist_ok=True)
        for old in CACHE.glob("debian-bookworm-*.tar"):
            old.unlink(missing_ok=True)
        engine.cli("image", "save", "-o", str(cached), BASE, timeout=300, check=True)
    return "bootstrapped"


def make_hello_image(engine: Engine, hello: Path) -> str:
    """examples/hello's documented image step (its make-image.sh, with this test's CLI standing
    in for `pycompose` on PATH); its stdout."""
    r = subprocess.run(["./make-image.sh"], cwd=hello, capture_output=True, text=True,
                       env={**engine.env, "PYCOMPOSE": " ".join(CLI)}, timeout=120)
    assert r.returncode == 0, r.stderr
    return r.stdout


def webapp_page_count(port: int) -> int:
    """GET / of examples/webapp (which records a visit) and the count the page shows."""
    status, body = http_get(port, "/")
    assert status == 200, body
    m = re.search(rb'<span id="count">(\d+)</span>', body)
    assert m, body
    return int(m.group(1))


def copy_example(name: str, dest: Path) -> Path:
    """The example directory as a user would have it (a copy: tests edit files in it)."""
    target = dest / name
    shutil.copytree(EXAMPLES / name, target, symlinks=True)
    return target


def strip_ansi(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)
