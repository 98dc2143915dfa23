"""A container cannot use the runtime's own processes before they exec (#11; the CVE-2019-5736
and CVE-2024-21626 classes): a prober inside the container scans /proc while the host execs
into it, and tries /proc/<pid>/{exe,fd,root,cwd} of every runtime process it catches."""
from __future__ import annotations

import errno
import os
import re
import signal
import sys
import textwrap
from pathlib import Path

import pytest
import trio

from engine.runtime import pipes
from engine.runtime import syscalls as sc
from engine.runtime.runtime import Stdio
from engine.runtime.spec import ProcessSpec
from tests.runtime.conftest import ENV, read_all, start_piped

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
ZYGOTE_NAME = "pc-zygote"   # the comm of the zygote and of its children until they exec
NS_LINK = re.compile(r"^(cgroup|ipc|mnt|net|pid|pid_for_children|time|user|uts):\[\d+\]$")

# Busybox sh, builtins only in the hot loop (a fork per /proc entry would miss the window).
# For each runtime process: try its exe for reading and writing, a marker file through its
# root and cwd (present only on the host), open fds 0-31, and list its fd table. A process
# may exec between the comm check and a probe; what it then shows is the container's own
# (busybox, its /dev/null), so each success says whether it was that ("own") or not ("host").
PROBER = textwrap.dedent("""\
    mark=$1
    while :; do
      for d in /proc/[0-9]*; do
        read -r c < $d/comm 2>/dev/null || continue
        [ "$c" = %s ] || continue
        p=${d#/proc/}
        echo "SEEN $p"
        if { true < $d/exe; } 2>/dev/null; then
          if [ $d/exe -ef /bin/busybox ]; then echo "EXE_READ $p own"; else
            echo "EXE_READ $p host"; fi
        fi
        { true 1<> $d/exe; } 2>/dev/null && echo "EXE_WRITE $p"
        { true < $d/root$mark; } 2>/dev/null && echo "HOST_ROOT $p"
        { true < $d/cwd$mark; } 2>/dev/null && echo "HOST_CWD $p"
        n=0
        while [ $n -lt 32 ]; do
          if { true < $d/fd/$n; } 2>/dev/null; then
            if [ $d/fd/$n -ef /dev/null ]; then echo "FD_OPEN $p $n own"; else
              echo "FD_OPEN $p $n host"; fi
          fi
          n=$((n+1))
        done
        ls -l $d/fd/ 2>/dev/null | sed -n "s|.* \\([0-9]*\\) -> \\(..*\\)$|FD $p \\1 \\2|p"
      done
    done
    """ % ZYGOTE_NAME)

# Like PROBER, but a thief: every fd of a runtime process it can open (but the container's
# own /dev/null, which an exec'd process without stdio has) is opened by the shell
# itself at once (no fork in between), and a background cat keeps it and reads it, e.g. the
# zygote's wake-up pipe (its bytes stolen, the zygote would sleep through SIGCHLD). `exec`
# losing a race ends the inner shell; the outer loop starts another.
THIEF = textwrap.dedent("""\
    while :; do sh -c '
      while :; do
        for d in /proc/[0-9]*; do
          read -r c < $d/comm 2>/dev/null || continue
          [ "$c" = %s ] || continue
          echo "SEEN ${d#/proc/}"
          n=3
          while [ $n -lt 32 ]; do
            if { true < $d/fd/$n; } 2>/dev/null && ! [ $d/fd/$n -ef /dev/null ]; then
              t=$(readlink $d/fd/$n)
              if [ -e "$t" ] && [ $d/fd/$n -ef "$t" ]; then
                # a file of the container itself (the child reads /etc/passwd for HOME)
                echo "OWN ${d#/proc/} $n $t"
              else
                exec 9< $d/fd/$n
                cat <&9 > /dev/null 2>&1 &
                echo "HELD ${d#/proc/} $n $t"
              fi
            fi
            n=$((n+1))
          done
        done
      done'
    done
    """ % ZYGOTE_NAME)


def _lines(out: str, tag: str) -> list[list[str]]:
    return [line.split(" ", 3)[1:] for line in out.splitlines() if line.startswith(tag + " ")]


async def _exec_until_seen(rt, proc, spec, cg, out: list[str], stdio_pipes: bool,
                           want: int = 5, limit: int = 400) -> int:
    """Exec /bin/true into the container until the prober reported `want` runtime processes
    (or `limit` execs); returns the number of execs."""
    true = ProcessSpec(args=("true",), env=ENV)
    for n in range(1, limit + 1):
        fds = os.pipe() if stdio_pipes else None
        try:
            stdio = Stdio(stdin=fds[0], stdout=fds[1], stderr=fds[1]) if fds else Stdio()
            ex = await rt.exec(proc, spec, true, cg, stdio)
        finally:
            if fds:
                os.close(fds[0])
                os.close(fds[1])
        await rt.wait(ex)
        rt.release(ex)
        if "".join(out).count("SEEN ") >= want:
            return n
    return limit


async def _drain(fd: int, out: list[str]) -> None:
    # decoded chunk by chunk: the callers only count ASCII markers in `out` as it grows
    await pipes.pump(fd, lambda data: out.append(data.decode(errors="replace")))


def _probe(box, tmp_path, stdio_pipes: bool,
           process_kw: dict | None = None) -> tuple[str, set[str]]:
    """Run PROBER in a container while the host execs into it; (its output, the zygote's
    own fd targets)."""
    marker = tmp_path / "pc-host-only-marker"
    marker.write_text("host\n")
    spec = box.spec("sh", "-c", PROBER, "prober", str(marker), process_kw=process_kw)
    cg = box.cgroup(spec)
    zygote_fds: set[str] = set()

    async def body(rt):
        out: list[str] = []
        proc, r = await start_piped(rt, spec, cg)
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(_drain, r, out)
                await _exec_until_seen(rt, proc, spec, cg, out, stdio_pipes)
                zdir = f"/proc/{rt.zygote_pid}/fd"
                zygote_fds.update(os.readlink(f"{zdir}/{fd}") for fd in os.listdir(zdir))
                rt.signal(proc, signal.SIGKILL)
                await rt.wait(proc)
        finally:
            os.close(r)
        return "".join(out)

    return box.run(body), zygote_fds


def test_runtime_processes_in_the_container_are_opaque_without_ptrace(box, tmp_path):
    out, _ = _probe(box, tmp_path, stdio_pipes=False)
    assert len(_lines(out, "SEEN")) >= 5, out[-2000:]  # it really caught runtime processes
    assert [e for e in _lines(out, "EXE_READ") if e[1] != "own"] == []
    assert [e for e in _lines(out, "FD_OPEN") if e[2] != "own"] == []
    # a process that exec'd `true` meanwhile has only the container's /dev/null
    assert [e for e in _lines(out, "FD") if e[2] != "/dev/null"] == []
    for tag in ("EXE_WRITE", "HOST_ROOT", "HOST_CWD"):
        assert not _lines(out, tag), f"{tag}: {_lines(out, tag)[:5]}"


def test_with_sys_ptrace_exe_is_read_only_and_fds_hold_no_host_namespace(box, tmp_path):
    out, zygote_fds = _probe(box, tmp_path, stdio_pipes=True,
                             process_kw={"cap_add": ("SYS_PTRACE",)})
    assert len(_lines(out, "SEEN")) >= 5, out[-2000:]
    # with CAP_SYS_PTRACE /proc/<pid> is open to it: it reads the interpreter, cannot write it
    assert [e for e in _lines(out, "EXE_READ") if e[1] == "host"], out[-2000:]
    assert not _lines(out, "EXE_WRITE")
    assert not _lines(out, "HOST_ROOT") and not _lines(out, "HOST_CWD")
    fds = _lines(out, "FD")
    assert fds, out[-2000:]  # it could list fd tables, so the check below means something
    host_ns = {os.readlink(f"/proc/self/ns/{ns}") for ns in os.listdir("/proc/self/ns")}
    per_pid: dict[str, dict[str, str]] = {}   # pid -> fd -> target (a pid is seen repeatedly)
    for pid, fd, target in fds:
        per_pid.setdefault(pid, {})[fd] = target
        assert not NS_LINK.match(target) and target not in host_ns, target
        # nothing the zygote holds (its wake-up pipe, its socket to the daemon, its
        # namespaces), except the host's /dev/null and the container's own pidfd
        assert target not in zygote_fds or target in ("/dev/null", "anon_inode:[pidfd]"), target
    for table in per_pid.values():
        assert list(table.values()).count("anon_inode:[pidfd]") <= 1, table


def test_exit_of_pid1_is_seen_while_a_container_holds_what_it_can_of_the_runtime(box):
    thief = box.spec("sh", "-c", THIEF, process_kw={"cap_add": ("SYS_PTRACE",)})
    thief_cg = box.cgroup(thief)

    async def body(rt):
        out: list[str] = []
        proc, r = await start_piped(rt, thief, thief_cg)
        delays = []
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(_drain, r, out)
                await _exec_until_seen(rt, proc, thief, thief_cg, out, stdio_pipes=False,
                                       want=10)
                for _ in range(3):
                    victim = box.spec("sleep", "1000")
                    vproc = await rt.start(victim, box.cgroup(victim))
                    t0 = trio.current_time()
                    rt.signal(vproc, signal.SIGKILL)
                    with trio.move_on_after(5):
                        status = await rt.wait(vproc)
                        delays.append(trio.current_time() - t0)
                        assert status.signal == signal.SIGKILL
                rt.signal(proc, signal.SIGKILL)
                await rt.wait(proc)
        finally:
            os.close(r)
        return "".join(out), delays

    out, delays = box.run(body)
    assert out.count("SEEN ") >= 10, out[-2000:]
    # it caught runtime processes, yet none had an fd it could open but the container's own
    # files (/dev/null, /etc/passwd read for HOME): no pipe, no host file, no namespace (their
    # socket cannot be opened through /proc; no stdio was asked for)
    assert not _lines(out, "HELD"), _lines(out, "HELD")[:10]
    assert len(delays) == 3 and max(delays) < 2, delays


def test_exec_gets_only_its_stdio_fds(box):
    spec = box.spec("sleep", "1000")
    cg = box.cgroup(spec)
    # `; exit` keeps sh from exec'ing tr in its place (environ would then read empty)
    script = "ls /proc/$$/fd; echo --; tr '\\0' '\\n' < /proc/$$/environ; exit 0"

    async def body(rt):
        proc = await rt.start(spec, cg)
        try:
            r, w = os.pipe()
            ex = await rt.exec(proc, spec, ProcessSpec(args=("sh", "-c", script), env=ENV), cg,
                               Stdio(stdout=w, stderr=w))
            os.close(w)
            piped = await read_all(r)
            os.close(r)
            await rt.wait(ex)
            ex = await rt.exec(proc, spec, ProcessSpec(args=("sh", "-c", script), env=ENV,
                                                       tty=True), cg)
            tty = await read_all(ex.pty_master)
            os.close(ex.pty_master)
            await rt.wait(ex)
            return piped, tty
        finally:
            rt.signal(proc, signal.SIGKILL)
            await rt.wait(proc)

    piped, tty = box.run(body)
    for out in (piped, tty):
        fds, _, env = out.replace("\r", "").partition("--\n")
        assert fds.split() == ["0", "1", "2"], out
        assert sorted(env.split()) == sorted(ENV), out


# /proc/<pid> as container root sees it: uid 0 with every capability but CAP_SYS_PTRACE.
# exe, cwd and root are followed (stat), fd/0 is read as a link.
PROC_PROBE = textwrap.dedent("""\
    import os, sys
    from engine.runtime import syscalls as sc
    drop = ~(1 << 19)
    e, p, i = sc.capget()
    sc.capset(e & drop, p & drop, i & drop)
    pid, out = sys.argv[1], []
    for what in ("exe", "fd/0", "cwd", "root"):
        try:
            (os.readlink if what == "fd/0" else os.stat)(f"/proc/{pid}/{what}")
            out.append(what + ":open")
        except PermissionError:
            out.append(what + ":denied")
    print(" ".join(out))
    """)
DENIED = "exe:denied fd/0:denied cwd:denied root:denied"


async def _probe_proc(pid: int) -> str:
    done = await trio.run_process([sys.executable, "-c", PROC_PROBE, str(pid)], cwd=REPO,
                                  capture_stdout=True)
    return done.stdout.decode().strip()


def _cap_prm(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"CapPrm:\s+([0-9a-f]+)", f.read()).group(1), 16)


def test_zygote_runs_a_read_only_interpreter_with_cloexec_fds(box):
    pid = box.run(lambda rt: _pid_of_zygote(rt))
    with pytest.raises(OSError) as err:
        os.open(f"/proc/{pid}/exe", os.O_WRONLY | os.O_CLOEXEC)
    assert err.value.errno in (errno.EROFS, errno.ETXTBSY)
    assert os.statvfs(f"/proc/{pid}/exe").f_flag & os.ST_RDONLY  # EROFS once not running
    with open(f"/proc/{pid}/exe", "rb") as ours, open(sys.executable, "rb") as theirs:
        assert ours.read(1 << 16) == theirs.read(1 << 16)  # the interpreter, seen read-only
    # not the host's file bind-mounted read-only, whose flag a privileged process might
    # clear: a file of an overlay without upper layer (its own device), which refuses writes
    # whatever its mount flags; and the mount can be neither cloned nor changed from here
    assert os.stat(f"/proc/{pid}/exe").st_dev != os.stat(os.path.realpath(sys.executable)).st_dev
    with pytest.raises(OSError):
        os.close(sc.open_tree(f"/proc/{pid}/exe"))
    fd = os.open(f"/proc/{pid}/exe", os.O_PATH | os.O_CLOEXEC)
    try:
        with pytest.raises(OSError):
            sc.mount_setattr(fd, 0, sc.MOUNT_ATTR_RDONLY)
    finally:
        os.close(fd)
    flags = {}
    for fd in os.listdir(f"/proc/{pid}/fdinfo"):
        with open(f"/proc/{pid}/fdinfo/{fd}") as f:
            flags[int(fd)] = int(re.search(r"flags:\s+(\d+)", f.read()).group(1), 8)
    assert {fd for fd, fl in flags.items() if fd > 2 and not fl & os.O_CLOEXEC} == set()
    assert os.readlink(f"/proc/{pid}/cwd") == "/"


async def _pid_of_zygote(rt) -> int:
    """The zygote's pid once it serves (it answered a request), not while it still starts."""
    from engine.errors import NotRunning
    from engine.runtime.runtime import Process
    from engine.runtime.spec import ContainerSpec

    spec = ContainerSpec(id="0" * 64, rootfs="/nonexistent", hostname="x",
                         process=ProcessSpec(args=("true",)))
    with pytest.raises(NotRunning):
        await rt.exec(Process(1, -1), spec, spec.process, _NoCgroup())
    return rt.zygote_pid


class _NoCgroup:
    def procs_files(self) -> list[str]:
        return []


def test_pid1_is_non_dumpable_until_it_execs(box):
    spec = box.spec("sleep", "1000")
    cg = box.cgroup(spec)
    seen: list[str] = []

    async def before_exec(pid: int) -> None:
        # PID 1 waits for Go here. Once it holds only the container's capabilities, nothing
        # but its non-dumpable flag keeps container root (same uid, a superset of its
        # capabilities) out of its /proc entries.
        full = _cap_prm(os.getpid())
        with trio.fail_after(5):
            while _cap_prm(pid) == full:
                await trio.sleep(0.001)
        seen.append(await _probe_proc(pid))

    async def body(rt):
        proc = await rt.start(spec, cg, before_exec=before_exec)
        try:
            seen.append(await _probe_proc(proc.pid))
        finally:
            rt.signal(proc, signal.SIGKILL)
            await rt.wait(proc)

    box.run(body)
    assert seen[0] == DENIED
    # the control: once `sleep` runs (dumpable again) the same prober gets in
    assert seen[1] == "exe:open fd/0:open cwd:open root:open"
