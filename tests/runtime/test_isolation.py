"""PID 1, namespaces, hygiene (env, signals, fds), capabilities, masked paths, /dev, users."""
from __future__ import annotations

import os
import time

import pytest

from engine.errors import CommandNotExecutable, CommandNotFound
from engine.runtime.capabilities import DOCKER_DEFAULT_MASK
from engine.runtime.users import resolve_user
from tests.runtime.conftest import User

pytestmark = pytest.mark.integration


def test_pid1_is_the_command_and_ps_shows_only_the_container(box):
    status, out = box.output("sh", "-c", "echo $$; ps -o pid,comm; true")
    assert status.code == 0, out
    lines = out.splitlines()
    assert lines[0] == "1"
    pids = sorted(int(line.split()[0]) for line in lines[2:])
    assert pids == [1, 2]  # sh and ps: nothing of the host


def test_pid1_death_kills_background_child(box):
    spec = box.spec("sh", "-c", "sleep 1000 & sleep 0.4; exit 3")
    cg = box.cgroup(spec)

    async def body(rt):
        import trio
        proc = await rt.start(spec, cg)
        await trio.sleep(0.2)
        before = cg.pids()
        status = await rt.wait(proc)
        return before, status

    before, status = box.run(body)
    assert len(before) == 3  # sh and both sleeps
    assert status.code == 3
    deadline = time.monotonic() + 2
    while cg.pids() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert cg.pids() == []


def test_hostname_and_private_namespaces(box):
    status, out = box.output("sh", "-c", "hostname; for n in mnt uts ipc net pid; do "
                             "readlink /proc/self/ns/$n; done; ls /sys/class/net; "
                             "cat /sys/class/net/lo/flags", hostname="web-1")
    assert status.code == 0, out
    lines = out.split()
    assert lines[0] == "web-1"
    host_ns = [os.readlink(f"/proc/self/ns/{n}") for n in ("mnt", "uts", "ipc", "net", "pid")]
    for inside, outside in zip(lines[1:6], host_ns):
        assert inside != outside
    assert lines[6:] == ["lo", "0x9"]  # --network none: only lo, and it is up


def test_no_engine_env_signals_or_fds_leak(box, monkeypatch):
    monkeypatch.setenv("ENGINE_SECRET_EXAMPLE", "leaked")
    # PID 1 is `sleep`; an exec'd cat reads PID 1's own status, environ and fd table.
    spec = box.spec("sleep", "1000", env=("PATH=/bin", "A=1"))
    cg = box.cgroup(spec)

    async def body(rt):
        from tests.runtime.conftest import read_all
        from engine.runtime.runtime import Stdio
        from engine.runtime.spec import ProcessSpec
        proc = await rt.start(spec, cg)
        r, w = os.pipe()
        cmd = ProcessSpec(args=("sh", "-c", "tr '\\0' '\\n' < /proc/1/environ; echo --; "
                                "grep -E 'Sig(Ign|Blk)' /proc/1/status; ls /proc/1/fd"),
                          env=("PATH=/bin",))
        ex = await rt.exec(proc, spec, cmd, cg, Stdio(stdout=w, stderr=w))
        os.close(w)
        out = await read_all(r)
        os.close(r)
        await rt.wait(ex)
        rt.signal(proc, 9)
        await rt.wait(proc)
        return out

    out = box.run(body)
    env, _, rest = out.partition("--\n")
    assert env.split() == ["PATH=/bin", "A=1", "HOME=/root"]  # HOME from passwd, as Docker
    assert "SigIgn:\t0000000000000000" in rest
    assert "SigBlk:\t0000000000000000" in rest
    assert rest.split()[-3:] == ["0", "1", "2"] and "3" not in rest.split()[4:]


@pytest.mark.parametrize("user,extra,expected", [
    (User(), {}, DOCKER_DEFAULT_MASK),
    (User(1000, 1000), {}, 0),
    (User(), {"cap_add": ("NET_ADMIN",)}, DOCKER_DEFAULT_MASK | 1 << 12),
    (User(), {"cap_drop": ("ALL",), "cap_add": ("CHOWN",)}, 1),
])
def test_capabilities_match_docker(box, user, extra, expected):
    status, out = box.output("grep", "-E", "CapEff|NoNewPrivs", "/proc/self/status", user=user,
                             process_kw=extra)
    assert status.code == 0, out
    fields = dict(line.split(":\t") for line in out.splitlines())
    assert int(fields["CapEff"], 16) == expected
    assert fields["NoNewPrivs"] == "0"


def test_no_new_privileges(box):
    _, out = box.output("grep", "NoNewPrivs", "/proc/self/status",
                        process_kw={"no_new_privileges": True})
    assert out.split() == ["NoNewPrivs:", "1"]


def test_masked_and_readonly_paths(box):
    # Which masked files exist depends on the kernel (this VM has no /proc/kcore): check every
    # one the host has with content, and that at least one was checked.
    masked = [p for p in ("/proc/kcore", "/proc/keys", "/proc/timer_list", "/proc/sched_debug")
              if os.path.exists(p) and len(open(p, "rb").read(64)) > 0]
    assert masked and os.listdir("/sys/firmware")
    script = "".join(f"echo {p}=$(cat {p} | wc -c); " for p in masked) + """
        echo firmware=$(ls /sys/firmware | wc -l)
        (echo 1 > /proc/sys/kernel/domainname) 2>/dev/null && echo procsys=rw || echo procsys=ro
        touch /sys/x 2>/dev/null && echo sys=rw || echo sys=ro
        touch /proc/bus/x 2>/dev/null && echo procbus=rw || echo procbus=ro
    """
    status, out = box.output("sh", "-c", script)
    assert status.code == 0, out
    assert out.split() == [f"{p}=0" for p in masked] + ["firmware=0", "procsys=ro", "sys=ro",
                                                        "procbus=ro"]


def test_dev_has_docker_minimal_devices(box):
    status, out = box.output("sh", "-c", "ls /dev; echo --; ls /dev/pts; "
                             "stat -c '%n %t:%T %a' /dev/null /dev/zero /dev/full /dev/random "
                             "/dev/urandom /dev/tty; readlink /dev/ptmx; readlink /dev/fd; "
                             "head -c 5 /dev/urandom | wc -c; echo x > /dev/null && echo ok; "
                             "grep -E ' /dev(/pts|/shm|/mqueue)? ' /proc/mounts | cut -d' ' -f3")
    assert status.code == 0, out
    listing, _, rest = out.partition("--\n")
    assert listing.split() == ["fd", "full", "mqueue", "null", "ptmx", "pts", "random", "shm",
                               "stderr", "stdin", "stdout", "tty", "urandom", "zero"]
    lines = rest.splitlines()
    assert lines[0] == "ptmx"
    assert lines[1:7] == ["/dev/null 1:3 666", "/dev/zero 1:5 666", "/dev/full 1:7 666",
                          "/dev/random 1:8 666", "/dev/urandom 1:9 666", "/dev/tty 5:0 666"]
    assert lines[7:11] == ["pts/ptmx", "/proc/self/fd", "5", "ok"]
    assert lines[11:] == ["tmpfs", "devpts", "tmpfs", "mqueue"]


def test_user_ids_and_named_user(box):
    _, out = box.output("sh", "-c", "id -u; id -g", user=User(1000, 1000))
    assert out.split() == ["1000", "1000"]
    merged, _ = box.rootfs()
    app = resolve_user(merged, "app")
    assert app == User(1000, 1000, (50,))  # staff lists app as a member
    status, out = box.output("sh", "-c", "id; pwd; stat -c %u:%g .", user=app,
                             cwd="/home/app/work", merged=merged)
    assert status.code == 0, out
    lines = out.splitlines()
    assert lines[0] == "uid=1000(app) gid=1000(app) groups=50(staff),1000(app)"
    assert lines[1:] == ["/home/app/work", "1000:1000"]


def test_missing_command_is_127_and_non_executable_is_126(box):
    spec = box.spec("nosuch")
    cg = box.cgroup(spec)
    with pytest.raises(CommandNotFound) as e:
        box.run(lambda rt: rt.start(spec, cg))
    assert e.value.exit_code == 127
    assert str(e.value) == 'exec: "nosuch": executable file not found in $PATH'
    assert cg.pids() == []  # nothing left running

    spec = box.spec("/etc/passwd")
    with pytest.raises(CommandNotExecutable) as e2:
        box.run(lambda rt: rt.start(spec, box.cgroup(spec)))
    assert e2.value.exit_code == 126
    assert "/etc/passwd" in str(e2.value) and "permission denied" in str(e2.value)


def test_rlimits_are_applied_and_capped_to_the_engines_hard_limit(box):
    import resource
    from engine.runtime.spec import Rlimit
    _, own_hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    huge = own_hard * 100 if own_hard != resource.RLIM_INFINITY else 1 << 40
    status, out = box.output("sh", "-c", "ulimit -n; ulimit -Hn; ulimit -c", process_kw={
        "rlimits": (Rlimit("nofile", 64, huge), Rlimit("core", 0, 0))})
    assert status.code == 0, out
    # asking for more than the engine's own hard limit must not fail the start, just cap
    expected_hard = str(own_hard) if own_hard != resource.RLIM_INFINITY else str(huge)
    assert out.split() == ["64", expected_hard, "0"]


def test_host_network_and_joining_another_containers_netns(box):
    first = box.spec("sleep", "1000", network="private")
    cg = box.cgroup(first)

    async def body(rt):
        from tests.runtime.conftest import read_all
        from engine.runtime.runtime import Stdio
        proc = await rt.start(first, cg)
        outs = []
        for network in (f"ns:/proc/{proc.pid}/ns/net", "host"):
            spec = box.spec("readlink", "/proc/self/ns/net", network=network)
            r, w = os.pipe()
            p = await rt.start(spec, box.cgroup(spec), Stdio(stdout=w))
            os.close(w)
            outs.append((await read_all(r)).strip())
            os.close(r)
            await rt.wait(p)
        theirs = os.readlink(f"/proc/{proc.pid}/ns/net")
        rt.signal(proc, 9)
        await rt.wait(proc)
        return outs, theirs

    (joined, host), theirs = box.run(body)
    assert joined == theirs
    assert host == os.readlink("/proc/self/ns/net")
